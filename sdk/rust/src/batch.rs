//! Decoding a batch of column buffers into typed row views.
//!
//! Every buffer is checked once, when the batch is decoded: lengths against the row count,
//! string offsets against the text (monotonic, in range, on character boundaries) and the
//! UTF-8 of the text. Reading a value afterwards is a bounds-checked little-endian load.

use crate::raw;
use crate::{Datetime, Decimal2, FieldType, RowError, Schema, Value};
use std::fmt;

/// Why a batch's buffers do not match its schema. The host never sends such a batch; a plugin
/// that gets one fails the batch rather than guessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(String);

impl DecodeError {
    fn column(index: usize, schema: &Schema, message: impl fmt::Display) -> DecodeError {
        let what = match schema.fields().get(index) {
            Some(f) => format!("column {index} (`{}`, {})", f.name, f.ty),
            None => format!("column {index}"),
        };
        DecodeError(format!("{what}: {message}"))
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed batch: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// The checked buffers of one column.
#[derive(Debug, Clone)]
enum Data {
    /// int, decimal2 and datetime (i64) or float (f64): 8 little-endian bytes per row.
    Fixed(Vec<u8>),
    /// Bit-packed, least significant bit first.
    Bool(Vec<u8>),
    /// `rows + 1` u32 offsets into the text.
    Str { offsets: Vec<u8>, text: String },
}

#[derive(Debug, Clone)]
struct ColumnData {
    data: Data,
    validity: Option<Vec<u8>>,
}

/// A decoded batch: columns in the order of its schema, read through [`Row`] views.
///
/// ```
/// use vessel_plugin::{Batch, BatchBuilder, Decimal2, Field, FieldType, Schema, Value};
/// let schema = Schema::new(vec![
///     Field::new("name", FieldType::String),
///     Field::new("price", FieldType::Decimal2),
/// ]);
/// let mut b = BatchBuilder::new(&schema);
/// b.push_row(&[Value::Str("tea"), Value::Decimal2(Decimal2::from_hundredths(350))])?;
/// let batch = Batch::decode(schema, b.finish())?;
/// let row = batch.row(0).unwrap();
/// assert_eq!(row.str("name")?, "tea");
/// assert_eq!(row.decimal2("price")?.to_string(), "3.50");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Batch {
    schema: Schema,
    rows: usize,
    columns: Vec<ColumnData>,
}

impl Batch {
    /// Checks the buffers of a raw batch against `schema` and takes ownership of them (no
    /// copy).
    ///
    /// # Errors
    /// [`DecodeError`] naming the column when the number of columns differs from the schema,
    /// a buffer is too short or too long for the row count, a string column has no offsets,
    /// offsets decrease or point outside the text or inside a character, or the text is not
    /// UTF-8.
    pub fn decode(schema: Schema, raw: raw::Batch) -> Result<Batch, DecodeError> {
        let rows = raw.row_count as usize;
        if raw.columns.len() != schema.len() {
            return Err(DecodeError(format!(
                "{} columns for a schema of {} fields ({})",
                raw.columns.len(),
                schema.len(),
                schema.names()
            )));
        }
        let mut columns = Vec::with_capacity(raw.columns.len());
        for (i, (col, field)) in raw.columns.into_iter().zip(schema.fields()).enumerate() {
            let bad = |m: String| DecodeError::column(i, &schema, m);
            let bitmap_len = rows.div_ceil(8);
            if let Some(v) = &col.validity
                && v.len() != bitmap_len
            {
                return Err(bad(format!(
                    "validity holds {} bytes, expected {bitmap_len} for {rows} rows",
                    v.len()
                )));
            }
            let data = match field.ty {
                FieldType::String => {
                    let offsets = col
                        .offsets
                        .ok_or_else(|| bad("a string column needs offsets".into()))?;
                    let text = String::from_utf8(col.values)
                        .map_err(|e| bad(format!("text is not UTF-8: {e}")))?;
                    check_offsets(&offsets, &text, rows).map_err(bad)?;
                    Data::Str { offsets, text }
                }
                ty => {
                    if col.offsets.is_some() {
                        return Err(bad("only string columns have offsets".into()));
                    }
                    let expected = if ty == FieldType::Bool {
                        bitmap_len
                    } else {
                        rows.checked_mul(8)
                            .ok_or_else(|| bad("too many rows".into()))?
                    };
                    if col.values.len() != expected {
                        return Err(bad(format!(
                            "values hold {} bytes, expected {expected} for {rows} rows",
                            col.values.len()
                        )));
                    }
                    if ty == FieldType::Bool {
                        Data::Bool(col.values)
                    } else {
                        Data::Fixed(col.values)
                    }
                }
            };
            columns.push(ColumnData {
                data,
                validity: col.validity,
            });
        }
        Ok(Batch {
            schema,
            rows,
            columns,
        })
    }

