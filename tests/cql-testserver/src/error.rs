//! Errors answered to the client as CQL `ERROR` frames.

/// A CQL error with its protocol code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code:#06x})")]
pub struct CqlError {
    /// The protocol error code (for example 0x2000 syntax error, 0x2200 invalid request).
    pub code: u32,
    /// The message, which names what is wrong or unsupported.
    pub message: String,
    /// Extra body bytes some codes carry (already exists, unprepared).
    pub extra: Vec<u8>,
}

/// Protocol error.
pub const PROTOCOL_ERROR: u32 = 0x000A;
/// Syntax error.
pub const SYNTAX_ERROR: u32 = 0x2000;
/// Invalid request.
pub const INVALID: u32 = 0x2200;
/// Already exists.
pub const ALREADY_EXISTS: u32 = 0x2400;
/// Unprepared statement.
pub const UNPREPARED: u32 = 0x2500;

impl CqlError {
    /// A syntax error.
    pub fn syntax(message: impl Into<String>) -> Self {
        Self {
            code: SYNTAX_ERROR,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    /// An invalid request.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: INVALID,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    /// A protocol error.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self {
            code: PROTOCOL_ERROR,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    /// A keyspace or table that already exists (`table` empty for a keyspace).
    pub fn already_exists(keyspace: &str, table: &str) -> Self {
        let mut extra = Vec::new();
        crate::frame::put_string(&mut extra, keyspace);
        crate::frame::put_string(&mut extra, table);
        let what = if table.is_empty() {
            format!("keyspace {keyspace}")
        } else {
            format!("table {keyspace}.{table}")
        };
        Self {
            code: ALREADY_EXISTS,
            message: format!("{what} already exists"),
            extra,
        }
    }

    /// An EXECUTE of an id the server does not know.
    pub fn unprepared(id: &[u8]) -> Self {
        let mut extra = Vec::new();
        crate::frame::put_short_bytes(&mut extra, id);
        Self {
            code: UNPREPARED,
            message: "prepared statement not found; prepare it again".into(),
            extra,
        }
    }
}
