//! Route53: the rack's private zone, its alias records with their ownership TXT
//! records, and the rack's settings kept as the zone's tags.

use std::collections::BTreeMap;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HostedZone, HostedZoneConfig, ResourceRecord,
    ResourceRecordSet, RrType, Tag, TagResourceType, Vpc as R53Vpc, VpcRegion,
};
use convox_model::backend::{BackendError, BackendResult, ErrorKind};
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::{Rack, RackCa, Vpc};
use convox_model::resource::{
    HostedZoneSpec, LoadBalancerAddress, RecordAction, RecordChange, Tags, parse_record_owner_value,
};

use crate::error::{invalid, missing, send};
use crate::observe::tag_map;

/// TTL of the ownership TXT records. Route53 deletes a record only when given its
/// exact TTL and value, so it is fixed.
pub const OWNER_TXT_TTL: i64 = 300;

/// Route53's limit on records in one change batch (an UPSERT counts twice): the
/// model's quota table's.
pub const MAX_RECORDS_PER_BATCH: usize = convox_model::aws::MAX_RECORDS_PER_CHANGE_BATCH;

/// Route53 takes at most this many ids per ListTagsForResources call.
const TAGS_PER_CALL: usize = 10;

/// The rack's settings, as tags on its zone.
const TAG_REGION: &str = "convox:settings:region";
const TAG_VPC_ID: &str = "convox:settings:vpc-id";
const TAG_VPC_CIDR: &str = "convox:settings:vpc-cidr";
const TAG_SUBNETS: &str = "convox:settings:subnets";
const TAG_ROUTER_HOST: &str = "convox:settings:router-host";
const TAG_INTERNAL: &str = "convox:param:Internal";
/// The user's ACM certificate for the external router; empty when the rack
/// requests its own (always written, so that clearing it takes effect).
const TAG_EXTERNAL_CERTIFICATE: &str = "convox:settings:external-certificate";
const TAG_INTERNAL_ONLY: &str = "convox:param:InternalOnly";
// The rack's certificate authority (its identity), beside its settings.
const TAG_CA_FINGERPRINT: &str = "convox:settings:ca-fingerprint";
const TAG_CA_CREATED: &str = "convox:settings:ca-created";
const TAG_CA_ORIGIN: &str = "convox:settings:ca-origin";
/// Empty when no rotation is in progress: AddTags cannot remove a tag.
const TAG_CA_ROTATING_TO: &str = "convox:settings:ca-rotating-to";

/// Whether a tag is one of the rack settings (and so not an ownership tag).
pub(crate) fn is_settings_tag(key: &str) -> bool {
    key.starts_with("convox:settings:") || key.starts_with("convox:param:")
}

/// A hosted zone as read back.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) tags: Tags,
}

/// An alias record and its ownership, as read back.
#[derive(Debug, Clone)]
pub(crate) struct OwnedRecord {
    pub(crate) name: String,
    pub(crate) key: String,
    pub(crate) alias: Option<LoadBalancerAddress>,
}

