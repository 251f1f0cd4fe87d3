//! The rack's certificate authority as its identity: the check every command
//! that reconciles makes first, and rotation to a new authority on purpose.
//!
//! A rack records the fingerprint of its authority ([`RackCa`]) with its
//! settings when it is created. From then on, [`check`] refuses any other
//! authority before a single change is made: a second machine or a CI runner
//! without the rack's `ca.pem` must not silently re-issue every certificate.
//!
//! [`rotate_ca`] moves a rack to a new authority in steps that can each be
//! interrupted and run again:
//!
//! 1. the new fingerprint is recorded as [`RackCa::rotating_to`]: from here on
//!    either authority is accepted, so deploys keep working mid-rotation;
//! 2. every certificate the rack issued (the rack's and every app's) is
//!    re-issued by the new authority through the planner's ordinary
//!    issuer-change replacement, which imports the new certificate before the
//!    old one goes;
//! 3. once no certificate issued by another rack authority is left, the new
//!    fingerprint replaces the old one and `rotating_to` is cleared — last, so
//!    that an interrupted rotation is still recorded as in progress and the
//!    next run finishes it. From then on the old authority is refused.

use serde::Serialize;

use crate::apply::{ApplyContext, Report, apply};
use crate::backend::Backend;
use crate::desired::DesiredState;
use crate::exposure::Router;
use crate::inventory::apps;
use crate::name::Name;
use crate::observe::observe_all;
use crate::ops::OpsError;
use crate::plan::{Plan, plan};
use crate::rack::{Rack, RackCa};
use crate::resource::tags::{ownership_tags, role};
use crate::resource::{
    ListenerCertificateSpec, Observed, Resource, ResourceKey, ResourceSpec, Scope,
};

/// Why the rack's certificate authority was refused or could not be rotated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The authority given is not the rack's.
    #[error(
        "rack {rack} belongs to certificate authority {}, not to {given}; nothing was changed. {}",
        expected.fingerprint,
        ways_forward(rack, expected)
    )]
    Mismatch {
        /// The rack.
        rack: Name,
        /// What the rack recorded.
        expected: Box<RackCa>,
        /// The fingerprint of the authority given.
        given: String,
    },
    /// The rack exists and its authority was not found where the tool looked:
    /// a new one is generated only for a new rack.
    #[error(
        "rack {rack} exists, and its certificate authority{} is not at {looked_in}; a new one is generated only when a rack is created, so nothing was changed. {}",
        expected.as_ref().map(|e| format!(" {}", e.fingerprint)).unwrap_or_default(),
        expected.as_ref().map(|e| ways_forward(rack, e)).unwrap_or_else(|| format!("Give it with --ca FILE, or rotate on purpose: convox rack ca rotate --rack {rack} --new-ca FILE."))
    )]
    NotFound {
        /// The rack.
        rack: Name,
        /// What the rack recorded, if it did.
        expected: Option<Box<RackCa>>,
        /// Where the tool looked.
        looked_in: String,
    },
    /// A rotation to another authority is in progress.
    #[error(
        "rack {rack} is being rotated to certificate authority {in_progress}, not {given}; run the rotation again with that authority's file (--new-ca) to finish it"
    )]
    RotationInProgress {
        /// The rack.
        rack: Name,
        /// The authority the recorded rotation moves to.
        in_progress: String,
        /// The one given.
        given: String,
    },
    /// The rack has not been created: there is nothing to rotate.
    #[error(
        "rack {rack} has not been set up yet, so it has no certificate authority to rotate; create it (convox rack params set … or convox deploy) with the authority it should have"
    )]
    NoRack {
        /// The rack.
        rack: Name,
    },
    /// Certificates by another rack authority are left after re-issuing them.
    #[error(
        "rack {rack}: these certificates are still issued by another authority: {}; the rotation stays in progress: run it again", left.join(", ")
    )]
    Unfinished {
        /// The rack.
        rack: Name,
        /// The certificates' keys.
        left: Vec<String>,
    },
}

/// `2027-12-02`: a day, for messages.
fn day(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => format!("{secs} (Unix seconds)"),
    }
}

/// Where the recorded authority came from and the two ways forward.
fn ways_forward(rack: &Name, expected: &RackCa) -> String {
    let rotating = expected
        .rotating_to
        .as_ref()
        .map(|r| format!(" A rotation to {r} is in progress: that one is accepted too."))
        .unwrap_or_default();
    format!(
        "It was recorded on {} from {}.{rotating} Either give that authority (--ca FILE), or move the rack to another one on purpose: convox rack ca rotate --rack {rack} --new-ca FILE.",
        day(expected.created),
        if expected.origin.is_empty() {
            "an unrecorded place"
        } else {
            &expected.origin
        },
    )
}

