//! decimal2 rules: how decimals are made from floats, rounded, stored and printed.
//!
//! Capillaries rounds every decimal2 arithmetic result to two places, half away from zero, reads
//! CSV decimals through a double, and stores them as `round(float64(v) * 100)` with scale 2.

use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// Rounds to two decimal places, half away from zero.
pub fn round2(d: Decimal) -> Decimal {
    let mut r = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    // Keep the scale at 2 so that printing always shows two decimals.
    r.rescale(2);
    r
}

/// The shortest decimal that round-trips to `f` (Go's `decimal.NewFromFloat`), not rounded.
///
/// Values too large for a 96-bit decimal saturate through `Decimal::from_f64`, and non-finite
/// values become zero: decimal2 has no NaN.
pub fn from_f64_shortest(f: f64) -> Decimal {
    if !f.is_finite() {
        return Decimal::ZERO;
    }
    // Rust prints the shortest round-trip representation and never uses an exponent.
    Decimal::from_str(&format!("{f}"))
        .or_else(|_| Decimal::from_f64(f).ok_or(()))
        .unwrap_or(Decimal::ZERO)
}

/// Nearest float to a decimal.
pub fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// The stored form of a decimal2: hundredths, computed through a double as Capillaries does.
pub fn to_cents(d: Decimal) -> i64 {
    (to_f64(d) * 100.0).round() as i64
}

/// Inverse of [`to_cents`].
pub fn from_cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// Parses decimal text the way a `col_format: %f` CSV cell or a `default_value` is read:
/// through a double, then rounded to two places.
///
/// # Errors
/// Returns `None` when the text is not a number.
pub fn parse_via_float(s: &str) -> Option<Decimal> {
    let f: f64 = s.trim().parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    Some(round2(from_f64_shortest(f)))
}

/// Text of a decimal2 with exactly two decimals, no exponent (`12.50`, `-0.10`).
pub fn format2(d: Decimal) -> String {
    format!("{}", round2(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(format2(Decimal::from_str("111.958").unwrap()), "111.96");
        assert_eq!(format2(Decimal::from_str("0.125").unwrap()), "0.13");
        assert_eq!(format2(Decimal::from_str("-0.125").unwrap()), "-0.13");
        assert_eq!(format2(Decimal::from_str("2.5").unwrap()), "2.50");
    }

    #[test]
    fn floats_convert_through_shortest_text() {
        assert_eq!(from_f64_shortest(1.1).to_string(), "1.1");
        assert_eq!(parse_via_float("28.5").unwrap().to_string(), "28.50");
        assert_eq!(parse_via_float("571230").unwrap().to_string(), "571230.00");
        assert!(parse_via_float("abc").is_none());
    }

    #[test]
    fn cents_round_trip() {
        let d = Decimal::from_str("34.03").unwrap();
        assert_eq!(to_cents(d), 3403);
        assert_eq!(from_cents(3403), d);
        assert_eq!(to_cents(Decimal::from_str("-0.005").unwrap()), -1);
    }
}