/// `/hostedzone/Z123` → `Z123`: ids are passed around bare.
pub(crate) fn bare_zone_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// `api.backend.production.convox.` → `api.backend.production.convox`, unescaping
/// what Route53 escapes (`\052` for `*`).
pub(crate) fn normal_name(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out.to_ascii_lowercase()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

/// The caller reference of the rack zone `spec` names, generation `generation`:
/// deterministic, so that a create repeated after a lost answer cannot make a
/// second zone (Route53 refuses a reference it has seen), and found again on the
/// zone, so that a zone made but never tagged is known as ours.
fn caller_reference(spec: &HostedZoneSpec, generation: u32) -> String {
    format!("{}{generation}", caller_reference_prefix(spec))
}

fn caller_reference_prefix(spec: &HostedZoneSpec) -> String {
    format!("convox:{}:{}:", spec.name, spec.vpc_id)
}

/// How many generations of the caller reference a create tries: Route53 keeps
/// refusing the reference of a deleted zone, so a rack deleted and made again
/// in the same VPC takes the next one.
const GENERATIONS: u32 = 16;

/// Creates the rack's zone, or adopts the one an earlier attempt made: a private
/// zone of the same name whose caller reference is ours, tagged now (a lost
/// answer, or a failure between creating and tagging, leaves one untagged).
pub(crate) async fn create_hosted_zone(
    r53: &Client,
    spec: &HostedZoneSpec,
    tags: &Tags,
) -> BackendResult<String> {
    const OP: &str = "CreateHostedZone";
    let mut id = made_before(r53, spec).await?;
    let mut generation = 0;
    while id.is_none() {
        let request = r53
            .create_hosted_zone()
            .name(&spec.name)
            .caller_reference(caller_reference(spec, generation))
            .vpc(
                R53Vpc::builder()
                    .vpc_id(&spec.vpc_id)
                    .vpc_region(VpcRegion::from(spec.region.as_str()))
                    .build(),
            )
            .hosted_zone_config(
                HostedZoneConfig::builder()
                    .private_zone(true)
                    .comment("convox rack zone")
                    .build(),
            );
        match send(OP, request.send()).await {
            Ok(out) => {
                let zone = out
                    .hosted_zone()
                    .ok_or_else(|| missing(OP, "hosted zone"))?;
                id = Some(bare_zone_id(zone.id()).to_string());
            }
            // The reference was used: by the attempt whose answer was lost (the
            // zone exists: adopt it), or by a zone since deleted (next one).
            Err(e) if e.kind() == ErrorKind::AlreadyExists && generation + 1 < GENERATIONS => {
                id = made_before(r53, spec).await?;
                generation += 1;
            }
            Err(e) => return Err(e),
        }
    }
    let id = id.unwrap_or_default();
    // CreateHostedZone takes no tags: tag it now. If this fails the zone is
    // untagged, and the next create adopts it by its caller reference.
    add_tags(r53, &id, tags).await.map_err(|e| {
        e.explained(format!(
            "hosted zone {id} was created but could not be tagged: running again adopts it"
        ))
    })?;
    Ok(id)
}

/// The private zone named `spec.name` made by an earlier create of this rack
/// zone (its caller reference is ours), if there is one.
async fn made_before(r53: &Client, spec: &HostedZoneSpec) -> BackendResult<Option<String>> {
    let prefix = caller_reference_prefix(spec);
    Ok(private_zones_named(r53, &spec.name)
        .await?
        .into_iter()
        .find(|z| z.caller_reference().starts_with(&prefix))
        .map(|z| bare_zone_id(z.id()).to_string()))
}

/// The private hosted zones named `name` (one per VPC it is private to), by
/// ListHostedZonesByName: the zones come in name order from `name` on, so
/// one call finds them whatever else the account holds.
async fn private_zones_named(r53: &Client, name: &str) -> BackendResult<Vec<HostedZone>> {
    const OP: &str = "ListHostedZonesByName";
    let wanted = normal_name(name);
    let mut found = Vec::new();
    let mut start: Option<(String, Option<String>)> = None;
    loop {
        let mut request = r53.list_hosted_zones_by_name().max_items(100);
        request = match &start {
            None => request.dns_name(name),
            Some((name, zone)) => request.dns_name(name).set_hosted_zone_id(zone.clone()),
        };
        let out = send(OP, request.send()).await?;
        let mut past = false;
        for z in out.hosted_zones() {
            if normal_name(z.name()) != wanted {
                past = true;
            } else if z.config().is_some_and(|c| c.private_zone()) {
                found.push(z.clone());
            }
        }
        match (out.is_truncated(), out.next_dns_name()) {
            (true, Some(name)) if !past => {
                start = Some((
                    name.to_string(),
                    out.next_hosted_zone_id().map(str::to_string),
                ));
            }
            _ => return Ok(found),
        }
    }
}

pub(crate) async fn add_tags(r53: &Client, zone_id: &str, tags: &Tags) -> BackendResult<()> {
    // AddTags takes at least one tag: with none there is nothing to send.
    if tags.is_empty() {
        return Ok(());
    }
    let all: Vec<_> = tags.iter().map(|(k, v)| tag(k, v)).collect();
    // Route53 takes at most 10 tags per ChangeTagsForResource; the rack's
    // settings and ownership tags are more than that.
    for batch in all.chunks(MAX_TAGS_PER_CHANGE) {
        let request = r53
            .change_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(zone_id)
            .set_add_tags(Some(batch.to_vec()));
        send("ChangeTagsForResource", request.send()).await?;
    }
    Ok(())
}

/// Route53's limit on tags added by one ChangeTagsForResource request.
pub(crate) const MAX_TAGS_PER_CHANGE: usize = 10;

pub(crate) async fn delete_hosted_zone(r53: &Client, id: &str) -> BackendResult<()> {
    send("DeleteHostedZone", r53.delete_hosted_zone().id(id).send())
        .await
        .map(drop)
}

/// The private hosted zones named `name` with their tags, keeping those `keep`
/// accepts. A rack's zone is named `{rack}.convox`
/// ([`convox_model::rack::zone_name`]); a zone with the rack's tags and another
/// name is not the rack's zone.
pub(crate) async fn zones(
    r53: &Client,
    name: &str,
    keep: impl Fn(&Tags) -> bool,
) -> BackendResult<Vec<Zone>> {
    // Ours are private; public zones are never the rack's.
    let all: Vec<(String, String)> = private_zones_named(r53, name)
        .await?
        .iter()
        .map(|z| (bare_zone_id(z.id()).to_string(), normal_name(z.name())))
        .collect();
    let mut out = Vec::new();
    for chunk in all.chunks(TAGS_PER_CALL) {
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        let request = r53
            .list_tags_for_resources()
            .resource_type(TagResourceType::Hostedzone)
            .set_resource_ids(Some(ids));
        let t = send("ListTagsForResources", request.send()).await?;
        let mut by_id: BTreeMap<String, Tags> = BTreeMap::new();
        for set in t.resource_tag_sets() {
            if let Some(id) = set.resource_id() {
                let tags = tag_map(set.tags().iter().map(|t| (t.key(), t.value())));
                by_id.insert(bare_zone_id(id).to_string(), tags);
            }
        }
        for (id, name) in chunk {
            let tags = by_id.remove(id).unwrap_or_default();
            if keep(&tags) {
                out.push(Zone {
                    id: id.clone(),
                    name: name.clone(),
                    tags,
                });
            }
        }
    }
    Ok(out)
}

/// The VPC a private zone is associated with (the first, if several).
pub(crate) async fn zone_vpc(r53: &Client, id: &str) -> BackendResult<(String, String)> {
    let out = send("GetHostedZone", r53.get_hosted_zone().id(id).send()).await?;
    let vpc = out.vpcs().first();
    Ok((
        vpc.and_then(|v| v.vpc_id()).unwrap_or_default().to_string(),
        vpc.and_then(|v| v.vpc_region())
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
    ))
}

/// The alias records of a zone whose ownership TXT names `rack`.
///
/// ListResourceRecordSets has no paginator in the SDK: it pages by the next record
/// name and type.
///
/// With `under` (a name in the zone, such as an app's `{app}.{rack}.convox`),
/// only the records at or below it: Route53 lists names in the order of their
/// labels read from the right, so those stand together, and the listing starts
/// at `under` and stops at the first name past them.
pub(crate) async fn owned_records(
    r53: &Client,
    zone_id: &str,
    rack: &Name,
    under: Option<&str>,
) -> BackendResult<Vec<OwnedRecord>> {
    const OP: &str = "ListResourceRecordSets";
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    let mut aliases: BTreeMap<String, LoadBalancerAddress> = BTreeMap::new();
    let mut next: Option<(String, Option<RrType>, Option<String>)> =
        under.map(|name| (format!("{}.", normal_name(name)), None, None));
    let below = |name: &str| {
        under.is_none_or(|u| {
            let u = normal_name(u);
            name == u || name.ends_with(&format!(".{u}"))
        })
    };
    loop {
        let mut req = r53
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .max_items(300);
        if let Some((name, ty, ident)) = next.take() {
            req = req
                .start_record_name(name)
                .set_start_record_type(ty)
                .set_start_record_identifier(ident);
        }
        let page = send(OP, req.send()).await?;
        let mut past = false;
        for set in page.resource_record_sets() {
            let name = normal_name(set.name());
            if !below(&name) {
                past = true;
                break;
            }
            match set.r#type() {
                RrType::Txt => {
                    for r in set.resource_records() {
                        if let Some((r_rack, key)) = parse_record_owner_value(r.value())
                            && r_rack == rack.as_str()
                        {
                            owners.insert(name.clone(), key.to_string());
                        }
                    }
                }
                RrType::A => {
                    if let Some(a) = set.alias_target() {
                        aliases.insert(
                            name.clone(),
                            LoadBalancerAddress {
                                dns_name: normal_name(a.dns_name()),
                                hosted_zone_id: a.hosted_zone_id().to_string(),
                            },
                        );
                    }
                }
                _ => {}
            }
        }
        match (page.is_truncated() && !past, page.next_record_name()) {
            (true, Some(name)) => {
                next = Some((
                    name.to_string(),
                    page.next_record_type().cloned(),
                    page.next_record_identifier().map(str::to_string),
                ));
            }
            _ => break,
        }
    }
    Ok(owners
        .into_iter()
        .map(|(name, key)| OwnedRecord {
            alias: aliases.remove(&name),
            name,
            key,
        })
        .collect())
}

