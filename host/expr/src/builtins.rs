//! Built-in functions (§2.3): signature checks at compile time and their runtime helpers.

use crate::ast::Expr;
use crate::compile::{Compiler, Typed};
use crate::eval::{
    BoolNode, CmpOp, DateArgs, DecNode, DtNode, DynRegex, FloatNode, IntNode, LocNode, Node,
    StrNode,
};
use crate::goregex;
use crate::lexer::err;
use crate::{EvalError, ExprError};
use std::str::FromStr;
use std::sync::Mutex;
use vessel_core::chrono::{DateTime as ChronoDateTime, FixedOffset};
use vessel_core::{DateTime, Decimal};

/// Every scalar function name, for the "unknown function" message.
const FUNCTIONS: &str = "len, string, int, float, decimal2, int.iif, float.iif, decimal2.iif, \
                         string.iif, time.iif, math.Sqrt, math.Round, time.Parse, time.Format, \
                         time.Date, time.Now, time.Unix, time.UnixMilli, time.DiffMilli, \
                         time.Before, time.After, time.FixedZone, re.MatchString, \
                         strings.ReplaceAll, fmt.Sprintf";

/// Compiles a call to a scalar built-in. `args` are the source arguments (for offsets).
pub(crate) fn compile_call(
    c: &mut Compiler<'_>,
    func: &str,
    args: &[Expr],
    offset: usize,
) -> Result<Typed, ExprError> {
    let arity = match func {
        "time.Now" => Some(0),
        "len" | "string" | "int" | "float" | "decimal2" | "math.Sqrt" | "math.Round"
        | "time.Unix" | "time.UnixMilli" => Some(1),
        "time.Parse" | "time.Format" | "time.DiffMilli" | "time.Before" | "time.After"
        | "time.FixedZone" | "re.MatchString" => Some(2),
        "int.iif" | "float.iif" | "decimal2.iif" | "string.iif" | "time.iif"
        | "strings.ReplaceAll" => Some(3),
        "time.Date" => Some(8),
        "fmt.Sprintf" => None,
        _ => {
            return Err(err(
                offset,
                format!("unknown function '{func}'; the built-in functions are: {FUNCTIONS}"),
            ));
        }
    };
    if let Some(n) = arity
        && args.len() != n
    {
        return Err(err(
            offset,
            format!(
                "{func}() takes {n} argument{}, got {}",
                if n == 1 { "" } else { "s" },
                args.len()
            ),
        ));
    }
    if func == "fmt.Sprintf" && args.is_empty() {
        return Err(err(offset, "fmt.Sprintf() needs a format string"));
    }
    let mut targs = Vec::with_capacity(args.len());
    for a in args {
        targs.push(c.expr(a)?);
    }
    let konst = func != "time.Now" && targs.iter().all(|t| t.konst);
    let mut a = Args {
        func,
        args: targs.into_iter(),
        n: 0,
    };
    let node = match func {
        "len" => Node::Int(IntNode::Len(Box::new(a.str()?))),
        "string" => {
            let t = a.next_value()?;
            match t.node {
                Node::Str(s) => Node::Str(s),
                other => Node::Str(StrNode::Display(Box::new(other))),
            }
        }
        "int" => {
            let t = a.next_value()?;
            Node::Int(match t.node {
                Node::Int(n) => n,
                Node::Float(n) => IntNode::FromFloat(Box::new(n)),
                Node::Dec(n) => IntNode::FromDec(Box::new(n)),
                Node::Str(n) => IntNode::FromStr(Box::new(n)),
                Node::Bool(n) => IntNode::FromBool(Box::new(n)),
                _ => return Err(a.cannot_convert(&t, "time.Unix(t) or time.UnixMilli(t)")),
            })
        }
        "float" => {
            let t = a.next_value()?;
            Node::Float(match t.node {
                Node::Int(n) => FloatNode::FromInt(Box::new(n)),
                Node::Float(n) => n,
                Node::Dec(n) => FloatNode::FromDec(Box::new(n)),
                Node::Str(n) => FloatNode::FromStr(Box::new(n)),
                Node::Bool(n) => FloatNode::FromBool(Box::new(n)),
                _ => return Err(a.cannot_convert(&t, "float(time.UnixMilli(t))")),
            })
        }
        "decimal2" => {
            let t = a.next_value()?;
            Node::Dec(match t.node {
                Node::Int(n) => DecNode::FromInt(Box::new(n)),
                Node::Float(n) => DecNode::FromFloat(Box::new(n)),
                Node::Dec(n) => n,
                Node::Str(n) => DecNode::FromStr(Box::new(n)),
                Node::Bool(n) => DecNode::FromBool(Box::new(n)),
                _ => return Err(a.cannot_convert(&t, "decimal2(time.UnixMilli(t))")),
            })
        }
        "int.iif" => {
            let cond = Box::new(a.bool()?);
            Node::Int(IntNode::Iif(cond, Box::new(a.int()?), Box::new(a.int()?)))
        }
        "float.iif" => {
            let cond = Box::new(a.bool()?);
            Node::Float(FloatNode::Iif(
                cond,
                Box::new(a.float()?),
                Box::new(a.float()?),
            ))
        }
        "decimal2.iif" => {
            let cond = Box::new(a.bool()?);
            Node::Dec(DecNode::Iif(cond, Box::new(a.dec()?), Box::new(a.dec()?)))
        }
        "string.iif" => {
            let cond = Box::new(a.bool()?);
            Node::Str(StrNode::Iif(cond, Box::new(a.str()?), Box::new(a.str()?)))
        }
        "time.iif" => {
            let cond = Box::new(a.bool()?);
            Node::Dt(DtNode::Iif(cond, Box::new(a.dt()?), Box::new(a.dt()?)))
        }
        "math.Sqrt" => Node::Float(FloatNode::Sqrt(Box::new(a.number_as_float()?))),
        "math.Round" => Node::Float(FloatNode::Round(Box::new(a.number_as_float()?))),
        "time.Parse" => {
            let layout = Box::new(a.str()?);
            Node::Dt(DtNode::Parse(layout, Box::new(a.str()?)))
        }
        "time.Format" => {
            let t = Box::new(a.dt()?);
            Node::Str(StrNode::Format(t, Box::new(a.str()?)))
        }
        "time.Date" => {
            let year = a.int()?;
            let month = a.month()?;
            let (day, hour, min, sec, nsec) = (a.int()?, a.int()?, a.int()?, a.int()?, a.int()?);
            let loc = a.loc()?;
            Node::Dt(DtNode::Date(Box::new(DateArgs {
                year,
                month,
                day,
                hour,
                min,
                sec,
                nsec,
                loc,
            })))
        }
        "time.Now" => Node::Dt(DtNode::Now),
        "time.Unix" => Node::Int(IntNode::Unix(Box::new(a.dt()?))),
        "time.UnixMilli" => Node::Int(IntNode::UnixMilli(Box::new(a.dt()?))),
        "time.DiffMilli" => {
            let x = Box::new(a.dt()?);
            Node::Int(IntNode::DiffMilli(x, Box::new(a.dt()?)))
        }
        "time.Before" | "time.After" => {
            let op = if func == "time.Before" {
                CmpOp::Lt
            } else {
                CmpOp::Gt
            };
            let x = Box::new(a.dt()?);
            Node::Bool(BoolNode::CmpDt(op, x, Box::new(a.dt()?)))
        }
        "time.FixedZone" => {
            let name = Box::new(a.str()?);
            Node::Loc(LocNode::FixedZone(name, Box::new(a.int()?)))
        }
        "re.MatchString" => {
            let pattern_offset = args[0].offset;
            let pattern = a.str()?;
            let subject = a.str()?;
            Node::Bool(match pattern {
                StrNode::Const(p) => {
                    let re = compile_regex(&p).map_err(|e| {
                        err(
                            pattern_offset,
                            format!("re.MatchString: invalid regular expression {p:?}: {e}"),
                        )
                    })?;
                    BoolNode::Match(Box::new(re), Box::new(subject))
                }
                pattern => BoolNode::MatchDyn(Box::new(DynRegex {
                    pattern,
                    subject,
                    cache: Mutex::new(Vec::new()),
                })),
            })
        }
        "strings.ReplaceAll" => {
            let s = a.str()?;
            let old = a.str()?;
            let new = a.str()?;
            Node::Str(StrNode::ReplaceAll(Box::new([s, old, new])))
        }
        "fmt.Sprintf" => {
            let format = Box::new(a.str()?);
            let mut rest = Vec::new();
            while a.args.len() > 0 {
                rest.push(a.next_value()?.node);
            }
            Node::Str(StrNode::Sprintf(format, rest))
        }
        // Every name accepted by the arity table is handled above.
        _ => return Err(err(offset, format!("function '{func}' is not implemented"))),
    };
    c.finish(node, konst, offset)
}

