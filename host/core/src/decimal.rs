//! decimal2 rules: how decimals are made from floats, rounded, stored and printed.
//!
//! Capillaries rounds every decimal2 arithmetic result to two places, half away from zero, reads
//! CSV decimals through a double, and stores them as `round(float64(v) * 100)` with scale 2.
//!
//! A decimal2 is stored as a signed 64-bit count of hundredths, so its range is [`MIN`] to
//! [`MAX`]. Go's decimals are unbounded; here every way of making a decimal2 (arithmetic,
//! conversion, parsing, aggregation) checks the range with [`check`] and fails with a
//! [`DecimalError`] instead of saturating or wrapping.

use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// The largest decimal2: `92233720368547758.07` (`i64::MAX` hundredths).
pub const MAX: Decimal = Decimal::from_parts(u32::MAX, i32::MAX as u32, 0, false, 2);

/// The smallest decimal2: `-92233720368547758.08` (`i64::MIN` hundredths).
pub const MIN: Decimal = Decimal::from_parts(0, 1 << 31, 0, true, 2);

/// A value that has no decimal2 form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The value, rounded to two places, is below [`MIN`] or above [`MAX`].
    #[error(
        "{value} is outside the decimal2 range -92233720368547758.08 to 92233720368547758.07 \
         (decimal2 is stored as a 64-bit count of hundredths)"
    )]
    OutOfRange {
        /// The value as text (a float in Go's `%v` form).
        value: String,
    },
    /// NaN or an infinity, which decimal2 cannot hold.
    #[error("{value} has no decimal2 value (decimal2 has no NaN or infinity)")]
    NotFinite {
        /// `NaN`, `+Inf` or `-Inf`.
        value: String,
    },
    /// Text that is not a number.
    #[error("{text:?} is not a number")]
    NotANumber {
        /// The text.
        text: String,
    },
}

/// `d` itself when, rounded to two places, it lies within [`MIN`]..=[`MAX`].
///
/// # Errors
/// [`DecimalError::OutOfRange`] naming the value.
pub fn check(d: Decimal) -> Result<Decimal, DecimalError> {
    let r = round2(d);
    // Beyond 96 bits of mantissa the rescale to two places cannot happen, and such a value is
    // far out of range anyway.
    if r.scale() == 2 && i64::try_from(r.mantissa()).is_ok() {
        Ok(d)
    } else {
        Err(DecimalError::OutOfRange {
            value: d.to_string(),
        })
    }
}

/// `decimal2(i)` for an int.
///
/// # Errors
/// [`DecimalError::OutOfRange`] when `|i|` exceeds about 9.2e16.
pub fn from_i64(i: i64) -> Result<Decimal, DecimalError> {
    check(Decimal::from(i))
}

/// Rounds to two decimal places, half away from zero.
pub fn round2(d: Decimal) -> Decimal {
    let mut r = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    // Keep the scale at 2 so that printing always shows two decimals.
    r.rescale(2);
    r
}

/// The shortest decimal that round-trips to `f` (Go's `decimal.NewFromFloat`), not rounded.
///
/// # Errors
/// [`DecimalError::NotFinite`] for NaN and infinities (Go panics there), and
/// [`DecimalError::OutOfRange`] for floats beyond the decimal2 range.
pub fn from_f64_shortest(f: f64) -> Result<Decimal, DecimalError> {
    if !f.is_finite() {
        return Err(DecimalError::NotFinite {
            value: crate::value::go_float_v(f),
        });
    }
    let out_of_range = || DecimalError::OutOfRange {
        value: crate::value::go_float_v(f),
    };
    // Rejecting the far too large first keeps `format!` from printing hundreds of digits.
    if f.abs() >= 1e18 {
        return Err(out_of_range());
    }
    // Rust prints the shortest round-trip representation and never uses an exponent.
    let d = Decimal::from_str(&format!("{f}"))
        .ok()
        .or_else(|| Decimal::from_f64(f))
        .ok_or_else(out_of_range)?;
    check(d).map_err(|_| out_of_range())
}

/// Nearest float to a decimal.
pub fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// The stored form of a decimal2: hundredths, computed through a double as Capillaries does.
///
/// Near the ends of the range the double cannot hold the hundredths; there the exact hundredths
/// of the value rounded to two places are used, so every in-range value has a stored form.
///
/// # Errors
/// [`DecimalError::OutOfRange`] when `d` is outside [`MIN`]..=[`MAX`].
pub fn to_cents(d: Decimal) -> Result<i64, DecimalError> {
    check(d)?;
    // 2^63 as a double: the first value `as i64` would saturate.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let c = (to_f64(d) * 100.0).round();
    if (-LIMIT..LIMIT).contains(&c) {
        Ok(c as i64)
    } else {
        i64::try_from(round2(d).mantissa()).map_err(|_| DecimalError::OutOfRange {
            value: d.to_string(),
        })
    }
}

