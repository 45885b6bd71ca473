//! The two error levels a plugin reports: a failed open or batch, and a failed row.

use crate::__bindings::vessel::plugin::types as wit;
use std::fmt;

/// A failure of `open` or of a whole batch. (A panic is a third level: the host treats the
/// trap as fatal for the instance.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The node's parameters (`p`) are wrong. Returned by `open`, it is reported when the
    /// script is validated.
    InvalidParams(String),
    /// The input schema lacks something the plugin needs, or has it with another type.
    SchemaMismatch(String),
    /// This batch cannot be processed; the host fails it and may retry.
    Failed(String),
}

impl Error {
    /// [`Error::InvalidParams`] from anything printable.
    pub fn invalid_params(message: impl fmt::Display) -> Error {
        Error::InvalidParams(message.to_string())
    }

    /// [`Error::SchemaMismatch`] from anything printable.
    pub fn schema_mismatch(message: impl fmt::Display) -> Error {
        Error::SchemaMismatch(message.to_string())
    }

    /// [`Error::Failed`] from anything printable.
    pub fn failed(message: impl fmt::Display) -> Error {
        Error::Failed(message.to_string())
    }

    /// The message, without the level.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidParams(m) | Error::SchemaMismatch(m) | Error::Failed(m) => m,
        }
    }

    pub(crate) fn into_wit(self) -> wit::Error {
        match self {
            Error::InvalidParams(m) => wit::Error::InvalidParams(m),
            Error::SchemaMismatch(m) => wit::Error::SchemaMismatch(m),
            Error::Failed(m) => wit::Error::Failed(m),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self {
            Error::InvalidParams(_) => "invalid params",
            Error::SchemaMismatch(_) => "schema mismatch",
            Error::Failed(_) => "failed",
        };
        write!(f, "{level}: {}", self.message())
    }
}

impl std::error::Error for Error {}

/// A problem with one input row: the row produces no output and the host counts it (and
/// fails the batch only past the node's limit).
///
/// Row getters return it, so `?` inside `process_row` turns a missing or mistyped field into
/// a row error; [`RowError::new`] wraps any other error:
///
/// ```
/// use vessel_plugin::RowError;
/// let n: Result<i64, RowError> = "12x".parse::<i64>().map_err(RowError::new);
/// assert_eq!(n.unwrap_err().message(), "invalid digit found in string");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    field: Option<String>,
    message: String,
}

impl RowError {
    /// A row error with a message.
    pub fn new(message: impl fmt::Display) -> RowError {
        RowError {
            field: None,
            message: message.to_string(),
        }
    }

    /// A row error about one field (its name without prefix).
    pub fn for_field(field: impl Into<String>, message: impl fmt::Display) -> RowError {
        RowError {
            field: Some(field.into()),
            message: message.to_string(),
        }
    }

    /// The field concerned, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn into_wit(self, row: u32) -> wit::RowError {
        wit::RowError {
            row,
            field: self.field,
            message: self.message,
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for RowError {}

impl From<String> for RowError {
    fn from(message: String) -> RowError {
        RowError::new(message)
    }
}

impl From<&str> for RowError {
    fn from(message: &str) -> RowError {
        RowError::new(message)
    }
}
