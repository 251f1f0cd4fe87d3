//! AWS's facts, in one place: the quotas, the name rules, Route53's batch
//! arithmetic, the API request rates, the order resources are deleted in, and
//! the two small runtime-free helpers (sleeping and the jitter generator) that
//! every layer shares.
//!
//! The planner checks these quotas before anything is changed, the mock
//! enforces them as AWS would, and the AWS backend refuses a call that would
//! break them before it leaves the machine: all three read this module, so a
//! quota AWS raises or a rule it adds changes here and nowhere else.
//!
//! ```
//! use convox_model::aws::{self, ApiFamily, ElbName, Quotas};
//!
//! let q = Quotas::default();
//! assert_eq!(q.rules_per_load_balancer, 100);
//! assert!(aws::check_elb_name(ElbName::LoadBalancer, "internal-web").is_err());
//! assert!(aws::check_elb_name(ElbName::TargetGroup, "cx-backend-api-i-1a2b3c4d").is_ok());
//! assert_eq!(ApiFamily::Route53.default_rate().per_second, 10.0);
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::resource::{RecordAction, RecordChange, ResourceKind};

/// AWS's quotas that matter to a rack, with AWS's defaults.
///
/// Some can be raised by asking AWS (Service Quotas), and then should be raised
/// here too; the others are fixed by the API. Each field says which. Lower them
/// in tests to reach a limit quickly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quotas {
    /// Listener rules per load balancer, besides the listeners' default rules.
    /// AWS: 100, adjustable ("Rules per Application Load Balancer").
    pub rules_per_load_balancer: usize,
    /// Unique target groups a load balancer's rules may forward to.
    /// AWS: 100, hard: it cannot be raised.
    pub target_groups_per_load_balancer: usize,
    /// Certificates attached to a load balancer's listeners, besides their
    /// default certificates. AWS counts this per load balancer; only the 443
    /// listener carries certificates here, so it is also the per-listener limit.
    /// AWS: 25, adjustable ("Certificates per Application Load Balancer").
    pub certificates_per_load_balancer: usize,
    /// Condition values (host names) per rule. AWS: 5, hard.
    pub condition_values_per_rule: usize,
    /// Highest listener rule priority. AWS: 50,000, hard (the API's range).
    pub max_rule_priority: u32,
    /// Tags per resource. AWS: 50, hard.
    pub tags_per_resource: usize,
    /// Route53 records per change batch, as [`change_batch_weight`] counts them.
    /// AWS: 1,000, hard.
    pub records_per_change_batch: usize,
    /// Application load balancers per region. AWS: 50, adjustable.
    pub load_balancers_per_region: usize,
    /// Target groups per region. AWS: 3,000, adjustable.
    pub target_groups_per_region: usize,
    // Router pools: shared certificates (issue 9).
    /// Names (app wildcards) one shared certificate of an internal load
    /// balancer covers. ACM sets no count for an imported certificate's
    /// subject alternative names, only 32 KB for its body; 100 names keep it
    /// far under that, and one certificate covers every app a load balancer
    /// can route (at most 100 target groups, so at most 100 apps).
    pub names_per_certificate: usize,
}

impl Quotas {
    /// AWS's defaults, as a constant (the AWS backend checks a call against the
    /// API's own limits before it leaves the machine).
    pub const AWS: Quotas = Quotas {
        rules_per_load_balancer: 100,
        target_groups_per_load_balancer: 100,
        certificates_per_load_balancer: 25,
        condition_values_per_rule: 5,
        max_rule_priority: 50_000,
        tags_per_resource: 50,
        records_per_change_batch: MAX_RECORDS_PER_CHANGE_BATCH,
        load_balancers_per_region: 50,
        target_groups_per_region: 3000,
        names_per_certificate: 100,
    };
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas::AWS
    }
}

/// Longest name ELBv2 accepts for a load balancer or a target group.
pub const MAX_ELB_NAME_LEN: usize = 32;

/// The prefix AWS reserves: no load balancer name may start with it (AWS uses
/// it in the DNS names of internal load balancers).
pub const RESERVED_LOAD_BALANCER_PREFIX: &str = "internal-";

/// Route53's limit on records in one change batch, as [`change_batch_weight`]
/// counts them: a hard limit of the API.
pub const MAX_RECORDS_PER_CHANGE_BATCH: usize = 1000;

/// Which ELBv2 resource a name is for: the rules differ slightly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElbName {
    /// An application load balancer.
    LoadBalancer,
    /// A target group.
    TargetGroup,
}

