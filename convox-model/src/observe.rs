//! Observing a rack: what exists and is owned by it, as the planner and the
//! apply engine both need it.

use crate::backend::{Backend, BackendResult};
use crate::name::Name;
use crate::resource::{Observed, Scope};

/// Everything the rack owns: its own resources and every app's, with the foreign
/// rules on its listeners, in one observation ([`Scope::All`]). The planner
/// needs all of them (rule priorities and quotas span apps), and the
/// fingerprint covers all of them.
pub async fn observe_all(backend: &dyn Backend, rack: &Name) -> BackendResult<Vec<Observed>> {
    backend.observe(rack, &Scope::All).await
}

/// Whether a rule routing `host` may be one of `app`'s, or take one of its
/// hostnames: an internal name under `{app}.{rack}.convox`, or an external one
/// that starts `{app}-` (an external hostname is `{app}-{service}.{router
/// host}`, so two apps' can meet: `shop` + `api-web` and `shop-api` + `web`).
///
/// A [`Scope::Deploy`] observation reports the rack's rules that route such a
/// host as they are, tags and all, so that the planner refuses a hostname
/// another app has; every other rule of the rack's other apps is an obstacle.
pub fn may_route_app_host(rack: &Name, app: &Name, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let internal = format!(".{app}.{}", crate::rack::zone_name(rack));
    host.ends_with(&internal) || host.starts_with(&format!("{app}-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apps_hosts_and_those_that_may_take_them() {
        let (rack, app) = (Name::new("prod").unwrap(), Name::new("shop").unwrap());
        for (host, want) in [
            ("web.shop.prod.convox", true),
            ("WEB.shop.prod.convox.", true),
            ("shop-web.example.com", true),
            // Another app's external name that is also one of shop's.
            ("shop-api-web.example.com", true),
            ("web.shop2.prod.convox", false),
            ("web.shop.staging.convox", false),
            ("shopping-web.example.com", false),
            ("api.other.prod.convox", false),
        ] {
            assert_eq!(may_route_app_host(&rack, &app, host), want, "{host}");
        }
    }
}
