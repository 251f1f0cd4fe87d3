//! Rack and app operations over a small in-test backend that remembers what it
//! was asked to create. (The full AWS-like mock lives in its own crate; this one
//! only keeps state, so that deploys can be run twice.)

#![allow(clippy::unwrap_used)]

#[path = "common/world.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::*;
use convox_model::apply::{ApplyContext, SleepFn};
use convox_model::backend::{
    Backend, BackendError, BackendResult, CertificatePem, CreatedLoadBalancer, ErrorKind,
};
use convox_model::exposure::Router;
use convox_model::name::Name;
use convox_model::ops::{OpsError, delete_app, deploy, deploy_planned, plan_app, set_rack_params};
use convox_model::params::ParamError;
use convox_model::rack::Rack;
use convox_model::resource::{
    CertificateSpec, HostedZoneSpec, ListenerCertificateSpec, ListenerRuleSpec, ListenerSpec,
    LoadBalancerSpec, Observed, RecordAction, RecordChange, RecordSpec, Resource, ResourceKey,
    Scope, SecurityGroupSpec, Spec, TAG_KEY, Tags, TargetGroupSpec, parse_record_owner_value,
};
use convox_model::tls::CertificateAuthority;

#[derive(Debug, Default)]
struct Fake {
    state: Mutex<BTreeMap<String, Observed>>,
    rack: Mutex<Option<Rack>>,
    next: AtomicUsize,
    mutating: AtomicUsize,
}

