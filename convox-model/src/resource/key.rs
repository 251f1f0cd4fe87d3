//! Resource keys: the stable identity of a resource within its rack, and the one
//! place a key's text is parsed.
//!
//! A key is written as a path, such as `router/internal/alb` or
//! `app/backend/api/internal/rule`: that text is what the `convox:key` tag, the
//! serialized plan and every message carry. [`ResourceKey`] holds the text and
//! what it names ([`KeySubject`]), parsed once when the key is made, so that no
//! caller slices the text again.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::exposure::{Router, Shard};
use crate::name::Name;

/// Which part of a rack a resource belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "app")]
#[non_exhaustive]
pub enum Scope {
    /// The rack's own resources: routers, their listeners and certificates, the zone.
    Rack,
    /// One app's resources: its certificate, target groups, rules and records.
    App(Name),
    /// Every app's resources (for checks that span apps, such as parameter changes).
    Apps,
    /// The rack's own resources and every app's, in one observation: what a
    /// deploy plans from ([`crate::observe::observe_all`]). With [`Scope::Apps`],
    /// the scope in which a backend reports foreign rules on the rack's
    /// listeners.
    All,
    /// What a deploy of one app plans from, read at a cost that grows with the
    /// app and not with the rack: the rack's own resources ([`Scope::Rack`]),
    /// the app's ([`Scope::App`]), and as obstacles everything else on the
    /// rack's listeners: every other rule (other apps' included) under
    /// [`ResourceKey::foreign_rule`], every other certificate attachment under
    /// [`ResourceKey::foreign_attachment`]. What those forward to or attach is
    /// named by its provider id. Other apps' target groups, certificates and
    /// records are not read. Other apps' rules that may route one of the
    /// app's hostnames ([`crate::observe::may_route_app_host`]) are reported
    /// as they are, so that the planner refuses a hostname taken.
    ///
    /// A backend may find the rack's load balancers by the names the model
    /// gives them ([`crate::desired::shard_load_balancer_name`]), and report
    /// the zone's VPC as the rack stored it (a deploy never changes the zone):
    /// the AWS backend does both.
    Deploy(Name),
}

/// What a [`ResourceKey`] names. Its text form is the key's
/// ([`fmt::Display`]); [`ResourceKey::subject`] gives it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySubject {
    /// `zone`: the rack's private hosted zone `{rack}.convox`.
    Zone,
    /// `router/{router}/sg`: a router's security group.
    RouterSecurityGroup(Router),
    /// `router/{shard}/alb`: one load balancer of a router's pool
    /// (`router/internal/alb` for the first, `router/internal/2/alb` after).
    RouterLoadBalancer(Shard),
    /// `router/{shard}/listener/{port}`: a load balancer's listener on 80 or 443.
    RouterListener(Shard, u16),
    /// `router/{router}/cert`: a router's default certificate.
    RouterCertificate(Router),
    /// `app/{app}/cert`: an app's wildcard certificate.
    AppCertificate(Name),
    // Router pools: shared certificates (issue 9).
    /// `router/{shard}/cert/{slot}`: the `slot`th certificate one internal
    /// load balancer shares among the apps it routes, covering their
    /// wildcards ([`crate::pool::certs`]).
    ShardCertificate(Shard, u16),
    /// `{certificate}/attachment`: a certificate attached to the 443 listener
    /// of its router's first load balancer; `{certificate}/attachment/{n}` to
    /// that of the `n`th.
    Attachment(ResourceKey, u16),
    /// `app/{app}/{service}/{router}/tg`: a service's target group on a router.
    TargetGroup(Name, Name, Router),
    /// `app/{app}/{service}/{router}/rule`: a service's host-header rule.
    ListenerRule(Name, Name, Router),
    /// `app/{app}/{service}/record`: a service's internal alias record.
    Record(Name, Name),
    /// A key this version does not know (read back from a tag another version
    /// wrote, or made up by a test), with the app its `app/{app}/` prefix names.
    Other {
        /// The app, when the key starts with `app/`.
        app: Option<String>,
    },
}