impl fmt::Display for ElbName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElbName::LoadBalancer => "load balancer",
            ElbName::TargetGroup => "target group",
        })
    }
}

/// A name ELBv2 would refuse, and why: the message a backend reports as
/// `InvalidInput`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty, or a character other than a letter, digit or hyphen, or a hyphen at
    /// either end.
    #[error(
        "{what} name {name:?} must contain only letters, digits and hyphens, and not begin or end with a hyphen"
    )]
    Shape {
        /// What the name is for.
        what: ElbName,
        /// The name.
        name: String,
    },
    /// Longer than [`MAX_ELB_NAME_LEN`].
    #[error("{what} name {name:?} is {len} characters long; at most {MAX_ELB_NAME_LEN} are allowed", len = .name.len())]
    TooLong {
        /// What the name is for.
        what: ElbName,
        /// The name.
        name: String,
    },
    /// A load balancer name starting with [`RESERVED_LOAD_BALANCER_PREFIX`].
    #[error("load balancer name {name:?} cannot begin with \"internal-\"")]
    Reserved {
        /// The name.
        name: String,
    },
}

/// ELBv2's name rule: 1 to 32 letters, digits and hyphens, no hyphen at either
/// end, and for a load balancer no `internal-` prefix.
pub fn check_elb_name(what: ElbName, name: &str) -> Result<(), NameError> {
    let shape_ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !shape_ok {
        return Err(NameError::Shape {
            what,
            name: name.to_string(),
        });
    }
    if name.len() > MAX_ELB_NAME_LEN {
        return Err(NameError::TooLong {
            what,
            name: name.to_string(),
        });
    }
    if what == ElbName::LoadBalancer && name.starts_with(RESERVED_LOAD_BALANCER_PREFIX) {
        return Err(NameError::Reserved {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// How many of Route53's per-batch records one change counts for: each
/// [`RecordChange`] is an alias A record and its ownership TXT record, and AWS
/// counts an UPSERT twice (a delete and a create).
pub fn change_weight(action: RecordAction) -> usize {
    match action {
        RecordAction::Upsert => 4,
        RecordAction::Create | RecordAction::Delete => 2,
    }
}

/// How many Route53 records a batch of changes counts as, as AWS counts them;
/// at most [`Quotas::records_per_change_batch`] per call.
pub fn change_batch_weight(changes: &[RecordChange]) -> usize {
    changes.iter().map(|c| change_weight(c.action)).sum()
}

/// An AWS API family: the calls that share one of AWS's token buckets per
/// account and region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiFamily {
    /// Every ELBv2 call.
    Elbv2,
    /// ELBv2's mutating calls (every `Create*`, `Modify*`, `Delete*`,
    /// `SetRulePriorities`, `AddTags`, …), which take a token from this smaller
    /// bucket as well as from [`ApiFamily::Elbv2`].
    Elbv2Mutating,
    /// Every Route53 call.
    Route53,
    /// ACM `ImportCertificate`.
    AcmImport,
    /// ACM's other calls (`DeleteCertificate`, `DescribeCertificate`,
    /// `ListCertificates`, `ListTagsForCertificate`).
    Acm,
    /// EC2 calls that change something: here every security-group change.
    Ec2Changes,
    /// EC2 reads (`DescribeVpcs`, `DescribeSecurityGroups`, …).
    Ec2Reads,
    /// The Resource Groups Tagging API's `GetResources`: what an observation
    /// finds the rack's target groups and certificates with, by their tags.
    Tagging,
}

/// One API family's request rate: a bucket of `burst` tokens refilled at
/// `per_second` tokens a second.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Calls that may go at once from a full bucket.
    pub burst: u32,
    /// Calls a second once the burst is spent.
    pub per_second: f64,
}

impl Rate {
    /// `burst` calls at once, then `per_second` a second.
    pub const fn new(burst: u32, per_second: f64) -> Rate {
        Rate { burst, per_second }
    }
}

impl ApiFamily {
    /// Every family, in table order.
    pub const ALL: [ApiFamily; 8] = [
        ApiFamily::Elbv2,
        ApiFamily::Elbv2Mutating,
        ApiFamily::Route53,
        ApiFamily::AcmImport,
        ApiFamily::Acm,
        ApiFamily::Ec2Changes,
        ApiFamily::Ec2Reads,
        ApiFamily::Tagging,
    ];

    /// AWS's documented default bucket for the family, per account and region:
    ///
    /// | family | burst | then |
    /// | --- | --- | --- |
    /// | ELBv2, every call | 40 | 10/s |
    /// | ELBv2 mutations, also | 20 | 3/s |
    /// | Route53 | 50 | 10/s |
    /// | ACM `ImportCertificate` | 1 | 1/s |
    /// | ACM, other calls | 5 | 5/s (below the 10/s AWS documents for most) |
    /// | EC2 security-group changes | 50 | 5/s |
    /// | EC2 reads | 100 | 20/s |
    /// | Resource Groups Tagging API | 5 | 5/s (AWS publishes no rate: paced as ACM's reads) |
    pub const fn default_rate(self) -> Rate {
        match self {
            ApiFamily::Elbv2 => Rate::new(40, 10.0),
            ApiFamily::Elbv2Mutating => Rate::new(20, 3.0),
            ApiFamily::Route53 => Rate::new(50, 10.0),
            ApiFamily::AcmImport => Rate::new(1, 1.0),
            ApiFamily::Acm => Rate::new(5, 5.0),
            ApiFamily::Ec2Changes => Rate::new(50, 5.0),
            ApiFamily::Ec2Reads => Rate::new(100, 20.0),
            ApiFamily::Tagging => Rate::new(5, 5.0),
        }
    }
}

/// The order resources are created in, by kind: each depends only on kinds
/// before it (a 443 listener needs its certificate). Deleting goes the other
/// way ([`DELETE_ORDER`]).
pub const CREATE_ORDER: [ResourceKind; 9] = [
    ResourceKind::SecurityGroup,
    ResourceKind::LoadBalancer,
    ResourceKind::Certificate,
    ResourceKind::Listener,
    ResourceKind::ListenerCertificate,
    ResourceKind::TargetGroup,
    ResourceKind::ListenerRule,
    ResourceKind::HostedZone,
    ResourceKind::Record,
];

/// The order resources are deleted in, by kind: [`CREATE_ORDER`] reversed, so
/// that nothing is deleted while something still uses it.
pub const DELETE_ORDER: [ResourceKind; 9] = {
    let mut out = CREATE_ORDER;
    let mut i = 0;
    while i < out.len() {
        out[i] = CREATE_ORDER[CREATE_ORDER.len() - 1 - i];
        i += 1;
    }
    out
};

/// A kind's place in [`CREATE_ORDER`].
pub fn create_level(kind: ResourceKind) -> usize {
    CREATE_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(CREATE_ORDER.len())
}

/// How the caller sleeps: a future that completes after the duration. The model
/// has no runtime; tools pass tokio's sleep, tests a virtual clock.
pub type SleepFn = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

/// Wraps an async sleep function (such as `tokio::time::sleep`) as a [`SleepFn`].
pub fn sleep_fn<F, Fut>(f: F) -> SleepFn
where
    F: Fn(Duration) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    Arc::new(move |d| Box::pin(f(d)))
}

/// splitmix64: a bijective scramble of a 64-bit value; a seeded counter fed
/// through it is a fast, good-enough generator for jitter and fault draws.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_elbv2s_rule() {
        assert!(check_elb_name(ElbName::LoadBalancer, "cx-production-i-1a2b3c4d").is_ok());
        assert!(matches!(
            check_elb_name(ElbName::LoadBalancer, "internal-web"),
            Err(NameError::Reserved { .. })
        ));
        assert!(check_elb_name(ElbName::TargetGroup, "internal-web").is_ok());
        assert!(matches!(
            check_elb_name(ElbName::TargetGroup, &"a".repeat(33)),
            Err(NameError::TooLong { .. })
        ));
        for bad in ["", "-a", "a-", "a_b"] {
            assert!(matches!(
                check_elb_name(ElbName::TargetGroup, bad),
                Err(NameError::Shape { .. })
            ));
        }
    }

    #[test]
    fn an_upsert_counts_twice() {
        assert_eq!(change_weight(RecordAction::Create), 2);
        assert_eq!(change_weight(RecordAction::Delete), 2);
        assert_eq!(change_weight(RecordAction::Upsert), 4);
    }

    #[test]
    fn delete_order_reverses_create_order() {
        assert_eq!(DELETE_ORDER[0], ResourceKind::Record);
        assert_eq!(DELETE_ORDER[8], ResourceKind::SecurityGroup);
        for (i, k) in CREATE_ORDER.iter().enumerate() {
            assert_eq!(create_level(*k), i);
        }
    }

    #[test]
    fn splitmix64_is_the_reference_sequence() {
        // The first output of the reference generator seeded with 0.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }
}
