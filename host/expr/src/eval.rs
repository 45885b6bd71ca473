//! The compiled tree: typed nodes with resolved variable slots, evaluated per row without lookups.

use crate::builtins;
use crate::{EvalError, VarSlot};
use std::borrow::Cow;
use std::fmt;
use std::sync::Mutex;
use vessel_core::chrono::FixedOffset;
use vessel_core::rust_decimal::RoundingStrategy;
use vessel_core::rust_decimal::prelude::ToPrimitive;
use vessel_core::{DateTime, Decimal, Value, decimal};

/// Row environment: `env[alias][index]`.
pub(crate) type Env<'e, 'r> = &'r [&'e [Value]];

fn fail<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError(msg.into()))
}

/// A variable read, with its selector kept for error messages.
#[derive(Debug)]
pub(crate) struct Var {
    pub slot: VarSlot,
    pub name: Box<str>,
}

impl Var {
    #[inline]
    fn get<'e>(&self, env: Env<'e, '_>) -> Result<&'e Value, EvalError> {
        match env
            .get(self.slot.alias)
            .and_then(|row| row.get(self.slot.index))
        {
            Some(v) => Ok(v),
            None => self.missing(),
        }
    }

    // Error paths stay out of line so that the recursive evaluators keep small stack frames.
    #[cold]
    #[inline(never)]
    fn missing<T>(&self) -> Result<T, EvalError> {
        fail(format!(
            "{}: no value in the row environment (slot {}, field {})",
            self.name, self.slot.alias, self.slot.index
        ))
    }

    #[cold]
    #[inline(never)]
    fn wrong_type<T>(&self, expected: &str, got: &Value) -> Result<T, EvalError> {
        fail(format!(
            "{}: expected {expected}, got {} value {got:?}",
            self.name,
            got.field_type()
        ))
    }
}

/// `+ - * / %` on ints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// `+ - * /` on floats and decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl ArithOp {
    fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }
}

