//! Index and sort keys, byte-identical to Capillaries' `BuildKey` (spec §3.2).
//!
//! Each component is encoded to a fixed-width text and the texts are concatenated:
//!
//! | type | encoding |
//! |---|---|
//! | int | `0` (≥0) or `-` (<0), then \|v\| zero-padded to 20 digits; digits of negatives 9-complemented |
//! | float | sign as for int, then `%.32f` of \|v\| left-padded with `0` to 66; negatives complemented |
//! | decimal2 | converted to float64, then as float |
//! | datetime | `%020d` of microseconds since 0001-01-01T00:00:00Z |
//! | string | NFD, non-spacing marks removed, NFC; right-padded with spaces to `len` characters, cut to `len` **bytes**; `ignore_case` upper-cases |
//! | bool | `T` / `F` |
//!
//! A `desc` component has each byte `b` replaced by `0xFF - b` and is hex-encoded, so that
//! ascending byte order of keys is the requested order.
//!
//! One deviation is forced by Rust strings: when the byte cut splits a multi-byte character of
//! an ascending component, the partial character becomes U+FFFD (Capillaries keeps the raw
//! bytes, which Cassandra rejects as text anyway). Descending components are hex and exact.

use crate::model::KeyComponent;
use regex::Regex;
use std::cmp::Ordering;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;
use vessel_core::{DateTime, Decimal, Value};

/// `time.Date(1, 1, 1, 0, 0, 0, 0, UTC).UnixMicro()`.
const BEGINNING_OF_TIME_MICRO: i64 = -62_135_596_800_000_000;

static NONSPACING_MARK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\p{Mn}+").expect("valid regex"));

/// Builds the key of `values`, given in component order.
///
/// A value whose type differs from its component's type is encoded by its own type (the
/// loader guarantees matching types; the engine never mixes them).
///
/// # Panics
/// When `values` is shorter than `components`.
pub fn build_key(components: &[KeyComponent], values: &[&Value]) -> String {
    assert!(
        values.len() >= components.len(),
        "build_key: {} values for {} components",
        values.len(),
        components.len()
    );
    let mut out = Vec::with_capacity(components.len() * 24);
    for (c, v) in components.iter().zip(values.iter()) {
        encode_component(&mut out, c, v);
    }
    into_string(out)
}

/// Builds the key of a row: component `i` reads `row[components[i].field_idx]`.
///
/// # Panics
/// When a `field_idx` is out of the row's range.
pub fn row_key(components: &[KeyComponent], row: &[Value]) -> String {
    let mut out = Vec::with_capacity(components.len() * 24);
    for c in components {
        encode_component(&mut out, c, &row[c.field_idx]);
    }
    into_string(out)
}

/// Orders two rows as their keys would order, without building the keys:
/// `compare_rows(c, a, b) == row_key(c, a).cmp(&row_key(c, b))` for all inputs.
///
/// Used by `top` sorts. Numbers and ASCII strings compare directly; where the key text does
/// not follow the value (non-ASCII strings, floats beyond the fixed width or the 32 decimals,
/// negative zero, NaN, dates before year 1, mixed types) both keys are built and compared.
///
/// # Panics
/// When a `field_idx` is out of a row's range.
pub fn compare_rows(components: &[KeyComponent], a: &[Value], b: &[Value]) -> Ordering {
    for c in components {
        match compare_component(c, &a[c.field_idx], &b[c.field_idx]) {
            Some(Ordering::Equal) => {}
            // Components before this one encoded to the same bytes, and every component on the
            // fast path has a fixed width, so this one decides.
            Some(o) => return o,
            None => return row_key(components, a).cmp(&row_key(components, b)),
        }
    }
    Ordering::Equal
}

/// Key order of one component's values, or `None` when only the key text can tell.
fn compare_component(c: &KeyComponent, a: &Value, b: &Value) -> Option<Ordering> {
    let asc = match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) if plain_float(*x) && plain_float(*y) => {
            x.partial_cmp(y)?
        }
        (Value::Decimal(x), Value::Decimal(y)) if plain_decimal(x) && plain_decimal(y) => x.cmp(y),
        (Value::DateTime(x), Value::DateTime(y)) => {
            let (x, y) = (x.timestamp_micros(), y.timestamp_micros());
            if x < BEGINNING_OF_TIME_MICRO || y < BEGINNING_OF_TIME_MICRO {
                return None;
            }
            x.cmp(&y)
        }
        (Value::Str(x), Value::Str(y)) if x.is_ascii() && y.is_ascii() => {
            compare_ascii(x.as_bytes(), y.as_bytes(), c.str_len, c.ignore_case)
        }
        _ => return None,
    };
    Some(if c.desc { asc.reverse() } else { asc })
}

