//! Field types, fields and schemas as plugins see them.

use crate::__bindings::vessel::plugin::types as wit;
use std::fmt;

/// The logical type of a field, as in Capillaries scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// 64-bit signed integer ([`i64`]).
    Int,
    /// 64-bit IEEE float ([`f64`]).
    Float,
    /// Decimal with two places ([`Decimal2`](crate::Decimal2)).
    Decimal2,
    /// UTF-8 text.
    String,
    /// True or false.
    Bool,
    /// A point in time ([`Datetime`](crate::Datetime)).
    Datetime,
}

impl FieldType {
    /// The script spelling: `int`, `float`, `decimal2`, `string`, `bool`, `datetime`.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Decimal2 => "decimal2",
            FieldType::String => "string",
            FieldType::Bool => "bool",
            FieldType::Datetime => "datetime",
        }
    }

    /// Parses the script spelling; `None` for anything else.
    pub fn parse(name: &str) -> Option<FieldType> {
        Some(match name {
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "decimal2" => FieldType::Decimal2,
            "string" => FieldType::String,
            "bool" => FieldType::Bool,
            "datetime" => FieldType::Datetime,
            _ => return None,
        })
    }

    /// The name with its article, for messages: `an int`, `a string`.
    pub(crate) fn with_article(self) -> &'static str {
        match self {
            FieldType::Int => "an int",
            FieldType::Float => "a float",
            FieldType::Decimal2 => "a decimal2",
            FieldType::String => "a string",
            FieldType::Bool => "a bool",
            FieldType::Datetime => "a datetime",
        }
    }

    pub(crate) fn from_wit(t: wit::FieldType) -> FieldType {
        match t {
            wit::FieldType::Int => FieldType::Int,
            wit::FieldType::Float => FieldType::Float,
            wit::FieldType::Decimal2 => FieldType::Decimal2,
            wit::FieldType::String => FieldType::String,
            wit::FieldType::Bool => FieldType::Bool,
            wit::FieldType::Datetime => FieldType::Datetime,
        }
    }

    pub(crate) fn to_wit(self) -> wit::FieldType {
        match self {
            FieldType::Int => wit::FieldType::Int,
            FieldType::Float => wit::FieldType::Float,
            FieldType::Decimal2 => wit::FieldType::Decimal2,
            FieldType::String => wit::FieldType::String,
            FieldType::Bool => wit::FieldType::Bool,
            FieldType::Datetime => wit::FieldType::Datetime,
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One named, typed field. The name carries no prefix: `price` is `r.price` in an input
/// schema and `p.price` in an output schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Logical type.
    pub ty: FieldType,
}

impl Field {
    /// A field.
    pub fn new(name: impl Into<String>, ty: FieldType) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }
}

/// Fields in order: the columns of a batch follow it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    fields: Vec<Field>,
}

impl Schema {
    /// A schema from fields, in column order.
    pub fn new(fields: Vec<Field>) -> Schema {
        Schema { fields }
    }

    /// The fields, in column order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Column index of a field.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// A field by name.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The names, comma-separated, for messages.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
        names.join(", ")
    }

    pub(crate) fn from_wit(fields: Vec<wit::Field>) -> Schema {
        Schema {
            fields: fields
                .into_iter()
                .map(|f| Field {
                    name: f.name,
                    ty: FieldType::from_wit(f.ty),
                })
                .collect(),
        }
    }

    pub(crate) fn to_wit(&self) -> Vec<wit::Field> {
        self.fields
            .iter()
            .map(|f| wit::Field {
                name: f.name.clone(),
                ty: f.ty.to_wit(),
            })
            .collect()
    }
}

impl FromIterator<Field> for Schema {
    fn from_iter<I: IntoIterator<Item = Field>>(iter: I) -> Schema {
        Schema {
            fields: iter.into_iter().collect(),
        }
    }
}

impl<'a> IntoIterator for &'a Schema {
    type Item = &'a Field;
    type IntoIter = std::slice::Iter<'a, Field>;
    fn into_iter(self) -> Self::IntoIter {
        self.fields.iter()
    }
}
