//! Why a plan cannot be made.

use crate::resource::{ResourceKey, Scope};

/// Why a plan cannot be made. Each says what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A desired resource lies outside the plan's scope.
    #[error("resource {key} is outside the plan's scope {scope:?}; plan each scope on its own")]
    OutOfScope {
        /// The resource.
        key: ResourceKey,
        /// The plan's scope.
        scope: Scope,
    },
    /// A resource refers to one that neither exists nor is planned.
    #[error("{key} needs {reference}, which does not exist and is not part of this plan; {hint}")]
    MissingDependency {
        /// The resource.
        key: ResourceKey,
        /// What it needs.
        reference: ResourceKey,
        /// What to do.
        hint: String,
    },
    /// Every priority on a listener is taken.
    #[error(
        "no free rule priority left on {listener} (1..={max}); delete unused apps or services first"
    )]
    PrioritiesExhausted {
        /// The listener.
        listener: ResourceKey,
        /// The highest priority.
        max: u32,
    },
    /// A provider quota would be exceeded.
    #[error("{what} would be {count}, over the limit of {limit}; {hint}")]
    Quota {
        /// What is counted, such as `listener rules on router/internal/alb`.
        what: String,
        /// How many there would be.
        count: usize,
        /// The limit.
        limit: usize,
        /// What to do.
        hint: String,
    },
    /// A hostname served on an HTTPS listener has no certificate that covers it.
    #[error(
        "hostname {host} is served on {listener} but no certificate attached to it covers the name; attach a certificate for {host} or *.{parent} to the listener"
    )]
    NotCovered {
        /// The hostname.
        host: String,
        /// The listener.
        listener: ResourceKey,
        /// The hostname without its first label.
        parent: String,
    },
    /// Several resources claim one key (their tags name it) and none can be
    /// kept safely as the key's resource: the plan changes neither.
    #[error(
        "{key} is claimed by {} resources: {}; their tags name the same key, so one was copied, and convox cannot tell which one it made, so it changes none of them; remove the convox:* tags from the one made by hand (or delete it), then run again",
        .ids.len(),
        .ids.join(", ")
    )]
    DuplicateClaim {
        /// The key.
        key: ResourceKey,
        /// Every claim's provider id, sorted.
        ids: Vec<String>,
    },
    /// Two rules would serve the same hostname for different services. External
    /// hostnames are `{app}-{service}.{router host}`, so app `shop` with service
    /// `api-web` and app `shop-api` with service `web` meet at `shop-api-web`.
    #[error(
        "hostname {host} of {key} is already served by {other}; rename the app or the service so that their hostnames differ"
    )]
    HostnameTaken {
        /// The hostname.
        host: String,
        /// The rule in the plan's scope that wants it.
        key: ResourceKey,
        /// The rule that has it (or also wants it).
        other: ResourceKey,
    },
}
