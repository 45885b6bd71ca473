//! Encoding typed values into column buffers (the inverse of [`crate::Batch::decode`]).

use crate::raw;
use crate::{FieldType, Schema, Value};
use std::fmt;

/// A value does not fit the column it is written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// Appends the values of one column, of one type, into Arrow-layout buffers.
///
/// ```
/// use vessel_plugin::{ColumnBuilder, FieldType, Value};
/// let mut c = ColumnBuilder::new(FieldType::String);
/// c.push(Value::Str("a"))?;
/// c.push(Value::Str("bc"))?;
/// let raw = c.finish();
/// assert_eq!(raw.values, b"abc");
/// assert_eq!(raw.offsets.unwrap(), [0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0]);
/// # Ok::<(), vessel_plugin::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ColumnBuilder {
    ty: FieldType,
    rows: usize,
    values: Vec<u8>,
    /// String columns: `rows + 1` u32 offsets, starting with 0.
    offsets: Vec<u8>,
}

impl ColumnBuilder {
    /// An empty column of type `ty`.
    pub fn new(ty: FieldType) -> ColumnBuilder {
        ColumnBuilder::with_capacity(ty, 0)
    }

    /// An empty column with room for `rows` values (and, for strings, their offsets).
    pub fn with_capacity(ty: FieldType, rows: usize) -> ColumnBuilder {
        let (values, offsets) = match ty {
            FieldType::String => {
                let mut o = Vec::with_capacity((rows + 1) * 4);
                o.extend_from_slice(&0u32.to_le_bytes());
                (Vec::with_capacity(rows * 8), o)
            }
            FieldType::Bool => (Vec::with_capacity(rows.div_ceil(8)), Vec::new()),
            _ => (Vec::with_capacity(rows * 8), Vec::new()),
        };
        ColumnBuilder {
            ty,
            rows: 0,
            values,
            offsets,
        }
    }

    /// The column's type.
    pub fn field_type(&self) -> FieldType {
        self.ty
    }

