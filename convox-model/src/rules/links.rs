//! Links (SPEC §4, §6): the one place that decides whether a link is valid.
//!
//! A link's target must exist, must expose a port and must not be the service
//! itself; two links that set the same variable are an error; a link variable that
//! a declared environment key also names is a warning (the declared value wins).
//! [`classify`] says what each link comes to; [`crate::env`] resolves only the
//! [`Link::Valid`] ones, so the two can never disagree.

use std::collections::{BTreeMap, BTreeSet};

use super::Out;
use crate::manifest::{EnvDecl, Manifest, Service};
use crate::name::{LinkVar, Name};

/// What one link of a service comes to.
#[derive(Clone, Debug, PartialEq)]
pub enum Link<'m> {
    /// A link to a service with a port: it sets `var` to the target's URL.
    Valid {
        /// The linked service.
        target: &'m Service,
        /// The variable it sets.
        var: LinkVar,
    },
    /// A later link that would set the variable that `links[first]` sets.
    Repeated {
        /// The index of the first link that sets `var`.
        first: usize,
        /// The variable both would set.
        var: LinkVar,
    },
    /// A link to the service itself.
    ToItself,
    /// A link to no service of the manifest.
    Missing,
    /// A link to a service that exposes no port.
    NoPort,
}

/// What each of `service`'s links comes to, in link order; `find` looks a service
/// of the manifest up by name.
pub fn classify<'m>(
    service: &Service,
    find: impl Fn(&Name) -> Option<&'m Service>,
) -> Vec<Link<'m>> {
    // Link variables are injective over valid names (`-` → `_` only meets names
    // without `_`), so two links share a variable only when they are the same link.
    let mut vars: BTreeMap<LinkVar, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(service.links.len());
    for (i, target) in service.links.iter().enumerate() {
        let var = LinkVar::for_link(target);
        if let Some(first) = vars.get(&var) {
            out.push(Link::Repeated { first: *first, var });
            continue;
        }
        vars.insert(var.clone(), i);
        let link = if *target == service.name {
            Link::ToItself
        } else {
            match find(target) {
                None => Link::Missing,
                Some(t) if t.port.is_none() => Link::NoPort,
                Some(t) => Link::Valid { target: t, var },
            }
        };
        out.push(link);
    }
    out
}

pub(crate) fn check(out: &mut Out<'_>, s: &Service, services: &BTreeMap<&Name, &Service>) {
    let m = out.manifest;
    let declared: BTreeSet<&str> = s
        .environment
        .iter()
        .filter_map(|d| match d {
            EnvDecl::Default { key, .. } | EnvDecl::Required { key } => Some(key.as_str()),
            EnvDecl::All => None,
        })
        .collect();
    let links = classify(s, |n| services.get(n).copied());
    for (i, (target, link)) in s.links.iter().zip(links).enumerate() {
        let path = format!("services.{}.links[{i}]", s.name);
        match link {
            Link::Repeated { first, var } => out.error(
                path,
                format!(
                    "{} links to {target} twice (links[{first}] and links[{i}]); both would set {var}",
                    s.name
                ),
                Some(format!("remove one of the two links to {target}")),
            ),
            Link::ToItself => out.error(
                path,
                format!("{} links to itself", s.name),
                Some("a service reaches itself on localhost; remove the link".to_string()),
            ),
            Link::Missing => out.error(
                path,
                format!("{} links to service: {target} which does not exist", s.name),
                Some(services_hint(m)),
            ),
            Link::NoPort => out.error(
                path,
                format!(
                    "{} links to service: {target} which does not expose any ports",
                    s.name
                ),
                Some(format!("give {target} a port, such as port: 3000")),
            ),
            Link::Valid { var, .. } => {
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
