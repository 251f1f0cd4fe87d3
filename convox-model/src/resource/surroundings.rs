//! What touches the rack's resources without being the rack's: the security
//! groups on its load balancers and the rules on its listeners that it does not
//! own. [`crate::backend::Backend::observe`] reports owned resources only (the
//! planner must never act on anything else); `rack audit` needs these too, to
//! prove who can reach what ([`crate::audit`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::IngressRule;

/// The surroundings of a rack's resources, as a backend reads them
/// ([`crate::backend::Backend::observe_surroundings`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Surroundings {
    /// Every security group attached to each load balancer the rack owns, owned
    /// or not: security group ids by the load balancer's id (its ARN), sorted.
    pub load_balancer_security_groups: BTreeMap<String, Vec<String>>,
    /// The security groups among those that the rack does not own, with their
    /// ingress (owned ones are observed with theirs), sorted by id.
    pub foreign_security_groups: Vec<ForeignSecurityGroup>,
    /// Every rule on a listener the rack owns that the rack does not own (the
    /// listeners' default actions excepted), sorted by id.
    pub foreign_rules: Vec<ForeignRule>,
}

/// A security group the rack does not own, attached to one of its load balancers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignSecurityGroup {
    /// Its id, such as `sg-0abc`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its ingress, read as the rack's own groups are (one rule per protocol,
    /// port and source; a port range or every port reads as port 0), sorted.
    pub ingress: Vec<IngressRule>,
}

/// A rule the rack does not own, on one of its listeners.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignRule {
    /// Its id (an ARN on AWS).
    pub id: String,
    /// The listener's id (ARN): one the rack owns.
    pub listener_id: String,
    /// Its priority (`None` when the provider reports none it can parse).
    pub priority: Option<u32>,
    /// Its host-header values, as [`super::normal_hosts`] gives them (empty when
    /// it matches on something else).
    pub hosts: Vec<String>,
}