/// Inverse of [`to_cents`].
pub fn from_cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// Parses decimal text the way a `col_format: %f` CSV cell or a `default_value` is read:
/// through a double, then rounded to two places.
///
/// # Errors
/// [`DecimalError::NotANumber`] when the text is not a number (`NaN` and `Inf` texts included),
/// [`DecimalError::OutOfRange`] when the number is beyond the decimal2 range.
pub fn parse_via_float(s: &str) -> Result<Decimal, DecimalError> {
    let not_a_number = || DecimalError::NotANumber {
        text: s.to_string(),
    };
    let f: f64 = s.trim().parse().map_err(|_| not_a_number())?;
    if !f.is_finite() {
        return Err(not_a_number());
    }
    from_f64_shortest(f)
        .map(round2)
        .map_err(|_| DecimalError::OutOfRange {
            value: s.trim().to_string(),
        })
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
        assert_eq!(from_f64_shortest(1.1).unwrap().to_string(), "1.1");
        assert_eq!(parse_via_float("28.5").unwrap().to_string(), "28.50");
        assert_eq!(parse_via_float("571230").unwrap().to_string(), "571230.00");
        assert_eq!(
            parse_via_float("abc"),
            Err(DecimalError::NotANumber { text: "abc".into() })
        );
        assert!(matches!(
            parse_via_float("NaN"),
            Err(DecimalError::NotANumber { .. })
        ));
    }

    #[test]
    fn cents_round_trip() {
        let d = Decimal::from_str("34.03").unwrap();
        assert_eq!(to_cents(d), Ok(3403));
        assert_eq!(from_cents(3403), d);
        assert_eq!(to_cents(Decimal::from_str("-0.005").unwrap()), Ok(-1));
    }

    #[test]
    fn range_is_the_i64_hundredths() {
        assert_eq!(MAX.to_string(), "92233720368547758.07");
        assert_eq!(MIN.to_string(), "-92233720368547758.08");
        assert_eq!(MAX, from_cents(i64::MAX));
        assert_eq!(MIN, from_cents(i64::MIN));
        // Every in-range value has a stored form, even where the double loses the hundredths.
        assert_eq!(to_cents(MAX), Ok(i64::MAX));
        assert_eq!(to_cents(MIN), Ok(i64::MIN));
        assert_eq!(check(MAX), Ok(MAX));
        // Rounds into range: still fine; rounds out of it: an error naming the value.
        assert!(check(Decimal::from_str("92233720368547758.074").unwrap()).is_ok());
        let over = Decimal::from_str("92233720368547758.075").unwrap();
        let e = to_cents(over).unwrap_err();
        assert_eq!(
            e,
            DecimalError::OutOfRange {
                value: "92233720368547758.075".into()
            }
        );
        assert!(e.to_string().contains("outside the decimal2 range"), "{e}");
        assert!(check(MIN - Decimal::new(1, 2)).is_err());
        assert!(check(Decimal::MAX).is_err());
        assert!(from_i64(92_233_720_368_547_758).is_ok());
        assert!(from_i64(92_233_720_368_547_759).is_err());
        assert!(from_i64(i64::MIN).is_err());
    }

    #[test]
    fn floats_and_texts_beyond_the_range_are_errors() {
        assert!(matches!(
            from_f64_shortest(1e17),
            Err(DecimalError::OutOfRange { value }) if value == "1e+17"
        ));
        assert!(from_f64_shortest(-1e300).is_err());
        assert!(from_f64_shortest(9e16).is_ok());
        assert_eq!(
            from_f64_shortest(f64::NAN),
            Err(DecimalError::NotFinite {
                value: "NaN".into()
            })
        );
        assert_eq!(
            from_f64_shortest(f64::NEG_INFINITY),
            Err(DecimalError::NotFinite {
                value: "-Inf".into()
            })
        );
        assert_eq!(
            parse_via_float(" 1e20 "),
            Err(DecimalError::OutOfRange {
                value: "1e20".into()
            })
        );
        assert!(parse_via_float("-92233720368547800000").is_err());
    }
}