    /// The schema the batch was decoded with.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when the batch has no row.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `index`, or `None` past the end.
    pub fn row(&self, index: usize) -> Option<Row<'_>> {
        (index < self.rows).then_some(Row { batch: self, index })
    }

    /// All rows, in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        (0..self.rows).map(move |index| Row { batch: self, index })
    }

    fn value(&self, col: usize, row: usize) -> Option<Value<'_>> {
        let c = self.columns.get(col)?;
        let ty = self.schema.fields().get(col)?.ty;
        if let Some(v) = &c.validity
            && !bit(v, row)?
        {
            return Some(zero(ty));
        }
        Some(match (&c.data, ty) {
            (Data::Fixed(b), FieldType::Float) => Value::Float(f64::from_le_bytes(eight(b, row)?)),
            (Data::Fixed(b), FieldType::Int) => Value::Int(i64::from_le_bytes(eight(b, row)?)),
            (Data::Fixed(b), FieldType::Decimal2) => Value::Decimal2(Decimal2::from_hundredths(
                i64::from_le_bytes(eight(b, row)?),
            )),
            (Data::Fixed(b), FieldType::Datetime) => {
                Value::Datetime(Datetime::from_micros(i64::from_le_bytes(eight(b, row)?)))
            }
            (Data::Bool(b), _) => Value::Bool(bit(b, row)?),
            (Data::Str { offsets, text }, _) => {
                let start = offset(offsets, row)?;
                let end = offset(offsets, row + 1)?;
                Value::Str(text.get(start..end)?)
            }
            _ => return None,
        })
    }
}

/// Offsets: `rows + 1` little-endian u32, non-decreasing, within the text and on character
/// boundaries.
fn check_offsets(offsets: &[u8], text: &str, rows: usize) -> Result<(), String> {
    let expected = (rows + 1) * 4;
    if offsets.len() != expected {
        return Err(format!(
            "offsets hold {} bytes, expected {expected} for {rows} rows",
            offsets.len()
        ));
    }
    let mut prev = 0usize;
    for (i, chunk) in offsets.chunks_exact(4).enumerate() {
        let o = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize;
        if i > 0 && o < prev {
            return Err(format!(
                "offset {i} ({o}) is below offset {} ({prev})",
                i - 1
            ));
        }
        if o > text.len() {
            return Err(format!(
                "offset {i} ({o}) is past the end of the text ({} bytes)",
                text.len()
            ));
        }
        if !text.is_char_boundary(o) {
            return Err(format!("offset {i} ({o}) falls inside a UTF-8 character"));
        }
        prev = o;
    }
    Ok(())
}

fn eight(b: &[u8], row: usize) -> Option<[u8; 8]> {
    let start = row.checked_mul(8)?;
    b.get(start..start + 8)?.try_into().ok()
}

fn offset(b: &[u8], i: usize) -> Option<usize> {
    let start = i.checked_mul(4)?;
    let four: [u8; 4] = b.get(start..start + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(four) as usize)
}

pub(crate) fn bit(bitmap: &[u8], i: usize) -> Option<bool> {
    Some(bitmap.get(i / 8)? & (1 << (i % 8)) != 0)
}

/// The zero value of a type: Capillaries has no NULLs.
pub(crate) fn zero(ty: FieldType) -> Value<'static> {
    match ty {
        FieldType::Int => Value::Int(0),
        FieldType::Float => Value::Float(0.0),
        FieldType::Decimal2 => Value::Decimal2(Decimal2::ZERO),
        FieldType::String => Value::Str(""),
        FieldType::Bool => Value::Bool(false),
        FieldType::Datetime => Value::Datetime(Datetime::from_micros(0)),
    }
}

/// One row of a [`Batch`]: typed getters by field name.
///
/// Getters fail (never panic) with a [`RowError`] naming the field when the field is not in
/// the batch or has another type, so `?` turns a mistake into a row error. A null value (the
/// host sends none today) reads as the zero value of its type.
#[derive(Clone, Copy)]
pub struct Row<'a> {
    batch: &'a Batch,
    index: usize,
}

impl fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (i, field) in self.batch.schema.fields().iter().enumerate() {
            m.entry(&field.name, &self.batch.value(i, self.index));
        }
        m.finish()
    }
}

