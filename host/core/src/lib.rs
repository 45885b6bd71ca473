//! Values, types and columnar row sets shared by every Vessel crate.
//!
//! Capillaries has no NULLs: every column holds one of six types and a missing value becomes the
//! type's zero value (or a configured default). This crate holds those types, the exact decimal2
//! rules (round half away from zero to two places), the millisecond datetime model and the
//! columnar [`RowSet`] in which rows travel between storage, expressions and plugins.
//!
//! ```
//! use vessel_core::{FieldType, Value, decimal};
//! let price = decimal::from_f64_shortest(28.5)?;
//! let v = Value::Decimal(decimal::round2(price * decimal::from_f64_shortest(1.1)?));
//! assert_eq!(v.to_string(), "31.35");
//! assert_eq!(FieldType::parse("decimal2"), Some(FieldType::Decimal2));
//! // decimal2 is a 64-bit count of hundredths: beyond that is an error, never a clamp.
//! assert!(decimal::check(decimal::MAX + decimal::round2(1.into())).is_err());
//! # Ok::<(), decimal::DecimalError>(())
//! ```

pub mod decimal;
pub mod gofmt;
pub mod gotime;
pub mod rowset;
pub mod time;
mod types;
mod value;

pub use rowset::{Column, RowSet, Schema};
pub use types::FieldType;
pub use value::Value;

/// Re-exported so that every crate names the same decimal and datetime types.
pub use chrono;
pub use rust_decimal;
/// Decimal number used for `decimal2` values (exact, rounded to 2 places on arithmetic and write).
pub use rust_decimal::Decimal;
/// Datetime used for `datetime` values: an instant with the offset it was parsed or built with.
pub type DateTime = chrono::DateTime<chrono::FixedOffset>;