/// `== != < <= > >=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    #[inline]
    fn apply<T: PartialOrd + ?Sized>(self, a: &T, b: &T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

#[derive(Debug)]
pub(crate) enum IntNode {
    Const(i64),
    Var(Var),
    Bin(IntOp, Box<IntNode>, Box<IntNode>),
    Neg(Box<IntNode>),
    FromFloat(Box<FloatNode>),
    FromDec(Box<DecNode>),
    FromStr(Box<StrNode>),
    FromBool(Box<BoolNode>),
    Len(Box<StrNode>),
    Iif(Box<BoolNode>, Box<IntNode>, Box<IntNode>),
    Unix(Box<DtNode>),
    UnixMilli(Box<DtNode>),
    DiffMilli(Box<DtNode>, Box<DtNode>),
}

#[derive(Debug)]
pub(crate) enum FloatNode {
    Const(f64),
    Var(Var),
    Bin(ArithOp, Box<FloatNode>, Box<FloatNode>),
    Neg(Box<FloatNode>),
    FromInt(Box<IntNode>),
    FromDec(Box<DecNode>),
    FromStr(Box<StrNode>),
    FromBool(Box<BoolNode>),
    Iif(Box<BoolNode>, Box<FloatNode>, Box<FloatNode>),
    Sqrt(Box<FloatNode>),
    Round(Box<FloatNode>),
}

#[derive(Debug)]
pub(crate) enum DecNode {
    Const(Decimal),
    Var(Var),
    Bin(ArithOp, Box<DecNode>, Box<DecNode>),
    Neg(Box<DecNode>),
    FromInt(Box<IntNode>),
    FromFloat(Box<FloatNode>),
    FromStr(Box<StrNode>),
    FromBool(Box<BoolNode>),
    Iif(Box<BoolNode>, Box<DecNode>, Box<DecNode>),
}

#[derive(Debug)]
pub(crate) enum StrNode {
    Const(String),
    Var(Var),
    Concat(Vec<StrNode>),
    /// `string(x)`: Go's `%v`.
    Display(Box<Node>),
    Iif(Box<BoolNode>, Box<StrNode>, Box<StrNode>),
    Format(Box<DtNode>, Box<StrNode>),
    ReplaceAll(Box<[StrNode; 3]>),
    Sprintf(Box<StrNode>, Vec<Node>),
}

#[derive(Debug)]
pub(crate) enum BoolNode {
    Const(bool),
    Var(Var),
    Not(Box<BoolNode>),
    And(Box<BoolNode>, Box<BoolNode>),
    Or(Box<BoolNode>, Box<BoolNode>),
    CmpInt(CmpOp, Box<IntNode>, Box<IntNode>),
    CmpFloat(CmpOp, Box<FloatNode>, Box<FloatNode>),
    CmpDec(CmpOp, Box<DecNode>, Box<DecNode>),
    CmpStr(CmpOp, Box<StrNode>, Box<StrNode>),
    CmpDt(CmpOp, Box<DtNode>, Box<DtNode>),
    CmpBool(CmpOp, Box<BoolNode>, Box<BoolNode>),
    /// `re.MatchString` with a pattern known at compile time.
    Match(Box<regex::Regex>, Box<StrNode>),
    /// `re.MatchString` with a computed pattern.
    MatchDyn(Box<DynRegex>),
}

#[derive(Debug)]
pub(crate) enum DtNode {
    Const(DateTime),
    Var(Var),
    Parse(Box<StrNode>, Box<StrNode>),
    Date(Box<DateArgs>),
    Now,
    Iif(Box<BoolNode>, Box<DtNode>, Box<DtNode>),
}

#[derive(Debug)]
pub(crate) enum LocNode {
    Const(FixedOffset),
    FixedZone(Box<StrNode>, Box<IntNode>),
}

/// Arguments of `time.Date(y, month, d, h, m, s, ns, loc)`; the month is always a constant.
#[derive(Debug)]
pub(crate) struct DateArgs {
    pub year: IntNode,
    pub month: u32,
    pub day: IntNode,
    pub hour: IntNode,
    pub min: IntNode,
    pub sec: IntNode,
    pub nsec: IntNode,
    pub loc: LocNode,
}

/// A regex compiled on first use, kept in a small per-node cache.
pub(crate) struct DynRegex {
    pub pattern: StrNode,
    pub subject: StrNode,
    pub cache: Mutex<Vec<(String, regex::Regex)>>,
}

impl fmt::Debug for DynRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynRegex")
            .field("pattern", &self.pattern)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Distinct patterns a computed `re.MatchString` keeps compiled.
const REGEX_CACHE: usize = 32;

/// A typed node.
#[derive(Debug)]
pub(crate) enum Node {
    Int(IntNode),
    Float(FloatNode),
    Dec(DecNode),
    Str(StrNode),
    Bool(BoolNode),
    Dt(DtNode),
    Month(u32),
    Loc(LocNode),
}

impl Node {
    /// Evaluates to a [`Value`]; a month becomes its number, a location its offset in seconds.
    pub fn eval(&self, env: Env<'_, '_>) -> Result<Value, EvalError> {
        Ok(match self {
            Node::Int(n) => Value::Int(n.eval(env)?),
            Node::Float(n) => Value::Float(n.eval(env)?),
            Node::Dec(n) => Value::Decimal(n.eval(env)?),
            Node::Str(n) => Value::Str(n.eval(env)?.into_owned()),
            Node::Bool(n) => Value::Bool(n.eval(env)?),
            Node::Dt(n) => Value::DateTime(n.eval(env)?),
            Node::Month(m) => Value::Int(i64::from(*m)),
            Node::Loc(l) => Value::Int(i64::from(l.eval(env)?.local_minus_utc())),
        })
    }
}

#[inline]
fn int_op(op: IntOp, a: i64, b: i64) -> Result<i64, EvalError> {
    // Go integer arithmetic wraps on overflow; only a zero divisor is an error.
    Ok(match op {
        IntOp::Add => a.wrapping_add(b),
        IntOp::Sub => a.wrapping_sub(b),
        IntOp::Mul => a.wrapping_mul(b),
        IntOp::Div | IntOp::Rem if b == 0 => return division_by_zero(op, a),
        IntOp::Div => a.wrapping_div(b),
        IntOp::Rem => a.wrapping_rem(b),
    })
}

#[cold]
#[inline(never)]
fn division_by_zero(op: IntOp, a: i64) -> Result<i64, EvalError> {
    let sym = if op == IntOp::Rem { '%' } else { '/' };
    fail(format!("integer division by zero ({a} {sym} 0)"))
}

fn float_op(op: ArithOp, a: f64, b: f64) -> f64 {
    match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
    }
}

