//! Duplicate service, timer and resource names are an error (v2 silently kept
//! both). A YAML document cannot even say that (the reader reports the duplicate
//! key), but a manifest built in code can.

use std::collections::BTreeSet;

use super::Out;
use crate::name::Name;

pub(crate) fn check(out: &mut Out<'_>) {
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
