//! Function plugins: scalar functions that script expressions call, evaluated a column at a
//! time. Authors write plain Rust functions; [`#[functions]`](crate::functions) maps their
//! argument and result types through [`FnArg`] and [`FnResult`].

use crate::__bindings::vessel::plugin::types as wit;
use crate::batch::{Batch, Row};
use crate::builder::ColumnBuilder;
use crate::{Datetime, Decimal2, Error, Field, FieldType, Schema, Value};
use std::fmt;

/// A Rust type a function can take: `i64`, `f64`, [`Decimal2`], `&str`, `String`, `bool`,
/// [`Datetime`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the argument of an expression function",
    label = "use i64, f64, Decimal2, bool, Datetime, &str or String"
)]
pub trait FnArg<'a>: Sized {
    /// The script type of the argument.
    const TYPE: FieldType;
    /// The argument from a value of [`FnArg::TYPE`]; `None` for any other type.
    fn from_value(v: Value<'a>) -> Option<Self>;
}

/// A Rust type a function can return: the argument types (with `String` for text), or a
/// `Result` of one of them whose error is printable (it fails the call).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of an expression function",
    label = "return i64, f64, Decimal2, bool, Datetime, String or &'static str, or a Result of one"
)]
pub trait FnResult {
    /// The script type of the result.
    const TYPE: FieldType;
    /// Appends the result to the output column.
    ///
    /// # Errors
    /// The function's own error, as text.
    fn push_to(self, out: &mut ColumnBuilder) -> Result<(), String>;
}

