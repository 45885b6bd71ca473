//! Scalar values: the two newtypes that keep decimal2 and datetime apart from `i64`, and a
//! borrowed value of any type.

use crate::FieldType;
use std::fmt;
use std::str::FromStr;

/// A decimal2 value: an exact number with two decimal places, kept as hundredths.
///
/// ```
/// use vessel_plugin::Decimal2;
/// let price: Decimal2 = "12.3".parse().unwrap();
/// assert_eq!(price.hundredths(), 1230);
/// assert_eq!(price.to_string(), "12.30");
/// assert_eq!(Decimal2::from_hundredths(-5).to_string(), "-0.05");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Decimal2(i64);

impl Decimal2 {
    /// Zero, `0.00`.
    pub const ZERO: Decimal2 = Decimal2(0);

    /// The value `hundredths / 100`.
    pub const fn from_hundredths(hundredths: i64) -> Decimal2 {
        Decimal2(hundredths)
    }

    /// The value times 100: `12.30` gives `1230`.
    pub const fn hundredths(self) -> i64 {
        self.0
    }

    /// A whole number: `from_int(12)` is `12.00`; `None` when it does not fit.
    pub fn from_int(n: i64) -> Option<Decimal2> {
        n.checked_mul(100).map(Decimal2)
    }

    /// The nearest decimal2 to a float, rounding half away from zero; `None` for NaN,
    /// infinities and values out of range.
    pub fn from_f64(x: f64) -> Option<Decimal2> {
        let h = (x * 100.0).round();
        // i64::MAX as f64 rounds up to 2^63, which is already out of range.
        if h.is_finite() && h >= i64::MIN as f64 && h < i64::MAX as f64 {
            Some(Decimal2(h as i64))
        } else {
            None
        }
    }

    /// The nearest float.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl fmt::Display for Decimal2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Why a text is not a decimal2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDecimal2Error(String);

impl fmt::Display for ParseDecimal2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a decimal2: expected digits with at most two decimals, like 12.30",
            self.0
        )
    }
}

impl std::error::Error for ParseDecimal2Error {}

impl FromStr for Decimal2 {
    type Err = ParseDecimal2Error;

    /// Parses `12`, `12.3`, `-0.05`, `+7.50`; more than two decimals is an error rather than
    /// a silent rounding.
    fn from_str(s: &str) -> Result<Decimal2, ParseDecimal2Error> {
        let err = || ParseDecimal2Error(s.to_string());
        let (neg, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || frac.len() > 2 {
            return Err(err());
        }
        let mut h: i64 = 0;
        for b in int
            .bytes()
            .chain(frac.bytes())
            .chain("00".bytes().take(2 - frac.len()))
        {
            h = h
                .checked_mul(10)
                .and_then(|h| h.checked_add(i64::from(b - b'0')))
                .ok_or_else(err)?;
        }
        Ok(Decimal2(if neg { -h } else { h }))
    }
}

/// A datetime value: microseconds since 1970-01-01T00:00:00Z.
///
/// ```
/// use vessel_plugin::Datetime;
/// let t = Datetime::from_micros(1_700_000_000_123_000);
/// assert_eq!(t.to_string(), "2023-11-14T22:13:20.123Z");
/// assert_eq!(t.as_millis(), 1_700_000_000_123);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Datetime(i64);

impl Datetime {
    /// The instant `micros` microseconds after the Unix epoch (negative: before it).
    pub const fn from_micros(micros: i64) -> Datetime {
        Datetime(micros)
    }

