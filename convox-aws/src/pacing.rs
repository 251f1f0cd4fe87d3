//! Client-side pacing: one token bucket per AWS API family, so that the backend
//! waits its turn rather than running into AWS's throttling.
//!
//! AWS meters each account and region with token buckets per API family: a burst,
//! then a steady refill. [`Pacing`] holds one [`Rate`] per family, AWS's documented
//! defaults unless told otherwise. The bucket arithmetic ([`Bucket`]) is pure: the
//! time is an argument. [`Pacer::acquire`] reads tokio's clock and sleeps on it, so
//! that tests with a paused clock run instantly and still see every wait.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use convox_model::aws::ApiFamily;

use crate::calls::is_mutating;

/// A token bucket's shape, from the model's one table of AWS's rates.
pub use convox_model::aws::Rate;

/// The time between two calls at `rate`'s steady rate, or `None` when the rate
/// cannot pace anything (no burst, a rate that is not a positive number).
fn interval(rate: &Rate) -> Option<Duration> {
    if rate.burst == 0 || !rate.per_second.is_finite() || rate.per_second <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(1.0 / rate.per_second).ok()
}

/// How fast the backend lets itself call each AWS API family.
///
/// The defaults ([`Pacing::aws_defaults`]) are AWS's documented default buckets
/// per account and region. AWS's buckets are shared by everything in the account,
/// so a busy account may want lower rates: start from the defaults and change a
/// field.
///
/// ```
/// use convox_aws::{Pacing, Rate};
/// let mut pacing = Pacing::aws_defaults();
/// // Leave half of ELBv2's mutation budget to the account's other tools.
/// pacing.elb_mutating = Rate::new(10, 1.5);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Pacing {
    /// Every ELBv2 call: 40 at once, then 10 a second.
    pub elb: Rate,
    /// ELBv2 calls that change something (`CreateRule`, `ModifyRule`, `AddTags`,
    /// `SetRulePriorities`, every `Create*`, `Modify*`, `Delete*`, …), on top of
    /// [`Pacing::elb`]: 20 at once, then 3 a second.
    pub elb_mutating: Rate,
    /// Every Route53 call: 50 at once, then 10 a second.
    pub route53: Rate,
    /// ACM `ImportCertificate`: 1 a second.
    pub acm_import: Rate,
    /// ACM's other calls (`DeleteCertificate`, `DescribeCertificate`,
    /// `ListCertificates`, `ListTagsForCertificate`): 5 at once, then 5 a second,
    /// below the 10 a second AWS documents for most of them.
    pub acm: Rate,
    /// EC2 calls that change something, here all security-group changes
    /// (`CreateSecurityGroup`, `AuthorizeSecurityGroupIngress`, …): 50 at once,
    /// then 5 a second.
    pub ec2_changes: Rate,
    /// EC2 reads (`DescribeVpcs`, `DescribeSecurityGroups`, …): 100 at once, then
    /// 20 a second.
    pub ec2_reads: Rate,
    /// The Resource Groups Tagging API (`GetResources`): 5 at once, then 5 a
    /// second (AWS publishes no rate for it).
    pub tagging: Rate,
}

impl Default for Pacing {
    fn default() -> Self {
        Self::aws_defaults()
    }
}

impl Pacing {
    /// AWS's documented default buckets.
    pub fn aws_defaults() -> Pacing {
        Pacing {
            elb: ApiFamily::Elbv2.default_rate(),
            elb_mutating: ApiFamily::Elbv2Mutating.default_rate(),
            route53: ApiFamily::Route53.default_rate(),
            acm_import: ApiFamily::AcmImport.default_rate(),
            acm: ApiFamily::Acm.default_rate(),
            ec2_changes: ApiFamily::Ec2Changes.default_rate(),
            ec2_reads: ApiFamily::Ec2Reads.default_rate(),
            tagging: ApiFamily::Tagging.default_rate(),
        }
    }

    /// The same rate for every family: for tests and emulators.
    pub fn uniform(rate: Rate) -> Pacing {
        Pacing {
            elb: rate,
            elb_mutating: rate,
            route53: rate,
            acm_import: rate,
            acm: rate,
            ec2_changes: rate,
            ec2_reads: rate,
            tagging: rate,
        }
    }
}

/// A token bucket kept as the generic cell rate algorithm: the theoretical arrival
/// time of the next call stands for the tokens, so the state is one `Duration` and
/// the arithmetic is exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Time between calls at the steady rate.
    interval: Duration,
    /// How far ahead of the steady rate a burst may run: `(burst - 1) * interval`.
    tolerance: Duration,
    /// When the next call would be due if calls came at exactly the steady rate.
    next: Duration,
}

