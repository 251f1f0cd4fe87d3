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
/// `observe_app`: what a deploy reads, the zone's tags, the rack and the app
/// and the requested certificates, charged as one read of each family.
pub const OBSERVE_APP: Operation = read(
    "ObserveApp",
    &[ApiFamily::Elbv2, ApiFamily::Route53, ApiFamily::Tagging],
);
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

// Router pools: an empty load balancer drains before it is removed.
/// `set_load_balancer_tag` (ELBv2 AddTags or RemoveTags).
pub const SET_LOAD_BALANCER_TAG: Operation = write("AddTags", ELB_W);

/// Calls the macro `$then!` with every method of
/// [`Backend`](convox_model::backend::Backend), in trait order: its name, its
/// arguments, what it answers and its [`Operation`] (the model's one list,
/// [`convox_model::backend_methods`]).
///
/// The one list that [`ALL`], [`crate::MockBackend`]'s trait impl and
/// [`crate::Faulty`]'s are generated from, so that a method added to the trait
/// is counted, paced and faulted in one place.
pub(crate) use convox_model::backend_methods as each_backend_method;

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
