//! Certificate expiry: when a certificate the rack issued is due for renewal.
//!
//! A certificate's validity is part of what a backend observes
//! ([`Observed::not_after`](crate::resource::Observed::not_after)); a
//! [`Renewal`] on the desired state ([`DesiredState::renewing`](crate::desired::DesiredState::renewing))
//! says when one is due, and the planner then renews it in place, whatever the
//! rest of the plan. The model reads no clock: `now` is the caller's.
//!
//! ```
//! use convox_model::renew::{Renewal, DEFAULT_RENEW_BEFORE};
//!
//! let day = 24 * 3600;
//! let r = Renewal::at(1_000 * day);
//! assert_eq!(r.renew_before, DEFAULT_RENEW_BEFORE);
//! assert!(!r.is_due(1_031 * day));
//! assert!(r.is_due(1_030 * day));
//! assert!(r.is_due(999 * day)); // expired: due all the more
//! assert_eq!(convox_model::renew::date(0), "1970-01-01");
//! ```

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A day, in seconds.
pub const DAY: i64 = 24 * 3600;

/// How long before it expires a certificate is renewed by default: 30 days, so
/// that a rack deployed monthly never serves an expired certificate.
pub const DEFAULT_RENEW_BEFORE: i64 = 30 * DAY;

/// When certificates are due: at `now`, those that expire within `renew_before`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewal {
    /// The time the plan is made for, Unix seconds (the caller's clock).
    pub now: i64,
    /// How long before its end a certificate is renewed, in seconds.
    pub renew_before: i64,
}

impl Renewal {
    /// Renewal at `now` with the default window ([`DEFAULT_RENEW_BEFORE`]).
    pub fn at(now: i64) -> Self {
        Renewal {
            now,
            renew_before: DEFAULT_RENEW_BEFORE,
        }
    }

    /// Sets how long before its end a certificate is renewed (at least 0).
    pub fn with_renew_before(mut self, secs: i64) -> Self {
        self.renew_before = secs.max(0);
        self
    }

    /// Whether a certificate valid until `not_after` is due at `now`: it expires
    /// within the window (or has expired).
    pub fn is_due(&self, not_after: i64) -> bool {
        self.now >= not_after.saturating_sub(self.renew_before)
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix time, for people; the seconds themselves when
/// out of the calendar's range.
pub fn date(secs: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => format!("{secs} (Unix seconds)"),
    }
}

/// The end of a PEM certificate's validity (Unix seconds), read from its first
/// `CERTIFICATE` block; `None` if it is not a readable X.509 certificate.
pub fn not_after(certificate_pem: &str) -> Option<i64> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_exactly_at_the_window_and_after_expiry() {
        let r = Renewal::at(100 * DAY).with_renew_before(10 * DAY);
        assert!(!r.is_due(110 * DAY + 1));
        assert!(r.is_due(110 * DAY));
        assert!(r.is_due(50 * DAY));
        assert_eq!(Renewal::at(0).with_renew_before(-5).renew_before, 0);
    }

    #[test]
    fn not_after_is_read_from_the_certificate() {
        let ca = crate::tls::CertificateAuthority::generate(
            &crate::name::Name::new("production").unwrap(),
            1_750_000_000,
        )
        .unwrap();
        let pem = ca.issue("*.a.production.convox", 1_750_000_000).unwrap();
        assert_eq!(not_after(&pem.certificate), Some(1_750_000_000 + 397 * DAY));
        assert_eq!(
            not_after("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"),
            None
        );
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date(1_796_169_600), "2026-12-02");
        assert_eq!(date(i64::MAX), format!("{} (Unix seconds)", i64::MAX));
    }
}
