//! `&B`, `Arc<B>` and `Box<B>` are backends when `B` is: every verb forwards to
//! the backend behind the pointer, so `Arc<dyn Backend>` and `&dyn Backend` can be
//! passed wherever a backend is taken.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Backend, BackendResult};
use crate::aws::Quotas;

/// The impls, one per pointer type, each method forwarding to `**self`.
macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $op:ident;)*) => {
        forward!(@impl (&B) $($method($($arg: $ty),*) -> $ret;)*);
        forward!(@impl (Arc<B>) $($method($($arg: $ty),*) -> $ret;)*);
        forward!(@impl (Box<B>) $($method($($arg: $ty),*) -> $ret;)*);
    };
    (@impl ($($ptr:tt)*) $($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        #[async_trait]
        impl<B: Backend + ?Sized> Backend for $($ptr)* {
            fn quotas(&self) -> Quotas {
                (**self).quotas()
            }

            fn retries_reads(&self) -> bool {
                (**self).retries_reads()
            }

            $(
                async fn $method(&self, $($arg: $ty),*) -> BackendResult<$ret> {
                    (**self).$method($($arg),*).await
                }
            )*
        }
    };
}

crate::backend_methods!(forward);