/// Decimal arithmetic, rounded to two places half away from zero after every operation.
/// Division first rounds to 16 places, as shopspring's `Div` does, so results match Go.
pub(crate) fn dec_op(op: ArithOp, a: Decimal, b: Decimal) -> Result<Decimal, EvalError> {
    let r = match op {
        ArithOp::Add => a.checked_add(b),
        ArithOp::Sub => a.checked_sub(b),
        ArithOp::Mul => a.checked_mul(b),
        ArithOp::Div => {
            if b.is_zero() {
                return decimal_division_by_zero(a);
            }
            a.checked_div(b)
                .map(|q| q.round_dp_with_strategy(16, RoundingStrategy::MidpointAwayFromZero))
        }
    };
    match r.map(|v| decimal::check(positive_zero(decimal::round2(v)))) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => decimal_overflow(op, a, b, &e.to_string()),
        None => decimal_overflow(op, a, b, "the result is outside the decimal2 range"),
    }
}

#[cold]
#[inline(never)]
fn decimal_division_by_zero(a: Decimal) -> Result<Decimal, EvalError> {
    fail(format!("decimal division by zero ({a} / 0)"))
}

#[cold]
#[inline(never)]
fn decimal_overflow(op: ArithOp, a: Decimal, b: Decimal, why: &str) -> Result<Decimal, EvalError> {
    fail(format!(
        "decimal2 overflow in {a} {} {b}: {why}",
        op.symbol()
    ))
}

/// A decimal2 made by a conversion, checked against the decimal2 range.
#[inline]
fn converted(
    what: &str,
    arg: impl fmt::Display,
    d: Result<Decimal, decimal::DecimalError>,
) -> Result<Decimal, EvalError> {
    match d {
        Ok(d) => Ok(d),
        Err(e) => conversion_failed(what, &arg.to_string(), e),
    }
}

#[cold]
#[inline(never)]
fn conversion_failed(
    what: &str,
    arg: &str,
    e: decimal::DecimalError,
) -> Result<Decimal, EvalError> {
    fail(format!("{what}({arg}): {e}"))
}

/// Drops the sign of a zero: shopspring decimals have no negative zero, so `-0.001` rounds to
/// `0.00`, never `-0.00`.
#[inline]
pub(crate) fn positive_zero(d: Decimal) -> Decimal {
    if d.is_zero() && d.is_sign_negative() {
        -d
    } else {
        d
    }
}

/// Go's `int64(f)`: truncation; NaN and out-of-range values saturate instead of being
/// platform-dependent.
fn float_to_int(f: f64) -> i64 {
    f as i64
}

/// shopspring's `BigInt().Int64()`: truncation toward zero, low 64 bits when out of range.
fn dec_to_int(d: Decimal) -> i64 {
    d.trunc().to_i128().map(|i| i as i64).unwrap_or(0)
}

impl IntNode {
    pub fn eval(&self, env: Env<'_, '_>) -> Result<i64, EvalError> {
        Ok(match self {
            IntNode::Const(i) => *i,
            IntNode::Var(v) => match v.get(env)? {
                Value::Int(i) => *i,
                other => return v.wrong_type("int", other),
            },
            IntNode::Bin(op, a, b) => int_op(*op, a.eval(env)?, b.eval(env)?)?,
            IntNode::Neg(a) => a.eval(env)?.wrapping_neg(),
            IntNode::FromFloat(a) => float_to_int(a.eval(env)?),
            IntNode::FromDec(a) => dec_to_int(a.eval(env)?),
            IntNode::FromStr(a) => builtins::parse_int(&a.eval(env)?)?,
            IntNode::FromBool(a) => i64::from(a.eval(env)?),
            IntNode::Len(a) => a.eval(env)?.len() as i64,
            IntNode::Iif(c, a, b) => {
                if c.eval(env)? {
                    a.eval(env)?
                } else {
                    b.eval(env)?
                }
            }
            IntNode::Unix(t) => t.eval(env)?.timestamp(),
            IntNode::UnixMilli(t) => t.eval(env)?.timestamp_millis(),
            IntNode::DiffMilli(a, b) => builtins::diff_milli(&a.eval(env)?, &b.eval(env)?),
        })
    }
}