fn txt_value(owner: &str) -> String {
    // TXT values are quoted strings on the wire.
    format!("\"{}\"", owner.replace('\\', "\\\\").replace('"', "\\\""))
}

fn record_sets(
    change: &RecordChange,
) -> Result<[ResourceRecordSet; 2], aws_smithy_types::error::operation::BuildError> {
    let alias = ResourceRecordSet::builder()
        .name(&change.name)
        .r#type(RrType::A)
        .alias_target(
            AliasTarget::builder()
                .hosted_zone_id(&change.target.hosted_zone_id)
                .dns_name(&change.target.dns_name)
                .evaluate_target_health(false)
                .build()?,
        )
        .build()?;
    let owner = ResourceRecordSet::builder()
        .name(&change.name)
        .r#type(RrType::Txt)
        .ttl(OWNER_TXT_TTL)
        .resource_records(
            ResourceRecord::builder()
                .value(txt_value(&change.owner))
                .build()?,
        )
        .build()?;
    Ok([alias, owner])
}

/// How many records a batch of changes counts as against Route53's limit: the
/// model's one rule (an UPSERT counts twice).
pub use convox_model::aws::change_batch_weight as batch_weight;

pub(crate) async fn change_records(
    r53: &Client,
    zone_id: &str,
    changes: &[RecordChange],
) -> BackendResult<()> {
    const OP: &str = "ChangeResourceRecordSets";
    if changes.is_empty() {
        return Ok(());
    }
    let weight = batch_weight(changes);
    if weight > MAX_RECORDS_PER_BATCH {
        return Err(invalid(
            OP,
            format!(
                "the batch counts {weight} records; Route53 takes at most {MAX_RECORDS_PER_BATCH} (an UPSERT counts twice)"
            ),
        ));
    }
    let mut out = Vec::with_capacity(changes.len() * 2);
    for c in changes {
        let action = match c.action {
            RecordAction::Create => ChangeAction::Create,
            RecordAction::Upsert => ChangeAction::Upsert,
            RecordAction::Delete => ChangeAction::Delete,
        };
        let sets = record_sets(c).map_err(|e| invalid(OP, format!("record {}: {e}", c.name)))?;
        for set in sets {
            out.push(
                Change::builder()
                    .action(action.clone())
                    .resource_record_set(set)
                    .build()
                    .map_err(|e| invalid(OP, format!("record {}: {e}", c.name)))?,
            );
        }
    }
    let batch = ChangeBatch::builder()
        .set_changes(Some(out))
        .build()
        .map_err(|e| invalid(OP, e.to_string()))?;
    let request = r53
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(batch);
    send(OP, request.send()).await.map(drop)
}

