//! The six column types of a Capillaries script.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A column type as written in scripts (`col_type`, `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// 64-bit signed integer.
    Int,
    /// 64-bit IEEE float.
    Float,
    /// Exact decimal kept at two decimal places.
    #[serde(rename = "decimal2")]
    Decimal2,
    /// UTF-8 text.
    String,
    /// Boolean.
    Bool,
    /// Instant with millisecond precision (stored as UTC).
    #[serde(rename = "datetime")]
    DateTime,
}

impl FieldType {
    /// All types, in the order they are documented.
    pub const ALL: [FieldType; 6] = [
        FieldType::Int,
        FieldType::Float,
        FieldType::Decimal2,
        FieldType::String,
        FieldType::Bool,
        FieldType::DateTime,
    ];

    /// Parses a script type name (`int`, `float`, `decimal2`, `string`, `bool`, `datetime`).
    pub fn parse(s: &str) -> Option<FieldType> {
        Some(match s {
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "decimal2" => FieldType::Decimal2,
            "string" => FieldType::String,
            "bool" => FieldType::Bool,
            "datetime" => FieldType::DateTime,
            _ => return None,
        })
    }

    /// The script spelling of this type.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Decimal2 => "decimal2",
            FieldType::String => "string",
            FieldType::Bool => "bool",
            FieldType::DateTime => "datetime",
        }
    }

    /// True for int, float and decimal2.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::Float | FieldType::Decimal2
        )
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
