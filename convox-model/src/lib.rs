//! A pure model of a Convox rack's services and who can reach them.
//!
//! `convox-model` reads and validates `convox.yml`, applies the rack rules
//! (`Internal`, `InternalOnly`), resolves `links` into variables such as `API_URL`,
//! computes the cloud resources a rack and its apps need, plans the difference
//! against what exists and applies it through a [`backend::Backend`].
//!
//! It contains no networking code and reads no clock: backends do I/O, the caller
//! supplies time and sleeping.
//!
//! The data flows one way: text → [`manifest`] → [`validate`] → [`links`] and
//! [`exposure`] → [`desired`] state → [`plan`] → [`apply`] → report; [`ops`] runs
//! that line for `convox rack params set`, `convox deploy` and `convox plan`.

// Tests may unwrap: a panic there is a failed test, not a crash on input.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod apply;
pub mod backend;
pub mod check;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod desired;
pub mod diag;
pub mod exposure;
pub mod links;
pub mod manifest;
pub mod name;
pub mod ops;
pub mod params;
pub mod plan;
pub mod rack;
pub mod resource;
pub mod tls;
pub mod validate;
