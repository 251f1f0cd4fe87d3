//! The backend's operations: their names, whether they change anything, and which
//! AWS API family paces them.
//!
//! [`crate::MockBackend`] counts calls under these names and [`crate::Faulty`]
//! picks and paces faults by them, so a test can say "fail the third
//! `CreateRule`" whichever backend sits underneath.

/// An AWS API family with its own request-rate bucket: the model's one list
/// ([`convox_model::aws::ApiFamily`]), whose defaults [`crate::RateLimits::aws_defaults`] reads.
pub use convox_model::aws::ApiFamily;

/// One backend operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Operation {
    /// Its name, as AWS (mostly) spells the call: `CreateRule`.
    pub name: &'static str,
    /// Whether it may change anything.
    pub mutating: bool,
    /// The buckets one call takes a token from.
    pub families: &'static [ApiFamily],
}

const fn read(name: &'static str, families: &'static [ApiFamily]) -> Operation {
    Operation {
        name,
        mutating: false,
        families,
    }
}

const fn write(name: &'static str, families: &'static [ApiFamily]) -> Operation {
    Operation {
        name,
        mutating: true,
        families,
    }
}

const ELB_W: &[ApiFamily] = &[ApiFamily::Elbv2, ApiFamily::Elbv2Mutating];
const R53: &[ApiFamily] = &[ApiFamily::Route53];
const SG: &[ApiFamily] = &[ApiFamily::Ec2Changes];

/// `observe`: on AWS a handful of describe calls, charged here as one ELBv2 and
/// one Route53 read.
pub const OBSERVE: Operation = read("Observe", &[ApiFamily::Elbv2, ApiFamily::Route53]);
/// `load_rack` (reads the zone's tags).
pub const LOAD_RACK: Operation = read("LoadRack", R53);
/// `save_rack` (writes the zone's tags).
pub const SAVE_RACK: Operation = write("SaveRack", R53);
/// `create_security_group`.
pub const CREATE_SECURITY_GROUP: Operation = write("CreateSecurityGroup", SG);
/// `update_security_group`.
pub const UPDATE_SECURITY_GROUP: Operation = write("UpdateSecurityGroup", SG);
/// `delete_security_group`.
pub const DELETE_SECURITY_GROUP: Operation = write("DeleteSecurityGroup", SG);
/// `create_load_balancer`.
pub const CREATE_LOAD_BALANCER: Operation = write("CreateLoadBalancer", ELB_W);
/// `delete_load_balancer`.
pub const DELETE_LOAD_BALANCER: Operation = write("DeleteLoadBalancer", ELB_W);
/// `create_listener`.
pub const CREATE_LISTENER: Operation = write("CreateListener", ELB_W);
/// `modify_listener`.
pub const MODIFY_LISTENER: Operation = write("ModifyListener", ELB_W);
/// `delete_listener`.
pub const DELETE_LISTENER: Operation = write("DeleteListener", ELB_W);
/// `import_certificate`.
pub const IMPORT_CERTIFICATE: Operation = write("ImportCertificate", &[ApiFamily::AcmImport]);
/// `delete_certificate`.
pub const DELETE_CERTIFICATE: Operation = write("DeleteCertificate", &[]);
/// `add_listener_certificate`.
pub const ADD_LISTENER_CERTIFICATE: Operation = write("AddListenerCertificates", ELB_W);
/// `remove_listener_certificate`.
pub const REMOVE_LISTENER_CERTIFICATE: Operation = write("RemoveListenerCertificates", ELB_W);
/// `create_target_group`.
pub const CREATE_TARGET_GROUP: Operation = write("CreateTargetGroup", ELB_W);
/// `modify_target_group`.
pub const MODIFY_TARGET_GROUP: Operation = write("ModifyTargetGroup", ELB_W);
/// `delete_target_group`.
pub const DELETE_TARGET_GROUP: Operation = write("DeleteTargetGroup", ELB_W);
/// `create_rule`.
pub const CREATE_RULE: Operation = write("CreateRule", ELB_W);
/// `modify_rule`.
pub const MODIFY_RULE: Operation = write("ModifyRule", ELB_W);
/// `set_rule_priority`.
pub const SET_RULE_PRIORITY: Operation = write("SetRulePriorities", ELB_W);
/// `delete_rule`.
pub const DELETE_RULE: Operation = write("DeleteRule", ELB_W);
/// `create_hosted_zone`.
pub const CREATE_HOSTED_ZONE: Operation = write("CreateHostedZone", R53);
/// `delete_hosted_zone`.
pub const DELETE_HOSTED_ZONE: Operation = write("DeleteHostedZone", R53);
/// `change_records`.
pub const CHANGE_RECORDS: Operation = write("ChangeResourceRecordSets", R53);
// Day-2 safety (audit).
/// `observe_surroundings`: on AWS describe calls, charged here as one ELBv2 and
/// one EC2 read.
pub const OBSERVE_SURROUNDINGS: Operation = read(
    "ObserveSurroundings",
    &[ApiFamily::Elbv2, ApiFamily::Ec2Reads],
);