/// Typed access to the compiled arguments of one call, in order.
struct Args<'f> {
    func: &'f str,
    args: std::vec::IntoIter<Typed>,
    n: usize,
}

impl Args<'_> {
    fn next(&mut self) -> Typed {
        self.n += 1;
        // The arity was checked before the arguments were compiled.
        self.args.next().unwrap_or(Typed {
            node: Node::Bool(BoolNode::Const(false)),
            konst: true,
            offset: 0,
        })
    }

    fn wrong(&self, t: &Typed, want: &str) -> ExprError {
        err(
            t.offset,
            format!(
                "argument {} of {}() must be {want}, got {}",
                self.n,
                self.func,
                t.node.ty()
            ),
        )
    }

    fn cannot_convert(&self, t: &Typed, hint: &str) -> ExprError {
        err(
            t.offset,
            format!(
                "{}() cannot convert a {}; use {hint}",
                self.func,
                t.node.ty()
            ),
        )
    }

    /// Any value of a column type (not a month or a location).
    fn next_value(&mut self) -> Result<Typed, ExprError> {
        let t = self.next();
        if t.node.ty().field_type().is_none() {
            return Err(self.wrong(&t, "a value of a column type"));
        }
        Ok(t)
    }

    fn int(&mut self) -> Result<IntNode, ExprError> {
        let t = self.next();
        match t.node {
            Node::Int(n) => Ok(n),
            _ => Err(self.wrong(&t, "int")),
        }
    }

    fn float(&mut self) -> Result<FloatNode, ExprError> {
        let t = self.next();
        match t.node {
            Node::Float(n) => Ok(n),
            _ => Err(self.wrong(&t, "float")),
        }
    }

    fn dec(&mut self) -> Result<DecNode, ExprError> {
        let t = self.next();
        match t.node {
            Node::Dec(n) => Ok(n),
            _ => Err(self.wrong(&t, "decimal2")),
        }
    }

    fn str(&mut self) -> Result<StrNode, ExprError> {
        let t = self.next();
        match t.node {
            Node::Str(n) => Ok(n),
            _ => Err(self.wrong(&t, "string")),
        }
    }

    fn bool(&mut self) -> Result<BoolNode, ExprError> {
        let t = self.next();
        match t.node {
            Node::Bool(n) => Ok(n),
            _ => Err(self.wrong(&t, "bool")),
        }
    }

    fn dt(&mut self) -> Result<DtNode, ExprError> {
        let t = self.next();
        match t.node {
            Node::Dt(n) => Ok(n),
            _ => Err(self.wrong(&t, "datetime")),
        }
    }

    fn month(&mut self) -> Result<u32, ExprError> {
        let t = self.next();
        match t.node {
            Node::Month(m) => Ok(m),
            _ => Err(self.wrong(&t, "a month constant (time.January … time.December)")),
        }
    }

    fn loc(&mut self) -> Result<LocNode, ExprError> {
        let t = self.next();
        match t.node {
            Node::Loc(l) => Ok(l),
            _ => Err(self.wrong(&t, "a location (time.UTC or time.FixedZone(name, seconds))")),
        }
    }

    fn number_as_float(&mut self) -> Result<FloatNode, ExprError> {
        let t = self.next();
        match t.node {
            Node::Int(n) => Ok(FloatNode::FromInt(Box::new(n))),
            Node::Float(n) => Ok(n),
            Node::Dec(n) => Ok(FloatNode::FromDec(Box::new(n))),
            _ => Err(self.wrong(&t, "a number")),
        }
    }
}