    /// The instant `millis` milliseconds after the Unix epoch; `None` when out of range.
    pub fn from_millis(millis: i64) -> Option<Datetime> {
        millis.checked_mul(1000).map(Datetime)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Milliseconds since the Unix epoch, rounded towards negative infinity.
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

/// RFC 3339 in UTC, with as many fractional digits as needed (none, 3 or 6).
impl fmt::Display for Datetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        )?;
        if micros % 1000 != 0 {
            write!(f, ".{micros:06}")?;
        } else if micros != 0 {
            write!(f, ".{:03}", micros / 1000)?;
        }
        f.write_str("Z")
    }
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Eras of 400 years (146097 days) starting on March 1st, so that leap days end a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// One value of any type, borrowing strings from the batch it comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// An `int`.
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `decimal2`.
    Decimal2(Decimal2),
    /// A `string`.
    Str(&'a str),
    /// A `bool`.
    Bool(bool),
    /// A `datetime`.
    Datetime(Datetime),
}

impl Value<'_> {
    /// The type of the value.
    pub fn field_type(&self) -> FieldType {
        match self {
            Value::Int(_) => FieldType::Int,
            Value::Float(_) => FieldType::Float,
            Value::Decimal2(_) => FieldType::Decimal2,
            Value::Str(_) => FieldType::String,
            Value::Bool(_) => FieldType::Bool,
            Value::Datetime(_) => FieldType::Datetime,
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Decimal2(v) => write!(f, "{v}"),
            Value::Str(v) => f.write_str(v),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Datetime(v) => write!(f, "{v}"),
        }
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<Decimal2> for Value<'_> {
    fn from(v: Decimal2) -> Self {
        Value::Decimal2(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<Datetime> for Value<'_> {
    fn from(v: Datetime) -> Self {
        Value::Datetime(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal2_prints_two_places() {
        for (h, s) in [
            (0, "0.00"),
            (1230, "12.30"),
            (-5, "-0.05"),
            (-100, "-1.00"),
            (57_123_000, "571230.00"),
            (i64::MIN, "-92233720368547758.08"),
            (i64::MAX, "92233720368547758.07"),
        ] {
            assert_eq!(Decimal2::from_hundredths(h).to_string(), s);
        }
    }

    #[test]
    fn decimal2_parses_strictly() {
        let ok = |s: &str| s.parse::<Decimal2>().unwrap().hundredths();
        assert_eq!(ok("12"), 1200);
        assert_eq!(ok("12.3"), 1230);
        assert_eq!(ok("12.34"), 1234);
        assert_eq!(ok("-0.05"), -5);
        assert_eq!(ok("+7.5"), 750);
        assert_eq!(ok(".5"), 50);
        assert_eq!(ok("5."), 500);
        for bad in [
            "",
            "-",
            ".",
            "1.234",
            "1e3",
            "abc",
            " 1",
            "1-2",
            "99999999999999999999",
        ] {
            let e = bad.parse::<Decimal2>().unwrap_err();
            assert!(e.to_string().contains("is not a decimal2"), "{bad}");
        }
    }

    #[test]
    fn decimal2_from_floats_rounds_half_away_from_zero() {
        assert_eq!(Decimal2::from_f64(0.125).unwrap().hundredths(), 13);
        assert_eq!(Decimal2::from_f64(-0.125).unwrap().hundredths(), -13);
        assert_eq!(Decimal2::from_f64(f64::NAN), None);
        assert_eq!(Decimal2::from_f64(1e300), None);
        assert_eq!(Decimal2::from_int(i64::MAX), None);
        assert_eq!(Decimal2::from_hundredths(1250).to_f64(), 12.5);
    }

    #[test]
    fn datetimes_print_as_rfc3339_utc() {
        assert_eq!(Datetime::from_micros(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Datetime::from_micros(-1).to_string(),
            "1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            Datetime::from_millis(951_782_400_000).unwrap().to_string(),
            "2000-02-29T00:00:00Z"
        );
        // Go's zero time, Capillaries' datetime default.
        assert_eq!(
            Datetime::from_micros(-62_135_596_800_000_000).to_string(),
            "0001-01-01T00:00:00Z"
        );
        assert_eq!(Datetime::from_micros(-1500).as_millis(), -2);
    }
}
