//! One action's backend calls: the delete half and the put half (create,
//! update, or the new half of a replacement).

use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};

use super::engine::Engine;
use super::report::{ActionRef, ApplyEvent, StepError};
use super::schedule::{Effect, Half, Known, Outcome, Unit};
use crate::backend::{Backend, BackendResult, ErrorKind};
use crate::plan::{Action, Op};
use crate::resource::{
    Resource, ResourceKind, ResourceSpec, listener_certificate_id, parse_listener_certificate_id,
};

/// The backend's delete of one resource by its id alone.
type DeleteFn = for<'x> fn(&'x dyn Backend, &'x str) -> BoxFuture<'x, BackendResult<()>>;

/// How a resource of `spec`'s kind is deleted by its id alone: every kind but
/// listener certificates (a pair of ids) and records (deleted in batches).
fn delete_by_id(spec: &ResourceSpec) -> Option<DeleteFn> {
    let delete: DeleteFn = match spec {
        ResourceSpec::SecurityGroup(_) => |b, id| b.delete_security_group(id),
        ResourceSpec::LoadBalancer(_) => |b, id| b.delete_load_balancer(id),
        ResourceSpec::Listener(_) => |b, id| b.delete_listener(id),
        ResourceSpec::Certificate(_) => |b, id| b.delete_certificate(id),
        ResourceSpec::TargetGroup(_) => |b, id| b.delete_target_group(id),
        ResourceSpec::ListenerRule(_) => |b, id| b.delete_rule(id),
        ResourceSpec::HostedZone(_) => |b, id| b.delete_hosted_zone(id),
        ResourceSpec::ListenerCertificate(_) | ResourceSpec::Record(_) => return None,
    };
    Some(delete)
}

impl<'a> Engine<'a> {
    pub(super) async fn run_stage(&self, stage: &[(Half, &Action)], known: &Known) -> Vec<Outcome> {
        let mut units: Vec<BoxFuture<'_, Vec<Outcome>>> = Vec::new();
        let (records, others): (Vec<Unit<'_>>, Vec<Unit<'_>>) = stage
            .iter()
            .partition(|(_, a)| a.kind == ResourceKind::Record);
        for (half, action) in others {
            units.push(Box::pin(async move {
                let r = ActionRef::from(action);
                self.emit(ApplyEvent::Started { action: r.clone() });
                let result = match half {
                    Half::Delete => self.delete(action, known).await,
                    Half::Put => self.put(action, known).await,
                };
                vec![self.finish(r, result)]
            }));
        }
        if !records.is_empty() {
            units.extend(self.record_batches(&records, known));
        }
        stream::iter(units)
            .buffer_unordered(self.ctx.concurrency.max(1))
            .flat_map(stream::iter)
            .collect()
            .await
    }

    pub(super) fn finish(&self, action: ActionRef, result: Result<Effect, StepError>) -> Outcome {
        if let (Ok(effect), Some(own)) = (&result, &self.ctx.own_copies) {
            own_copy(effect).inspect(|id| own.insert(id));
        }
        match &result {
            Ok(_) => self.emit(ApplyEvent::Finished {
                action: action.clone(),
            }),
            Err(e) => {
                tracing::warn!(%action, error = %e, "action failed");
                self.emit(ApplyEvent::Failed {
                    action: action.clone(),
                    error: e.to_string(),
                })
            }
        }
        Outcome { action, result }
    }