impl Bucket {
    /// A full bucket at time zero, or `None` for a rate that cannot pace.
    pub(crate) fn new(rate: Rate) -> Option<Bucket> {
        let interval = interval(&rate)?;
        let tolerance = interval.checked_mul(rate.burst - 1)?;
        Some(Bucket {
            interval,
            tolerance,
            next: Duration::ZERO,
        })
    }

    /// Takes one token at time `now` and says how long the caller must wait before
    /// its call is due. The token is taken even when the caller must wait, so that
    /// callers queue in order instead of racing for the next token.
    pub(crate) fn reserve(&mut self, now: Duration) -> Duration {
        let next = self.next.max(now);
        let wait = next.saturating_sub(now.saturating_add(self.tolerance));
        self.next = next.saturating_add(self.interval);
        wait
    }
}

/// The AWS service a client talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Elb,
    Route53,
    Acm,
    Ec2,
    Tagging,
}

#[derive(Debug)]
struct Buckets {
    elb: Bucket,
    elb_mutating: Bucket,
    route53: Bucket,
    acm_import: Bucket,
    acm: Bucket,
    ec2_changes: Bucket,
    ec2_reads: Bucket,
    tagging: Bucket,
}

/// The buckets of one backend, shared by its five clients.
#[derive(Debug)]
pub(crate) struct Pacer {
    origin: tokio::time::Instant,
    buckets: Mutex<Buckets>,
}

