//! Test scope and helpers shared by the unit tests of this crate.

use crate::{CompileOptions, Compiled, EvalError, ExprError, Resolved, Scope, VarSlot};
use std::str::FromStr;
use vessel_core::chrono::TimeZone;
use vessel_core::{DateTime, Decimal, FieldType, Value};

/// Aliases `r` → slot 0, `l` → slot 1, `w` → slot 3, plus `wfmodel.*` constants.
pub struct TestScope;

pub const R_FIELDS: &[(&str, FieldType)] = &[
    ("i", FieldType::Int),
    ("j", FieldType::Int),
    ("f", FieldType::Float),
    ("d", FieldType::Decimal2),
    ("s", FieldType::String),
    ("b", FieldType::Bool),
    ("t", FieldType::DateTime),
    ("zero", FieldType::Int),
    ("e", FieldType::String),
];

pub const L_FIELDS: &[(&str, FieldType)] = &[
    ("price", FieldType::Decimal2),
    ("name", FieldType::String),
    ("qty", FieldType::Int),
    ("w", FieldType::Float),
    ("ok", FieldType::Bool),
];

pub const W_FIELDS: &[(&str, FieldType)] = &[("total", FieldType::Decimal2)];

impl Scope for TestScope {
    fn resolve(&self, alias: &str, field: &str) -> Option<Resolved> {
        let (slot, fields) = match alias {
            "r" => (0, R_FIELDS),
            "l" => (1, L_FIELDS),
            "w" => (3, W_FIELDS),
            "wfmodel" => {
                return match field {
                    "RunNone" => Some(Resolved::Const(Value::Int(0))),
                    "RunStart" => Some(Resolved::Const(Value::Int(1))),
                    "RunComplete" => Some(Resolved::Const(Value::Int(2))),
                    _ => None,
                };
            }
            _ => return None,
        };
        let index = fields.iter().position(|(n, _)| *n == field)?;
        Some(Resolved::Var(
            VarSlot { alias: slot, index },
            fields[index].1,
        ))
    }
}

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime {
    vessel_core::time::utc()
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
}

/// The `r` row: i=7, j=2, f=2.5, d=101.78, s="abc", b=true, t=2020-01-30 20:43:11Z, zero=0,
/// e="".
pub fn r_row() -> Vec<Value> {
    vec![
        Value::Int(7),
        Value::Int(2),
        Value::Float(2.5),
        Value::Decimal(dec("101.78")),
        Value::Str("abc".into()),
        Value::Bool(true),
        Value::DateTime(utc(2020, 1, 30, 20, 43, 11)),
        Value::Int(0),
        Value::Str(String::new()),
    ]
}

pub fn l_row(price: &str, name: &str, qty: i64, w: f64, ok: bool) -> Vec<Value> {
    vec![
        Value::Decimal(dec(price)),
        Value::Str(name.into()),
        Value::Int(qty),
        Value::Float(w),
        Value::Bool(ok),
    ]
}

pub fn compile(src: &str) -> Result<Compiled, ExprError> {
    Compiled::compile(src, &TestScope, CompileOptions::default())
}

pub fn compile_agg(src: &str) -> Result<Compiled, ExprError> {
    Compiled::compile(
        src,
        &TestScope,
        CompileOptions {
            allow_aggregates: true,
        },
    )
}

/// Evaluates `src` over the standard `r` row (and an `l` row and a `w` row).
pub fn try_ev(src: &str) -> Result<Value, EvalError> {
    let c = compile(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let r = r_row();
    let l = l_row("10.50", "x", 3, 0.5, true);
    let w = vec![Value::Decimal(dec("12.34"))];
    c.eval(&[&r, &l, &[], &w])
}

pub fn ev(src: &str) -> Value {
    try_ev(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

/// The compile error of `src`.
pub fn cerr(src: &str) -> ExprError {
    match compile(src) {
        Ok(c) => panic!("{src}: compiled to {c:?}"),
        Err(e) => e,
    }
}

pub fn s(v: &str) -> Value {
    Value::Str(v.into())
}

pub fn d(v: &str) -> Value {
    Value::Decimal(dec(v))
}
