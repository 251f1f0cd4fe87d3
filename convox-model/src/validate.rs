//! Validation: the rules a manifest must follow on its own ([`validate`]), on a
//! given rack ([`check_rack`]), and for a given app's hostnames ([`check_hostnames`]).
//!
//! Every rule adds to one [`Diagnostics`]; none stops at the first problem. Each
//! diagnostic is placed through the manifest's [`SourceMap`](crate::manifest::SourceMap).

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Diagnostic, Diagnostics};
use crate::exposure::{Router, hostname, routers};
use crate::links::LinkVar;
use crate::manifest::{EnvDecl, Manifest, Service};
use crate::name::{MAX_HOSTNAME_LEN, MAX_LABEL_LEN, Name};
use crate::params::RackParams;
use crate::rack::Rack;

struct Out<'m> {
    manifest: &'m Manifest,
    diags: Diagnostics,
}

impl Out<'_> {
    fn error(&mut self, path: String, message: String, hint: Option<String>) {
        let mut d = Diagnostic::error(path, message);
        d.location = self.manifest.source.locate(&d.path);
        d.hint = hint;
        self.diags.push(d);
    }

    fn warning(&mut self, path: String, message: String, hint: Option<String>) {
        let mut d = Diagnostic::warning(path, message);
        d.location = self.manifest.source.locate(&d.path);
        d.hint = hint;
        self.diags.push(d);
    }
}

/// The path of `service`'s `key`: `services.web.port`.
fn spath(service: &Name, key: &str) -> String {
    format!("services.{service}.{key}")
}

/// The rules a manifest follows on its own: unique names, ports, scale, deployment
/// and health ranges, links, timers and resources. [`crate::manifest::parse`] runs
/// it; call it again only on a manifest built by other means.
pub fn validate(manifest: &Manifest) -> Diagnostics {
    let mut out = Out {
        manifest,
        diags: Diagnostics::default(),
    };
    duplicates(&mut out);
    let resources: BTreeSet<&Name> = manifest.resources.iter().map(|r| &r.name).collect();
    // Looked up once per link: an index keeps large apps linear.
    let services: BTreeMap<&Name, &Service> =
        manifest.services.iter().map(|s| (&s.name, s)).collect();
    for s in &manifest.services {
        service_ranges(&mut out, s);
        links(&mut out, s, &services);
        for (i, r) in s.resources.iter().enumerate() {
            if !resources.contains(r) {
                out.error(
                    format!("services.{}.resources[{i}]", s.name),
                    format!("{} uses resource: {r} which does not exist", s.name),
                    Some(format!(
                        "declare it under resources:, or remove {r} from the list"
                    )),
                );
            }
        }
    }
    for t in &manifest.timers {
        if !services.contains_key(&t.service) {
            out.error(
                format!("timers.{}.service", t.name),
                format!(
                    "timer {} runs on service: {} which does not exist",
                    t.name, t.service
                ),
                Some("name one of the services of this convox.yml".to_string()),
            );
        }
    }
    out.diags
}

/// v2 silently kept both of two services with one name; a YAML document cannot
/// even say that, but a manifest built in code can.
fn duplicates(out: &mut Out<'_>) {
    let m = out.manifest;
    let kinds: [(&str, Vec<&Name>); 3] = [
        ("services", m.services.iter().map(|s| &s.name).collect()),
        ("timers", m.timers.iter().map(|t| &t.name).collect()),
        ("resources", m.resources.iter().map(|r| &r.name).collect()),
    ];
    for (section, names) in kinds {
        let mut seen = BTreeSet::new();
        for n in names {
            if !seen.insert(n) {
                let kind = section.trim_end_matches('s');
                out.error(
                    format!("{section}.{n}"),
                    format!("duplicate {kind} {n}"),
                    Some(format!("rename or remove one of the two {section}")),
                );
            }
        }
    }
}

fn service_ranges(out: &mut Out<'_>, s: &Service) {
    if let Some(p) = s.port
        && p.port == 0
    {
        out.error(
            spath(&s.name, "port"),
            "port 0 is out of range: a port is between 1 and 65535".to_string(),
            None,
        );
    }
    let c = s.scale.count;
    if c.min > c.max {
        out.error(
            spath(&s.name, "scale"),
            format!(
                "invalid scale: minimum {} is greater than maximum {}",
                c.min, c.max
            ),
            Some(format!("write scale: {}-{}", c.max, c.min)),
        );
    }
    let d = s.deployment;
    if d.minimum > 100 {
        out.error(
            spath(&s.name, "deployment.minimum"),
            format!(
                "deployment minimum {}% is above 100%: it is the share of instances kept healthy",
                d.minimum
            ),
            Some("use a minimum between 0 and 100".to_string()),
        );
    }
    if d.minimum > d.maximum {
        out.error(
            spath(&s.name, "deployment"),
            format!(
                "deployment minimum {}% is greater than maximum {}%",
                d.minimum, d.maximum
            ),
            Some("the maximum is at least the minimum, usually 200".to_string()),
        );
    }
    if d.maximum == 0 {
        out.error(
            spath(&s.name, "deployment.maximum"),
            "deployment maximum 0% would never run an instance".to_string(),
            Some("use a maximum of at least 100".to_string()),
        );
    }
    let h = &s.health;
    if h.timeout >= h.interval {
        out.error(
            spath(&s.name, "health"),
            format!(
                "health timeout {}s must be less than interval {}s",
                h.timeout, h.interval
            ),
            Some(format!(
                "lower the timeout below {}, or raise the interval",
                h.interval
            )),
        );
    }
}