impl FloatNode {
    pub fn eval(&self, env: Env<'_, '_>) -> Result<f64, EvalError> {
        Ok(match self {
            FloatNode::Const(f) => *f,
            FloatNode::Var(v) => match v.get(env)? {
                Value::Float(f) => *f,
                other => return v.wrong_type("float", other),
            },
            FloatNode::Bin(op, a, b) => float_op(*op, a.eval(env)?, b.eval(env)?),
            FloatNode::Neg(a) => -a.eval(env)?,
            FloatNode::FromInt(a) => a.eval(env)? as f64,
            FloatNode::FromDec(a) => decimal::to_f64(a.eval(env)?),
            FloatNode::FromStr(a) => builtins::parse_float(&a.eval(env)?)?,
            FloatNode::FromBool(a) => f64::from(u8::from(a.eval(env)?)),
            FloatNode::Iif(c, a, b) => {
                if c.eval(env)? {
                    a.eval(env)?
                } else {
                    b.eval(env)?
                }
            }
            FloatNode::Sqrt(a) => a.eval(env)?.sqrt(),
            // f64::round is half away from zero, like Go's math.Round.
            FloatNode::Round(a) => a.eval(env)?.round(),
        })
    }
}

impl DecNode {
    pub fn eval(&self, env: Env<'_, '_>) -> Result<Decimal, EvalError> {
        Ok(match self {
            DecNode::Const(d) => *d,
            DecNode::Var(v) => match v.get(env)? {
                Value::Decimal(d) => *d,
                other => return v.wrong_type("decimal2", other),
            },
            DecNode::Bin(op, a, b) => dec_op(*op, a.eval(env)?, b.eval(env)?)?,
            DecNode::Neg(a) => {
                let v = a.eval(env)?;
                converted("-", v, decimal::check(positive_zero(-v)))?
            }
            DecNode::FromInt(a) => {
                let i = a.eval(env)?;
                converted("decimal2", i, decimal::from_i64(i))?
            }
            DecNode::FromFloat(a) => {
                let f = a.eval(env)?;
                let d = decimal::from_f64_shortest(f);
                positive_zero(converted("decimal2", Value::Float(f), d)?)
            }
            DecNode::FromStr(a) => builtins::parse_decimal(&a.eval(env)?)?,
            DecNode::FromBool(a) => Decimal::from(u8::from(a.eval(env)?)),
            DecNode::Iif(c, a, b) => {
                if c.eval(env)? {
                    a.eval(env)?
                } else {
                    b.eval(env)?
                }
            }
        })
    }
}

impl StrNode {
    pub fn eval<'e>(&'e self, env: Env<'e, '_>) -> Result<Cow<'e, str>, EvalError> {
        Ok(match self {
            StrNode::Const(s) => Cow::Borrowed(s.as_str()),
            StrNode::Var(v) => match v.get(env)? {
                Value::Str(s) => Cow::Borrowed(s.as_str()),
                other => return v.wrong_type("string", other),
            },
            StrNode::Concat(parts) => {
                let mut out = String::new();
                for p in parts {
                    out.push_str(&p.eval(env)?);
                }
                Cow::Owned(out)
            }
            StrNode::Display(n) => Cow::Owned(n.eval(env)?.to_string()),
            StrNode::Iif(c, a, b) => {
                if c.eval(env)? {
                    a.eval(env)?
                } else {
                    b.eval(env)?
                }
            }
            StrNode::Format(t, layout) => {
                Cow::Owned(builtins::time_format(&t.eval(env)?, &layout.eval(env)?))
            }
            StrNode::ReplaceAll(args) => {
                let [s, old, new] = &**args;
                let (s, old, new) = (s.eval(env)?, old.eval(env)?, new.eval(env)?);
                Cow::Owned(builtins::replace_all(&s, &old, &new))
            }
            StrNode::Sprintf(format, args) => {
                let format = format.eval(env)?;
                let values = args
                    .iter()
                    .map(|a| a.eval(env))
                    .collect::<Result<Vec<_>, _>>()?;
                Cow::Owned(builtins::sprintf(&format, &values))
            }
        })
    }
}