impl<'a> Row<'a> {
    /// Position of the row in its batch, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The schema of the batch.
    pub fn schema(&self) -> &'a Schema {
        &self.batch.schema
    }

    /// The value of the column at `col` (schema order), whatever its type.
    ///
    /// # Errors
    /// When `col` is past the last column.
    pub fn value_at(&self, col: usize) -> Result<Value<'a>, RowError> {
        self.batch.value(col, self.index).ok_or_else(|| {
            RowError::new(format!(
                "no column {col}: the batch has {} ({})",
                self.batch.schema.len(),
                self.batch.schema.names()
            ))
        })
    }

    /// The value of a field, whatever its type.
    ///
    /// # Errors
    /// When the batch has no such field (the message lists the fields it has; a plugin sees
    /// only the fields its binding reads).
    pub fn value(&self, name: &str) -> Result<Value<'a>, RowError> {
        let col = self.batch.schema.index_of(name).ok_or_else(|| {
            RowError::for_field(
                name,
                format!(
                    "no field `{name}` in this batch, which has {}; list it in the binding's reads",
                    self.batch.schema.names()
                ),
            )
        })?;
        self.value_at(col)
    }

    fn typed(&self, name: &str, want: FieldType) -> Result<Value<'a>, RowError> {
        let v = self.value(name)?;
        if v.field_type() == want {
            Ok(v)
        } else {
            Err(RowError::for_field(
                name,
                format!(
                    "`{name}` is {}, not {}",
                    v.field_type().with_article(),
                    want.with_article()
                ),
            ))
        }
    }

    /// An `int` field.
    ///
    /// # Errors
    /// When the field is missing or of another type.
    pub fn int(&self, name: &str) -> Result<i64, RowError> {
        match self.typed(name, FieldType::Int)? {
            Value::Int(v) => Ok(v),
            _ => Err(mistyped(name)),
        }
    }

    /// A `float` field.
    ///
    /// # Errors
    /// When the field is missing or of another type.
    pub fn float(&self, name: &str) -> Result<f64, RowError> {
        match self.typed(name, FieldType::Float)? {
            Value::Float(v) => Ok(v),
            _ => Err(mistyped(name)),
        }
    }

    /// A `decimal2` field.
    ///
    /// # Errors
    /// When the field is missing or of another type.
    pub fn decimal2(&self, name: &str) -> Result<Decimal2, RowError> {
        match self.typed(name, FieldType::Decimal2)? {
            Value::Decimal2(v) => Ok(v),
            _ => Err(mistyped(name)),
        }
    }

    /// A `string` field, borrowed from the batch.
    ///
    /// # Errors
    /// When the field is missing or of another type.
    pub fn str(&self, name: &str) -> Result<&'a str, RowError> {
        match self.typed(name, FieldType::String)? {
            Value::Str(v) => Ok(v),
            _ => Err(mistyped(name)),
        }
    }

    /// A `bool` field.
    ///
    /// # Errors
    /// When the field is missing or of another type.
    pub fn bool(&self, name: &str) -> Result<bool, RowError> {
        match self.typed(name, FieldType::Bool)? {
            Value::Bool(v) => Ok(v),
            _ => Err(mistyped(name)),
        }
    }

    /// A `datetime` field.
    ///
    /// # Errors
    /// When the field is missing or of another type.
    pub fn datetime(&self, name: &str) -> Result<Datetime, RowError> {
        match self.typed(name, FieldType::Datetime)? {
            Value::Datetime(v) => Ok(v),
            _ => Err(mistyped(name)),
        }
    }
}