fn links(out: &mut Out<'_>, s: &Service, services: &BTreeMap<&Name, &Service>) {
    let m = out.manifest;
    let declared: BTreeSet<&str> = s
        .environment
        .iter()
        .filter_map(|d| match d {
            EnvDecl::Default { key, .. } | EnvDecl::Required { key } => Some(key.as_str()),
            EnvDecl::All => None,
        })
        .collect();
    // Link variables are injective over valid names (`-` → `_` only meets names
    // without `_`), so two links share a variable only when they are the same link.
    let mut vars: BTreeMap<LinkVar, usize> = BTreeMap::new();
    for (i, target) in s.links.iter().enumerate() {
        let path = format!("services.{}.links[{i}]", s.name);
        let var = LinkVar::for_link(target);
        if let Some(first) = vars.get(&var) {
            out.error(
                path.clone(),
                format!(
                    "{} links to {target} twice (links[{first}] and links[{i}]); both would set {var}",
                    s.name
                ),
                Some(format!("remove one of the two links to {target}")),
            );
            continue;
        }
        vars.insert(var.clone(), i);
        if *target == s.name {
            out.error(
                path,
                format!("{} links to itself", s.name),
                Some("a service reaches itself on localhost; remove the link".to_string()),
            );
            continue;
        }
        match services.get(target) {
            None => out.error(
                path,
                format!("{} links to service: {target} which does not exist", s.name),
                Some(services_hint(m)),
            ),
            Some(t) if t.port.is_none() => out.error(
                path,
                format!(
                    "{} links to service: {target} which does not expose any ports",
                    s.name
                ),
                Some(format!("give {target} a port, such as port: 3000")),
            ),
            Some(_) => {
                if declared.contains(var.as_str()) {
                    out.warning(
                        path,
                        format!(
                            "link to {target} sets {var}, which environment also declares; the declared value wins"
                        ),
                        Some(format!(
                            "remove {var} from environment to use the link's URL"
                        )),
                    );
                }
            }
        }
    }
}

/// `services here: a, b, c` (the first ten).
fn services_hint(m: &Manifest) -> String {
    let mut names: Vec<&str> = m
        .services
        .iter()
        .take(10)
        .map(|x| x.name.as_str())
        .collect();
    if m.services.len() > 10 {
        names.push("…");
    }
    format!("services here: {}", names.join(", "))
}

/// The rack rules, for every service with or without a port:
///
/// - `internal` (or `internalAndExternal`) needs `Internal=Yes`;
/// - on an `InternalOnly` rack every service must be `internal`;
/// - `internalAndExternal` cannot be served on an `InternalOnly` rack, which has no
///   external router (v2 only failed deep inside CloudFormation).
pub fn check_rack(manifest: &Manifest, params: &RackParams) -> Diagnostics {
    let mut out = Out {
        manifest,
        diags: Diagnostics::default(),
    };
    let src = &manifest.source;
    for s in &manifest.services {
        let n = &s.name;
        // Point at the key that asked for it, or at the service when nothing did.
        let written = |key: &str| src.get(&spath(n, key)).map(|_| spath(n, key));
        let at_flag = written("internalAndExternal")
            .filter(|_| s.internal_and_external)
            .or_else(|| written("internal"))
            .or_else(|| written("internalAndExternal"))
            .unwrap_or_else(|| format!("services.{n}"));
        if s.internal && !params.internal() {
            let what = if s.internal_and_external {
                "internalAndExternal"
            } else {
                "internal"
            };
            out.error(
                at_flag.clone(),
                format!("service {n} is {what}, but the rack does not support internal services"),
                Some("enable the internal router: convox rack params set Internal=Yes".to_string()),
            );
        }
        if params.internal_only() {
            if s.internal_and_external {
                out.error(
                    at_flag.clone(),
                    format!(
                        "service {n} is internalAndExternal, but the rack only supports internal services: it has no external router"
                    ),
                    Some(
                        "write internal: true instead, or convox rack params set InternalOnly=No"
                            .to_string(),
                    ),
                );
            } else if !s.internal {
                out.error(
                    at_flag,
                    format!(
                        "service {n} is not internal, but the rack only supports internal services"
                    ),
                    Some(format!(
                        "mark {n} internal: true, or convox rack params set InternalOnly=No"
                    )),
                );
            }
        }
    }
    out.diags
}

/// Every hostname of `app`'s services on `rack`: each label at most 63 characters,
/// each name at most 253. An external name's first label is `{app}-{service}`, so
/// two valid names can together be too long.
pub fn check_hostnames(manifest: &Manifest, rack: &Rack, app: &Name) -> Diagnostics {
    let mut out = Out {
        manifest,
        diags: Diagnostics::default(),
    };
    for s in &manifest.services {
        for router in routers(s) {
            let host = hostname(rack, app, &s.name, router);
            let h = host.as_str();
            let long_label = h.split('.').find(|l| l.len() > MAX_LABEL_LEN);
            let problem = if let Some(label) = long_label {
                Some(format!(
                    "hostname {h} has a label of {} characters ({label}); DNS allows 63",
                    label.len()
                ))
            } else if h.len() > MAX_HOSTNAME_LEN {
                Some(format!(
                    "hostname {h} is {} characters long; DNS allows 253",
                    h.len()
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                let hint = match router {
                    Router::External => {
                        "shorten the app or service name (the external name is {app}-{service}.{router host})"
                    }
                    Router::Internal => "shorten the service, app or rack name",
                };
                out.error(
                    format!("services.{}", s.name),
                    message,
                    Some(hint.to_string()),
                );
            }
        }
    }
    out.diags
}