    pub(super) async fn delete(&self, action: &Action, known: &Known) -> Result<Effect, StepError> {
        let r = ActionRef::from(action);
        let Some(current) = &action.current else {
            return Err(StepError::Unresolved(action.key.clone()));
        };
        let id = current.id.as_str();
        let b = self.backend;
        let spec = &current.resource.spec;
        let result = if let Some(delete) = delete_by_id(spec) {
            self.with_retry(Some(&r), true, || delete(b, id)).await
        } else if let ResourceSpec::ListenerCertificate(lc) = spec {
            // The pair it was observed as: once a replacement has attached the
            // new certificate, the certificate's key names the new one.
            let (listener, cert) = match parse_listener_certificate_id(id) {
                Some(pair) => pair,
                None => (known.id(&lc.listener)?, known.id(&lc.certificate)?),
            };
            self.with_retry(Some(&r), true, || {
                b.remove_listener_certificate(listener, cert)
            })
            .await
        } else {
            // Records go in batches (record_batches).
            return Err(StepError::Unsupported {
                op: action.op,
                kind: action.kind,
            });
        };
        match result {
            // Already gone is what we wanted: re-running after a partial apply is safe.
            Ok(()) => Ok(Effect::Deleted {
                key: action.key.clone(),
                id: id.to_string(),
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Effect::Deleted {
                key: action.key.clone(),
                id: id.to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn put(&self, action: &Action, known: &Known) -> Result<Effect, StepError> {
        let r = ActionRef::from(action);
        let Some(Resource { key, tags, spec }) = &action.desired else {
            return Err(StepError::Unresolved(action.key.clone()));
        };
        let b = self.backend;
        if action.op == Op::Update {
            let id = action
                .current
                .as_ref()
                .map(|o| o.id.as_str())
                .ok_or_else(|| StepError::Unresolved(key.clone()))?;
            match spec {
                ResourceSpec::SecurityGroup(sg) => {
                    self.with_retry(Some(&r), true, || b.update_security_group(id, sg))
                        .await?
                }
                ResourceSpec::Listener(l) => {
                    let cert = l.certificate.as_ref().map(|c| known.id(c)).transpose()?;
                    self.with_retry(Some(&r), true, || b.modify_listener(id, l, cert))
                        .await?
                }
                ResourceSpec::TargetGroup(tg) => {
                    self.with_retry(Some(&r), true, || b.modify_target_group(id, tg))
                        .await?
                }
                // Day-2 safety: a router's subnets and security groups change in
                // place; it keeps its ARN, listeners, rules and records.
                ResourceSpec::LoadBalancer(lb) => {
                    if action.changes.iter().any(|c| c.field == "subnets") {
                        self.with_retry(Some(&r), true, || {
                            b.set_load_balancer_subnets(id, &lb.subnets)
                        })
                        .await?;
                    }
                    if action.changes.iter().any(|c| {
                        matches!(c.field.as_str(), "security_group" | "other_security_groups")
                    }) {
                        let groups = [known.id(&lb.security_group)?.to_string()];
                        self.with_retry(Some(&r), true, || {
                            b.set_load_balancer_security_groups(id, &groups)
                        })
                        .await?;
                    }
                }
                ResourceSpec::ListenerRule(rule) => {
                    if action.changes.iter().any(|c| c.field == "priority")
                        && let Some(p) = rule.priority
                    {
                        self.with_retry(Some(&r), true, || b.set_rule_priority(id, p))
                            .await?;
                    }
                    if action.changes.iter().any(|c| c.field != "priority") {
                        let tg = known.id(&rule.target_group)?;
                        self.with_retry(Some(&r), true, || b.modify_rule(id, rule, tg))
                            .await?;
                    }
                }
                // A renewal, or a new issuer (the rack's authority rotated):
                // issued anew and re-imported over the same ARN, so the
                // listeners that use it keep it and no certificate slot is
                // needed (issue 12).
                ResourceSpec::Certificate(c) => {
                    let issuer = self.ctx.issuer.as_ref().ok_or(StepError::NoIssuer)?;
                    let pem = issuer.issue_names(&c.domain, &c.names, self.ctx.now)?;
                    self.with_retry(Some(&r), true, || b.reimport_certificate(id, c, &pem))
                        .await?
                }
                _ => {
                    return Err(StepError::Unsupported {
                        op: action.op,
                        kind: spec.kind(),
                    });
                }
            }
            return Ok(Effect::Updated);
        }

        let created = |id: String| Effect::Created {
            key: key.clone(),
            id,
            address: None,
        };
        Ok(match spec {
            ResourceSpec::SecurityGroup(sg) => created(
                self.with_retry(Some(&r), true, || b.create_security_group(sg, tags))
                    .await?,
            ),
            ResourceSpec::LoadBalancer(lb) => {
                let sg = known.id(&lb.security_group)?;
                let made = self
                    .with_retry(Some(&r), true, || b.create_load_balancer(lb, sg, tags))
                    .await?;
                Effect::Created {
                    key: key.clone(),
                    id: made.arn,
                    address: Some(made.address),
                }
            }
            ResourceSpec::Listener(l) => {
                let lb = known.id(&l.load_balancer)?;
                let cert = l.certificate.as_ref().map(|c| known.id(c)).transpose()?;
                created(
                    self.with_retry(Some(&r), true, || b.create_listener(lb, l, cert, tags))
                        .await?,
                )
            }
            ResourceSpec::Certificate(c) => {
                let issuer = self.ctx.issuer.as_ref().ok_or(StepError::NoIssuer)?;
                // Issued here, not at plan time: a plan holds no secrets.
                let pem = issuer.issue_names(&c.domain, &c.names, self.ctx.now)?;
                // ImportCertificate is not idempotent: retried after an answer was
                // lost, it imports a second certificate under the same key, and the
                // listener gets one of the two while the planner may keep the other
                // and then fail to delete the one in use, forever. So every retry
                // first looks for the certificate the attempt before may have made.
                // A replacement's old certificate has the same key; it is not the one.
                let old = action.current.as_ref().map(|o| o.id.as_str());
                let attempted = AtomicBool::new(false);
                created(
                    self.with_retry(Some(&r), true, || async {
                        if attempted.swap(true, Ordering::Relaxed)
                            && let Some(id) = self.find_created(key, old).await?
                        {
                            return Ok(id);
                        }
                        b.import_certificate(c, &pem, tags).await
                    })
                    .await?,
                )
            }
            ResourceSpec::ListenerCertificate(lc) => {
                let listener = known.id(&lc.listener)?;
                let cert = known.id(&lc.certificate)?;
                self.with_retry(Some(&r), true, || {
                    b.add_listener_certificate(listener, cert)
                })
                .await?;
                // An attachment has no id of its own; its pair names it.
                created(listener_certificate_id(listener, cert))
            }
            ResourceSpec::TargetGroup(tg) => created(
                self.with_retry(Some(&r), true, || b.create_target_group(tg, tags))
                    .await?,
            ),
            ResourceSpec::ListenerRule(rule) => {
                let listener = known.id(&rule.listener)?;
                let tg = known.id(&rule.target_group)?;
                created(
                    self.with_retry(Some(&r), true, || b.create_rule(listener, rule, tg, tags))
                        .await?,
                )
            }
            ResourceSpec::HostedZone(z) => created(
                self.with_retry(Some(&r), true, || b.create_hosted_zone(z, tags))
                    .await?,
            ),
            ResourceSpec::Record(_) => {
                return Err(StepError::Unsupported {
                    op: action.op,
                    kind: ResourceKind::Record,
                });
            }
        })
    }
}

/// The shared certificate `effect` made, or took off a listener: one
/// operation's own ([`super::OwnCopies`]).
fn own_copy(effect: &Effect) -> Option<&str> {
    match effect {
        Effect::Created { key, id, .. }
            if matches!(
                key.subject(),
                crate::resource::KeySubject::ShardCertificate(..)
            ) =>
        {
            Some(id)
        }
        Effect::Deleted { key, id } if crate::pool::certs::is_shared(key) => {
            parse_listener_certificate_id(id).map(|(_, cert)| cert)
        }
        _ => None,
    }
}