impl Pacer {
    /// The pacer for `pacing`, or the name of a family whose rate cannot pace.
    pub(crate) fn new(pacing: &Pacing) -> Result<Pacer, &'static str> {
        let bucket = |name: &'static str, rate: Rate| Bucket::new(rate).ok_or(name);
        Ok(Pacer {
            origin: tokio::time::Instant::now(),
            buckets: Mutex::new(Buckets {
                elb: bucket("elb", pacing.elb)?,
                elb_mutating: bucket("elb_mutating", pacing.elb_mutating)?,
                route53: bucket("route53", pacing.route53)?,
                acm_import: bucket("acm_import", pacing.acm_import)?,
                acm: bucket("acm", pacing.acm)?,
                ec2_changes: bucket("ec2_changes", pacing.ec2_changes)?,
                ec2_reads: bucket("ec2_reads", pacing.ec2_reads)?,
                tagging: bucket("tagging", pacing.tagging)?,
            }),
        })
    }

    /// Takes the tokens `operation` on `service` needs at time `now` (since the
    /// pacer was made) and says how long to wait first.
    pub(crate) fn reserve(&self, service: Service, operation: &str, now: Duration) -> Duration {
        // A poisoned lock only means a thread panicked between two plain
        // assignments; the buckets are still buckets.
        let mut b = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        match service {
            // A mutating ELBv2 call spends from both buckets; it goes when both
            // allow it.
            Service::Elb if is_mutating(operation) => {
                let all = b.elb.reserve(now);
                all.max(b.elb_mutating.reserve(now))
            }
            Service::Elb => b.elb.reserve(now),
            Service::Route53 => b.route53.reserve(now),
            Service::Acm if operation == "ImportCertificate" => b.acm_import.reserve(now),
            Service::Acm => b.acm.reserve(now),
            Service::Ec2 if is_mutating(operation) => b.ec2_changes.reserve(now),
            Service::Ec2 => b.ec2_reads.reserve(now),
            Service::Tagging => b.tagging.reserve(now),
        }
    }

    /// Waits until `operation` on `service` may go, on tokio's clock.
    pub(crate) async fn acquire(&self, service: Service, operation: &str) {
        let wait = self.reserve(service, operation, self.origin.elapsed());
        if !wait.is_zero() {
            tracing::debug!(operation, ?wait, "pacing: waiting for the API's bucket");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_full_bucket_lets_the_burst_through_then_the_rate() {
        let mut b = Bucket::new(Rate::new(3, 2.0)).unwrap();
        let waits: Vec<_> = (0..6).map(|_| b.reserve(Duration::ZERO)).collect();
        // Three at once, then one every 500 ms, queued in order.
        assert_eq!(waits, [ms(0), ms(0), ms(0), ms(500), ms(1000), ms(1500)]);
    }

    #[test]
    fn the_bucket_refills_at_the_rate_and_no_further_than_the_burst() {
        let mut b = Bucket::new(Rate::new(2, 10.0)).unwrap();
        assert_eq!(b.reserve(ms(0)), ms(0));
        assert_eq!(b.reserve(ms(0)), ms(0));
        assert_eq!(b.reserve(ms(0)), ms(100));
        // Idle for a long time: only `burst` tokens come back.
        assert_eq!(b.reserve(ms(10_000)), ms(0));
        assert_eq!(b.reserve(ms(10_000)), ms(0));
        assert_eq!(b.reserve(ms(10_000)), ms(100));
        // Half an interval later, half a token: wait for the rest of it.
        assert_eq!(b.reserve(ms(10_150)), ms(50));
    }

    #[test]
    fn calls_at_the_steady_rate_never_wait() {
        let mut b = Bucket::new(Rate::new(1, 4.0)).unwrap();
        for i in 0..100 {
            assert_eq!(b.reserve(ms(250 * i)), ms(0), "call {i}");
        }
        // One call early by 1 ms waits 1 ms.
        assert_eq!(b.reserve(ms(250 * 100 - 1)), ms(1));
    }

    #[test]
    fn rates_that_cannot_pace_are_refused() {
        for bad in [
            Rate::new(0, 1.0),
            Rate::new(1, 0.0),
            Rate::new(1, -3.0),
            Rate::new(1, f64::NAN),
            Rate::new(1, f64::INFINITY),
            Rate::new(1, 1e-30),
        ] {
            assert_eq!(Bucket::new(bad), None, "{bad:?}");
        }
        let mut p = Pacing::aws_defaults();
        assert!(Pacer::new(&p).is_ok());
        p.acm = Rate::new(0, 1.0);
        assert_eq!(Pacer::new(&p).unwrap_err(), "acm");
    }

    /// `n` calls of `operation` at time zero, none of which waits.
    fn spend(pacer: &Pacer, service: Service, operation: &str, n: usize) {
        for i in 0..n {
            let wait = pacer.reserve(service, operation, Duration::ZERO);
            assert_eq!(wait, ms(0), "{operation} call {i}");
        }
    }

    #[test]
    fn each_operation_spends_from_its_family() {
        let pacer = Pacer::new(&Pacing::aws_defaults()).unwrap();
        let t = Duration::ZERO;
        // ELBv2 mutations: 20 at once, the 21st waits a third of a second, and
        // reads still go (the 40-call bucket has room).
        spend(&pacer, Service::Elb, "CreateRule", 20);
        assert_eq!(
            pacer.reserve(Service::Elb, "ModifyRule", t),
            Duration::from_secs_f64(1.0 / 3.0)
        );
        assert_eq!(pacer.reserve(Service::Elb, "DescribeRules", t), ms(0));
        // The reads and the mutations share the 40-call bucket: 22 spent.
        spend(&pacer, Service::Elb, "DescribeTags", 18);
        assert_eq!(pacer.reserve(Service::Elb, "DescribeTags", t), ms(100));
        // ImportCertificate: one a second; other ACM calls are not held up by it.
        assert_eq!(pacer.reserve(Service::Acm, "ImportCertificate", t), ms(0));
        assert_eq!(
            pacer.reserve(Service::Acm, "ImportCertificate", t),
            ms(1000)
        );
        assert_eq!(pacer.reserve(Service::Acm, "DeleteCertificate", t), ms(0));
        // Security-group changes: 50 at once, then 5 a second.
        spend(&pacer, Service::Ec2, "AuthorizeSecurityGroupIngress", 50);
        assert_eq!(
            pacer.reserve(Service::Ec2, "DeleteSecurityGroup", t),
            ms(200)
        );
        assert_eq!(pacer.reserve(Service::Ec2, "DescribeVpcs", t), ms(0));
        // Route53: 50, then 10 a second.
        spend(&pacer, Service::Route53, "ChangeResourceRecordSets", 50);
        assert_eq!(
            pacer.reserve(Service::Route53, "ListHostedZones", t),
            ms(100)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_sleeps_until_the_call_is_due() {
        let pacer = Pacer::new(&Pacing::uniform(Rate::new(2, 4.0))).unwrap();
        let start = tokio::time::Instant::now();
        for _ in 0..10 {
            pacer.acquire(Service::Route53, "ListHostedZones").await;
        }
        // Two at once, then eight more at 250 ms each.
        assert_eq!(start.elapsed(), ms(2000));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_queue_in_turn() {
        let pacer = std::sync::Arc::new(Pacer::new(&Pacing::uniform(Rate::new(1, 10.0))).unwrap());
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    pacer.acquire(Service::Elb, "DeleteRule").await;
                    start.elapsed()
                })
            })
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        done.sort();
        assert_eq!(done, [ms(0), ms(100), ms(200), ms(300), ms(400)]);
    }
}
