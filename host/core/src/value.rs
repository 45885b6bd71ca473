//! A single typed value.

use crate::{DateTime, Decimal, FieldType, decimal, time};
use std::cmp::Ordering;
use std::fmt;

/// One value of one of the six column types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `int`
    Int(i64),
    /// `float`
    Float(f64),
    /// `decimal2`
    Decimal(Decimal),
    /// `string`
    Str(String),
    /// `bool`
    Bool(bool),
    /// `datetime`
    DateTime(DateTime),
}

impl Value {
    /// The zero value of a type: `0`, `0.0`, `0.00`, `""`, `false`, `0001-01-01T00:00:00Z`.
    pub fn zero(t: FieldType) -> Value {
        match t {
            FieldType::Int => Value::Int(0),
            FieldType::Float => Value::Float(0.0),
            FieldType::Decimal2 => Value::Decimal(decimal::round2(Decimal::ZERO)),
            FieldType::String => Value::Str(String::new()),
            FieldType::Bool => Value::Bool(false),
            FieldType::DateTime => Value::DateTime(time::zero()),
        }
    }

    /// The type of this value.
    pub fn field_type(&self) -> FieldType {
        match self {
            Value::Int(_) => FieldType::Int,
            Value::Float(_) => FieldType::Float,
            Value::Decimal(_) => FieldType::Decimal2,
            Value::Str(_) => FieldType::String,
            Value::Bool(_) => FieldType::Bool,
            Value::DateTime(_) => FieldType::DateTime,
        }
    }

    /// The boolean inside, if this is a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Total order between two values of the same type (floats by `total_cmp`);
    /// values of different types order by type.
    pub fn cmp_same_type(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
            (Value::Decimal(a), Value::Decimal(b)) => a.cmp(b),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::DateTime(a), Value::DateTime(b)) => a.cmp(b),
            (a, b) => (a.field_type() as u8).cmp(&(b.field_type() as u8)),
        }
    }

    /// Converts to the stored form of `t` where the conversion is lossless in Capillaries terms
    /// (decimal2 rounded to 2 places, datetime truncated to milliseconds); `None` if the value is
    /// of another type.
    pub fn normalized_for(self, t: FieldType) -> Option<Value> {
        match (self, t) {
            (Value::Decimal(d), FieldType::Decimal2) => Some(Value::Decimal(decimal::round2(d))),
            (Value::DateTime(d), FieldType::DateTime) => {
                Some(Value::DateTime(time::truncate_to_millis(d)))
            }
            (v, t) if v.field_type() == t => Some(v),
            _ => None,
        }
    }
}

/// Go's `%v` rendering: what `string(x)` and `fmt.Sprintf("%v", x)` print.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&go_float_v(*x)),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Str(s) => f.write_str(s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::DateTime(t) => f.write_str(&go_time_string(t)),
        }
    }
}

/// Go's `%v` for a float64: shortest representation, exponent form when the decimal exponent
/// is below -4 or at least 6 (`strconv.FormatFloat(f, 'g', -1, 64)`), so 1e6 prints `1e+06`.
pub fn go_float_v(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = x.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        format!("{x}")
    } else {
        // Rust's `{:e}` is shortest round-trip too: 1e21, 1.5e-7.
        let s = format!("{x:e}");
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", e.abs())
    }
}

/// Go's `time.Time.String()` layout for a value: `2006-01-02 15:04:05.999999999 -0700 MST`
/// with the zone abbreviation Go would print for a fixed offset (`UTC` or `+0300`).
pub fn go_time_string(t: &DateTime) -> String {
    use chrono::Timelike;
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let ns = t.nanosecond() % 1_000_000_000;
    if ns != 0 {
        let frac = format!("{ns:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.offset().local_minus_utc();
    s.push_str(&t.format(" %z").to_string());
    if off == 0 {
        s.push_str(" UTC");
    } else {
        s.push_str(&t.format(" %z").to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_v_floats() {
        assert_eq!(go_float_v(1.5), "1.5");
        assert_eq!(go_float_v(1e21), "1e+21");
        assert_eq!(go_float_v(1e20), "1e+20");
        assert_eq!(go_float_v(123456.0), "123456");
        assert_eq!(go_float_v(1234567.0), "1.234567e+06");
        assert_eq!(go_float_v(0.00001), "1e-05");
        assert_eq!(go_float_v(3.0), "3");
    }

    #[test]
    fn zero_values() {
        assert_eq!(Value::zero(FieldType::Decimal2).to_string(), "0.00");
        assert_eq!(
            Value::zero(FieldType::DateTime).to_string(),
            "0001-01-01 00:00:00 +0000 UTC"
        );
    }
}