impl KeySubject {
    /// The app, for an app resource.
    pub fn app(&self) -> Option<&str> {
        match self {
            KeySubject::AppCertificate(app)
            | KeySubject::TargetGroup(app, _, _)
            | KeySubject::ListenerRule(app, _, _)
            | KeySubject::Record(app, _) => Some(app.as_str()),
            KeySubject::Attachment(cert, _) => cert.app(),
            KeySubject::Other { app } => app.as_deref(),
            KeySubject::Zone
            | KeySubject::RouterSecurityGroup(_)
            | KeySubject::RouterLoadBalancer(_)
            | KeySubject::RouterListener(..)
            | KeySubject::RouterCertificate(_)
            | KeySubject::ShardCertificate(..) => None,
        }
    }

    /// The service, for a service's resource.
    pub fn service(&self) -> Option<&Name> {
        match self {
            KeySubject::TargetGroup(_, service, _)
            | KeySubject::ListenerRule(_, service, _)
            | KeySubject::Record(_, service) => Some(service),
            _ => None,
        }
    }

    /// The router a resource belongs to or is routed on.
    pub fn router(&self) -> Option<Router> {
        match self {
            KeySubject::RouterSecurityGroup(r)
            | KeySubject::RouterCertificate(r)
            | KeySubject::TargetGroup(_, _, r)
            | KeySubject::ListenerRule(_, _, r) => Some(*r),
            KeySubject::RouterLoadBalancer(s)
            | KeySubject::RouterListener(s, _)
            | KeySubject::ShardCertificate(s, _) => Some(s.router),
            KeySubject::Attachment(cert, _) => match cert.subject() {
                KeySubject::AppCertificate(_) => Some(Router::Internal),
                other => other.router(),
            },
            _ => None,
        }
    }

    /// The load balancer of its router's pool a resource is on: a load
    /// balancer, a listener, or a certificate attached to one.
    pub fn shard(&self) -> Option<Shard> {
        match self {
            KeySubject::RouterLoadBalancer(s)
            | KeySubject::RouterListener(s, _)
            | KeySubject::ShardCertificate(s, _) => Some(*s),
            KeySubject::Attachment(_, index) => Shard::new(self.router()?, *index),
            _ => None,
        }
    }
}

impl fmt::Display for KeySubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySubject::Zone => f.write_str("zone"),
            KeySubject::RouterSecurityGroup(r) => write!(f, "router/{r}/sg"),
            KeySubject::RouterLoadBalancer(r) => write!(f, "router/{r}/alb"),
            KeySubject::RouterListener(r, port) => write!(f, "router/{r}/listener/{port}"),
            KeySubject::RouterCertificate(r) => write!(f, "router/{r}/cert"),
            KeySubject::AppCertificate(app) => write!(f, "app/{app}/cert"),
            KeySubject::ShardCertificate(s, slot) => write!(f, "router/{s}/cert/{slot}"),
            KeySubject::Attachment(cert, 1) => write!(f, "{cert}/attachment"),
            KeySubject::Attachment(cert, n) => write!(f, "{cert}/attachment/{n}"),
            KeySubject::TargetGroup(app, service, r) => write!(f, "app/{app}/{service}/{r}/tg"),
            KeySubject::ListenerRule(app, service, r) => {
                write!(f, "app/{app}/{service}/{r}/rule")
            }
            KeySubject::Record(app, service) => write!(f, "app/{app}/{service}/record"),
            // Never rendered: an unknown key keeps the text it was read from.
            KeySubject::Other { .. } => f.write_str("(unknown)"),
        }
    }
}

fn router(s: &str) -> Option<Router> {
    Router::ALL.into_iter().find(|r| r.as_str() == s)
}

fn name(s: &str) -> Option<Name> {
    Name::new(s).ok()
}