/// Refuses an authority (by `fingerprint`) that is not the rack's: `stored` is
/// the rack as the backend holds it (`None`: not created yet, any authority
/// will do and is recorded by the command that creates it; a stored rack that
/// recorded none records the first one given).
pub fn check(stored: Option<&Rack>, fingerprint: &str) -> Result<(), CaError> {
    match stored {
        Some(Rack {
            name, ca: Some(ca), ..
        }) if !ca.accepts(fingerprint) => Err(CaError::Mismatch {
            rack: name.clone(),
            expected: Box::new(ca.clone()),
            given: fingerprint.to_string(),
        }),
        _ => Ok(()),
    }
}

/// `rack` with its authority recorded: kept if it has one; otherwise
/// `fingerprint`, at `now`, from where `given` (the caller's settings) says if
/// they name the same authority.
pub fn record(mut rack: Rack, given: Option<&RackCa>, fingerprint: &str, now: i64) -> Rack {
    if rack.ca.is_none() {
        rack.ca = Some(match given {
            Some(g) if g.fingerprint == fingerprint => RackCa {
                rotating_to: None,
                ..g.clone()
            },
            _ => RackCa::new(
                fingerprint,
                now,
                "unrecorded: given by a tool that did not say where",
            ),
        });
    }
    rack
}