/// A float whose `%.32f` text fits the 66 characters and tells it from its neighbours, so the
/// key text orders as the number. Negative zero prints as `-0.000…` and is not plain.
fn plain_float(f: f64) -> bool {
    let m = f.abs();
    (f == 0.0 && f.is_sign_positive()) || (1e-15..1e32).contains(&m)
}

/// A decimal with at most 15 significant digits and 15 decimals: distinct ones convert to
/// distinct floats, in order, and each is plain. Zero of either sign encodes as zero.
fn plain_decimal(d: &Decimal) -> bool {
    d.scale() <= 15 && d.mantissa().unsigned_abs() < 1_000_000_000_000_000
}

/// Order of two ASCII strings padded with spaces and cut to `len` bytes, upper-cased when
/// `ignore_case`.
fn compare_ascii(a: &[u8], b: &[u8], len: usize, ignore_case: bool) -> Ordering {
    let a = &a[..a.len().min(len)];
    let b = &b[..b.len().min(len)];
    let common = a.len().min(b.len());
    let head = if ignore_case {
        a[..common]
            .iter()
            .map(u8::to_ascii_uppercase)
            .cmp(b[..common].iter().map(u8::to_ascii_uppercase))
    } else {
        a[..common].cmp(&b[..common])
    };
    if head != Ordering::Equal {
        return head;
    }
    // The shorter one continues with spaces: the longer one's tail decides against them.
    let (tail, flip) = if a.len() > common {
        (&a[common..], false)
    } else {
        (&b[common..], true)
    };
    let o = tail
        .iter()
        .map(|c| {
            if ignore_case {
                c.to_ascii_uppercase()
            } else {
                *c
            }
        })
        .find(|&c| c != b' ')
        .map_or(Ordering::Equal, |c| c.cmp(&b' '));
    if flip { o.reverse() } else { o }
}

fn into_string(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Appends the encoding of one component.
fn encode_component(out: &mut Vec<u8>, comp: &KeyComponent, v: &Value) {
    let bytes: Vec<u8> = match v {
        Value::Int(i) => encode_int(*i).into_bytes(),
        Value::Float(f) => encode_float(*f).into_bytes(),
        Value::Decimal(d) => encode_decimal(*d).into_bytes(),
        Value::DateTime(t) => encode_datetime(t).into_bytes(),
        Value::Str(s) => encode_string(s, comp.str_len, comp.ignore_case),
        Value::Bool(b) => vec![if *b { b'T' } else { b'F' }],
    };
    if comp.desc {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in bytes {
            let f = 0xFF - b;
            out.push(HEX[(f >> 4) as usize]);
            out.push(HEX[(f & 0x0F) as usize]);
        }
    } else {
        out.extend_from_slice(&bytes);
    }
}

fn flip_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from(b'0' + (9 - d as u8)),
            None => c,
        })
        .collect()
}

fn encode_int(i: i64) -> String {
    let digits = format!("{:020}", i.unsigned_abs());
    if i >= 0 {
        format!("0{digits}")
    } else {
        format!("-{}", flip_digits(&digits))
    }
}

/// Go's `%.32f` (with `+Inf`/`NaN` spellings), left-padded with zeros to 66.
fn padded_float_text(f: f64) -> String {
    let body = if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{f:.32}")
    };
    format!("{body:0>66}")
}

fn encode_float(f: f64) -> String {
    // Go keeps `f` itself when `f >= 0` (so -0.0 prints "-0.000…") and negates otherwise; NaN
    // fails the comparison and takes the negative branch.
    if f >= 0.0 {
        format!("0{}", padded_float_text(f))
    } else {
        format!("-{}", flip_digits(&padded_float_text(-f)))
    }
}

fn encode_decimal(d: Decimal) -> String {
    // Nearest float64 of the decimal, as Go's `Decimal.Float64()`.
    let f = |d: Decimal| d.to_string().parse::<f64>().unwrap_or(0.0);
    if d.is_sign_negative() && !d.is_zero() {
        format!("-{}", flip_digits(&padded_float_text(f(-d))))
    } else {
        format!("0{}", padded_float_text(f(d.abs())))
    }
}

fn encode_datetime(t: &DateTime) -> String {
    format!("{:020}", t.timestamp_micros() - BEGINNING_OF_TIME_MICRO)
}