/// A number as a key writes it: no sign, no leading zero (`080` would not
/// render back to itself).
fn number<T: FromStr + ToString>(s: &str) -> Option<T> {
    let n: T = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

/// A shard after the first: `router/{router}/{n}/...` with `n` ≥ 2 (the first
/// is written without its number).
fn later_shard(r: &str, n: &str) -> Option<Shard> {
    let index: u16 = number(n)?;
    (index >= 2).then_some(())?;
    Shard::new(router(r)?, index)
}

/// What `text` names, if it is a key this version writes.
fn parse(text: &str) -> Option<KeySubject> {
    if text == "zone" {
        return Some(KeySubject::Zone);
    }
    let attachment = match text.rsplit_once("/attachment/") {
        Some((cert, n)) => Some((cert, number::<u16>(n).filter(|n| *n >= 2)?)),
        None => text.strip_suffix("/attachment").map(|cert| (cert, 1)),
    };
    if let Some((cert, index)) = attachment {
        let cert = ResourceKey::from_raw(cert);
        return matches!(
            cert.subject(),
            KeySubject::RouterCertificate(_)
                | KeySubject::AppCertificate(_)
                | KeySubject::ShardCertificate(..)
        )
        .then_some(KeySubject::Attachment(cert, index));
    }
    let parts: Vec<&str> = text.split('/').collect();
    Some(match parts.as_slice() {
        ["router", r, "sg"] => KeySubject::RouterSecurityGroup(router(r)?),
        ["router", r, "alb"] => KeySubject::RouterLoadBalancer(Shard::first(router(r)?)),
        ["router", r, n, "alb"] => KeySubject::RouterLoadBalancer(later_shard(r, n)?),
        ["router", r, "cert"] => KeySubject::RouterCertificate(router(r)?),
        ["router", r, "cert", slot] => {
            KeySubject::ShardCertificate(Shard::first(router(r)?), number(slot)?)
        }
        ["router", r, n, "cert", slot] => {
            KeySubject::ShardCertificate(later_shard(r, n)?, number(slot)?)
        }
        ["router", r, "listener", port] => {
            KeySubject::RouterListener(Shard::first(router(r)?), number(port)?)
        }
        ["router", r, n, "listener", port] => {
            KeySubject::RouterListener(later_shard(r, n)?, number(port)?)
        }
        ["app", app, "cert"] => KeySubject::AppCertificate(name(app)?),
        ["app", app, service, "record"] => KeySubject::Record(name(app)?, name(service)?),
        ["app", app, service, r, "tg"] => {
            KeySubject::TargetGroup(name(app)?, name(service)?, router(r)?)
        }
        ["app", app, service, r, "rule"] => {
            KeySubject::ListenerRule(name(app)?, name(service)?, router(r)?)
        }
        _ => return None,
    })
}

/// The prefix of keys that name what the rack does not own.
const FOREIGN_PREFIX: &str = "foreign/";

#[derive(PartialEq, Eq, Hash)]
struct Inner {
    text: String,
    subject: KeySubject,
}

/// The stable identity of a resource within its rack, such as
/// `router/internal/alb` or `app/backend/api/internal/rule`.
///
/// Rack resources start with `router/` or are `zone`; app resources start with
/// `app/{app}/`. Keys compare, sort and serialize as their text; cloning one is
/// cheap (the text and its parse are shared).
///
/// Constructors take the names in the key's path order: outermost first (the
/// app, then the service), then the router and what is on it.
///
/// ```
/// use convox_model::exposure::Router;
/// use convox_model::name::Name;
/// use convox_model::resource::{KeySubject, ResourceKey};
///
/// let (app, api) = (Name::new("backend")?, Name::new("api")?);
/// let tg = ResourceKey::target_group(&app, &api, Router::Internal);
/// assert_eq!(tg.to_string(), "app/backend/api/internal/tg");
/// let read: ResourceKey = "app/backend/api/internal/tg".parse()?;
/// assert_eq!(read, tg);
/// assert_eq!(read.subject(), &KeySubject::TargetGroup(app, api, Router::Internal));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceKey(Arc<Inner>);

impl ResourceKey {
    fn of(subject: KeySubject) -> Self {
        ResourceKey(Arc::new(Inner {
            text: subject.to_string(),
            subject,
        }))
    }

    /// A key read back from a tag (or any text): parsed once, here. Text that is
    /// no key this version writes is kept as it is, as [`KeySubject::Other`].
    pub fn from_raw(s: impl Into<String>) -> Self {
        let text = s.into();
        let subject = parse(&text).unwrap_or_else(|| KeySubject::Other {
            app: text
                .strip_prefix("app/")
                .and_then(|rest| rest.split('/').next())
                .map(str::to_string),
        });
        ResourceKey(Arc::new(Inner { text, subject }))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// What the key names.
    pub fn subject(&self) -> &KeySubject {
        &self.0.subject
    }

    /// The rack's private hosted zone `{rack}.convox`.
    pub fn zone() -> Self {
        Self::of(KeySubject::Zone)
    }

    /// A router's security group.
    pub fn router_security_group(router: Router) -> Self {
        Self::of(KeySubject::RouterSecurityGroup(router))
    }

    /// A router's first load balancer.
    pub fn router_load_balancer(router: Router) -> Self {
        Self::shard_load_balancer(Shard::first(router))
    }

    /// The listener on `port` (80 or 443) of a router's first load balancer.
    pub fn router_listener(router: Router, port: u16) -> Self {
        Self::shard_listener(Shard::first(router), port)
    }

    /// One load balancer of a router's pool.
    pub fn shard_load_balancer(shard: Shard) -> Self {
        Self::of(KeySubject::RouterLoadBalancer(shard))
    }

    /// The listener on `port` (80 or 443) of one load balancer of a router's pool.
    pub fn shard_listener(shard: Shard, port: u16) -> Self {
        Self::of(KeySubject::RouterListener(shard, port))
    }

    /// A router's default certificate, attached to its 443 listener.
    pub fn router_certificate(router: Router) -> Self {
        Self::of(KeySubject::RouterCertificate(router))
    }

    /// The `slot`th certificate `shard` shares among the apps it routes
    /// (`router/internal/cert/1`, `router/internal/2/cert/1`).
    pub fn shard_certificate(shard: Shard, slot: u16) -> Self {
        Self::of(KeySubject::ShardCertificate(shard, slot))
    }

    /// An app's wildcard certificate `*.{app}.{rack}.convox`.
    pub fn app_certificate(app: &Name) -> Self {
        Self::of(KeySubject::AppCertificate(app.clone()))
    }

    /// The attachment of an app's certificate to the 443 listener of the
    /// internal router's first load balancer.
    pub fn app_listener_certificate(app: &Name) -> Self {
        Self::listener_certificate(&Self::app_certificate(app))
    }

    /// The attachment of an app's certificate to the 443 listener of `shard`.
    pub fn app_listener_certificate_on(app: &Name, shard: Shard) -> Self {
        Self::attachment(&Self::app_certificate(app), shard.index)
    }

    /// The attachment of `certificate` (a certificate's key) to the 443
    /// listener of its router's first load balancer.
    pub fn listener_certificate(certificate: &ResourceKey) -> Self {
        Self::attachment(certificate, 1)
    }

    /// The attachment of `certificate` to `listener`.
    ///
    /// Attachments carry no tags of their own on AWS, so a backend observing one
    /// derives its key from the certificate's and the listener's:
    /// `{certificate}/attachment`, or `{certificate}/attachment/{n}` on the
    /// `n`th load balancer of the pool.
    pub fn listener_certificate_on(certificate: &ResourceKey, listener: &ResourceKey) -> Self {
        let index = listener.subject().shard().map_or(1, |s| s.index);
        Self::attachment(certificate, index)
    }

    fn attachment(certificate: &ResourceKey, index: u16) -> Self {
        match certificate.subject() {
            KeySubject::RouterCertificate(_)
            | KeySubject::AppCertificate(_)
            | KeySubject::ShardCertificate(..)
                if index >= 1 =>
            {
                Self::of(KeySubject::Attachment(certificate.clone(), index))
            }
            _ if index <= 1 => Self::from_raw(format!("{certificate}/attachment")),
            _ => Self::from_raw(format!("{certificate}/attachment/{index}")),
        }
    }

    /// The target group of `service` of `app` on `router`.
    pub fn target_group(app: &Name, service: &Name, router: Router) -> Self {
        Self::of(KeySubject::TargetGroup(
            app.clone(),
            service.clone(),
            router,
        ))
    }

    /// The host-header rule of `service` of `app` on `router`'s 443 listener.
    pub fn listener_rule(app: &Name, service: &Name, router: Router) -> Self {
        Self::of(KeySubject::ListenerRule(
            app.clone(),
            service.clone(),
            router,
        ))
    }

    /// The alias record of `service` of `app`'s internal hostname.
    pub fn record(app: &Name, service: &Name) -> Self {
        Self::of(KeySubject::Record(app.clone(), service.clone()))
    }

    /// The app this key belongs to, if it is an app resource.
    pub fn app(&self) -> Option<&str> {
        self.subject().app()
    }

    // Foreign rules: obstacles observed on the rack's listeners.

    /// The key under which a backend reports a rule on one of the rack's
    /// listeners that the rack does not own (`foreign/rule/{id}`, `id` its
    /// provider id): an obstacle whose priority the planner keeps clear of and
    /// which nothing ever changes or deletes.
    pub fn foreign_rule(id: &str) -> Self {
        Self::from_raw(format!("{FOREIGN_PREFIX}rule/{id}"))
    }

    /// The key under which a [`Scope::Deploy`] observation reports a
    /// certificate attached to one of the rack's listeners that is not the
    /// app's (`foreign/attachment/{id}`, `id` the attachment's provider id): it
    /// takes a certificate slot on the listener, and nothing changes it.
    pub fn foreign_attachment(id: &str) -> Self {
        Self::from_raw(format!("{FOREIGN_PREFIX}attachment/{id}"))
    }

    /// Whether the key names something the rack does not own
    /// ([`ResourceKey::foreign_rule`], [`ResourceKey::foreign_attachment`]).
    /// Such a key is in no [`Scope`].
    pub fn is_foreign(&self) -> bool {
        self.as_str().starts_with(FOREIGN_PREFIX)
    }

    /// Whether the key belongs to `scope`. A foreign key belongs to none.
    pub fn in_scope(&self, scope: &Scope) -> bool {
        if self.is_foreign() {
            return false;
        }
        match scope {
            Scope::Rack => self.app().is_none(),
            Scope::App(a) => self.app() == Some(a.as_str()),
            Scope::Apps => self.app().is_some(),
            Scope::All => true,
            Scope::Deploy(a) => self.app().is_none_or(|mine| mine == a.as_str()),
        }
    }
}

impl PartialOrd for ResourceKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ResourceKey {
    /// By text: plans list actions in key order, and that order is part of
    /// their rendering and fingerprint.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResourceKey").field(&self.as_str()).finish()
    }
}

impl FromStr for ResourceKey {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ResourceKey::from_raw(s))
    }
}