macro_rules! scalar {
    ($t:ty, $ft:ident, $variant:ident) => {
        impl FnArg<'_> for $t {
            const TYPE: FieldType = FieldType::$ft;
            fn from_value(v: Value<'_>) -> Option<Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
        impl FnResult for $t {
            const TYPE: FieldType = FieldType::$ft;
            fn push_to(self, out: &mut ColumnBuilder) -> Result<(), String> {
                out.push(Value::$variant(self)).map_err(|e| e.to_string())
            }
        }
    };
}

scalar!(i64, Int, Int);
scalar!(f64, Float, Float);
scalar!(Decimal2, Decimal2, Decimal2);
scalar!(bool, Bool, Bool);
scalar!(Datetime, Datetime, Datetime);

impl<'a> FnArg<'a> for &'a str {
    const TYPE: FieldType = FieldType::String;
    fn from_value(v: Value<'a>) -> Option<Self> {
        match v {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl FnArg<'_> for String {
    const TYPE: FieldType = FieldType::String;
    fn from_value(v: Value<'_>) -> Option<Self> {
        match v {
            Value::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }
}

impl FnResult for String {
    const TYPE: FieldType = FieldType::String;
    fn push_to(self, out: &mut ColumnBuilder) -> Result<(), String> {
        out.push(Value::Str(&self)).map_err(|e| e.to_string())
    }
}

impl FnResult for &str {
    const TYPE: FieldType = FieldType::String;
    fn push_to(self, out: &mut ColumnBuilder) -> Result<(), String> {
        out.push(Value::Str(self)).map_err(|e| e.to_string())
    }
}

impl<T: FnResult, E: fmt::Display> FnResult for Result<T, E> {
    const TYPE: FieldType = T::TYPE;
    fn push_to(self, out: &mut ColumnBuilder) -> Result<(), String> {
        self.map_err(|e| e.to_string())?.push_to(out)
    }
}

/// One exported function, as `list-functions` reports it.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: &'static str,
    pub params: &'static [FieldType],
    pub returns: FieldType,
    pub description: &'static str,
}

impl Signature {
    /// The parameter types in wire form.
    pub fn params_wit(&self) -> Vec<wit::FieldType> {
        self.params.iter().map(|t| t.to_wit()).collect()
    }

    /// The result type in wire form.
    pub fn returns_wit(&self) -> wit::FieldType {
        self.returns.to_wit()
    }
}

/// Decodes the argument columns of a call to `sig`.
///
/// # Errors
/// [`Error::Failed`] naming the function when the columns do not match its parameters.
#[doc(hidden)]
pub fn decode_args(
    sig: &Signature,
    args: Vec<wit::Column>,
    rows: u32,
) -> Result<Batch, wit::Error> {
    if args.len() != sig.params.len() {
        return Err(Error::failed(format!(
            "function `{}` takes {} arguments, the call passed {}",
            sig.name,
            sig.params.len(),
            args.len()
        ))
        .into_wit());
    }
    let schema: Schema = sig
        .params
        .iter()
        .enumerate()
        .map(|(i, t)| Field::new(format!("argument {}", i + 1), *t))
        .collect();
    Batch::decode(
        schema,
        wit::Batch {
            row_count: rows,
            columns: args,
        },
    )
    .map_err(|e| Error::failed(format!("function `{}`: {e}", sig.name)).into_wit())
}

/// Argument `index` of a row of [`decode_args`]'s batch.
///
/// # Errors
/// Only if the batch was not decoded for this signature (a bug in the glue).
#[doc(hidden)]
pub fn arg<'a, T: FnArg<'a>>(row: &Row<'a>, index: usize) -> Result<T, wit::Error> {
    row.value_at(index)
        .ok()
        .and_then(T::from_value)
        .ok_or_else(|| {
            Error::failed(format!(
                "argument {} of row {} is not {}",
                index + 1,
                row.index(),
                T::TYPE.with_article()
            ))
            .into_wit()
        })
}

/// Appends one result, turning a function's error into a failed call naming the row.
///
/// # Errors
/// [`Error::Failed`]: `function `name`, row N: message`.
#[doc(hidden)]
pub fn push_result<R: FnResult>(
    sig: &Signature,
    out: &mut ColumnBuilder,
    row: usize,
    result: R,
) -> Result<(), wit::Error> {
    result
        .push_to(out)
        .map_err(|e| Error::failed(format!("function `{}`, row {row}: {e}", sig.name)).into_wit())
}

/// The error for a call to a function the component does not export.
#[doc(hidden)]
pub fn unknown_function(name: &str, known: &[Signature]) -> wit::Error {
    let names: Vec<&str> = known.iter().map(|s| s.name).collect();
    Error::failed(format!(
        "no function `{name}` in this component; it has {}",
        names.join(", ")
    ))
    .into_wit()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: Signature = Signature {
        name: "scale",
        params: &[FieldType::Decimal2, FieldType::String],
        returns: FieldType::Decimal2,
        description: "",
    };

    fn call(args: Vec<wit::Column>, rows: u32) -> Result<wit::Column, wit::Error> {
        let batch = decode_args(&SIG, args, rows)?;
        let mut out = ColumnBuilder::with_capacity(SIG.returns, batch.len());
        for row in batch.rows() {
            let d: Decimal2 = arg(&row, 0)?;
            let unit: &str = arg(&row, 1)?;
            let r: Result<Decimal2, String> = match unit {
                "x10" => Ok(Decimal2::from_hundredths(d.hundredths() * 10)),
                u => Err(format!("unknown unit {u:?}")),
            };
            push_result(&SIG, &mut out, row.index(), r)?;
        }
        Ok(out.finish())
    }

    fn column(ty: FieldType, values: &[Value<'_>]) -> wit::Column {
        let mut c = ColumnBuilder::new(ty);
        for v in values {
            c.push(*v).unwrap();
        }
        c.finish()
    }

    #[test]
    fn evaluates_a_column_at_a_time() {
        let d = column(
            FieldType::Decimal2,
            &[
                Value::Decimal2(Decimal2::from_hundredths(150)),
                Value::Decimal2(Decimal2::from_hundredths(-1)),
            ],
        );
        let u = column(FieldType::String, &[Value::Str("x10"), Value::Str("x10")]);
        let out = call(vec![d.clone(), u], 2).unwrap();
        let mut want = 1500i64.to_le_bytes().to_vec();
        want.extend_from_slice(&(-10i64).to_le_bytes());
        assert_eq!(out.values, want);

        let bad = column(FieldType::String, &[Value::Str("x10"), Value::Str("km")]);
        match call(vec![d.clone(), bad], 2) {
            Err(wit::Error::Failed(m)) => {
                assert_eq!(m, "function `scale`, row 1: unknown unit \"km\"")
            }
            other => panic!("{other:?}"),
        }
        match call(vec![d], 2) {
            Err(wit::Error::Failed(m)) => {
                assert_eq!(m, "function `scale` takes 2 arguments, the call passed 1")
            }
            other => panic!("{other:?}"),
        }
    }
}
