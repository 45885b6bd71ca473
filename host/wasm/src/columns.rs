//! Host columns to WIT column buffers and back, as laid out in `wit/types.wit`, validating all that comes back.

use std::sync::Arc;

use vessel_core::rust_decimal::RoundingStrategy;
use vessel_core::{Column, DateTime, Decimal, FieldType, RowSet, Schema, Value};

use crate::bindings::wit_types;

/// A column that cannot cross into the guest.
#[derive(Debug)]
pub(crate) struct EncodeError(pub String);

/// Bytes of the `i`-th little-endian 8-byte value.
fn le8(values: &[u8], i: usize) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(&values[i * 8..i * 8 + 8]);
    b
}

/// Bit `i` of an Arrow bitmap (least significant bit first).
pub(crate) fn bit(bitmap: &[u8], i: usize) -> bool {
    bitmap[i / 8] & (1 << (i % 8)) != 0
}

/// Bytes of a bitmap of `n` bits.
pub(crate) fn bitmap_len(n: usize) -> usize {
    n.div_ceil(8)
}

fn pack_bits(bits: impl ExactSizeIterator<Item = bool>) -> Vec<u8> {
    let mut out = vec![0u8; bitmap_len(bits.len())];
    for (i, b) in bits.enumerate() {
        if b {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

/// A decimal2 as hundredths, rounded half away from zero when it has more places.
pub(crate) fn decimal_to_cents(d: &Decimal) -> Option<i64> {
    let mut r = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    i64::try_from(r.mantissa()).ok()
}

/// A datetime as microseconds since the Unix epoch (UTC).
fn datetime_to_micros(t: &DateTime) -> i64 {
    t.timestamp_micros()
}

/// Microseconds since the epoch as a UTC datetime, if chrono can represent it.
fn micros_to_datetime(us: i64) -> Option<DateTime> {
    chrono_from_micros(us).map(|t| t.with_timezone(&vessel_core::time::utc()))
}

fn chrono_from_micros(us: i64) -> Option<vessel_core::chrono::DateTime<vessel_core::chrono::Utc>> {
    vessel_core::chrono::DateTime::from_timestamp_micros(us)
}

fn fixed(values: impl Iterator<Item = [u8; 8]>, n: usize) -> wit_types::Column {
    let mut out = Vec::with_capacity(n * 8);
    for v in values {
        out.extend_from_slice(&v);
    }
    wit_types::Column {
        validity: None,
        offsets: None,
        values: out,
    }
}

/// Encodes one host column.
pub(crate) fn encode_column(col: &Column, name: &str) -> Result<wit_types::Column, EncodeError> {
    let n = col.len();
    Ok(match col {
        Column::Int(v) => fixed(v.iter().map(|x| x.to_le_bytes()), n),
        Column::Float(v) => fixed(v.iter().map(|x| x.to_le_bytes()), n),
        Column::DateTime(v) => fixed(v.iter().map(|t| datetime_to_micros(t).to_le_bytes()), n),
        Column::Decimal(v) => {
            let mut out = Vec::with_capacity(n * 8);
            for (row, d) in v.iter().enumerate() {
                let cents = decimal_to_cents(d).ok_or_else(|| {
                    EncodeError(format!(
                        "column '{name}' row {row}: decimal2 value {d} does not fit in 64-bit \
                         hundredths"
                    ))
                })?;
                out.extend_from_slice(&cents.to_le_bytes());
            }
            wit_types::Column {
                validity: None,
                offsets: None,
                values: out,
            }
        }
        Column::Bool(v) => wit_types::Column {
            validity: None,
            offsets: None,
            values: pack_bits(v.iter().copied()),
        },
        Column::Str(v) => {
            let total: usize = v.iter().map(String::len).sum();
            if u32::try_from(total).is_err() {
                return Err(EncodeError(format!(
                    "column '{name}' holds {total} bytes of text, more than the 4 GiB a batch \
                     column can carry; use smaller batches"
                )));
            }
            let mut values = Vec::with_capacity(total);
            let mut offsets = Vec::with_capacity((n + 1) * 4);
            offsets.extend_from_slice(&0u32.to_le_bytes());
            for s in v {
                values.extend_from_slice(s.as_bytes());
                // Cannot overflow: the total was checked above.
                offsets.extend_from_slice(&(values.len() as u32).to_le_bytes());
            }
            wit_types::Column {
                validity: None,
                offsets: Some(offsets),
                values,
            }
        }
    })
}

/// Encodes a row set as a batch.
pub(crate) fn encode_rowset(rs: &RowSet) -> Result<wit_types::Batch, EncodeError> {
    let row_count = u32::try_from(rs.len()).map_err(|_| {
        EncodeError(format!(
            "{} rows do not fit in one batch (at most 4294967295)",
            rs.len()
        ))
    })?;
    let columns = rs
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| encode_column(c, rs.schema().name(i)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(wit_types::Batch { row_count, columns })
}

/// Total bytes of a column's buffers.
pub(crate) fn column_bytes(c: &wit_types::Column) -> usize {
    c.values.len()
        + c.offsets.as_ref().map_or(0, Vec::len)
        + c.validity.as_ref().map_or(0, Vec::len)
}

/// Decodes one column of `n` rows of type `ty`, checking every length, offset and string.
/// Null values (a clear validity bit) become the zero value of the type.
pub(crate) fn decode_column(
    col: wit_types::Column,
    ty: FieldType,
    n: usize,
    name: &str,
) -> Result<Vec<Value>, String> {
    let what = format!("column '{name}' ({ty})");
    if let Some(validity) = &col.validity
        && validity.len() != bitmap_len(n)
    {
        return Err(format!(
            "{what}: validity bitmap holds {} bytes, expected {} for {n} rows",
            validity.len(),
            bitmap_len(n)
        ));
    }
    if ty != FieldType::String && col.offsets.is_some() {
        return Err(format!(
            "{what}: has offsets, which only string columns may have"
        ));
    }
    let expected = match ty {
        FieldType::Bool => Some(bitmap_len(n)),
        FieldType::String => None,
        _ => Some(n * 8),
    };
    if let Some(expected) = expected
        && col.values.len() != expected
    {
        let unit = if ty == FieldType::Bool {
            "bit-packed".to_string()
        } else {
            "8 bytes each".to_string()
        };
        return Err(format!(
            "{what}: values hold {} bytes, expected {expected} for {n} rows ({unit})",
            col.values.len()
        ));
    }
    let values = col.values;
    let mut out: Vec<Value> = match ty {
        FieldType::Int => (0..n)
            .map(|i| Value::Int(i64::from_le_bytes(le8(&values, i))))
            .collect(),
        FieldType::Float => (0..n)
            .map(|i| Value::Float(f64::from_le_bytes(le8(&values, i))))
            .collect(),
        FieldType::Decimal2 => (0..n)
            .map(|i| Value::Decimal(Decimal::new(i64::from_le_bytes(le8(&values, i)), 2)))
            .collect(),
        FieldType::DateTime => {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                let us = i64::from_le_bytes(le8(&values, i));
                let t = micros_to_datetime(us).ok_or_else(|| {
                    format!("{what}: row {i} holds {us} µs since 1970, outside the datetime range")
                })?;
                v.push(Value::DateTime(t));
            }
            v
        }
        FieldType::Bool => (0..n).map(|i| Value::Bool(bit(&values, i))).collect(),
        FieldType::String => decode_strings(&values, col.offsets.as_deref(), n, &what)?,
    };
    if let Some(validity) = &col.validity {
        for (i, v) in out.iter_mut().enumerate() {
            if !bit(validity, i) {
                *v = Value::zero(ty);
            }
        }
    }
    Ok(out)
}

fn decode_strings(
    values: &[u8],
    offsets: Option<&[u8]>,
    n: usize,
    what: &str,
) -> Result<Vec<Value>, String> {
    let offsets = offsets.ok_or_else(|| format!("{what}: offsets are missing"))?;
    if offsets.len() != (n + 1) * 4 {
        return Err(format!(
            "{what}: offsets hold {} bytes, expected {} ({} offsets of 4 bytes for {n} rows)",
            offsets.len(),
            (n + 1) * 4,
            n + 1
        ));
    }
    let off = |i: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&offsets[i * 4..i * 4 + 4]);
        u32::from_le_bytes(b) as usize
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (start, end) = (off(i), off(i + 1));
        if end < start {
            return Err(format!(
                "{what}: offsets decrease at row {i} ({start} then {end})"
            ));
        }
        if end > values.len() {
            return Err(format!(
                "{what}: row {i} ends at offset {end}, beyond the {} bytes of values",
                values.len()
            ));
        }
        let s = std::str::from_utf8(&values[start..end]).map_err(|e| {
            format!(
                "{what}: row {i} is not valid UTF-8 (byte {} of the value)",
                e.valid_up_to()
            )
        })?;
        out.push(Value::Str(s.to_string()));
    }
    Ok(out)
}

/// Decodes a batch of `expected_rows` rows with the columns of `schema`.
pub(crate) fn decode_batch(
    batch: wit_types::Batch,
    schema: &Arc<Schema>,
    expected_rows: usize,
) -> Result<RowSet, String> {
    if batch.row_count as usize != expected_rows {
        return Err(format!(
            "output batch says {} rows, expected {expected_rows}",
            batch.row_count
        ));
    }
    if batch.columns.len() != schema.len() {
        let names: Vec<&str> = schema.fields().iter().map(|(n, _)| n.as_str()).collect();
        return Err(format!(
            "output batch has {} columns, the binding declares {} ({})",
            batch.columns.len(),
            schema.len(),
            names.join(", ")
        ));
    }
    let mut columns = Vec::with_capacity(schema.len());
    for (i, col) in batch.columns.into_iter().enumerate() {
        let values = decode_column(col, schema.field_type(i), expected_rows, schema.name(i))?;
        columns.push(values.into_iter());
    }
    Ok(rows_from_columns(schema.clone(), columns, expected_rows))
}

/// Builds a row set from per-column values, moving them (no clone of strings).
pub(crate) fn rows_from_columns(
    schema: Arc<Schema>,
    mut columns: Vec<std::vec::IntoIter<Value>>,
    rows: usize,
) -> RowSet {
    let mut rs = RowSet::with_capacity(schema, rows);
    for _ in 0..rows {
        let row: Vec<Value> = columns
            .iter_mut()
            .map(|c| c.next().unwrap_or(Value::Int(0)))
            .collect();
        rs.push_row(row);
    }
    rs
}

/// A host column built from values that must all be of type `ty`; the row of the first value
/// of another type is returned as the error.
pub(crate) fn column_from_values(ty: FieldType, values: &[Value]) -> Result<Column, usize> {
    let mut col = Column::with_capacity(ty, values.len());
    for (i, v) in values.iter().enumerate() {
        if v.field_type() != ty || !col.push(v.clone()) {
            return Err(i);
        }
    }
    Ok(col)
}

/// WIT field type of a host type.
pub(crate) fn to_wit_type(t: FieldType) -> wit_types::FieldType {
    match t {
        FieldType::Int => wit_types::FieldType::Int,
        FieldType::Float => wit_types::FieldType::Float,
        FieldType::Decimal2 => wit_types::FieldType::Decimal2,
        FieldType::String => wit_types::FieldType::String,
        FieldType::Bool => wit_types::FieldType::Bool,
        FieldType::DateTime => wit_types::FieldType::Datetime,
    }
}

/// Host type of a WIT field type.
pub(crate) fn from_wit_type(t: wit_types::FieldType) -> FieldType {
    match t {
        wit_types::FieldType::Int => FieldType::Int,
        wit_types::FieldType::Float => FieldType::Float,
        wit_types::FieldType::Decimal2 => FieldType::Decimal2,
        wit_types::FieldType::String => FieldType::String,
        wit_types::FieldType::Bool => FieldType::Bool,
        wit_types::FieldType::Datetime => FieldType::DateTime,
    }
}

/// WIT schema of a host schema.
pub(crate) fn to_wit_schema(s: &Schema) -> Vec<wit_types::Field> {
    s.fields()
        .iter()
        .map(|(name, ty)| wit_types::Field {
            name: name.clone(),
            ty: to_wit_type(*ty),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn schema(fields: &[(&str, FieldType)]) -> Arc<Schema> {
        Arc::new(Schema::new(
            fields.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
        ))
    }

    #[test]
    fn every_type_round_trips() {
        let s = schema(&[
            ("i", FieldType::Int),
            ("f", FieldType::Float),
            ("d", FieldType::Decimal2),
            ("s", FieldType::String),
            ("b", FieldType::Bool),
            ("t", FieldType::DateTime),
        ]);
        let mut rs = RowSet::new(s.clone());
        for k in 0..11i64 {
            rs.push_row(vec![
                Value::Int(k - 5),
                Value::Float(k as f64 / 3.0),
                Value::Decimal(Decimal::new(k * 101 - 333, 2)),
                Value::Str("é".repeat(k as usize)),
                Value::Bool(k % 3 == 0),
                Value::DateTime(vessel_core::time::from_millis(k * 86_400_123 - 1)),
            ]);
        }
        rs.push_row(vec![
            Value::Int(i64::MIN),
            Value::Float(f64::INFINITY),
            Value::Decimal(Decimal::ZERO),
            Value::Str(String::new()),
            Value::Bool(true),
            Value::DateTime(vessel_core::time::zero()),
        ]);
        let batch = encode_rowset(&rs).unwrap();
        assert_eq!(batch.columns[4].values.len(), 2);
        let back = decode_batch(batch, &s, rs.len()).unwrap();
        assert_eq!(back, rs);
    }

    #[test]
    fn decimals_round_half_away_from_zero() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(decimal_to_cents(&d("1.005")), Some(101));
        assert_eq!(decimal_to_cents(&d("-1.005")), Some(-101));
        assert_eq!(decimal_to_cents(&d("1.004")), Some(100));
        assert_eq!(decimal_to_cents(&d("12")), Some(1200));
        assert_eq!(decimal_to_cents(&d("79228162514264337593543950335")), None);
    }

    #[test]
    fn datetimes_cross_as_utc_micros() {
        let t = DateTime::parse_from_rfc3339("2024-03-01T12:00:00.123456+03:00").unwrap();
        let col = encode_column(&Column::DateTime(vec![t]), "t").unwrap();
        assert_eq!(
            i64::from_le_bytes(col.values[..8].try_into().unwrap()),
            1_709_283_600_123_456
        );
        let back = decode_column(col, FieldType::DateTime, 1, "t").unwrap();
        let Value::DateTime(b) = &back[0] else {
            panic!()
        };
        assert_eq!(*b, t);
        assert_eq!(b.offset().local_minus_utc(), 0);
    }

    #[test]
    fn bad_buffers_are_named_precisely() {
        let col = |values: Vec<u8>, offsets: Option<Vec<u8>>| wit_types::Column {
            validity: None,
            offsets,
            values,
        };
        let offs = |o: &[u32]| Some(o.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        let e = decode_column(col(vec![0; 12], None), FieldType::Int, 2, "n").unwrap_err();
        assert_eq!(
            e,
            "column 'n' (int): values hold 12 bytes, expected 16 for 2 rows (8 bytes each)"
        );
        let e = decode_column(
            col(b"abc".to_vec(), offs(&[0, 2, 1])),
            FieldType::String,
            2,
            "s",
        )
        .unwrap_err();
        assert!(e.contains("offsets decrease at row 1"), "{e}");
        let e = decode_column(
            col(b"abc".to_vec(), offs(&[0, 2, 9])),
            FieldType::String,
            2,
            "s",
        )
        .unwrap_err();
        assert!(e.contains("beyond the 3 bytes"), "{e}");
        let e = decode_column(
            col(vec![b'a', 0xff], offs(&[0, 1, 2])),
            FieldType::String,
            2,
            "s",
        )
        .unwrap_err();
        assert!(e.contains("row 1 is not valid UTF-8"), "{e}");
        let e = decode_column(
            col(b"ab".to_vec(), offs(&[0, 1])),
            FieldType::String,
            2,
            "s",
        )
        .unwrap_err();
        assert!(e.contains("offsets hold 8 bytes, expected 12"), "{e}");
        let e = decode_column(col(vec![1], None), FieldType::Bool, 9, "b").unwrap_err();
        assert!(e.contains("expected 2 for 9 rows"), "{e}");
        let e = decode_column(col(vec![0; 8], offs(&[0, 0])), FieldType::Int, 1, "n").unwrap_err();
        assert!(e.contains("only string columns"), "{e}");
    }

    #[test]
    fn nulls_become_zero_values() {
        let c = wit_types::Column {
            validity: Some(vec![0b01]),
            offsets: None,
            values: [7i64, 8].iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        let v = decode_column(c, FieldType::Int, 2, "n").unwrap();
        assert_eq!(v, vec![Value::Int(7), Value::Int(0)]);
    }
}