/// The rack's settings as zone tags.
fn settings_tags(rack: &Rack) -> BackendResult<Tags> {
    let yn = |b: bool| if b { "Yes" } else { "No" }.to_string();
    // Tag values allow letters, digits, spaces and `_.:/=+-@`: subnets are joined
    // by spaces.
    let subnets = rack.subnets.join(" ");
    let mut tags = Tags::from([
        (TAG_REGION.to_string(), rack.region.clone()),
        (TAG_VPC_ID.to_string(), rack.vpc.id.clone()),
        (TAG_VPC_CIDR.to_string(), rack.vpc.cidr.clone()),
        (TAG_SUBNETS.to_string(), subnets),
        (TAG_ROUTER_HOST.to_string(), rack.router_host.clone()),
        (
            TAG_EXTERNAL_CERTIFICATE.to_string(),
            rack.external_certificate.clone().unwrap_or_default(),
        ),
        (TAG_INTERNAL.to_string(), yn(rack.params.internal())),
        (
            TAG_INTERNAL_ONLY.to_string(),
            yn(rack.params.internal_only()),
        ),
    ]);
    if let Some(ca) = &rack.ca {
        tags.extend(ca_tags(ca));
    }
    if let Some((k, v)) = tags.iter().find(|(_, v)| v.len() > 256) {
        return Err(invalid(
            "ChangeTagsForResource",
            format!(
                "rack setting {k} is {} characters; a tag value holds at most 256",
                v.len()
            ),
        ));
    }
    Ok(tags)
}

