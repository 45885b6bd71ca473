//! SQL helpers: identifier quoting, column types, value decoding and error mapping.

use rusqlite::ErrorCode;
use rusqlite::types::ValueRef;
use std::fmt::Display;
use vessel_core::{FieldType, Value, decimal, time};
use vessel_store::StoreError;

/// Quotes an identifier for SQLite (`"name"`, inner quotes doubled), so that any table, index or
/// field name of a script is safe in SQL text.
pub(crate) fn quote(ident: &str) -> String {
    let mut s = String::with_capacity(ident.len() + 2);
    s.push('"');
    for c in ident.chars() {
        if c == '"' {
            s.push('"');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Declared SQL type of a column of field type `t`.
///
/// Every type is stored with INTEGER or TEXT storage class (float as its IEEE 754 bits,
/// decimal2 as cents, bool as 0/1, datetime as UTC milliseconds). The declared names differ so
/// that the table says what it holds (`sqlite3 file .schema` is readable on its own) and so that
/// a reader asking for another type than was written gets an error instead of reinterpreted
/// numbers. Every name containing `INT` gets INTEGER affinity.
///
/// Floats are not stored as REAL because SQLite does not keep every double: it writes NaN as
/// NULL and may store an integral REAL such as -0.0 as the integer 0, which reads back as +0.0.
/// The bits keep NaN (with its payload), ±Inf, -0.0 and subnormals exactly. No SQL compares or
/// orders float columns (ordering uses the index keys), so the bits never need to sort.
pub(crate) fn decl_type(t: FieldType) -> &'static str {
    match t {
        FieldType::Int => "INTEGER",
        FieldType::Float => "INTEGER_F64_BITS",
        FieldType::Decimal2 => "INTEGER_CENTS",
        FieldType::String => "TEXT",
        FieldType::Bool => "INTEGER_BOOL",
        FieldType::DateTime => "INTEGER_MS",
    }
}

/// Inverse of [`decl_type`] (case-insensitive); `None` for a type Vessel does not write.
pub(crate) fn field_type_of_decl(decl: &str) -> Option<FieldType> {
    FieldType::ALL
        .into_iter()
        .find(|t| decl_type(*t).eq_ignore_ascii_case(decl))
}

/// Decodes a stored value as field type `t`; `None` when the storage class does not fit.
///
/// NULLs cannot be written by Vessel and read as the type's zero value, Capillaries' stand-in
/// for a missing value.
pub(crate) fn decode(t: FieldType, v: ValueRef<'_>) -> Option<Value> {
    Some(match (t, v) {
        (FieldType::Int, ValueRef::Integer(i)) => Value::Int(i),
        (FieldType::Float, ValueRef::Integer(bits)) => Value::Float(float_of_bits(bits)),
        (FieldType::Decimal2, ValueRef::Integer(c)) => Value::Decimal(decimal::from_cents(c)),
        (FieldType::String, ValueRef::Text(s)) => Value::Str(std::str::from_utf8(s).ok()?.into()),
        (FieldType::Bool, ValueRef::Integer(b)) => Value::Bool(b != 0),
        (FieldType::DateTime, ValueRef::Integer(ms)) => Value::DateTime(time::from_millis(ms)),
        (t, ValueRef::Null) => Value::zero(t),
        _ => return None,
    })
}

/// The stored form of a float: its IEEE 754 bits as a signed integer.
pub(crate) fn float_bits(f: f64) -> i64 {
    i64::from_ne_bytes(f.to_bits().to_ne_bytes())
}

/// Inverse of [`float_bits`].
pub(crate) fn float_of_bits(bits: i64) -> f64 {
    f64::from_bits(u64::from_ne_bytes(bits.to_ne_bytes()))
}

/// Whether an error means the database stayed locked by another connection or process for the
/// whole busy timeout.
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Whether an error comes from the machine rather than from the request: a full disk
/// (`SQLITE_FULL`), an I/O error (`SQLITE_IOERR_*`), a file that cannot be opened
/// (`SQLITE_CANTOPEN`) or written (`SQLITE_READONLY_*`), a file too large for the file
/// system (`SQLITE_NOLFS`).
pub(crate) fn is_environmental(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::NoLargeFileSupport
        )
    )
}

/// Maps a SQLite error to a [`StoreError`], saying what was being done: lock timeouts become
/// [`StoreError::Unavailable`] (retrying later may succeed), failures of the machine
/// [`StoreError::Environment`] (the run must stay resumable), the rest [`StoreError::Backend`].
pub(crate) fn db_err(what: impl Display) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| {
        if is_busy(&e) {
            StoreError::Unavailable(format!(
                "{what}: the SQLite file stayed locked by another writer ({e}); retry later"
            ))
        } else if is_environmental(&e) {
            StoreError::Environment(format!("{what}: {e}"))
        } else {
            StoreError::Backend(format!("{what}: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_inner_quotes() {
        assert_eq!(quote("orders_00001"), "\"orders_00001\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn declared_types_round_trip() {
        for t in FieldType::ALL {
            assert_eq!(field_type_of_decl(decl_type(t)), Some(t));
            assert!(decl_type(t) == "TEXT" || decl_type(t).contains("INT"));
        }
        assert_eq!(
            field_type_of_decl("integer_cents"),
            Some(FieldType::Decimal2)
        );
        assert_eq!(field_type_of_decl("BLOB"), None);
        // Tables of older versions stored floats as REAL, which loses -0.0 and NaN.
        assert_eq!(field_type_of_decl("REAL"), None);
    }

    #[test]
    fn errors_of_the_machine_are_environmental() {
        let sqlite = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        for code in [
            rusqlite::ffi::SQLITE_FULL,
            rusqlite::ffi::SQLITE_IOERR_WRITE,
            rusqlite::ffi::SQLITE_IOERR_FSYNC,
            rusqlite::ffi::SQLITE_CANTOPEN,
            rusqlite::ffi::SQLITE_READONLY,
        ] {
            let e = db_err("writing to 't'")(sqlite(code));
            assert!(e.is_environmental(), "code {code}: {e:?}");
            assert!(!e.is_transient());
        }
        let full = db_err("writing to 't'")(sqlite(rusqlite::ffi::SQLITE_FULL)).to_string();
        assert!(full.contains("database or disk is full"), "{full}");
        let busy = db_err("w")(sqlite(rusqlite::ffi::SQLITE_BUSY));
        assert!(busy.is_transient() && !busy.is_environmental());
        let constraint = db_err("w")(sqlite(rusqlite::ffi::SQLITE_CONSTRAINT));
        assert!(matches!(constraint, StoreError::Backend(_)));
    }

    #[test]
    fn decoding_follows_the_requested_type() {
        assert_eq!(
            decode(FieldType::Decimal2, ValueRef::Integer(-1)),
            Some(Value::Decimal(decimal::from_cents(-1)))
        );
        assert_eq!(
            decode(FieldType::Bool, ValueRef::Integer(1)),
            Some(Value::Bool(true))
        );
        assert_eq!(
            decode(FieldType::Float, ValueRef::Integer(float_bits(-0.0))),
            Some(Value::Float(-0.0))
        );
        assert_eq!(decode(FieldType::Float, ValueRef::Real(1.5)), None);
        assert_eq!(decode(FieldType::Int, ValueRef::Text(b"1")), None);
    }
}