/// The built-in constants `time.January` … `time.December` and `time.UTC`.
pub(crate) fn constant(alias: &str, field: &str) -> Option<Node> {
    if alias != "time" {
        return None;
    }
    use vessel_core::gotime::LONG_MONTHS as MONTHS;
    if field == "UTC" {
        return Some(Node::Loc(LocNode::Const(vessel_core::time::utc())));
    }
    MONTHS
        .iter()
        .position(|m| *m == field)
        .map(|i| Node::Month(i as u32 + 1))
}

/// Result type of a known function name when it is used as a value without a call.
pub(crate) fn is_function(name: &str) -> bool {
    FUNCTIONS.split(", ").any(|f| f.trim() == name)
}

// ---------------------------------------------------------------------------------------------
// Runtime helpers.

/// `int(s)`: Go's `strconv.ParseInt(s, 10, 64)`.
pub(crate) fn parse_int(s: &str) -> Result<i64, EvalError> {
    i64::from_str(s).map_err(|_| {
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            EvalError(format!("int({s:?}): value out of the int64 range"))
        } else {
            EvalError(format!("int({s:?}): not a base-10 integer"))
        }
    })
}

/// `float(s)`: Go's `strconv.ParseFloat(s, 64)`, including its out-of-range error.
pub(crate) fn parse_float(s: &str) -> Result<f64, EvalError> {
    match f64::from_str(s) {
        Ok(f) if f.is_infinite() && !s.to_ascii_lowercase().contains("inf") => Err(EvalError(
            format!("float({s:?}): value out of the float64 range"),
        )),
        Ok(f) => Ok(f),
        Err(_) => Err(EvalError(format!("float({s:?}): not a number"))),
    }
}

