//! Record changes: grouped by zone and cut into batches within Route53's
//! per-batch limit, one call each.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use super::engine::Engine;
use super::report::{ActionRef, ApplyEvent, StepError};
use super::schedule::{Effect, Half, Known, Outcome};
use crate::aws::change_weight;
use crate::backend::BackendError;
use crate::plan::{Action, Op};
use crate::resource::{RecordAction, RecordChange, Resource, ResourceSpec, record_owner_value};

impl<'a> Engine<'a> {
    /// Record changes of one stage, grouped by zone and cut into batches within
    /// Route53's limit; each batch is one call.
    pub(super) fn record_batches(
        &'a self,
        records: &[(Half, &'a Action)],
        known: &'a Known,
    ) -> Vec<BoxFuture<'a, Vec<Outcome>>> {
        let mut out: Vec<BoxFuture<'a, Vec<Outcome>>> = Vec::new();
        // zone id -> [(action, change)]
        // With each change, the id a delete removes (the observed record's).
        let mut by_zone: BTreeMap<String, Vec<(ActionRef, RecordChange, String)>> = BTreeMap::new();
        let mut failed: Vec<Outcome> = Vec::new();
        for (half, action) in records {
            let r = ActionRef::from(*action);
            match self.record_change(*half, action, known) {
                Ok((zone, change)) => {
                    let id = action
                        .current
                        .as_ref()
                        .map_or_else(|| change.name.clone(), |o| o.id.clone());
                    by_zone.entry(zone).or_default().push((r, change, id));
                }
                Err(e) => failed.push(self.finish(r, Err(e))),
            }
        }
        if !failed.is_empty() {
            out.push(Box::pin(async move { failed }));
        }
        let limit = self.backend.quotas().records_per_change_batch;
        for (zone, changes) in by_zone {
            let mut batch: Vec<(ActionRef, RecordChange, String)> = Vec::new();
            let mut cost = 0;
            let mut batches = Vec::new();
            for (r, c, id) in changes {
                let k = change_weight(c.action);
                if cost + k > limit && !batch.is_empty() {
                    batches.push(std::mem::take(&mut batch));
                    cost = 0;
                }
                cost += k;
                batch.push((r, c, id));
            }
            if !batch.is_empty() {
                batches.push(batch);
            }
            for batch in batches {
                let zone = zone.clone();
                out.push(Box::pin(async move {
                    for (r, _, _) in &batch {
                        self.emit(ApplyEvent::Started { action: r.clone() });
                    }
                    let changes: Vec<RecordChange> =
                        batch.iter().map(|(_, c, _)| c.clone()).collect();
                    let first = batch.first().map(|(r, _, _)| r.clone());
                    let result = self
                        .with_retry(first.as_ref(), true, || {
                            self.backend.change_records(&zone, &changes)
                        })
                        .await;
                    batch
                        .into_iter()
                        .map(|(r, c, id)| {
                            let result = match &result {
                                Ok(()) => Ok(match c.action {
                                    RecordAction::Delete => Effect::Deleted {
                                        key: r.key.clone(),
                                        id,
                                    },
                                    RecordAction::Create => Effect::Created {
                                        key: r.key.clone(),
                                        id: c.name.clone(),
                                        address: None,
                                    },
                                    RecordAction::Upsert => Effect::Updated,
                                }),
                                Err(e) => Err(StepError::Backend(
                                    BackendError::new(e.kind(), e.operation(), e.message())
                                        .retryable(e.is_retryable()),
                                )),
                            };
                            self.finish(r, result)
                        })
                        .collect()
                }));
            }
        }
        out
    }

    pub(super) fn record_change(
        &self,
        half: Half,
        action: &Action,
        known: &Known,
    ) -> Result<(String, RecordChange), StepError> {
        let (resource, record_action) = match (half, action.op) {
            (Half::Delete, _) => (
                action.current.as_ref().map(|o| &o.resource),
                RecordAction::Delete,
            ),
            (Half::Put, Op::Update) => (action.desired.as_ref(), RecordAction::Upsert),
            (Half::Put, _) => (action.desired.as_ref(), RecordAction::Create),
        };
        let Some(Resource {
            key,
            spec: ResourceSpec::Record(rec),
            ..
        }) = resource
        else {
            return Err(StepError::Unresolved(action.key.clone()));
        };
        let zone = known.id(&rec.zone)?.to_string();
        let target = known.address(&rec.load_balancer)?.clone();
        Ok((
            zone,
            RecordChange {
                action: record_action,
                name: rec.name.clone(),
                target,
                owner: record_owner_value(&self.ctx.rack, key),
            },
        ))
    }
}