impl BoolNode {
    pub fn eval(&self, env: Env<'_, '_>) -> Result<bool, EvalError> {
        Ok(match self {
            BoolNode::Const(b) => *b,
            BoolNode::Var(v) => match v.get(env)? {
                Value::Bool(b) => *b,
                other => return v.wrong_type("bool", other),
            },
            BoolNode::Not(a) => !a.eval(env)?,
            BoolNode::And(a, b) => a.eval(env)? && b.eval(env)?,
            BoolNode::Or(a, b) => a.eval(env)? || b.eval(env)?,
            BoolNode::CmpInt(op, a, b) => op.apply(&a.eval(env)?, &b.eval(env)?),
            BoolNode::CmpFloat(op, a, b) => op.apply(&a.eval(env)?, &b.eval(env)?),
            BoolNode::CmpDec(op, a, b) => op.apply(&a.eval(env)?, &b.eval(env)?),
            BoolNode::CmpStr(op, a, b) => op.apply(&*a.eval(env)?, &*b.eval(env)?),
            BoolNode::CmpDt(op, a, b) => op.apply(&a.eval(env)?, &b.eval(env)?),
            BoolNode::CmpBool(op, a, b) => op.apply(&a.eval(env)?, &b.eval(env)?),
            BoolNode::Match(re, s) => re.is_match(&s.eval(env)?),
            BoolNode::MatchDyn(d) => {
                let pattern = d.pattern.eval(env)?;
                let subject = d.subject.eval(env)?;
                let re = {
                    let mut cache = d.cache.lock().unwrap_or_else(|e| e.into_inner());
                    match cache.iter().find(|(p, _)| *p == pattern) {
                        Some((_, re)) => re.clone(),
                        None => {
                            let re = builtins::compile_regex(&pattern).map_err(|e| {
                                EvalError(format!("re.MatchString({pattern:?}, ...): {e}"))
                            })?;
                            if cache.len() >= REGEX_CACHE {
                                cache.remove(0);
                            }
                            cache.push((pattern.to_string(), re.clone()));
                            re
                        }
                    }
                };
                re.is_match(&subject)
            }
        })
    }
}

impl DtNode {
    pub fn eval(&self, env: Env<'_, '_>) -> Result<DateTime, EvalError> {
        Ok(match self {
            DtNode::Const(t) => *t,
            DtNode::Var(v) => match v.get(env)? {
                Value::DateTime(t) => *t,
                other => return v.wrong_type("datetime", other),
            },
            DtNode::Parse(layout, s) => builtins::time_parse(&layout.eval(env)?, &s.eval(env)?)?,
            DtNode::Date(a) => builtins::time_date(
                [
                    a.year.eval(env)?,
                    i64::from(a.month),
                    a.day.eval(env)?,
                    a.hour.eval(env)?,
                    a.min.eval(env)?,
                    a.sec.eval(env)?,
                    a.nsec.eval(env)?,
                ],
                a.loc.eval(env)?,
            )?,
            DtNode::Now => vessel_core::time::now(),
            DtNode::Iif(c, a, b) => {
                if c.eval(env)? {
                    a.eval(env)?
                } else {
                    b.eval(env)?
                }
            }
        })
    }
}

