//! References by name: a timer runs on an existing service; a service uses
//! existing resources.

use std::collections::{BTreeMap, BTreeSet};

use super::Out;
use crate::manifest::Service;
use crate::name::Name;

pub(crate) fn check(out: &mut Out<'_>, services: &BTreeMap<&Name, &Service>) {
    let m = out.manifest;
    let resources: BTreeSet<&Name> = m.resources.iter().map(|r| &r.name).collect();
    for s in &m.services {
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
    for t in &m.timers {
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
}
