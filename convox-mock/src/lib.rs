//! An in-memory backend for `convox-model` that behaves like AWS where it matters.
//!
//! [`MockBackend`] holds a rack's load balancers, listeners, rules, target groups,
//! certificates, security groups, hosted zone and records the way ELBv2, ACM, EC2
//! and Route53 hold them (ARNs and ids shaped like AWS's, tags, ownership TXT
//! records), and refuses what AWS refuses: duplicate names and ports, taken rule
//! priorities, HTTPS listeners without a certificate, records outside the zone,
//! deletes of things in use, quotas. It counts every call (reads and mutations,
//! by operation), can wait a latency, and saves its state as JSON so that a
//! command-line session persists between processes.
//!
//! [`Faulty`] wraps any [`convox_model::backend::Backend`] (this one or AWS) and
//! injects faults, throttling, latency and AWS's rate limits from a seed, so that
//! convergence under failure can be tested and repeated.
//!
//! Its own tests are mostly the shared conformance suite
//! (`convox_model::conformance`), which every backend passes.

pub mod faults;
mod ids;
mod mock;
pub mod ops;
mod state;

pub use faults::{
    Fault, FaultCounts, FaultTiming, Faulty, Rate, RateLimits, Target, Trigger, VirtualClock,
};
pub use ids::alb_canonical_zone_id;
pub use mock::{
    CallCounts, DEFAULT_ACCOUNT, DEFAULT_REGION, Inventory, MockBackend, SleepFn, SleepFuture,
    StateError, sleep_fn,
};
pub use state::{MAX_ELB_NAME_LEN, MAX_RULE_PRIORITY, Quotas, change_batch_weight};