/// The rack's certificate authority as zone tags; the origin is free text,
/// so characters a tag value does not allow become `_` and it is cut to fit.
fn ca_tags(ca: &RackCa) -> Tags {
    let origin: String = ca
        .origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect();
    Tags::from([
        (TAG_CA_FINGERPRINT.to_string(), ca.fingerprint.clone()),
        (TAG_CA_CREATED.to_string(), ca.created.to_string()),
        (TAG_CA_ORIGIN.to_string(), origin),
        (
            TAG_CA_ROTATING_TO.to_string(),
            ca.rotating_to.clone().unwrap_or_default(),
        ),
    ])
}

/// The rack's certificate authority read back from its tags; `None` for a
/// rack saved before racks recorded one.
fn ca_from_tags(tags: &Tags) -> BackendResult<Option<RackCa>> {
    let Some(fingerprint) = tags.get(TAG_CA_FINGERPRINT) else {
        return Ok(None);
    };
    let created = tags
        .get(TAG_CA_CREATED)
        .map(|c| c.parse::<i64>())
        .transpose()
        .map_err(|e| {
            BackendError::new(
                ErrorKind::Unexpected,
                "ListTagsForResources",
                format!("tag {TAG_CA_CREATED} is not Unix seconds: {e}"),
            )
        })?
        .unwrap_or_default();
    Ok(Some(RackCa {
        fingerprint: fingerprint.clone(),
        created,
        origin: tags.get(TAG_CA_ORIGIN).cloned().unwrap_or_default(),
        rotating_to: tags
            .get(TAG_CA_ROTATING_TO)
            .filter(|t| !t.is_empty())
            .cloned(),
    }))
}

pub(crate) async fn save_rack(r53: &Client, zone_id: &str, rack: &Rack) -> BackendResult<()> {
    add_tags(r53, zone_id, &settings_tags(rack)?).await
}