/// `decimal2(s)`: plain (`-12.34`) or scientific (`1.5e3`) notation, not rounded.
pub(crate) fn parse_decimal(s: &str) -> Result<Decimal, EvalError> {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
    let parsed = if plain {
        Decimal::from_str(s).ok()
    } else if s.bytes().any(|b| b == b'e' || b == b'E') && !s.contains('_') {
        Decimal::from_scientific(s).ok()
    } else {
        None
    };
    let d = match parsed {
        Some(d) => crate::eval::positive_zero(d),
        // A number too large even for a 96-bit decimal is out of range, not malformed.
        None if (plain || s.contains(['e', 'E'])) && s.parse::<f64>().is_ok_and(f64::is_finite) => {
            return Err(EvalError(format!(
                "decimal2({s:?}): {}",
                vessel_core::decimal::DecimalError::OutOfRange {
                    value: s.to_string()
                }
            )));
        }
        None => return Err(EvalError(format!("decimal2({s:?}): not a decimal number"))),
    };
    vessel_core::decimal::check(d).map_err(|e| EvalError(format!("decimal2({s:?}): {e}")))
}

/// `time.DiffMilli(a, b)`: Go's `a.Sub(b).Milliseconds()`, including `Sub`'s saturation at
/// about ±292 years.
pub(crate) fn diff_milli(a: &DateTime, b: &DateTime) -> i64 {
    let ns = |t: &DateTime| {
        i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
    };
    let d = (ns(a) - ns(b)).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
    (d / 1_000_000) as i64
}

/// `time.Format(t, layout)`.
pub(crate) fn time_format(t: &DateTime, layout: &str) -> String {
    vessel_core::gotime::format(t, layout)
}

/// `time.Parse(layout, s)`.
pub(crate) fn time_parse(layout: &str, s: &str) -> Result<DateTime, EvalError> {
    vessel_core::gotime::parse(layout, s)
        .map_err(|e| EvalError(format!("time.Parse({layout:?}, {s:?}): {e}")))
}

/// `strings.ReplaceAll(s, old, new)`; an empty `old` inserts `new` around every character,
/// as in Go.
pub(crate) fn replace_all(s: &str, old: &str, new: &str) -> String {
    s.replace(old, new)
}

/// `fmt.Sprintf(format, args...)`.
pub(crate) fn sprintf(format: &str, args: &[vessel_core::Value]) -> String {
    vessel_core::gofmt::sprintf(format, args)
}

/// `re.MatchString` pattern compilation (Go RE2 semantics).
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    goregex::compile(pattern)
}

