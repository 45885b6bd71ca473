//! Columnar row sets: one typed vector per column, the unit rows travel in.

use crate::{DateTime, Decimal, FieldType, Value};
use std::sync::Arc;

/// Names and types of the columns of a [`RowSet`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schema {
    fields: Vec<(String, FieldType)>,
}

impl Schema {
    /// Builds a schema from `(name, type)` pairs, in column order.
    pub fn new(fields: Vec<(String, FieldType)>) -> Schema {
        Schema { fields }
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Column position of `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|(n, _)| n == name)
    }

    /// `(name, type)` pairs in column order.
    pub fn fields(&self) -> &[(String, FieldType)] {
        &self.fields
    }

    /// Name of column `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.fields[i].0
    }

    /// Type of column `i`.
    pub fn field_type(&self, i: usize) -> FieldType {
        self.fields[i].1
    }
}

/// One column's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// `int` values.
    Int(Vec<i64>),
    /// `float` values.
    Float(Vec<f64>),
    /// `decimal2` values.
    Decimal(Vec<Decimal>),
    /// `string` values.
    Str(Vec<String>),
    /// `bool` values.
    Bool(Vec<bool>),
    /// `datetime` values.
    DateTime(Vec<DateTime>),
}

impl Column {
    /// An empty column of type `t` with room for `cap` values.
    pub fn with_capacity(t: FieldType, cap: usize) -> Column {
        match t {
            FieldType::Int => Column::Int(Vec::with_capacity(cap)),
            FieldType::Float => Column::Float(Vec::with_capacity(cap)),
            FieldType::Decimal2 => Column::Decimal(Vec::with_capacity(cap)),
            FieldType::String => Column::Str(Vec::with_capacity(cap)),
            FieldType::Bool => Column::Bool(Vec::with_capacity(cap)),
            FieldType::DateTime => Column::DateTime(Vec::with_capacity(cap)),
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Column::Int(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::Decimal(v) => v.len(),
            Column::Str(v) => v.len(),
            Column::Bool(v) => v.len(),
            Column::DateTime(v) => v.len(),
        }
    }

    /// True when the column holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Type of the values.
    pub fn field_type(&self) -> FieldType {
        match self {
            Column::Int(_) => FieldType::Int,
            Column::Float(_) => FieldType::Float,
            Column::Decimal(_) => FieldType::Decimal2,
            Column::Str(_) => FieldType::String,
            Column::Bool(_) => FieldType::Bool,
            Column::DateTime(_) => FieldType::DateTime,
        }
    }

    /// Value at row `i` (cloned).
    pub fn get(&self, i: usize) -> Value {
        match self {
            Column::Int(v) => Value::Int(v[i]),
            Column::Float(v) => Value::Float(v[i]),
            Column::Decimal(v) => Value::Decimal(v[i]),
            Column::Str(v) => Value::Str(v[i].clone()),
            Column::Bool(v) => Value::Bool(v[i]),
            Column::DateTime(v) => Value::DateTime(v[i]),
        }
    }

    /// Appends a value; a value of another type appends the column type's zero instead and
    /// returns false (callers type-check before pushing, so this only guards invariants).
    pub fn push(&mut self, value: Value) -> bool {
        match (self, value) {
            (Column::Int(v), Value::Int(x)) => v.push(x),
            (Column::Float(v), Value::Float(x)) => v.push(x),
            (Column::Decimal(v), Value::Decimal(x)) => v.push(x),
            (Column::Str(v), Value::Str(x)) => v.push(x),
            (Column::Bool(v), Value::Bool(x)) => v.push(x),
            (Column::DateTime(v), Value::DateTime(x)) => v.push(x),
            (col, _) => {
                let t = col.field_type();
                col.push(Value::zero(t));
                return false;
            }
        }
        true
    }
}

/// Rows in columnar form: a shared schema and one [`Column`] per schema field.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSet {
    schema: Arc<Schema>,
    columns: Vec<Column>,
}

impl RowSet {
    /// An empty row set for `schema`.
    pub fn new(schema: Arc<Schema>) -> RowSet {
        RowSet::with_capacity(schema, 0)
    }

    /// An empty row set with room for `cap` rows.
    pub fn with_capacity(schema: Arc<Schema>, cap: usize) -> RowSet {
        let columns = schema
            .fields()
            .iter()
            .map(|(_, t)| Column::with_capacity(*t, cap))
            .collect();
        RowSet { schema, columns }
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Column `i`.
    pub fn column(&self, i: usize) -> &Column {
        &self.columns[i]
    }

    /// All columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Value of column `col` at row `row`.
    pub fn get(&self, row: usize, col: usize) -> Value {
        self.columns[col].get(row)
    }

    /// Appends one row given in schema order.
    ///
    /// # Panics
    /// Panics in debug builds when the row length or a value type does not match the schema;
    /// callers build rows from the same schema.
    pub fn push_row(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len());
        for (c, v) in self.columns.iter_mut().zip(row) {
            let ok = c.push(v);
            debug_assert!(ok, "value type does not match the column type");
        }
    }

    /// Row `i` as values in schema order.
    pub fn row(&self, i: usize) -> Vec<Value> {
        self.columns.iter().map(|c| c.get(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_read_rows() {
        let schema = Arc::new(Schema::new(vec![
            ("id".into(), FieldType::Int),
            ("name".into(), FieldType::String),
        ]));
        let mut rs = RowSet::new(schema);
        rs.push_row(vec![Value::Int(1), Value::Str("a".into())]);
        rs.push_row(vec![Value::Int(2), Value::Str("b".into())]);
        assert_eq!(rs.len(), 2);
        assert_eq!(rs.get(1, 1), Value::Str("b".into()));
        assert_eq!(rs.row(0), vec![Value::Int(1), Value::Str("a".into())]);
        assert_eq!(rs.schema().index_of("name"), Some(1));
    }
}