/// The rack's settings read back from its zone's tags; `None` if never saved.
pub(crate) fn rack_from_tags(name: &Name, tags: &Tags) -> BackendResult<Option<Rack>> {
    const OP: &str = "ListTagsForResources";
    if !tags.keys().any(|k| is_settings_tag(k)) {
        return Ok(None);
    }
    let get = |k: &str| {
        tags.get(k).cloned().ok_or_else(|| {
            BackendError::new(
                ErrorKind::Unexpected,
                OP,
                format!("the rack's zone has settings but no {k} tag"),
            )
        })
    };
    let yes = |k: &str| -> BackendResult<bool> {
        match get(k)?.as_str() {
            "Yes" => Ok(true),
            "No" => Ok(false),
            other => Err(BackendError::new(
                ErrorKind::Unexpected,
                OP,
                format!("tag {k} is {other:?}, not Yes or No"),
            )),
        }
    };
    let params = RackParams::new(yes(TAG_INTERNAL)?, yes(TAG_INTERNAL_ONLY)?)
        .map_err(|e| BackendError::new(ErrorKind::Unexpected, OP, e.to_string()))?;
    Ok(Some(Rack {
        name: name.clone(),
        region: get(TAG_REGION)?,
        vpc: Vpc {
            id: get(TAG_VPC_ID)?,
            cidr: get(TAG_VPC_CIDR)?,
        },
        subnets: get(TAG_SUBNETS)?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        router_host: get(TAG_ROUTER_HOST)?,
        params,
        ca: ca_from_tags(tags)?,
        // Absent on a rack saved before the setting existed.
        external_certificate: tags
            .get(TAG_EXTERNAL_CERTIFICATE)
            .filter(|arn| !arn.is_empty())
            .cloned(),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use convox_model::rack::Rack;

    #[test]
    fn names_are_normalised() {
        assert_eq!(
            normal_name("Api.Backend.production.convox."),
            "api.backend.production.convox"
        );
        assert_eq!(
            normal_name("\\052.backend.production.convox."),
            "*.backend.production.convox"
        );
        assert_eq!(bare_zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(bare_zone_id("Z123"), "Z123");
    }

    #[test]
    fn settings_round_trip_through_tags() {
        let name = Name::new("production").unwrap();
        let mut rack = Rack::offline(name.clone(), RackParams::new(true, true).unwrap(), None);
        rack.subnets = vec!["subnet-1".into(), "subnet-2".into()];
        let tags = settings_tags(&rack).unwrap();
        assert_eq!(rack_from_tags(&name, &tags).unwrap(), Some(rack.clone()));
        rack.external_certificate = Some("arn:aws:acm:us-east-1:1:certificate/x".into());
        let tags = settings_tags(&rack).unwrap();
        assert_eq!(rack_from_tags(&name, &tags).unwrap(), Some(rack.clone()));
        assert_eq!(rack_from_tags(&name, &Tags::new()).unwrap(), None);
    }

    #[test]
    fn the_rack_authority_round_trips_through_tags() {
        let name = Name::new("production").unwrap();
        let mut rack = Rack::offline(name.clone(), RackParams::default(), None);
        let mut ca = RackCa::new("ab".repeat(32), 1_750_000_000, "/home/me/ca.pem on laptop");
        rack.ca = Some(ca.clone());
        let tags = settings_tags(&rack).unwrap();
        assert_eq!(tags[TAG_CA_ROTATING_TO], "");
        assert_eq!(rack_from_tags(&name, &tags).unwrap(), Some(rack.clone()));
        ca.rotating_to = Some("cd".repeat(32));
        ca.origin = "C:\\keys\\ca.pem (copy)".into();
        rack.ca = Some(ca);
        let back = rack_from_tags(&name, &settings_tags(&rack).unwrap())
            .unwrap()
            .unwrap();
        let got = back.ca.unwrap();
        assert_eq!(got.rotating_to, Some("cd".repeat(32)));
        assert_eq!(got.origin, "C:_keys_ca.pem _copy_");
    }

    #[test]
    fn upserts_count_twice() {
        let change = |action| RecordChange {
            action,
            name: "a.b.c.convox".into(),
            target: LoadBalancerAddress {
                dns_name: "x".into(),
                hosted_zone_id: "Z".into(),
            },
            owner: "o".into(),
        };
        assert_eq!(
            batch_weight(&[change(RecordAction::Upsert), change(RecordAction::Delete)]),
            6
        );
    }
}
