//! Datetime conventions: UTC milliseconds in storage, the zero value `0001-01-01T00:00:00Z`.

use crate::DateTime;
use chrono::{FixedOffset, TimeZone, Timelike, Utc};

/// UTC as a fixed offset.
pub fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("zero offset is valid")
}

/// The datetime zero value, `0001-01-01T00:00:00Z` (Go's zero `time.Time`).
pub fn zero() -> DateTime {
    utc()
        .with_ymd_and_hms(1, 1, 1, 0, 0, 0)
        .single()
        .expect("year 1 is representable")
}

/// Milliseconds since the Unix epoch (may be negative).
pub fn to_millis(t: &DateTime) -> i64 {
    t.timestamp_millis()
}

/// Inverse of [`to_millis`], in UTC. Out-of-range values clamp to the zero value.
pub fn from_millis(ms: i64) -> DateTime {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.with_timezone(&utc()))
        .unwrap_or_else(zero)
}

/// Drops sub-millisecond precision, as storage does.
pub fn truncate_to_millis(t: DateTime) -> DateTime {
    let nanos = t.nanosecond() % 1_000_000_000;
    t.with_nanosecond(nanos / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

/// The current time in UTC, millisecond precision.
pub fn now() -> DateTime {
    truncate_to_millis(Utc::now().with_timezone(&utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_including_year_one() {
        let z = zero();
        assert_eq!(from_millis(to_millis(&z)), z);
        assert_eq!(to_millis(&from_millis(1_234_567)), 1_234_567);
    }
}