impl Fake {
    fn add(
        &self,
        tags: &Tags,
        spec: Spec,
        address: Option<convox_model::resource::LoadBalancerAddress>,
    ) -> String {
        self.mutating.fetch_add(1, Ordering::SeqCst);
        let id = format!("id-{}", self.next.fetch_add(1, Ordering::SeqCst));
        let key = ResourceKey::from_raw(tags.get(TAG_KEY).cloned().unwrap());
        self.state.lock().unwrap().insert(
            id.clone(),
            Observed {
                resource: Resource {
                    key,
                    tags: tags.clone(),
                    spec,
                },
                id: id.clone(),
                address,
            },
        );
        id
    }
    fn key_of(&self, id: &str) -> ResourceKey {
        self.state.lock().unwrap()[id].resource.key.clone()
    }
    fn remove(&self, id: &str) -> BackendResult<()> {
        self.mutating.fetch_add(1, Ordering::SeqCst);
        self.state
            .lock()
            .unwrap()
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| BackendError::new(ErrorKind::NotFound, "Delete", id.to_string()))
    }
    fn set(&self, id: &str, spec: Spec) -> BackendResult<()> {
        self.mutating.fetch_add(1, Ordering::SeqCst);
        self.state
            .lock()
            .unwrap()
            .get_mut(id)
            .unwrap()
            .resource
            .spec = spec;
        Ok(())
    }
    fn calls(&self) -> usize {
        self.mutating.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Backend for Fake {
    async fn observe(&self, _rack: &Name, scope: &Scope) -> BackendResult<Vec<Observed>> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .values()
            .filter(|o| o.resource.key.in_scope(scope))
            .cloned()
            .collect())
    }
    async fn load_rack(&self, _rack: &Name) -> BackendResult<Option<Rack>> {
        Ok(self.rack.lock().unwrap().clone())
    }
    async fn save_rack(&self, _zone_id: &str, rack: &Rack) -> BackendResult<()> {
        *self.rack.lock().unwrap() = Some(rack.clone());
        Ok(())
    }
    async fn create_security_group(
        &self,
        spec: &SecurityGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        Ok(self.add(tags, Spec::SecurityGroup(spec.clone()), None))
    }
    async fn update_security_group(&self, id: &str, spec: &SecurityGroupSpec) -> BackendResult<()> {
        self.set(id, Spec::SecurityGroup(spec.clone()))
    }
    async fn delete_security_group(&self, id: &str) -> BackendResult<()> {
        self.remove(id)
    }
    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        _sg: &str,
        tags: &Tags,
    ) -> BackendResult<CreatedLoadBalancer> {
        let router = if spec.scheme == convox_model::resource::LbScheme::Internal {
            Router::Internal
        } else {
            Router::External
        };
        let address = address(router);
        let arn = self.add(
            tags,
            Spec::LoadBalancer(spec.clone()),
            Some(address.clone()),
        );
        Ok(CreatedLoadBalancer { arn, address })
    }
    async fn delete_load_balancer(&self, arn: &str) -> BackendResult<()> {
        self.remove(arn)
    }
    async fn create_listener(
        &self,
        _lb: &str,
        spec: &ListenerSpec,
        _cert: Option<&str>,
        tags: &Tags,
    ) -> BackendResult<String> {
        Ok(self.add(tags, Spec::Listener(spec.clone()), None))
    }
    async fn modify_listener(
        &self,
        arn: &str,
        spec: &ListenerSpec,
        _cert: Option<&str>,
    ) -> BackendResult<()> {
        self.set(arn, Spec::Listener(spec.clone()))
    }
    async fn delete_listener(&self, arn: &str) -> BackendResult<()> {
        self.remove(arn)
    }
    async fn import_certificate(
        &self,
        spec: &CertificateSpec,
        pem: &CertificatePem,
        tags: &Tags,
    ) -> BackendResult<String> {
        assert!(pem.certificate.starts_with("-----BEGIN CERTIFICATE-----"));
        Ok(self.add(tags, Spec::Certificate(spec.clone()), None))
    }
    async fn delete_certificate(&self, arn: &str) -> BackendResult<()> {
        self.remove(arn)
    }
    async fn add_listener_certificate(&self, l: &str, c: &str) -> BackendResult<()> {
        // Attachments carry no tags on AWS; this fake names them after the certificate.
        let cert_key = self.key_of(c);
        let mut tags = self.state.lock().unwrap()[c].resource.tags.clone();
        tags.insert(TAG_KEY.into(), format!("{cert_key}/attachment"));
        let spec = Spec::ListenerCertificate(ListenerCertificateSpec {
            listener: self.key_of(l),
            certificate: cert_key,
        });
        self.add(&tags, spec, None);
        Ok(())
    }
    async fn remove_listener_certificate(&self, _l: &str, c: &str) -> BackendResult<()> {
        let key = format!("{}/attachment", self.key_of(c));
        let id = self
            .state
            .lock()
            .unwrap()
            .values()
            .find(|o| o.resource.key.as_str() == key)
            .map(|o| o.id.clone());
        match id {
            Some(id) => self.remove(&id),
            None => Ok(()),
        }
    }
    async fn create_target_group(
        &self,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        Ok(self.add(tags, Spec::TargetGroup(spec.clone()), None))
    }
    async fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> BackendResult<()> {
        self.set(arn, Spec::TargetGroup(spec.clone()))
    }
    async fn delete_target_group(&self, arn: &str) -> BackendResult<()> {
        self.remove(arn)
    }
    async fn create_rule(
        &self,
        _l: &str,
        spec: &ListenerRuleSpec,
        _tg: &str,
        tags: &Tags,
    ) -> BackendResult<String> {
        Ok(self.add(tags, Spec::ListenerRule(spec.clone()), None))
    }
    async fn modify_rule(
        &self,
        arn: &str,
        spec: &ListenerRuleSpec,
        _tg: &str,
    ) -> BackendResult<()> {
        self.set(arn, Spec::ListenerRule(spec.clone()))
    }
    async fn set_rule_priority(&self, _arn: &str, _p: u32) -> BackendResult<()> {
        unimplemented!()
    }
    async fn delete_rule(&self, arn: &str) -> BackendResult<()> {
        self.remove(arn)
    }
    async fn create_hosted_zone(
        &self,
        spec: &HostedZoneSpec,
        tags: &Tags,
    ) -> BackendResult<String> {
        Ok(self.add(tags, Spec::HostedZone(spec.clone()), None))
    }
    async fn delete_hosted_zone(&self, id: &str) -> BackendResult<()> {
        self.remove(id)
    }
    async fn change_records(&self, _zone: &str, changes: &[RecordChange]) -> BackendResult<()> {
        for c in changes {
            let (rack, key) = parse_record_owner_value(&c.owner).unwrap();
            let existing = self
                .state
                .lock()
                .unwrap()
                .values()
                .find(|o| o.resource.key == key)
                .map(|o| o.id.clone());
            match c.action {
                RecordAction::Delete => self.remove(&existing.unwrap())?,
                RecordAction::Create | RecordAction::Upsert => {
                    if let Some(id) = existing {
                        self.remove(&id)?;
                    }
                    let mut tags = Tags::new();
                    tags.insert("convox:rack".into(), rack);
                    tags.insert(TAG_KEY.into(), key.to_string());
                    tags.insert("convox:app".into(), key.app().unwrap().into());
                    let spec = Spec::Record(RecordSpec {
                        zone: ResourceKey::zone(),
                        name: c.name.clone(),
                        load_balancer: ResourceKey::router_load_balancer(Router::Internal),
                    });
                    self.add(&tags, spec, None);
                }
            }
        }
        Ok(())
    }
}