impl Serialize for ResourceKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResourceKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ResourceKey::from_raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    #[test]
    fn keys_know_their_scope() {
        let app = Name::new("backend").unwrap();
        let api = Name::new("api").unwrap();
        let rule = ResourceKey::listener_rule(&app, &api, Router::Internal);
        assert_eq!(rule.as_str(), "app/backend/api/internal/rule");
        assert!(rule.in_scope(&Scope::App(app.clone())));
        assert!(rule.in_scope(&Scope::Apps));
        assert!(!rule.in_scope(&Scope::Rack));
        assert!(ResourceKey::zone().in_scope(&Scope::Rack));
        assert!(ResourceKey::router_listener(Router::External, 443).in_scope(&Scope::Rack));
    }

    #[test]
    fn every_key_reads_back_as_what_it_names() {
        let (app, api) = (n("backend"), n("api"));
        let mut keys = vec![ResourceKey::zone()];
        for r in Router::ALL {
            keys.extend([
                ResourceKey::router_security_group(r),
                ResourceKey::router_load_balancer(r),
                ResourceKey::router_listener(r, 80),
                ResourceKey::router_listener(r, 443),
                ResourceKey::router_certificate(r),
                ResourceKey::listener_certificate(&ResourceKey::router_certificate(r)),
                ResourceKey::target_group(&app, &api, r),
                ResourceKey::listener_rule(&app, &api, r),
            ]);
        }
        let second = Shard::new(Router::Internal, 2).unwrap();
        keys.extend([
            ResourceKey::app_certificate(&app),
            ResourceKey::app_listener_certificate(&app),
            ResourceKey::app_listener_certificate_on(&app, second),
            ResourceKey::shard_load_balancer(second),
            ResourceKey::shard_listener(second, 443),
            ResourceKey::record(&app, &api),
            ResourceKey::shard_certificate(Shard::first(Router::Internal), 1),
            ResourceKey::shard_certificate(second, 3),
            ResourceKey::listener_certificate_on(
                &ResourceKey::shard_certificate(second, 1),
                &ResourceKey::shard_listener(second, 443),
            ),
        ]);
        for k in keys {
            let back = ResourceKey::from_raw(k.as_str());
            assert_eq!(back.subject(), k.subject(), "{k}");
            assert!(!matches!(back.subject(), KeySubject::Other { .. }), "{k}");
            assert_eq!(back.subject().to_string(), k.as_str());
        }
        assert_eq!(
            ResourceKey::app_listener_certificate(&app).as_str(),
            "app/backend/cert/attachment"
        );
        // The first shard keeps the keys a router had before pools.
        assert_eq!(
            ResourceKey::shard_load_balancer(Shard::first(Router::Internal)),
            ResourceKey::router_load_balancer(Router::Internal)
        );
        assert_eq!(
            ResourceKey::shard_load_balancer(second).as_str(),
            "router/internal/2/alb"
        );
        assert_eq!(
            ResourceKey::listener_certificate_on(
                &ResourceKey::app_certificate(&app),
                &ResourceKey::shard_listener(second, 443)
            )
            .as_str(),
            "app/backend/cert/attachment/2"
        );
        assert_eq!(
            ResourceKey::listener_certificate_on(
                &ResourceKey::shard_certificate(second, 1),
                &ResourceKey::shard_listener(second, 443)
            )
            .as_str(),
            "router/internal/2/cert/1/attachment/2"
        );
        let shared = ResourceKey::shard_certificate(second, 1);
        assert_eq!(shared.app(), None);
        assert_eq!(shared.subject().shard(), Some(second));
    }

    #[test]
    fn unknown_keys_keep_their_text_and_app() {
        for (text, app) in [
            ("x", None),
            ("app/web/s1/internal/tg2", Some("web")),
            ("router/internal/listener/080", None),
            // Shard 1 is written without its number; 0 is no shard.
            ("router/internal/1/alb", None),
            ("router/internal/0/alb", None),
            ("router/internal/02/listener/443", None),
            ("app/web/cert/attachment/1", Some("web")),
            ("app/", Some("")),
        ] {
            let k = ResourceKey::from_raw(text);
            assert_eq!(k.as_str(), text);
            assert_eq!(k.app(), app);
            assert!(matches!(k.subject(), KeySubject::Other { .. }));
        }
    }

    #[test]
    fn keys_sort_and_serialize_as_their_text() {
        let a = ResourceKey::router_listener(Router::Internal, 443);
        let b = ResourceKey::router_listener(Router::Internal, 80);
        assert!(a < b, "\"443\" sorts before \"80\"");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"router/internal/listener/443\"");
        assert_eq!(serde_json::from_str::<ResourceKey>(&json).unwrap(), a);
        assert_eq!(
            format!("{a:?}"),
            "ResourceKey(\"router/internal/listener/443\")"
        );
    }
}