// Day-2 safety (in place).
/// `set_load_balancer_subnets`.
pub const SET_LOAD_BALANCER_SUBNETS: Operation = write("SetSubnets", ELB_W);
/// `set_load_balancer_security_groups`.
pub const SET_LOAD_BALANCER_SECURITY_GROUPS: Operation = write("SetSecurityGroups", ELB_W);

// Certificate renewal in place (issue 12).
/// `reimport_certificate` (ACM's `ImportCertificate` with `CertificateArn`).
pub const REIMPORT_CERTIFICATE: Operation = write("ReimportCertificate", &[ApiFamily::AcmImport]);

// Public certificates for the external router (issue 12, item 6).
/// `request_certificate` (ACM RequestCertificate).
pub const REQUEST_CERTIFICATE: Operation = write("RequestCertificate", &[ApiFamily::Acm]);
/// `describe_certificate` (ACM DescribeCertificate).
pub const DESCRIBE_CERTIFICATE: Operation = read("DescribeCertificate", &[ApiFamily::Acm]);
/// `requested_certificates` (on AWS ListCertificates with each one's tags).
pub const LIST_REQUESTED_CERTIFICATES: Operation =
    read("ListRequestedCertificates", &[ApiFamily::Acm]);

/// Calls the macro `$then!` with every method of
/// [`Backend`](convox_model::backend::Backend), in trait order: its name, its
/// arguments, what it answers and its [`Operation`].
///
/// The one list that [`ALL`], [`crate::MockBackend`]'s trait impl and
/// [`crate::Faulty`]'s are generated from, so that a method added to the trait
/// is counted, paced and faulted in one place.
macro_rules! each_backend_method {
    ($then:ident) => {
        $then! {
            observe(rack: &convox_model::name::Name, scope: &convox_model::resource::Scope) -> Vec<convox_model::resource::Observed> = OBSERVE;
            load_rack(rack: &convox_model::name::Name) -> Option<convox_model::rack::Rack> = LOAD_RACK;
            save_rack(zone_id: &str, rack: &convox_model::rack::Rack) -> () = SAVE_RACK;
            create_security_group(spec: &convox_model::resource::SecurityGroupSpec, tags: &convox_model::resource::Tags) -> String = CREATE_SECURITY_GROUP;
            update_security_group(id: &str, spec: &convox_model::resource::SecurityGroupSpec) -> () = UPDATE_SECURITY_GROUP;
            delete_security_group(id: &str) -> () = DELETE_SECURITY_GROUP;
            create_load_balancer(spec: &convox_model::resource::LoadBalancerSpec, security_group_id: &str, tags: &convox_model::resource::Tags) -> convox_model::backend::CreatedLoadBalancer = CREATE_LOAD_BALANCER;
            delete_load_balancer(arn: &str) -> () = DELETE_LOAD_BALANCER;
            create_listener(load_balancer_arn: &str, spec: &convox_model::resource::ListenerSpec, certificate_arn: Option<&str>, tags: &convox_model::resource::Tags) -> String = CREATE_LISTENER;
            modify_listener(arn: &str, spec: &convox_model::resource::ListenerSpec, certificate_arn: Option<&str>) -> () = MODIFY_LISTENER;
            delete_listener(arn: &str) -> () = DELETE_LISTENER;
            import_certificate(spec: &convox_model::resource::CertificateSpec, pem: &convox_model::backend::CertificatePem, tags: &convox_model::resource::Tags) -> String = IMPORT_CERTIFICATE;
            delete_certificate(arn: &str) -> () = DELETE_CERTIFICATE;
            add_listener_certificate(listener_arn: &str, certificate_arn: &str) -> () = ADD_LISTENER_CERTIFICATE;
            remove_listener_certificate(listener_arn: &str, certificate_arn: &str) -> () = REMOVE_LISTENER_CERTIFICATE;
            create_target_group(spec: &convox_model::resource::TargetGroupSpec, tags: &convox_model::resource::Tags) -> String = CREATE_TARGET_GROUP;
            modify_target_group(arn: &str, spec: &convox_model::resource::TargetGroupSpec) -> () = MODIFY_TARGET_GROUP;
            delete_target_group(arn: &str) -> () = DELETE_TARGET_GROUP;
            create_rule(listener_arn: &str, spec: &convox_model::resource::ListenerRuleSpec, target_group_arn: &str, tags: &convox_model::resource::Tags) -> String = CREATE_RULE;
            modify_rule(arn: &str, spec: &convox_model::resource::ListenerRuleSpec, target_group_arn: &str) -> () = MODIFY_RULE;
            set_rule_priority(arn: &str, priority: u32) -> () = SET_RULE_PRIORITY;
            delete_rule(arn: &str) -> () = DELETE_RULE;
            create_hosted_zone(spec: &convox_model::resource::HostedZoneSpec, tags: &convox_model::resource::Tags) -> String = CREATE_HOSTED_ZONE;
            delete_hosted_zone(id: &str) -> () = DELETE_HOSTED_ZONE;
            change_records(zone_id: &str, changes: &[convox_model::resource::RecordChange]) -> () = CHANGE_RECORDS;
            // Day-2 safety (audit).
            observe_surroundings(rack: &convox_model::name::Name) -> convox_model::resource::Surroundings = OBSERVE_SURROUNDINGS;
            // Day-2 safety (in place).
            set_load_balancer_subnets(arn: &str, subnets: &[String]) -> () = SET_LOAD_BALANCER_SUBNETS;
            set_load_balancer_security_groups(arn: &str, security_group_ids: &[String]) -> () = SET_LOAD_BALANCER_SECURITY_GROUPS;
            // Certificate renewal in place (issue 12).
            reimport_certificate(arn: &str, pem: &convox_model::backend::CertificatePem) -> () = REIMPORT_CERTIFICATE;
            // Public certificates for the external router (issue 12, item 6).
            request_certificate(domain: &str, tags: &convox_model::resource::Tags) -> String = REQUEST_CERTIFICATE;
            describe_certificate(arn: &str) -> convox_model::public_cert::PublicCertificate = DESCRIBE_CERTIFICATE;
            requested_certificates(rack: &convox_model::name::Name) -> Vec<convox_model::public_cert::PublicCertificate> = LIST_REQUESTED_CERTIFICATES;
        }
    };
}
pub(crate) use each_backend_method;

macro_rules! all_operations {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $op:ident;)*) => {
        /// Every operation, in trait order.
        pub const ALL: &[Operation] = &[$($op),*];
    };
}
each_backend_method!(all_operations);

/// The operation called `name`, if there is one.
pub fn by_name(name: &str) -> Option<Operation> {
    ALL.iter().copied().find(|o| o.name == name)
}