fn ctx() -> ApplyContext {
    let sleep: SleepFn = Arc::new(|_| Box::pin(async {}));
    let ca = CertificateAuthority::generate(&n("production"), 1_750_000_000).unwrap();
    ApplyContext::new(n("production"), 1_750_000_000, sleep).with_issuer(Arc::new(ca))
}

#[tokio::test]
async fn a_second_deploy_plans_nothing_and_changes_nothing() {
    let fake = Fake::default();
    let c = ctx();
    let r = set_rack_params(&fake, &rack(false, false), &["Internal=Yes"], &c)
        .await
        .unwrap()
        .rack;
    assert!(r.params.internal());
    assert_eq!(fake.load_rack(&r.name).await.unwrap(), Some(r.clone()));
    let m = manifest(vec![
        svc("api", Some(3000), true, false),
        svc("web", Some(80), false, true),
    ]);
    let first = deploy(&fake, &r, &n("backend"), &m, &c).await.unwrap();
    assert!(first.rack.is_none());
    assert_eq!(first.plan.counts().create, 10);
    assert_eq!(first.endpoints.len(), 3);
    let before = fake.calls();
    let second = deploy(&fake, &r, &n("backend"), &m, &c).await.unwrap();
    assert!(second.plan.is_empty(), "{}", second.plan);
    assert_eq!(fake.calls(), before);
    let fp = c.issuer.as_ref().unwrap().fingerprint();
    assert!(
        plan_app(&fake, &r, &n("backend"), &m, &fp, &c.limits)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn deploy_creates_missing_rack_resources_first() {
    let fake = Fake::default();
    let c = ctx();
    let r = rack(true, false);
    let m = manifest(vec![svc("api", Some(3000), true, false)]);
    let report = deploy(&fake, &r, &n("backend"), &m, &c).await.unwrap();
    assert_eq!(report.rack.unwrap().applied.len(), 11);
    assert_eq!(report.report.applied.len(), 5);
    assert!(fake.load_rack(&r.name).await.unwrap().is_some());
}

#[tokio::test]
async fn deploy_refuses_an_internal_service_on_a_rack_without_internal_before_any_call() {
    let fake = Fake::default();
    let m = manifest(vec![svc("api", None, true, false)]);
    let err = deploy(&fake, &rack(false, false), &n("backend"), &m, &ctx())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rack does not support internal services"),
        "{text}"
    );
    assert!(
        text.contains("convox rack params set Internal=Yes"),
        "{text}"
    );
    assert_eq!(fake.calls(), 0);
}

#[tokio::test]
async fn parameter_changes_are_checked_against_what_is_deployed() {
    let fake = Fake::default();
    let c = ctx();
    let r = set_rack_params(&fake, &rack(false, false), &["Internal=Yes"], &c)
        .await
        .unwrap()
        .rack;
    let m = manifest(vec![
        svc("api", Some(3000), true, false),
        svc("web", Some(80), false, false),
    ]);
    deploy(&fake, &r, &n("backend"), &m, &c).await.unwrap();
    let before = fake.calls();

    let err = set_rack_params(&fake, &r, &["Internal=No"], &c)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OpsError::Transition { offenders, .. } if offenders == &vec!["backend/api".to_string()]),
        "{err}"
    );
    let err = set_rack_params(&fake, &r, &["InternalOnly=Yes"], &c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("backend/web"), "{err}");
    let err = set_rack_params(
        &fake,
        &rack(false, false),
        &["Internal=No", "InternalOnly=Yes"],
        &c,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        OpsError::Params(ParamError::InternalOnlyWithoutInternal)
    ));
    assert_eq!(fake.calls(), before);

    // Once the app is gone, the internal router can go too.
    let (p, _) = delete_app(&fake, &r, &n("backend"), &c).await.unwrap();
    assert_eq!(p.counts().delete, 7);
    let change = set_rack_params(&fake, &r, &["Internal=No"], &c)
        .await
        .unwrap();
    assert_eq!(change.plan.counts().delete, 5);
    assert!(
        !fake
            .load_rack(&r.name)
            .await
            .unwrap()
            .unwrap()
            .params
            .internal()
    );
    assert!(
        fake.observe(&r.name, &Scope::Rack)
            .await
            .unwrap()
            .iter()
            .all(|o| !o.resource.key.as_str().starts_with("router/internal"))
    );
}

