//! How long certificates live and when they are renewed (K3s' policy).

use std::time::{Duration, SystemTime};

use jiff::Timestamp;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Lifetime of the cluster CAs.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// Lifetime of leaf (serving and client) certificates.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Leaf certificates this close to expiry are renewed when the server starts.
pub const RENEW_BEFORE: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// Certificates start this long before issuance, so nodes with a slightly late clock accept them.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// Sets the validity window of a certificate issued at `now` and valid for `validity`.
pub(crate) fn apply_window(params: &mut rcgen::CertificateParams, now: Timestamp, validity: Duration) {
    let now = SystemTime::from(now);
    let start = now.checked_sub(BACKDATE).unwrap_or(now);
    // rcgen takes `time::OffsetDateTime`, which converts from `SystemTime`.
    params.not_before = start.into();
    params.not_after = (now + validity).into();
}

/// Whether a certificate ending at `not_after` must be renewed at `now`.
pub(crate) fn renewal_due(not_after: Timestamp, now: Timestamp) -> bool {
    let remaining = not_after.as_second().saturating_sub(now.as_second());
    remaining < RENEW_BEFORE.as_secs() as i64
}

/// Whole days from `now` until `not_after` (negative once expired).
pub(crate) fn days_left(not_after: Timestamp, now: Timestamp) -> i64 {
    not_after.as_second().saturating_sub(now.as_second()).div_euclid(DAY.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_within_ninety_days() {
        let now = Timestamp::from_second(1_000_000_000).unwrap();
        let in_days = |d: i64| Timestamp::from_second(now.as_second() + d * 86_400).unwrap();
        assert!(renewal_due(in_days(89), now));
        assert!(renewal_due(in_days(-1), now));
        assert!(!renewal_due(in_days(91), now));
        assert_eq!(days_left(in_days(91), now), 91);
        assert_eq!(days_left(in_days(-1), now), -1);
    }
}
