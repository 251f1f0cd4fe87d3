//! The one list of [`Backend`](super::Backend)'s async methods, from which the
//! forwarding impls ([`super::forward`]) and other crates' backends (the mock's
//! impls and operation table) are generated, so that a method added to the
//! trait is added once.

/// Calls the macro `$then!` with every async method of
/// [`Backend`](crate::backend::Backend), in trait order, one per line:
/// `name(arg: Type, ...) -> Ok type = OPERATION;`, where `OPERATION` names the
/// AWS operation in upper case (what a backend's own table of operations may
/// call it; the mock's `convox_mock::ops` does).
#[doc(hidden)]
#[macro_export]
macro_rules! backend_methods {
    ($then:ident) => {
        $then! {
            observe(rack: &$crate::name::Name, scope: &$crate::resource::Scope) -> Vec<$crate::resource::Observed> = OBSERVE;
            observe_app(rack: &$crate::name::Name, app: &$crate::name::Name) -> $crate::backend::AppObservation = OBSERVE_APP;
            load_rack(rack: &$crate::name::Name) -> Option<$crate::rack::Rack> = LOAD_RACK;
            save_rack(zone_id: &str, rack: &$crate::rack::Rack) -> () = SAVE_RACK;
            create_security_group(spec: &$crate::resource::SecurityGroupSpec, tags: &$crate::resource::Tags) -> String = CREATE_SECURITY_GROUP;
            update_security_group(id: &str, spec: &$crate::resource::SecurityGroupSpec) -> () = UPDATE_SECURITY_GROUP;
            delete_security_group(id: &str) -> () = DELETE_SECURITY_GROUP;
            create_load_balancer(spec: &$crate::resource::LoadBalancerSpec, security_group_id: &str, tags: &$crate::resource::Tags) -> $crate::backend::CreatedLoadBalancer = CREATE_LOAD_BALANCER;
            delete_load_balancer(arn: &str) -> () = DELETE_LOAD_BALANCER;
            create_listener(load_balancer_arn: &str, spec: &$crate::resource::ListenerSpec, certificate_arn: Option<&str>, tags: &$crate::resource::Tags) -> String = CREATE_LISTENER;
            modify_listener(arn: &str, spec: &$crate::resource::ListenerSpec, certificate_arn: Option<&str>) -> () = MODIFY_LISTENER;
            delete_listener(arn: &str) -> () = DELETE_LISTENER;
            import_certificate(spec: &$crate::resource::CertificateSpec, pem: &$crate::backend::CertificatePem, tags: &$crate::resource::Tags) -> String = IMPORT_CERTIFICATE;
            delete_certificate(arn: &str) -> () = DELETE_CERTIFICATE;
            add_listener_certificate(listener_arn: &str, certificate_arn: &str) -> () = ADD_LISTENER_CERTIFICATE;
            remove_listener_certificate(listener_arn: &str, certificate_arn: &str) -> () = REMOVE_LISTENER_CERTIFICATE;
            create_target_group(spec: &$crate::resource::TargetGroupSpec, tags: &$crate::resource::Tags) -> String = CREATE_TARGET_GROUP;
            modify_target_group(arn: &str, spec: &$crate::resource::TargetGroupSpec) -> () = MODIFY_TARGET_GROUP;
            delete_target_group(arn: &str) -> () = DELETE_TARGET_GROUP;
            create_rule(listener_arn: &str, spec: &$crate::resource::ListenerRuleSpec, target_group_arn: &str, tags: &$crate::resource::Tags) -> String = CREATE_RULE;
            modify_rule(arn: &str, spec: &$crate::resource::ListenerRuleSpec, target_group_arn: &str) -> () = MODIFY_RULE;
            set_rule_priority(arn: &str, priority: u32) -> () = SET_RULE_PRIORITY;
            delete_rule(arn: &str) -> () = DELETE_RULE;
            create_hosted_zone(spec: &$crate::resource::HostedZoneSpec, tags: &$crate::resource::Tags) -> String = CREATE_HOSTED_ZONE;
            delete_hosted_zone(id: &str) -> () = DELETE_HOSTED_ZONE;
            change_records(zone_id: &str, changes: &[$crate::resource::RecordChange]) -> () = CHANGE_RECORDS;
            observe_surroundings(rack: &$crate::name::Name) -> $crate::resource::Surroundings = OBSERVE_SURROUNDINGS;
            set_load_balancer_subnets(arn: &str, subnets: &[String]) -> () = SET_LOAD_BALANCER_SUBNETS;
            set_load_balancer_security_groups(arn: &str, security_group_ids: &[String]) -> () = SET_LOAD_BALANCER_SECURITY_GROUPS;
            reimport_certificate(arn: &str, spec: &$crate::resource::CertificateSpec, pem: &$crate::backend::CertificatePem) -> () = REIMPORT_CERTIFICATE;
            request_certificate(domain: &str, tags: &$crate::resource::Tags) -> String = REQUEST_CERTIFICATE;
            describe_certificate(arn: &str) -> $crate::public_cert::PublicCertificate = DESCRIBE_CERTIFICATE;
            requested_certificates(rack: &$crate::name::Name) -> Vec<$crate::public_cert::PublicCertificate> = LIST_REQUESTED_CERTIFICATES;
            set_load_balancer_tag(arn: &str, key: &str, value: Option<&str>) -> () = SET_LOAD_BALANCER_TAG;
        }
    };
}
