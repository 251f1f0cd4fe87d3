//! AWS's request rates: a token bucket per API family, refilled on the
//! [`super::VirtualClock`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ops::ApiFamily;

/// One API family's request rate: a bucket of `burst` tokens refilled at
/// `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Tokens when full.
    pub burst: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

/// Request rates per API family.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimits(pub BTreeMap<ApiFamily, Rate>);

impl RateLimits {
    /// AWS's documented defaults per account and region: ELBv2 40 then 10/s (its
    /// mutating calls also 20 then 3/s), Route53 50 then 10/s, ACM
    /// ImportCertificate 1/s, EC2 security-group changes 50 then 5/s.
    pub fn aws_defaults() -> Self {
        let paced = [
            ApiFamily::Elbv2,
            ApiFamily::Elbv2Mutating,
            ApiFamily::Route53,
            ApiFamily::AcmImport,
            ApiFamily::Ec2Changes,
        ];
        RateLimits(
            paced
                .into_iter()
                .map(|family| {
                    let d = family.default_rate();
                    let rate = Rate {
                        burst: f64::from(d.burst),
                        per_second: d.per_second,
                    };
                    (family, rate)
                })
                .collect(),
        )
    }
}

/// One family's bucket: its rate, the tokens it holds, and when it last refilled.
#[derive(Clone, Debug)]
pub(super) struct Bucket {
    pub(super) rate: Rate,
    pub(super) tokens: f64,
    pub(super) at: Duration,
}

impl Bucket {
    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst);
        self.at = now;
    }
}

/// Takes a token from the bucket of each of `families` that is paced, if every
/// one holds a token: a call refused by one API is not charged to the others.
/// `false` (and nothing taken) when one is empty.
pub(super) fn take_tokens(
    buckets: &mut BTreeMap<ApiFamily, Bucket>,
    families: &[ApiFamily],
    now: Duration,
) -> bool {
    let mut empty = false;
    for f in families {
        if let Some(b) = buckets.get_mut(f) {
            b.refill(now);
            empty |= b.tokens < 1.0;
        }
    }
    if empty {
        return false;
    }
    for f in families {
        if let Some(b) = buckets.get_mut(f) {
            b.tokens -= 1.0;
        }
    }
    true
}
