//! Vessel values to and from CQL values.

use scylla::value::{CqlDecimal, CqlTimestamp, CqlValue};
use vessel_core::{Column, Decimal, FieldType, RowSet, Value, decimal, time};
use vessel_store::StoreError;

/// The CQL value of row `r`'s column `c`. A decimal2 beyond its range is refused, naming the
/// field, rather than stored clamped.
pub(crate) fn cql_value(rows: &RowSet, c: usize, r: usize) -> Result<CqlValue, StoreError> {
    Ok(match rows.column(c) {
        Column::Int(v) => CqlValue::BigInt(v[r]),
        Column::Float(v) => CqlValue::Double(v[r]),
        Column::Decimal(v) => {
            let cents = decimal::to_cents(v[r]).map_err(|e| {
                let field = &rows.schema().fields()[c].0;
                StoreError::Backend(format!("field '{field}': {e}"))
            })?;
            CqlValue::Decimal(decimal_of_cents(cents))
        }
        Column::Str(v) => CqlValue::Text(v[r].clone()),
        Column::Bool(v) => CqlValue::Boolean(v[r]),
        Column::DateTime(v) => CqlValue::Timestamp(CqlTimestamp(time::to_millis(&v[r]))),
    })
}

/// Checks every value of `rows` that can be refused before anything is written.
pub(crate) fn check_rows(rows: &RowSet) -> Result<(), StoreError> {
    for c in 0..rows.schema().len() {
        if let Column::Decimal(v) = rows.column(c) {
            for d in v {
                decimal::to_cents(*d).map_err(|e| {
                    let field = &rows.schema().fields()[c].0;
                    StoreError::Backend(format!("field '{field}': {e}"))
                })?;
            }
        }
    }
    Ok(())
}

/// `cents / 100` as a CQL decimal: the shortest two's-complement bytes and scale 2.
fn decimal_of_cents(cents: i64) -> CqlDecimal {
    let bytes = cents.to_be_bytes();
    let mut start = 0;
    // Drop leading bytes that only repeat the sign.
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    CqlDecimal::from_signed_be_bytes_slice_and_exponent(&bytes[start..], 2)
}

/// A CQL decimal as a decimal2.
fn decimal_from_cql(d: &CqlDecimal, field: &str) -> Result<Decimal, StoreError> {
    let (bytes, scale) = d.as_signed_be_bytes_slice_and_exponent();
    let bad = || {
        StoreError::Backend(format!(
            "field '{field}': stored decimal does not fit decimal2"
        ))
    };
    if bytes.len() > 16 || !(0..=28).contains(&scale) {
        return Err(bad());
    }
    let mut buf = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        [0xFF; 16]
    } else {
        [0; 16]
    };
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    let m = i128::from_be_bytes(buf);
    let d = Decimal::try_from_i128_with_scale(m, scale as u32).map_err(|_| bad())?;
    Ok(decimal::round2(d))
}

/// The value of a field of type `t` read from storage.
pub(crate) fn value_of(
    v: Option<CqlValue>,
    t: FieldType,
    field: &str,
) -> Result<Value, StoreError> {
    let wrong = |v: &CqlValue| {
        StoreError::Backend(format!(
            "field '{field}' holds {v:?} in storage, not a {}",
            t.name()
        ))
    };
    let Some(v) = v else {
        return Ok(Value::zero(t));
    };
    Ok(match (t, &v) {
        (FieldType::Int, CqlValue::BigInt(i)) => Value::Int(*i),
        (FieldType::Float, CqlValue::Double(f)) => Value::Float(*f),
        (FieldType::Decimal2, CqlValue::Decimal(d)) => Value::Decimal(decimal_from_cql(d, field)?),
        (FieldType::String, CqlValue::Text(s)) => Value::Str(s.clone()),
        (FieldType::Bool, CqlValue::Boolean(b)) => Value::Bool(*b),
        (FieldType::DateTime, CqlValue::Timestamp(ts)) => Value::DateTime(time::from_millis(ts.0)),
        _ => return Err(wrong(&v)),
    })
}

/// Index keys as stored: a partition key cannot be empty in Cassandra, so `""` is kept as
/// `"\u{1}"`, and a key that starts with `\u{1}` gets one more in front (so the mapping is
/// one to one).
pub(crate) fn stored_key(key: &str) -> String {
    if key.is_empty() || key.starts_with('\u{1}') {
        format!("\u{1}{key}")
    } else {
        key.to_string()
    }
}

/// Inverse of [`stored_key`].
#[cfg(test)]
fn key_of_stored(stored: &str) -> &str {
    stored.strip_prefix('\u{1}').unwrap_or(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_through_the_shortest_bytes() {
        for cents in [
            0,
            1,
            -1,
            127,
            128,
            -128,
            -129,
            255,
            256,
            i64::MAX,
            i64::MIN + 1,
            1_234_567,
        ] {
            let d = decimal_of_cents(cents);
            let back = decimal_from_cql(&d, "f").unwrap();
            assert_eq!(back, Decimal::new(cents, 2), "{cents}");
        }
        assert_eq!(
            decimal_of_cents(127)
                .as_signed_be_bytes_slice_and_exponent()
                .0,
            [127]
        );
        assert_eq!(
            decimal_of_cents(128)
                .as_signed_be_bytes_slice_and_exponent()
                .0,
            [0, 128]
        );
        assert_eq!(
            decimal_of_cents(-128)
                .as_signed_be_bytes_slice_and_exponent()
                .0,
            [128]
        );
    }

    #[test]
    fn stored_keys_are_never_empty_and_map_back() {
        for k in ["", "a", "\u{1}", "\u{1}x", " "] {
            let s = stored_key(k);
            assert!(!s.is_empty());
            assert_eq!(key_of_stored(&s), k);
        }
    }
}