/// Days from 1970-01-01 to the first day of `month` in `year` (proleptic Gregorian).
fn days_from_civil(year: i128, month: i128) -> i128 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `time.Date(y, m, d, h, min, s, ns, loc)` with Go's normalisation of out-of-range fields
/// (`day 32` is the next month's first, negative nanoseconds borrow a second, ...).
pub(crate) fn time_date(f: [i64; 7], loc: FixedOffset) -> Result<DateTime, EvalError> {
    let [year, month, day, hour, min, sec, nsec] = f.map(i128::from);
    let days = days_from_civil(year, month) + day - 1;
    let secs = days * 86_400 + hour * 3_600 + min * 60 + sec + nsec.div_euclid(1_000_000_000)
        - i128::from(loc.local_minus_utc());
    let nanos = nsec.rem_euclid(1_000_000_000) as u32;
    i64::try_from(secs)
        .ok()
        .and_then(|s| ChronoDateTime::from_timestamp(s, nanos))
        .map(|t| t.with_timezone(&loc))
        .ok_or_else(|| {
            EvalError(format!(
                "time.Date({year}, {month}, {day}, {hour}, {min}, {sec}, {nsec}): out of the \
                 supported datetime range"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vessel_core::chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime {
        vessel_core::time::utc()
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .unwrap()
    }

    #[test]
    fn parse_int_like_go() {
        assert_eq!(parse_int("42").unwrap(), 42);
        assert_eq!(parse_int("-42").unwrap(), -42);
        assert_eq!(parse_int("+7").unwrap(), 7);
        assert_eq!(
            parse_int("abc").unwrap_err().0,
            "int(\"abc\"): not a base-10 integer"
        );
        assert!(parse_int(" 1").is_err());
        assert!(parse_int("1_000").is_err());
        assert!(parse_int("0x10").is_err());
        assert!(
            parse_int("99999999999999999999")
                .unwrap_err()
                .0
                .contains("out of the int64 range")
        );
    }

    #[test]
    fn parse_float_like_go() {
        assert_eq!(parse_float("1.5").unwrap(), 1.5);
        assert_eq!(parse_float("1e3").unwrap(), 1000.0);
        assert_eq!(parse_float("-Inf").unwrap(), f64::NEG_INFINITY);
        assert!(parse_float("NaN").unwrap().is_nan());
        assert!(parse_float("1e400").unwrap_err().0.contains("range"));
        assert_eq!(
            parse_float("x").unwrap_err().0,
            "float(\"x\"): not a number"
        );
    }

    #[test]
    fn parse_decimal_plain_and_scientific() {
        assert_eq!(parse_decimal("12.345").unwrap().to_string(), "12.345");
        assert_eq!(parse_decimal("-0.5").unwrap().to_string(), "-0.5");
        assert_eq!(parse_decimal("1.5e3").unwrap().to_string(), "1500");
        assert_eq!(
            parse_decimal("abc").unwrap_err().0,
            "decimal2(\"abc\"): not a decimal number"
        );
        assert!(parse_decimal("").is_err());
        assert_eq!(parse_decimal("-0.00").unwrap().to_string(), "0.00");
        assert!(parse_decimal("1_0").is_err());
        // Beyond a 96-bit decimal: out of range, not "not a number".
        for big in ["1e30", "123456789012345678901234567890", "-1E40"] {
            let e = parse_decimal(big).unwrap_err().0;
            assert!(e.contains("is outside the decimal2 range"), "{big}: {e}");
        }
        assert!(
            parse_decimal("1e99999")
                .unwrap_err()
                .0
                .contains("not a decimal number")
        );
        assert!(parse_decimal(" 1").is_err());
    }

    #[test]
    fn diff_milli_saturates_like_go_durations() {
        let a = utc(2020, 1, 1, 0, 0, 1);
        let b = utc(2020, 1, 1, 0, 0, 0);
        assert_eq!(diff_milli(&a, &b), 1000);
        assert_eq!(diff_milli(&b, &a), -1000);
        let far = utc(2600, 1, 1, 0, 0, 0);
        assert_eq!(diff_milli(&far, &b), i64::MAX / 1_000_000);
    }

    #[test]
    fn time_date_normalises_like_go() {
        let u = vessel_core::time::utc();
        assert_eq!(
            time_date([2020, 1, 32, 0, 0, 0, 0], u).unwrap(),
            utc(2020, 2, 1, 0, 0, 0)
        );
        assert_eq!(
            time_date([2020, 3, 1, 0, 0, -1, 0], u).unwrap(),
            utc(2020, 2, 29, 23, 59, 59)
        );
        assert_eq!(
            time_date([2021, 3, 0, 25, 0, 0, 0], u).unwrap(),
            utc(2021, 3, 1, 1, 0, 0)
        );
        let t = time_date([2020, 1, 1, 0, 0, 0, -1], u).unwrap();
        assert_eq!(t.to_rfc3339(), "2019-12-31T23:59:59.999999999+00:00");
        let plus3 = FixedOffset::east_opt(3 * 3600).unwrap();
        let t = time_date([2020, 6, 15, 12, 30, 0, 0], plus3).unwrap();
        assert_eq!(t.to_rfc3339(), "2020-06-15T12:30:00+03:00");
        assert_eq!(t.timestamp(), utc(2020, 6, 15, 9, 30, 0).timestamp());
        assert_eq!(
            time_date([1, 1, 1, 0, 0, 0, 0], u).unwrap(),
            vessel_core::time::zero()
        );
        assert!(time_date([i64::MAX, 1, 1, 0, 0, 0, 0], u).is_err());
    }

    #[test]
    fn constants() {
        assert!(matches!(constant("time", "March"), Some(Node::Month(3))));
        assert!(matches!(constant("time", "UTC"), Some(Node::Loc(_))));
        assert!(constant("time", "Monday").is_none());
        assert!(constant("math", "Pi").is_none());
        assert!(is_function("time.Now"));
        assert!(!is_function("time.Sleep"));
    }
}

#[cfg(test)]
mod call_tests {
    use crate::testutil::*;
    use vessel_core::Value;

    #[test]
    fn len_and_string() {
        assert_eq!(ev("len(r.s)"), Value::Int(3));
        assert_eq!(ev("len(\"é\")"), Value::Int(2));
        assert_eq!(ev("len(r.e)"), Value::Int(0));
        assert_eq!(ev("string(r.i)"), s("7"));
        assert_eq!(ev("string(r.f)"), s("2.5"));
        assert_eq!(ev("string(1e21)"), s("1e+21"));
        assert_eq!(ev("string(r.d)"), s("101.78"));
        assert_eq!(ev("string(r.b)"), s("true"));
        assert_eq!(ev("string(r.s)"), s("abc"));
        assert_eq!(ev("string(r.t)"), s("2020-01-30 20:43:11 +0000 UTC"));
        assert!(cerr("string(time.UTC)").message.contains("column type"));
        assert!(
            cerr("len(r.i)")
                .message
                .contains("argument 1 of len() must be string, got int")
        );
    }

    #[test]
    fn int_conversions() {
        assert_eq!(ev("int(\"42\")"), Value::Int(42));
        assert_eq!(ev("int(r.f)"), Value::Int(2));
        assert_eq!(ev("int(-r.f)"), Value::Int(-2));
        assert_eq!(ev("int(r.d)"), Value::Int(101));
        assert_eq!(ev("int(r.b)"), Value::Int(1));
        assert_eq!(ev("int(r.i)"), Value::Int(7));
        assert_eq!(
            try_ev("int(r.s)").unwrap_err().0,
            "int(\"abc\"): not a base-10 integer"
        );
        let e = cerr("int(r.t)");
        assert_eq!(e.offset, 4);
        assert!(e.message.contains("time.Unix"));
    }

    #[test]
    fn float_conversions() {
        assert_eq!(ev("float(\"1.25\")"), Value::Float(1.25));
        assert_eq!(ev("float(r.i)"), Value::Float(7.0));
        assert_eq!(ev("float(r.d)"), Value::Float(101.78));
        assert_eq!(ev("float(false)"), Value::Float(0.0));
        assert_eq!(
            try_ev("float(r.s)").unwrap_err().0,
            "float(\"abc\"): not a number"
        );
    }

    #[test]
    fn decimal_conversions() {
        assert_eq!(ev("decimal2(\"12.345\")").to_string(), "12.345");
        assert_eq!(ev("decimal2(r.i)"), d("7"));
        assert_eq!(ev("decimal2(r.f)"), d("2.5"));
        assert_eq!(ev("decimal2(0.1 + 0.2)").to_string(), "0.30000000000000004");
        assert_eq!(ev("decimal2(true)"), d("1"));
        assert_eq!(ev("decimal2(r.d)"), d("101.78"));
        assert_eq!(
            try_ev("decimal2(r.s)").unwrap_err().0,
            "decimal2(\"abc\"): not a decimal number"
        );
    }

    #[test]
    fn typed_iif() {
        assert_eq!(ev("int.iif(r.b, 1, 2)"), Value::Int(1));
        assert_eq!(ev("int.iif(!r.b, 1, 2)"), Value::Int(2));
        assert_eq!(ev("float.iif(r.i > 100, 1.5, r.f)"), Value::Float(2.5));
        assert_eq!(ev("decimal2.iif(true, r.d, decimal2(0))"), d("101.78"));
        assert_eq!(ev("string.iif(r.s == \"abc\", \"yes\", \"no\")"), s("yes"));
        assert_eq!(
            ev("time.iif(false, time.Now(), r.t)"),
            Value::DateTime(utc(2020, 1, 30, 20, 43, 11))
        );
        // Only the chosen branch is evaluated.
        assert_eq!(ev("int.iif(r.zero == 0, 0, r.i / r.zero)"), Value::Int(0));
        let e = cerr("float.iif(r.b, 1, 2.0)");
        assert_eq!(e.offset, 15);
        assert_eq!(
            e.message,
            "argument 2 of float.iif() must be float, got int"
        );
        let e = cerr("int.iif(1, 1, 2)");
        assert_eq!(e.message, "argument 1 of int.iif() must be bool, got int");
        let e = cerr("int.iif(r.b, 1)");
        assert_eq!(e.offset, 0);
        assert_eq!(e.message, "int.iif() takes 3 arguments, got 2");
    }

    #[test]
    fn math() {
        assert_eq!(ev("math.Sqrt(16)"), Value::Float(4.0));
        assert_eq!(
            ev("math.Sqrt(r.d - r.d + decimal2(2.25))"),
            Value::Float(1.5)
        );
        assert_eq!(ev("math.Round(r.f)"), Value::Float(3.0));
        assert_eq!(ev("math.Round(-2.5)"), Value::Float(-3.0));
        assert_eq!(ev("math.Round(r.i)"), Value::Float(7.0));
        assert!(cerr("math.Sqrt(r.s)").message.contains("must be a number"));
    }

    #[test]
    fn time_functions() {
        assert_eq!(
            ev("time.Parse(\"2006-01-02 15:04:05\", \"2020-01-30 20:43:11\")"),
            Value::DateTime(utc(2020, 1, 30, 20, 43, 11))
        );
        assert_eq!(ev("time.Format(r.t, \"2006-01-02\")"), s("2020-01-30"));
        assert_eq!(
            ev("time.Format(r.t, \"Jan 2, 2006 at 3:04pm (MST)\")"),
            s("Jan 30, 2020 at 8:43pm (UTC)")
        );
        assert_eq!(
            ev("time.Date(2021, time.February, 3, 4, 5, 6, 7000000, time.UTC)"),
            Value::DateTime(
                vessel_core::chrono::Timelike::with_nanosecond(
                    &utc(2021, 2, 3, 4, 5, 6),
                    7_000_000
                )
                .unwrap()
            )
        );
        assert_eq!(ev("time.Unix(r.t)"), Value::Int(1_580_416_991));
        assert_eq!(ev("time.UnixMilli(r.t)"), Value::Int(1_580_416_991_000));
        assert_eq!(
            ev(
                "time.DiffMilli(r.t, time.Date(2020, time.January, 30, 20, 43, 10, 500000000, time.UTC))"
            ),
            Value::Int(500)
        );
        assert_eq!(
            ev("time.Before(r.t, time.Date(2021, time.January, 1, 0, 0, 0, 0, time.UTC))"),
            Value::Bool(true)
        );
        assert_eq!(
            ev("time.After(r.t, time.Date(2021, time.January, 1, 0, 0, 0, 0, time.UTC))"),
            Value::Bool(false)
        );
        let Value::DateTime(now) = ev("time.Now()") else {
            panic!("not a datetime")
        };
        assert!(now > utc(2024, 1, 1, 0, 0, 0));
        assert_eq!(
            ev(
                "time.Format(time.Date(2020, time.May, 1, 10, 0, 0, 0, time.FixedZone(\"EST\", -18000)), \"2006-01-02T15:04:05-07:00\")"
            ),
            s("2020-05-01T10:00:00-05:00")
        );
        let e = cerr("time.Date(2020, 5, 1, 0, 0, 0, 0, time.UTC)");
        assert_eq!(e.offset, 16);
        assert!(e.message.contains("month constant"), "{}", e.message);
        assert!(
            cerr("time.Date(2020, time.May, 1, 0, 0, 0, 0, 0)")
                .message
                .contains("location")
        );
        assert!(
            try_ev("time.Parse(\"2006-01-02\", r.s)")
                .unwrap_err()
                .0
                .starts_with("time.Parse(\"2006-01-02\", \"abc\"): ")
        );
        assert!(
            try_ev("time.FixedZone(\"X\", r.i * 100000)")
                .unwrap_err()
                .0
                .contains("less than a day")
        );
        assert!(
            cerr("time.FixedZone(\"X\", 100000)")
                .message
                .contains("less than a day")
        );
    }

    #[test]
    fn regular_expressions() {
        assert_eq!(ev("re.MatchString(`b.`, r.s)"), Value::Bool(true));
        assert_eq!(ev("re.MatchString(`^b`, r.s)"), Value::Bool(false));
        assert_eq!(ev("re.MatchString(`^\\w+$`, \"café\")"), Value::Bool(false));
        assert_eq!(
            ev("re.MatchString(\"^\\\\d+$\", \"123\")"),
            Value::Bool(true)
        );
        // A computed pattern is compiled at run time and cached.
        assert_eq!(
            ev("re.MatchString(r.s + \"$\", \"xabc\")"),
            Value::Bool(true)
        );
        assert_eq!(
            ev("re.MatchString(r.s + \"$\", \"abcx\")"),
            Value::Bool(false)
        );
        let e = cerr("re.MatchString(`(`, r.s)");
        assert_eq!(e.offset, 15);
        assert!(
            e.message
                .starts_with("re.MatchString: invalid regular expression \"(\"")
        );
        assert!(
            try_ev("re.MatchString(r.s + \"(\", r.s)")
                .unwrap_err()
                .0
                .starts_with("re.MatchString(\"abc(\", ...): ")
        );
    }

    #[test]
    fn dynamic_regex_cache_stays_bounded() {
        let c = compile("re.MatchString(r.s, r.e)").unwrap();
        let mut row = r_row();
        for i in 0..100 {
            row[4] = Value::Str(format!("^x{i}$"));
            row[8] = Value::Str(format!("x{i}"));
            assert_eq!(c.eval(&[&row]).unwrap(), Value::Bool(true));
        }
    }

    #[test]
    fn strings_and_fmt() {
        assert_eq!(
            ev("strings.ReplaceAll(\"a-b-c\", \"-\", \"+\")"),
            s("a+b+c")
        );
        assert_eq!(ev("strings.ReplaceAll(r.s, \"\", \".\")"), s(".a.b.c."));
        assert_eq!(
            ev("fmt.Sprintf(\"%s-%05d-%.2f-%v-%t\", r.s, r.i, r.f, r.d, r.b)"),
            s("abc-00007-2.50-101.78-true")
        );
        assert_eq!(ev("fmt.Sprintf(\"plain\")"), s("plain"));
        assert_eq!(ev("fmt.Sprintf(\"%d\", r.s)"), s("%!d(string=abc)"));
        assert!(cerr("fmt.Sprintf()").message.contains("format string"));
        assert!(cerr("fmt.Sprintf(1)").message.contains("must be string"));
        assert!(
            cerr("fmt.Sprintf(\"%v\", time.March)")
                .message
                .contains("column type")
        );
    }

    #[test]
    fn unknown_functions_and_arity() {
        let e = cerr("r.i + foo(1)");
        assert_eq!(e.offset, 6);
        assert!(
            e.message
                .starts_with("unknown function 'foo'; the built-in functions are: len,")
        );
        assert!(
            cerr("strings.ToUpper(r.s)")
                .message
                .contains("unknown function")
        );
        assert_eq!(
            cerr("time.Now(1)").message,
            "time.Now() takes 0 arguments, got 1"
        );
        assert_eq!(cerr("len()").message, "len() takes 1 argument, got 0");
    }
}