fn mistyped(name: &str) -> RowError {
    RowError::for_field(name, format!("`{name}` has an unexpected type"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchBuilder, Field};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("i", FieldType::Int),
            Field::new("f", FieldType::Float),
            Field::new("d", FieldType::Decimal2),
            Field::new("s", FieldType::String),
            Field::new("b", FieldType::Bool),
            Field::new("t", FieldType::Datetime),
        ])
    }

    fn sample() -> raw::Batch {
        let s = schema();
        let mut b = BatchBuilder::new(&s);
        for i in 0..10i64 {
            let text = "é".repeat(i as usize % 3);
            b.push_row(&[
                Value::Int(i - 5),
                Value::Float(i as f64 / 4.0),
                Value::Decimal2(Decimal2::from_hundredths(i * 101)),
                Value::Str(&text),
                Value::Bool(i % 3 == 0),
                Value::Datetime(Datetime::from_micros(i * 1_000_001)),
            ])
            .unwrap();
        }
        b.finish()
    }

    #[test]
    fn round_trips_every_type() {
        let batch = Batch::decode(schema(), sample()).unwrap();
        assert_eq!(batch.len(), 10);
        for row in batch.rows() {
            let i = row.index() as i64;
            assert_eq!(row.int("i").unwrap(), i - 5);
            assert_eq!(row.float("f").unwrap(), i as f64 / 4.0);
            assert_eq!(row.decimal2("d").unwrap().hundredths(), i * 101);
            assert_eq!(row.str("s").unwrap(), "é".repeat(i as usize % 3));
            assert_eq!(row.bool("b").unwrap(), i % 3 == 0);
            assert_eq!(row.datetime("t").unwrap().as_micros(), i * 1_000_001);
        }
        assert!(batch.row(10).is_none());
    }

    #[test]
    fn getters_name_the_field_on_mistakes() {
        let batch = Batch::decode(schema(), sample()).unwrap();
        let row = batch.row(0).unwrap();
        let e = row.int("s").unwrap_err();
        assert_eq!(e.field(), Some("s"));
        assert_eq!(e.message(), "`s` is a string, not an int");
        let e = row.str("nope").unwrap_err();
        assert!(e.message().contains("no field `nope`"), "{e}");
        assert!(e.message().contains("i, f, d, s, b, t"), "{e}");
        assert!(row.value_at(6).is_err());
        assert_eq!(row.value_at(0).unwrap(), Value::Int(-5));
    }

    #[test]
    fn nulls_read_as_zero_values() {
        let mut raw = sample();
        for c in &mut raw.columns {
            c.validity = Some(vec![0b1111_1110, 0b11]);
        }
        let batch = Batch::decode(schema(), raw).unwrap();
        let row = batch.row(0).unwrap();
        assert_eq!(row.int("i").unwrap(), 0);
        assert_eq!(row.str("s").unwrap(), "");
        assert_eq!(row.decimal2("d").unwrap(), Decimal2::ZERO);
        assert_eq!(batch.row(1).unwrap().int("i").unwrap(), -4);
    }

    fn decode_err(edit: impl FnOnce(&mut raw::Batch)) -> String {
        let mut raw = sample();
        edit(&mut raw);
        Batch::decode(schema(), raw).unwrap_err().to_string()
    }

    #[test]
    fn malformed_batches_are_errors() {
        type Edit = Box<dyn FnOnce(&mut raw::Batch)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|b| b.row_count = 11), "expected 88 for 11 rows"),
            (Box::new(|b| b.row_count = u32::MAX), "column 0 (`i`, int)"),
            (
                Box::new(|b| {
                    b.columns.pop();
                }),
                "5 columns for a schema of 6",
            ),
            (
                Box::new(|b| {
                    b.columns[0].values.pop();
                }),
                "values hold 79",
            ),
            (
                Box::new(|b| b.columns[4].values.push(0)),
                "column 4 (`b`, bool)",
            ),
            (Box::new(|b| b.columns[3].offsets = None), "needs offsets"),
            (
                Box::new(|b| b.columns[0].offsets = Some(vec![0; 44])),
                "only string",
            ),
            (Box::new(|b| b.columns[3].values[0] = 0xff), "not UTF-8"),
            (
                Box::new(|b| b.columns[1].validity = Some(vec![0])),
                "validity holds 1",
            ),
            (
                Box::new(|b| {
                    let o = b.columns[3].offsets.as_mut().unwrap();
                    o[4..8].copy_from_slice(&1u32.to_le_bytes());
                }),
                "inside a UTF-8 character",
            ),
            (
                Box::new(|b| {
                    let o = b.columns[3].offsets.as_mut().unwrap();
                    o[12..16].copy_from_slice(&0u32.to_le_bytes());
                }),
                "offset 3 (0) is below offset 2 (2)",
            ),
            (
                Box::new(|b| {
                    let o = b.columns[3].offsets.as_mut().unwrap();
                    o[40..44].copy_from_slice(&1000u32.to_le_bytes());
                }),
                "past the end of the text",
            ),
            (
                Box::new(|b| {
                    b.columns[3].offsets.as_mut().unwrap().pop();
                }),
                "offsets hold 43 bytes, expected 44",
            ),
        ];
        for (edit, want) in cases {
            let got = decode_err(edit);
            assert!(got.starts_with("malformed batch: "), "{got}");
            assert!(got.contains(want), "{got} should contain {want}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator: the codec must reject or accept, never panic.
        struct Rng(u64);
        impl Rng {
            fn next(&mut self) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0
            }
            fn bytes(&mut self, max: u64) -> Vec<u8> {
                let n = self.next() % max;
                (0..n).map(|_| self.next() as u8).collect()
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            let rows = (rng.next() % 5) as u32;
            let mut columns = Vec::new();
            for _ in 0..6 {
                let validity = rng.next().is_multiple_of(4).then(|| rng.bytes(3));
                let offsets = rng.next().is_multiple_of(2).then(|| rng.bytes(24));
                let values = rng.bytes(48);
                columns.push(raw::Column {
                    validity,
                    offsets,
                    values,
                });
            }
            if let Ok(b) = Batch::decode(
                schema(),
                raw::Batch {
                    row_count: rows,
                    columns,
                },
            ) {
                for row in b.rows() {
                    for c in 0..6 {
                        row.value_at(c).unwrap();
                    }
                }
            }
        }
    }
}
