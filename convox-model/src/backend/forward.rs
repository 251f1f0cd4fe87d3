//! `&B`, `Arc<B>` and `Box<B>` are backends when `B` is: every verb forwards to
//! the backend behind the pointer, so `Arc<dyn Backend>` and `&dyn Backend` can be
//! passed wherever a backend is taken.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Backend, BackendResult, CertificatePem, CreatedLoadBalancer};
use crate::aws::Quotas;
use crate::name::Name;
use crate::public_cert::PublicCertificate;
use crate::rack::Rack;
use crate::resource::{
    CertificateSpec, HostedZoneSpec, ListenerRuleSpec, ListenerSpec, LoadBalancerSpec, Observed,
    RecordChange, Scope, SecurityGroupSpec, Tags, TargetGroupSpec,
};
// Day-2 safety: `rack audit`.
use crate::resource::Surroundings;

macro_rules! forward {
    ($($ptr:ty),*) => {$(
        #[async_trait]
        impl<B: Backend + ?Sized> Backend for $ptr {
            fn quotas(&self) -> Quotas {
                (**self).quotas()
            }

            async fn observe(&self, rack: &Name, scope: &Scope) -> BackendResult<Vec<Observed>> {
                (**self).observe(rack, scope).await
            }

            async fn load_rack(&self, rack: &Name) -> BackendResult<Option<Rack>> {
                (**self).load_rack(rack).await
            }

            async fn save_rack(&self, zone_id: &str, rack: &Rack) -> BackendResult<()> {
                (**self).save_rack(zone_id, rack).await
            }

            async fn create_security_group(&self, spec: &SecurityGroupSpec, tags: &Tags) -> BackendResult<String> {
                (**self).create_security_group(spec, tags).await
            }

            async fn update_security_group(&self, id: &str, spec: &SecurityGroupSpec) -> BackendResult<()> {
                (**self).update_security_group(id, spec).await
            }

            async fn delete_security_group(&self, id: &str) -> BackendResult<()> {
                (**self).delete_security_group(id).await
            }

            async fn create_load_balancer(&self, spec: &LoadBalancerSpec, security_group_id: &str, tags: &Tags) -> BackendResult<CreatedLoadBalancer> {
                (**self).create_load_balancer(spec, security_group_id, tags).await
            }

            async fn delete_load_balancer(&self, arn: &str) -> BackendResult<()> {
                (**self).delete_load_balancer(arn).await
            }

            async fn create_listener(&self, load_balancer_arn: &str, spec: &ListenerSpec, certificate_arn: Option<&str>, tags: &Tags) -> BackendResult<String> {
                (**self).create_listener(load_balancer_arn, spec, certificate_arn, tags).await
            }

            async fn modify_listener(&self, arn: &str, spec: &ListenerSpec, certificate_arn: Option<&str>) -> BackendResult<()> {
                (**self).modify_listener(arn, spec, certificate_arn).await
            }

            async fn delete_listener(&self, arn: &str) -> BackendResult<()> {
                (**self).delete_listener(arn).await
            }

            async fn import_certificate(&self, spec: &CertificateSpec, pem: &CertificatePem, tags: &Tags) -> BackendResult<String> {
                (**self).import_certificate(spec, pem, tags).await
            }

            async fn delete_certificate(&self, arn: &str) -> BackendResult<()> {
                (**self).delete_certificate(arn).await
            }

            async fn add_listener_certificate(&self, listener_arn: &str, certificate_arn: &str) -> BackendResult<()> {
                (**self).add_listener_certificate(listener_arn, certificate_arn).await
            }

            async fn remove_listener_certificate(&self, listener_arn: &str, certificate_arn: &str) -> BackendResult<()> {
                (**self).remove_listener_certificate(listener_arn, certificate_arn).await
            }

            async fn create_target_group(&self, spec: &TargetGroupSpec, tags: &Tags) -> BackendResult<String> {
                (**self).create_target_group(spec, tags).await
            }

            async fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> BackendResult<()> {
                (**self).modify_target_group(arn, spec).await
            }

            async fn delete_target_group(&self, arn: &str) -> BackendResult<()> {
                (**self).delete_target_group(arn).await
            }

            async fn create_rule(&self, listener_arn: &str, spec: &ListenerRuleSpec, target_group_arn: &str, tags: &Tags) -> BackendResult<String> {
                (**self).create_rule(listener_arn, spec, target_group_arn, tags).await
            }

            async fn modify_rule(&self, arn: &str, spec: &ListenerRuleSpec, target_group_arn: &str) -> BackendResult<()> {
                (**self).modify_rule(arn, spec, target_group_arn).await
            }

            async fn set_rule_priority(&self, arn: &str, priority: u32) -> BackendResult<()> {
                (**self).set_rule_priority(arn, priority).await
            }

            async fn delete_rule(&self, arn: &str) -> BackendResult<()> {
                (**self).delete_rule(arn).await
            }

            async fn create_hosted_zone(&self, spec: &HostedZoneSpec, tags: &Tags) -> BackendResult<String> {
                (**self).create_hosted_zone(spec, tags).await
            }

            async fn delete_hosted_zone(&self, id: &str) -> BackendResult<()> {
                (**self).delete_hosted_zone(id).await
            }

            async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> BackendResult<()> {
                (**self).change_records(zone_id, changes).await
            }

            // Day-2 safety (audit).
            async fn observe_surroundings(&self, rack: &Name) -> BackendResult<Surroundings> {
                (**self).observe_surroundings(rack).await
            }

            // Day-2 safety (in place).
            async fn set_load_balancer_subnets(&self, arn: &str, subnets: &[String]) -> BackendResult<()> {
                (**self).set_load_balancer_subnets(arn, subnets).await
            }

            async fn set_load_balancer_security_groups(&self, arn: &str, security_group_ids: &[String]) -> BackendResult<()> {
                (**self).set_load_balancer_security_groups(arn, security_group_ids).await
            }

            // Certificate renewal in place (issue 12).
            async fn reimport_certificate(&self, arn: &str, pem: &CertificatePem) -> BackendResult<()> {
                (**self).reimport_certificate(arn, pem).await
            }

            // Public certificates for the external router.
            async fn request_certificate(&self, domain: &str, tags: &Tags) -> BackendResult<String> {
                (**self).request_certificate(domain, tags).await
            }

            async fn describe_certificate(&self, arn: &str) -> BackendResult<PublicCertificate> {
                (**self).describe_certificate(arn).await
            }

            async fn requested_certificates(&self, rack: &Name) -> BackendResult<Vec<PublicCertificate>> {
                (**self).requested_certificates(rack).await
            }
        }
    )*};
}

forward!(&B, Arc<B>, Box<B>);