impl LocNode {
    pub fn eval(&self, env: Env<'_, '_>) -> Result<FixedOffset, EvalError> {
        match self {
            LocNode::Const(o) => Ok(*o),
            LocNode::FixedZone(name, secs) => {
                let secs = secs.eval(env)?;
                let name = name.eval(env)?;
                i32::try_from(secs)
                    .ok()
                    .and_then(FixedOffset::east_opt)
                    .ok_or_else(|| {
                        EvalError(format!(
                            "time.FixedZone({name:?}, {secs}): the offset must be less than a \
                             day (86400 seconds) either way"
                        ))
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn int_arithmetic_wraps_and_reports_zero_division() {
        assert_eq!(int_op(IntOp::Add, i64::MAX, 1).unwrap(), i64::MIN);
        assert_eq!(int_op(IntOp::Mul, i64::MIN, -1).unwrap(), i64::MIN);
        assert_eq!(int_op(IntOp::Div, i64::MIN, -1).unwrap(), i64::MIN);
        assert_eq!(int_op(IntOp::Rem, i64::MIN, -1).unwrap(), 0);
        assert_eq!(int_op(IntOp::Div, -7, 2).unwrap(), -3);
        assert_eq!(int_op(IntOp::Rem, -7, 2).unwrap(), -1);
        let e = int_op(IntOp::Div, 5, 0).unwrap_err();
        assert!(e.0.contains("integer division by zero"), "{e}");
        assert!(int_op(IntOp::Rem, 5, 0).is_err());
    }

    #[test]
    fn decimal_ops_round_half_away_from_zero() {
        assert_eq!(
            dec_op(ArithOp::Mul, d("101.78"), d("1.1"))
                .unwrap()
                .to_string(),
            "111.96"
        );
        assert_eq!(
            dec_op(ArithOp::Div, d("1"), d("8")).unwrap().to_string(),
            "0.13"
        );
        assert_eq!(
            dec_op(ArithOp::Div, d("-1"), d("8")).unwrap().to_string(),
            "-0.13"
        );
        assert_eq!(
            dec_op(ArithOp::Add, d("0.1"), d("0.2"))
                .unwrap()
                .to_string(),
            "0.30"
        );
        assert_eq!(
            dec_op(ArithOp::Mul, d("-0.001"), d("1"))
                .unwrap()
                .to_string(),
            "0.00"
        );
        assert_eq!(positive_zero(-d("0.0")).to_string(), "0.0");
        assert!(
            dec_op(ArithOp::Div, d("1"), d("0"))
                .unwrap_err()
                .0
                .contains("zero")
        );
        assert!(
            dec_op(ArithOp::Mul, Decimal::MAX, d("2"))
                .unwrap_err()
                .0
                .contains("overflow")
        );
    }

    #[test]
    fn decimal_ops_fail_beyond_the_decimal2_range_instead_of_clamping() {
        let max = decimal::MAX;
        assert_eq!(dec_op(ArithOp::Add, max, d("0.004")), Ok(max));
        let e = dec_op(ArithOp::Add, max, d("0.005")).unwrap_err();
        assert_eq!(
            e.0,
            "decimal2 overflow in 92233720368547758.07 + 0.005: 92233720368547758.08 is outside \
             the decimal2 range -92233720368547758.08 to 92233720368547758.07 (decimal2 is \
             stored as a 64-bit count of hundredths)"
        );
        assert!(dec_op(ArithOp::Sub, decimal::MIN, d("0.01")).is_err());
        assert!(dec_op(ArithOp::Div, max, d("0.5")).is_err());
        assert_eq!(
            dec_op(ArithOp::Mul, d("-46116860184273879.04"), d("2")),
            Ok(decimal::MIN)
        );
    }

    #[test]
    fn conversions_to_int_truncate() {
        assert_eq!(float_to_int(-2.9), -2);
        assert_eq!(float_to_int(f64::NAN), 0);
        assert_eq!(float_to_int(1e300), i64::MAX);
        assert_eq!(dec_to_int(d("-2.99")), -2);
        assert_eq!(dec_to_int(d("12345.5")), 12345);
    }

    #[test]
    fn variables_check_their_type_and_presence() {
        let v = IntNode::Var(Var {
            slot: VarSlot { alias: 0, index: 1 },
            name: "r.n".into(),
        });
        let row = [Value::Int(1), Value::Str("x".into())];
        let e = v.eval(&[&row]).unwrap_err();
        assert!(e.0.contains("r.n: expected int, got string value"), "{e}");
        let e = v.eval(&[]).unwrap_err();
        assert!(e.0.contains("r.n: no value"), "{e}");
    }
}