    /// Number of values so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no value was pushed.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends a value.
    ///
    /// # Errors
    /// When the value is of another type than the column, or the text of a string column
    /// would exceed 4 GiB (offsets are u32).
    pub fn push(&mut self, v: Value<'_>) -> Result<(), BuildError> {
        match (self.ty, v) {
            (FieldType::Int, Value::Int(x)) => self.values.extend_from_slice(&x.to_le_bytes()),
            (FieldType::Float, Value::Float(x)) => self.values.extend_from_slice(&x.to_le_bytes()),
            (FieldType::Decimal2, Value::Decimal2(x)) => {
                self.values.extend_from_slice(&x.hundredths().to_le_bytes())
            }
            (FieldType::Datetime, Value::Datetime(x)) => {
                self.values.extend_from_slice(&x.as_micros().to_le_bytes())
            }
            (FieldType::Bool, Value::Bool(x)) => {
                if self.rows.is_multiple_of(8) {
                    self.values.push(0);
                }
                if x && let Some(last) = self.values.last_mut() {
                    *last |= 1 << (self.rows % 8);
                }
            }
            (FieldType::String, Value::Str(s)) => {
                let end = u32::try_from(self.values.len() + s.len()).map_err(|_| {
                    BuildError("a string column cannot hold more than 4 GiB of text".into())
                })?;
                self.values.extend_from_slice(s.as_bytes());
                self.offsets.extend_from_slice(&end.to_le_bytes());
            }
            (ty, v) => {
                return Err(BuildError(format!(
                    "{} value cannot go into {} column",
                    v.field_type().with_article(),
                    ty.with_article()
                )));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Appends the zero value of the column's type (`0`, `0.0`, `0.00`, `""`, `false`, the
    /// epoch).
    pub fn push_zero(&mut self) {
        // Cannot fail: the zero value has the column's type and adds no text.
        let _ = self.push(crate::batch::zero(self.ty));
    }

    /// Drops the values after the first `rows` (no-op when there are fewer).
    pub(crate) fn truncate(&mut self, rows: usize) {
        if rows >= self.rows {
            return;
        }
        match self.ty {
            FieldType::String => {
                self.offsets.truncate((rows + 1) * 4);
                let end = self
                    .offsets
                    .get(rows * 4..rows * 4 + 4)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, |b: [u8; 4]| u32::from_le_bytes(b) as usize);
                self.values.truncate(end);
            }
            FieldType::Bool => {
                self.values.truncate(rows.div_ceil(8));
                if !rows.is_multiple_of(8)
                    && let Some(last) = self.values.last_mut()
                {
                    *last &= (1u8 << (rows % 8)) - 1;
                }
            }
            _ => self.values.truncate(rows * 8),
        }
        self.rows = rows;
    }

    /// The finished column.
    pub fn finish(self) -> raw::Column {
        raw::Column {
            validity: None,
            offsets: (self.ty == FieldType::String).then_some(self.offsets),
            values: self.values,
        }
    }
}

/// Builds a whole batch row by row, for tests and tools (processors write their output
/// through [`Emit`](crate::Emit) instead).
///
/// ```
/// use vessel_plugin::{BatchBuilder, Field, FieldType, Schema, Value};
/// let schema = Schema::new(vec![Field::new("n", FieldType::Int)]);
/// let mut b = BatchBuilder::new(&schema);
/// b.push_row(&[Value::Int(7)])?;
/// assert!(b.push_row(&[Value::Str("x")]).is_err());
/// let raw = b.finish();
/// assert_eq!(raw.row_count, 1);
/// # Ok::<(), vessel_plugin::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    schema: Schema,
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

impl BatchBuilder {
    /// An empty batch of `schema`.
    pub fn new(schema: &Schema) -> BatchBuilder {
        BatchBuilder {
            schema: schema.clone(),
            columns: schema
                .fields()
                .iter()
                .map(|f| ColumnBuilder::new(f.ty))
                .collect(),
            rows: 0,
        }
    }

    /// Number of rows so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row was pushed.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one row, one value per field in schema order; nothing is appended on error.
    ///
    /// # Errors
    /// When the number of values differs from the schema or a value has the wrong type.
    pub fn push_row(&mut self, values: &[Value<'_>]) -> Result<(), BuildError> {
        if values.len() != self.columns.len() {
            return Err(BuildError(format!(
                "{} values for a schema of {} fields ({})",
                values.len(),
                self.columns.len(),
                self.schema.names()
            )));
        }
        for (i, v) in values.iter().enumerate() {
            if let Err(e) = self.columns[i].push(*v) {
                for c in &mut self.columns[..i] {
                    c.truncate(self.rows);
                }
                let name = &self.schema.fields()[i].name;
                return Err(BuildError(format!("field `{name}`: {e}")));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The finished batch.
    pub fn finish(self) -> raw::Batch {
        raw::Batch {
            // Output row counts are bounded by what the host accepts (far below 2^32).
            row_count: u32::try_from(self.rows).unwrap_or(u32::MAX),
            columns: self
                .columns
                .into_iter()
                .map(ColumnBuilder::finish)
                .collect(),
        }
    }
}

/// A growing bitmap (keep bits), least significant bit first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bitmap {
    bytes: Vec<u8>,
    len: usize,
}

impl Bitmap {
    pub(crate) fn with_capacity(bits: usize) -> Bitmap {
        Bitmap {
            bytes: Vec::with_capacity(bits.div_ceil(8)),
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit && let Some(last) = self.bytes.last_mut() {
            *last |= 1 << (self.len % 8);
        }
        self.len += 1;
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, Datetime, Decimal2, Field};

    #[test]
    fn layouts_match_the_wit_contract() {
        let mut i = ColumnBuilder::new(FieldType::Int);
        i.push(Value::Int(-2)).unwrap();
        assert_eq!(i.finish().values, (-2i64).to_le_bytes());

        let mut d = ColumnBuilder::new(FieldType::Decimal2);
        d.push(Value::Decimal2(Decimal2::from_hundredths(1230)))
            .unwrap();
        assert_eq!(d.finish().values, 1230i64.to_le_bytes());

        let mut t = ColumnBuilder::new(FieldType::Datetime);
        t.push(Value::Datetime(Datetime::from_micros(5))).unwrap();
        assert_eq!(t.finish().values, 5i64.to_le_bytes());

        let mut f = ColumnBuilder::new(FieldType::Float);
        f.push(Value::Float(1.5)).unwrap();
        let f = f.finish();
        assert_eq!(f.values, 1.5f64.to_le_bytes());
        assert!(f.offsets.is_none() && f.validity.is_none());

        let mut b = ColumnBuilder::new(FieldType::Bool);
        for x in [true, false, true, true, false, false, false, false, true] {
            b.push(Value::Bool(x)).unwrap();
        }
        assert_eq!(b.finish().values, [0b0000_1101, 0b1]);
    }

    #[test]
    fn truncation_undoes_pushes() {
        let mut s = ColumnBuilder::new(FieldType::String);
        let mut b = ColumnBuilder::new(FieldType::Bool);
        for (i, t) in ["ab", "", "cde", "f"].iter().enumerate() {
            s.push(Value::Str(t)).unwrap();
            b.push(Value::Bool(i != 1)).unwrap();
        }
        s.truncate(2);
        b.truncate(2);
        s.push(Value::Str("xy")).unwrap();
        b.push(Value::Bool(false)).unwrap();
        let schema = Schema::new(vec![
            Field::new("s", FieldType::String),
            Field::new("b", FieldType::Bool),
        ]);
        let batch = Batch::decode(
            schema,
            raw::Batch {
                row_count: 3,
                columns: vec![s.finish(), b.finish()],
            },
        )
        .unwrap();
        let got: Vec<(String, bool)> = batch
            .rows()
            .map(|r| (r.str("s").unwrap().to_string(), r.bool("b").unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("ab".into(), true),
                ("".into(), false),
                ("xy".into(), false)
            ]
        );
    }

    #[test]
    fn wrong_rows_leave_the_batch_unchanged() {
        let schema = Schema::new(vec![
            Field::new("n", FieldType::Int),
            Field::new("s", FieldType::String),
        ]);
        let mut b = BatchBuilder::new(&schema);
        b.push_row(&[Value::Int(1), Value::Str("a")]).unwrap();
        let e = b.push_row(&[Value::Int(2), Value::Int(3)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `s`: an int value cannot go into a string column"
        );
        let e = b.push_row(&[Value::Int(2)]).unwrap_err();
        assert_eq!(e.to_string(), "1 values for a schema of 2 fields (n, s)");
        let batch = Batch::decode(schema, b.finish()).unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.row(0).unwrap().int("n").unwrap(), 1);
    }

    #[test]
    fn bitmaps_pack_lsb_first() {
        let mut m = Bitmap::with_capacity(10);
        for i in 0..10 {
            m.push(i % 3 == 0);
        }
        assert_eq!(m.into_bytes(), [0b0100_1001, 0b10]);
    }
}
