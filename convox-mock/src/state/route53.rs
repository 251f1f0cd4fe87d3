//! Route53: private hosted zones, all-or-nothing record batches within the batch
//! quota, and the rack's settings kept on its zone.

use std::collections::BTreeMap;

use convox_model::backend::BackendResult;
use convox_model::name::Name;
use convox_model::rack::Rack;
use convox_model::resource::{
    HostedZoneSpec, LoadBalancerAddress, RecordAction, RecordChange, Tags,
};
use serde::{Deserialize, Serialize};

use convox_model::aws::change_batch_weight;

use super::{State, already_exists, conflict, find, find_mut, invalid};
use crate::ids;

/// The records at one name: what this library writes (an alias A and a TXT).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecordSet {
    pub alias: Option<LoadBalancerAddress>,
    pub txt: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Zone {
    pub spec: HostedZoneSpec,
    pub tags: Tags,
    /// By lower-case name without the trailing dot; SOA and NS are implicit.
    pub records: BTreeMap<String, RecordSet>,
    /// The rack settings saved on this zone (AWS keeps them as the zone's tags).
    pub rack: Option<Rack>,
}

/// Lower case, no trailing dot: how Route53 compares names.
pub(super) fn dns_norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

pub(super) fn same_address(a: &LoadBalancerAddress, b: &LoadBalancerAddress) -> bool {
    dns_norm(&a.dns_name) == dns_norm(&b.dns_name) && a.hosted_zone_id == b.hosted_zone_id
}

impl State {
    pub(crate) fn create_hosted_zone(
        &mut self,
        op: &str,
        spec: &HostedZoneSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        let name = dns_norm(&spec.name);
        if name.is_empty() || name.split('.').any(str::is_empty) {
            return Err(invalid(
                op,
                format!("{:?} is not a valid domain name", spec.name),
            ));
        }
        if self
            .zones
            .values()
            .any(|z| dns_norm(&z.spec.name) == name && z.spec.vpc_id == spec.vpc_id)
        {
            return Err(already_exists(
                op,
                format!(
                    "a private zone {name} is already associated with {}",
                    spec.vpc_id
                ),
            ));
        }
        let n = self.draw();
        let id = ids::zone_id(n);
        let mut spec = spec.clone();
        spec.name = name;
        self.zones.insert(
            id.clone(),
            Zone {
                spec,
                tags: tags.clone(),
                records: BTreeMap::new(),
                rack: None,
            },
        );
        Ok(id)
    }

    pub(crate) fn delete_hosted_zone(&mut self, op: &str, id: &str) -> BackendResult<()> {
        let z = find(&self.zones, op, "hosted zone", id)?;
        if !z.records.is_empty() {
            return Err(conflict(
                op,
                format!(
                    "hosted zone {id} contains {} record names besides SOA and NS (HostedZoneNotEmpty)",
                    z.records.len()
                ),
            ));
        }
        self.zones.remove(id);
        Ok(())
    }

    pub(crate) fn change_records(
        &mut self,
        op: &str,
        zone_id: &str,
        changes: &[RecordChange],
    ) -> BackendResult<()> {
        let quota = self.quotas.records_per_change_batch;
        let zone = find(&self.zones, op, "hosted zone", zone_id)?;
        if changes.is_empty() {
            return Err(invalid(op, "a change batch needs a change"));
        }
        let weight = change_batch_weight(changes);
        if weight > quota {
            return Err(invalid(
                op,
                format!(
                    "the batch counts {weight} records (an UPSERT counts twice); at most {quota} are allowed"
                ),
            ));
        }
        // Applied to a copy and committed only if every change holds: Route53
        // batches are all or nothing.
        let mut records = zone.records.clone();
        let zone_name = zone.spec.name.clone();
        for (i, c) in changes.iter().enumerate() {
            let name = dns_norm(&c.name);
            if name != zone_name && !name.ends_with(&format!(".{zone_name}")) {
                return Err(invalid(
                    op,
                    format!("change {i}: {name} is not in the zone {zone_name}"),
                ));
            }
            match c.action {
                RecordAction::Create => {
                    let set = records.entry(name.clone()).or_default();
                    if set.alias.is_some() || set.txt.is_some() {
                        return Err(conflict(
                            op,
                            format!(
                                "change {i}: tried to create a record set {name} but it already exists"
                            ),
                        ));
                    }
                    set.alias = Some(c.target.clone());
                    set.txt = Some(c.owner.clone());
                }
                RecordAction::Upsert => {
                    let set = records.entry(name).or_default();
                    set.alias = Some(c.target.clone());
                    set.txt = Some(c.owner.clone());
                }
                RecordAction::Delete => {
                    let matches = records.get(&name).is_some_and(|set| {
                        set.alias
                            .as_ref()
                            .is_some_and(|a| same_address(a, &c.target))
                            && set.txt.as_deref() == Some(c.owner.as_str())
                    });
                    if !matches {
                        return Err(conflict(
                            op,
                            format!(
                                "change {i}: tried to delete record set {name} but it was not found with the values given (InvalidChangeBatch)"
                            ),
                        ));
                    }
                    records.remove(&name);
                }
            }
        }
        if let Some(z) = self.zones.get_mut(zone_id) {
            z.records = records;
        }
        Ok(())
    }

    pub(crate) fn insert_record(
        &mut self,
        zone_id: &str,
        name: &str,
        alias: Option<LoadBalancerAddress>,
        txt: Option<String>,
    ) -> BackendResult<()> {
        let z = find_mut(&mut self.zones, "InsertRecord", "hosted zone", zone_id)?;
        z.records.insert(dns_norm(name), RecordSet { alias, txt });
        Ok(())
    }

    pub(crate) fn save_rack(&mut self, op: &str, zone_id: &str, rack: &Rack) -> BackendResult<()> {
        let z = find_mut(&mut self.zones, op, "hosted zone", zone_id)?;
        z.rack = Some(rack.clone());
        Ok(())
    }

    /// The rack's settings saved on its zone (`op` is unused: reading them
    /// cannot fail).
    pub(crate) fn load_rack(&self, _op: &str, rack: &Name) -> BackendResult<Option<Rack>> {
        let zone_name = convox_model::rack::zone_name(rack);
        Ok(self
            .zones
            .values()
            .filter(|z| z.spec.name == zone_name)
            .filter_map(|z| z.rack.as_ref())
            .find(|r| r.name == *rack)
            .cloned())
    }
}