fn encode_string(s: &str, len: usize, ignore_case: bool) -> Vec<u8> {
    let normalized: String = if s.is_ascii() {
        s.to_string()
    } else {
        let nfd: String = s.nfd().collect();
        NONSPACING_MARK.replace_all(&nfd, "").nfc().collect()
    };
    // Go's `%-Ns` pads to N characters, then the key keeps the first N bytes.
    let chars = normalized.chars().count();
    let mut bytes = normalized.into_bytes();
    if chars < len {
        bytes.resize(bytes.len() + (len - chars), b' ');
    }
    bytes.truncate(len);
    if ignore_case {
        go_to_upper(&bytes)
    } else {
        bytes
    }
}

/// Go's `strings.ToUpper`: simple (one-to-one) case mapping; an invalid byte becomes U+FFFD.
fn go_to_upper(bytes: &[u8]) -> Vec<u8> {
    if bytes.is_ascii() {
        return bytes.to_ascii_uppercase();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                push_upper(&mut out, s);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                push_upper(&mut out, std::str::from_utf8(valid).unwrap_or(""));
                out.extend_from_slice("\u{FFFD}".as_bytes());
                rest = &after[1..];
            }
        }
    }
    out
}

fn push_upper(out: &mut Vec<u8>, s: &str) {
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let mut up = c.to_uppercase();
        // Go maps one character to one character; full mappings (ß → SS) keep the original.
        let u = match (up.next(), up.next()) {
            (Some(u), None) => u,
            _ => c,
        };
        out.extend_from_slice(u.encode_utf8(&mut buf).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use vessel_core::FieldType;
    use vessel_core::chrono::{FixedOffset, TimeZone};

    fn comp(t: FieldType, desc: bool) -> KeyComponent {
        KeyComponent {
            field: "f".into(),
            field_idx: 0,
            field_type: t,
            desc,
            ignore_case: false,
            str_len: if t == FieldType::String { 64 } else { 0 },
        }
    }

    fn key(t: FieldType, desc: bool, v: &Value) -> String {
        build_key(&[comp(t, desc)], &[v])
    }

    fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Value {
        Value::DateTime(
            FixedOffset::east_opt(0)
                .unwrap()
                .with_ymd_and_hms(y, mo, d, h, mi, s)
                .unwrap(),
        )
    }

    #[test]
    fn int_encoding() {
        assert_eq!(
            key(FieldType::Int, false, &Value::Int(5)),
            "000000000000000000005"
        );
        assert_eq!(
            key(FieldType::Int, false, &Value::Int(-5)),
            "-99999999999999999994"
        );
        assert_eq!(
            key(FieldType::Int, false, &Value::Int(0)),
            "000000000000000000000"
        );
        assert_eq!(
            key(FieldType::Int, false, &Value::Int(i64::MIN)),
            "-90776627963145224191"
        );
    }

    #[test]
    fn float_and_decimal_encoding() {
        let k = key(FieldType::Float, false, &Value::Float(1.5));
        assert_eq!(k.len(), 67);
        assert_eq!(
            k,
            format!("0{}1.50000000000000000000000000000000", "0".repeat(32))
        );
        let k = key(FieldType::Float, false, &Value::Float(-1.5));
        assert_eq!(
            k,
            format!("-{}8.49999999999999999999999999999999", "9".repeat(32))
        );
        let d = Value::Decimal(Decimal::from_str("1.50").unwrap());
        assert_eq!(
            key(FieldType::Decimal2, false, &d),
            key(FieldType::Float, false, &Value::Float(1.5))
        );
        let inf = key(FieldType::Float, false, &Value::Float(f64::INFINITY));
        assert!(inf.ends_with("0+Inf") && inf.len() == 67, "{inf}");
    }

    #[test]
    fn float_specials_encode_as_capillaries_does() {
        // Go: `f >= 0` picks the sign, `%.32f` of the absolute value (`-0.000…` for negative
        // zero, `NaN`, `+Inf`), space-padded to 66 and the spaces turned into zeros, digits
        // complemented for the "-" sign. NaN fails `f >= 0` and takes the "-" branch.
        let k = |f: f64| key(FieldType::Float, false, &Value::Float(f));
        assert_eq!(k(-0.0), format!("0{}-0.{}", "0".repeat(31), "0".repeat(32)));
        assert_eq!(k(0.0), format!("0{}0.{}", "0".repeat(32), "0".repeat(32)));
        assert_eq!(k(f64::NAN), format!("-{}NaN", "9".repeat(63)));
        assert_eq!(k(-f64::NAN), k(f64::NAN));
        assert_eq!(k(f64::INFINITY), format!("0{}+Inf", "0".repeat(62)));
        assert_eq!(k(f64::NEG_INFINITY), format!("-{}+Inf", "9".repeat(62)));
        let tiny = k(f64::from_bits(1));
        assert_eq!(tiny, format!("0{}0.{}", "0".repeat(32), "0".repeat(32)));
        // The extremes of decimal2 encode through their nearest doubles.
        let d = |v: Decimal| key(FieldType::Decimal2, false, &Value::Decimal(v));
        assert_eq!(d(vessel_core::decimal::MAX), k(92_233_720_368_547_758.07));
        assert_eq!(d(vessel_core::decimal::MIN), k(-92_233_720_368_547_758.08));
    }

    #[test]
    fn datetime_and_bool_encoding() {
        assert_eq!(
            key(FieldType::DateTime, false, &dt(1, 1, 1, 0, 0, 0)),
            "00000000000000000000"
        );
        assert_eq!(
            key(FieldType::DateTime, false, &dt(1970, 1, 1, 0, 0, 0)),
            "00062135596800000000"
        );
        assert_eq!(key(FieldType::Bool, false, &Value::Bool(true)), "T");
        assert_eq!(key(FieldType::Bool, true, &Value::Bool(false)), "b9");
    }

    #[test]
    fn string_encoding() {
        let mut c = comp(FieldType::String, false);
        c.str_len = 16;
        let k = build_key(&[c.clone()], &[&Value::Str("Café".into())]);
        assert_eq!(k, "Cafe            ");
        c.ignore_case = true;
        let k = build_key(&[c.clone()], &[&Value::Str("straße é".into())]);
        // ß has no one-character upper case in Go's simple mapping.
        assert_eq!(k, "STRAßE E       ");
        assert_eq!(k.len(), 16);
        c.ignore_case = false;
        let long = "abcdefghijklmnopqrstuvwxyz";
        assert_eq!(
            build_key(&[c.clone()], &[&Value::Str(long.into())]),
            "abcdefghijklmnop"
        );
        // 15 × 'ж' (2 bytes) + padding to 17 chars = 32 bytes, cut to 17: the 9th 'ж' is cut.
        c.str_len = 17;
        let k = build_key(&[c], &[&Value::Str("ж".repeat(15))]);
        assert_eq!(k, format!("{}\u{FFFD}", "ж".repeat(8)));
    }

    #[test]
    fn desc_flips_and_hex_encodes() {
        assert_eq!(key(FieldType::Int, true, &Value::Int(0)).len(), 42);
        assert_eq!(&key(FieldType::Int, true, &Value::Int(5))[..4], "cfcf");
    }

    #[test]
    fn multi_component_keys_concatenate() {
        let a = comp(FieldType::Int, false);
        let mut b = comp(FieldType::Bool, false);
        b.field_idx = 1;
        let row = vec![Value::Int(1), Value::Bool(true)];
        assert_eq!(
            row_key(&[a.clone(), b.clone()], &row),
            "000000000000000000001T"
        );
        assert_eq!(
            build_key(&[a, b], &[&Value::Int(1), &Value::Bool(true)]),
            "000000000000000000001T"
        );
    }

    fn assert_order_preserved(t: FieldType, sorted: &[Value]) {
        for desc in [false, true] {
            let keys: Vec<String> = sorted.iter().map(|v| key(t, desc, v)).collect();
            for w in keys.windows(2) {
                if desc {
                    assert!(w[0] > w[1], "{t} desc: {} !> {}", w[0], w[1]);
                } else {
                    assert!(w[0] < w[1], "{t} asc: {} !< {}", w[0], w[1]);
                }
            }
        }
    }

    #[test]
    fn keys_sort_like_values() {
        assert_order_preserved(
            FieldType::Int,
            &[
                i64::MIN,
                -1_000_000,
                -10,
                -9,
                -1,
                0,
                1,
                9,
                10,
                123_456,
                i64::MAX,
            ]
            .map(Value::Int),
        );
        assert_order_preserved(
            FieldType::Float,
            &[-1e20, -2.5, -1.5, -0.25, 0.0, 1e-10, 0.25, 1.5, 2.5, 1e20].map(Value::Float),
        );
        assert_order_preserved(
            FieldType::Decimal2,
            &[
                "-100.50", "-3.10", "-3.01", "0.00", "0.01", "2.99", "3.00", "1000.00",
            ]
            .map(|s| Value::Decimal(Decimal::from_str(s).unwrap())),
        );
        assert_order_preserved(
            FieldType::DateTime,
            &[
                dt(1, 1, 1, 0, 0, 0),
                dt(1969, 12, 31, 23, 59, 59),
                dt(2018, 9, 3, 8, 43, 50),
                dt(2018, 12, 26, 20, 48, 52),
            ],
        );
        assert_order_preserved(
            FieldType::String,
            &["", "A", "AB", "B", "a", "ab", "b"].map(|s| Value::Str(s.into())),
        );
        assert_order_preserved(FieldType::Bool, &[Value::Bool(false), Value::Bool(true)]);
    }
}