/// Whether a certificate's issuer is a rack authority's fingerprint (SHA-256,
/// hex), and so a certificate the rack issued; certificates from elsewhere
/// (ACM-requested or user-supplied) are not the rack's to re-issue.
fn rack_issued(issuer: &str) -> bool {
    issuer.len() == 64 && issuer.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a rotation did.
#[derive(Clone, Debug, Serialize)]
pub struct Rotation {
    /// The rack, with its new authority recorded.
    pub rack: Rack,
    /// The fingerprint of the authority it moved from (`None` when it had
    /// recorded none).
    pub from: Option<String>,
    /// The plans applied: the rack's, then each app's that had anything to
    /// re-issue.
    pub plans: Vec<Plan>,
    /// What applying them did, in the same order.
    pub reports: Vec<Report>,
}

impl Rotation {
    /// How many certificates were re-issued.
    pub fn reissued(&self) -> usize {
        self.plans
            .iter()
            .flat_map(|p| &p.actions)
            .filter(|a| {
                matches!(
                    a.desired.as_ref().map(|d| &d.spec),
                    Some(ResourceSpec::Certificate(_))
                )
            })
            .count()
    }
}

/// What exists in `scope`, as desired, with every rack-issued certificate's
/// issuer set to `fingerprint`: planned against what exists, it re-issues those
/// certificates (and moves what uses them) and changes nothing else.
fn reissued(rack: &Name, scope: &Scope, observed: &[Observed], fingerprint: &str) -> DesiredState {
    let mut desired = DesiredState::empty(scope.clone());
    // A key someone copied our tags onto: only the claim the planner keeps is
    // ours to want.
    let claims = crate::plan::duplicate_claims(observed);
    let theirs: std::collections::BTreeSet<&str> = claims
        .iter()
        .filter(|c| c.kept.is_some())
        .flat_map(|c| c.others.iter().map(String::as_str))
        .collect();
    for o in observed
        .iter()
        .filter(|o| o.resource.key.in_scope(scope) && !theirs.contains(o.id.as_str()))
    {
        let mut r = o.resource.clone();
        if let ResourceSpec::Certificate(c) = &mut r.spec
            && rack_issued(&c.issuer)
        {
            c.issuer = fingerprint.to_string();
        }
        // One per key: the planner deletes the duplicates a failed create left.
        desired.resources.entry(r.key.clone()).or_insert(r);
    }
    // An app's certificate is attached to the 443 listener of every internal
    // load balancer of the pool its rules are on, as its desired state says:
    // an attachment lost meanwhile (replacing a listener's default certificate
    // on AWS may drop its SNI list) is made again, not kept lost.
    if let Scope::App(app) = scope {
        let cert = ResourceKey::app_certificate(app);
        let on: std::collections::BTreeSet<crate::exposure::Shard> = observed
            .iter()
            .filter(|o| o.resource.key.app() == Some(app.as_str()))
            .filter_map(|o| match &o.resource.spec {
                ResourceSpec::ListenerRule(rule) => rule.listener.subject().shard(),
                _ => None,
            })
            .filter(|s| s.router == Router::Internal)
            .collect();
        for shard in on {
            let attachment = ResourceKey::app_listener_certificate_on(app, shard);
            if !desired.resources.contains_key(&cert) || desired.resources.contains_key(&attachment)
            {
                continue;
            }
            let tags = ownership_tags(
                rack,
                Some(app),
                None,
                role::LISTENER_CERTIFICATE,
                &attachment,
            );
            desired.resources.insert(
                attachment.clone(),
                Resource {
                    key: attachment,
                    tags,
                    spec: ResourceSpec::ListenerCertificate(ListenerCertificateSpec {
                        listener: ResourceKey::shard_listener(shard, 443),
                        certificate: cert.clone(),
                    }),
                },
            );
        }
    }
    desired
}

/// The keys of rack-issued certificates not issued by `fingerprint`.
fn left_over(observed: &[Observed], fingerprint: &str) -> Vec<String> {
    observed
        .iter()
        .filter_map(|o| match &o.resource.spec {
            ResourceSpec::Certificate(c) if rack_issued(&c.issuer) && c.issuer != fingerprint => {
                Some(o.resource.key.to_string())
            }
            _ => None,
        })
        .collect()
}

async fn save(
    backend: &dyn Backend,
    ctx: &ApplyContext,
    observed: &[Observed],
    rack: &Rack,
) -> Result<(), OpsError> {
    let zone = observed
        .iter()
        .find(|o| o.resource.key == ResourceKey::zone())
        .ok_or(OpsError::NoZone)?;
    crate::apply::retrying(backend, ctx, || backend.save_rack(&zone.id, rack)).await?;
    Ok(())
}

/// Rotates `rack` to the authority in `ctx` (its issuer): records the rotation,
/// re-issues every certificate the rack issued by the new authority
/// (make-before-break, as the engine replaces certificates), and records the new
/// authority (from `origin`, at `ctx.now`) last. Run again after an
/// interruption, it finishes; run again after it finished, it changes nothing.
pub async fn rotate_ca(
    backend: &dyn Backend,
    rack: &Name,
    ctx: &ApplyContext,
    origin: &str,
) -> Result<Rotation, OpsError> {
    let new = ctx
        .issuer
        .as_ref()
        .map(|i| i.fingerprint())
        .ok_or(OpsError::NoIssuer)?;
    let mut stored = backend
        .load_rack(rack)
        .await?
        .ok_or_else(|| CaError::NoRack { rack: rack.clone() })?;
    let from = stored.ca.as_ref().map(|c| c.fingerprint.clone());
    let observed = observe_all(backend, rack).await?;

    // 1. Recorded as in progress first, so that every later step can be
    //    interrupted: either authority is accepted until the end.
    if let Some(ca) = &mut stored.ca
        && ca.fingerprint != new
    {
        match &ca.rotating_to {
            Some(to) if *to != new => {
                return Err(CaError::RotationInProgress {
                    rack: rack.clone(),
                    in_progress: to.clone(),
                    given: new,
                }
                .into());
            }
            Some(_) => {}
            None => {
                ca.rotating_to = Some(new.clone());
                save(backend, ctx, &observed, &stored).await?;
                tracing::info!(rack = %rack, to = %new, "certificate authority rotation recorded");
            }
        }
    }

    // 2. Re-issue: the rack's certificates, then each app's.
    let quotas = backend.quotas();
    let mut plans = Vec::new();
    let mut reports = Vec::new();
    let mut scopes = vec![Scope::Rack];
    scopes.extend(apps(&observed).into_iter().map(Scope::App));
    for scope in scopes {
        let observed = observe_all(backend, rack).await?;
        let desired = reissued(rack, &scope, &observed, &new);
        let p = plan(&scope, &desired, &observed, &quotas)?;
        if p.is_empty() {
            continue;
        }
        reports.push(apply(backend, &p, ctx).await?);
        plans.push(p);
    }

    // 3. Only once nothing issued by another rack authority is left does the
    //    rack's record change.
    let observed = observe_all(backend, rack).await?;
    let left = left_over(&observed, &new);
    if !left.is_empty() {
        return Err(CaError::Unfinished {
            rack: rack.clone(),
            left,
        }
        .into());
    }
    let done = stored
        .ca
        .as_ref()
        .is_some_and(|c| c.fingerprint == new && c.rotating_to.is_none());
    if !done {
        stored.ca = Some(RackCa::new(new.clone(), ctx.now, origin));
        save(backend, ctx, &observed, &stored).await?;
        tracing::info!(rack = %rack, to = %new, "certificate authority rotated");
    }
    Ok(Rotation {
        rack: stored,
        from,
        plans,
        reports,
    })
}