#[tokio::test]
async fn deleting_an_app_leaves_other_apps_alone() {
    let fake = Fake::default();
    let c = ctx();
    let r = rack(true, false);
    let m = manifest(vec![svc("api", Some(3000), true, false)]);
    deploy(&fake, &r, &n("one"), &m, &c).await.unwrap();
    deploy(&fake, &r, &n("two"), &m, &c).await.unwrap();
    delete_app(&fake, &r, &n("one"), &c).await.unwrap();
    let left = fake.observe(&r.name, &Scope::Apps).await.unwrap();
    assert_eq!(left.len(), 5);
    assert!(left.iter().all(|o| o.resource.key.app() == Some("two")));
    // The second app's rule kept its priority (2), the first's (1) is free again.
    let prios: Vec<u32> = left
        .iter()
        .filter_map(|o| match &o.resource.spec {
            Spec::ListenerRule(r) => r.priority,
            _ => None,
        })
        .collect();
    assert_eq!(prios, vec![2]);
}

#[tokio::test]
async fn a_shown_plan_is_applied_only_to_the_rack_it_was_made_from() {
    let fake = Fake::default();
    let c = ctx();
    let fp = c.issuer.as_ref().unwrap().fingerprint();
    let r = set_rack_params(&fake, &rack(false, false), &["Internal=Yes"], &c)
        .await
        .unwrap()
        .rack;
    let api = manifest(vec![svc("api", Some(3000), true, false)]);
    let shown = plan_app(&fake, &r, &n("backend"), &api, &fp, &c.limits)
        .await
        .unwrap();
    assert_eq!(shown.counts().create, 5, "{shown}");

    // Another app lands between `convox plan` and `convox deploy`.
    let web = manifest(vec![svc("web", Some(80), false, false)]);
    deploy(&fake, &r, &n("other"), &web, &c).await.unwrap();

    let before = fake.calls();
    let err = deploy_planned(&fake, &r, &n("backend"), &api, &c, &shown)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::Apply(convox_model::apply::ApplyError::Stale { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("plan again"), "{err}");
    assert_eq!(fake.calls(), before, "a stale plan changes nothing");

    // Planned afresh, it goes through and does what it showed.
    let shown = plan_app(&fake, &r, &n("backend"), &api, &fp, &c.limits)
        .await
        .unwrap();
    let done = deploy_planned(&fake, &r, &n("backend"), &api, &c, &shown)
        .await
        .unwrap();
    assert_eq!(done.plan.actions.len(), shown.actions.len());
}

#[tokio::test]
async fn plan_app_on_a_fresh_rack_shows_the_rack_resources_a_deploy_creates_first() {
    let fake = Fake::default();
    let c = ctx();
    let fp = c.issuer.as_ref().unwrap().fingerprint();
    let r = rack(true, false);
    let m = manifest(vec![svc("api", Some(3000), true, false)]);
    let shown = plan_app(&fake, &r, &n("backend"), &m, &fp, &c.limits)
        .await
        .unwrap();
    assert!(
        shown
            .actions
            .iter()
            .any(|a| a.key.as_str() == "router/internal/alb")
    );
    assert!(
        shown
            .actions
            .iter()
            .any(|a| a.key.as_str() == "app/backend/api/internal/rule")
    );
    assert_eq!(fake.calls(), 0, "planning changes nothing");
}
