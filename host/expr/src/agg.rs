//! Aggregate functions of grouped lookups (§2.4): compile-time checks and accumulators.

use crate::ast::{Expr, ExprKind, ExprType};
use crate::compile::Compiler;
use crate::eval::{BoolNode, Env, Node, positive_zero};
use crate::lexer::err;
use crate::{EvalError, ExprError};
use vessel_core::{Decimal, FieldType, Value, decimal};

const NAMES: [&str; 12] = [
    "sum",
    "count",
    "avg",
    "min",
    "max",
    "string_agg",
    "sum_if",
    "count_if",
    "avg_if",
    "min_if",
    "max_if",
    "string_agg_if",
];

/// The canonical name if `func` is an aggregate function.
pub(crate) fn kind_of(func: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| *n == func)
}

/// What an aggregate computes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AggKind {
    Sum,
    Count,
    Avg,
    Min,
    Max,
    StringAgg(String),
}

/// A compiled aggregate call.
#[derive(Debug)]
pub(crate) struct AggSpec {
    pub kind: AggKind,
    /// The aggregated value (`None` for `count` and `count_if`).
    pub arg: Option<Node>,
    /// The condition of a `*_if` variant.
    pub cond: Option<BoolNode>,
    /// Result type.
    pub ty: ExprType,
}

/// Checks and compiles `name(args)` at the root of an expression.
pub(crate) fn compile(
    c: &mut Compiler<'_>,
    name: &'static str,
    args: &[Expr],
    offset: usize,
) -> Result<AggSpec, ExprError> {
    let conditional = name.ends_with("_if");
    let base = name.trim_end_matches("_if");
    let (value_args, usage) = match base {
        "count" => (
            0,
            if conditional {
                "count_if(cond)"
            } else {
                "count()"
            },
        ),
        "string_agg" => (
            2,
            if conditional {
                "string_agg_if(x, \"sep\", cond)"
            } else {
                "string_agg(x, \"sep\")"
            },
        ),
        _ => (
            1,
            if conditional {
                "name_if(x, cond)"
            } else {
                "name(x)"
            },
        ),
    };
    let want = value_args + usize::from(conditional);
    if args.len() != want {
        let usage = usage.replace("name", base);
        return Err(err(
            offset,
            format!(
                "{name}() takes {want} argument{}, got {}: write {usage}",
                if want == 1 { "" } else { "s" },
                args.len()
            ),
        ));
    }
    let arg = if value_args > 0 {
        let t = c.expr(&args[0])?;
        let ty = t.node.ty();
        let ok = match base {
            "sum" | "avg" => ty.is_numeric(),
            "min" | "max" => ty.is_numeric() || ty == ExprType::String,
            _ => ty == ExprType::String,
        };
        if !ok {
            let allowed = match base {
                "sum" | "avg" => "int, float or decimal2",
                "min" | "max" => "int, float, decimal2 or string",
                _ => "string",
            };
            return Err(err(
                t.offset,
                format!("{name}() aggregates {allowed} values, got {ty}"),
            ));
        }
        Some(t.node)
    } else {
        None
    };
    let kind = match base {
        "sum" => AggKind::Sum,
        "count" => AggKind::Count,
        "avg" => AggKind::Avg,
        "min" => AggKind::Min,
        "max" => AggKind::Max,
        _ => {
            let sep = &args[1];
            match &sep.kind {
                ExprKind::Str(s) => AggKind::StringAgg(s.clone()),
                _ => {
                    return Err(err(
                        sep.offset,
                        format!("the separator of {name}() must be a string literal, e.g. \",\""),
                    ));
                }
            }
        }
    };
    let cond = if conditional {
        let t = c.expr(&args[args.len() - 1])?;
        match t.node {
            Node::Bool(b) => Some(b),
            other => {
                return Err(err(
                    t.offset,
                    format!("the condition of {name}() must be bool, got {}", other.ty()),
                ));
            }
        }
    } else {
        None
    };
    let ty = match (&kind, &arg) {
        (AggKind::Count, _) => ExprType::Int,
        (AggKind::StringAgg(_), _) => ExprType::String,
        (_, Some(a)) => a.ty(),
        (_, None) => ExprType::Int,
    };
    Ok(AggSpec {
        kind,
        arg,
        cond,
        ty,
    })
}

/// Accumulator variants, one per (function, type).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Acc {
    Count(i64),
    SumInt(i64),
    SumFloat(f64),
    SumDec(Decimal),
    AvgInt(i128, i64),
    AvgFloat(f64, i64),
    AvgDec(Decimal, i64),
    /// `(is_max, current)`.
    ExtInt(bool, Option<i64>),
    ExtFloat(bool, Option<f64>),
    ExtDec(bool, Option<Decimal>),
    ExtStr(bool, Option<String>),
    StringAgg(String),
}

impl Acc {
    pub(crate) fn new(spec: &AggSpec) -> Acc {
        use ExprType as T;
        let is_max = spec.kind == AggKind::Max;
        match (&spec.kind, spec.ty) {
            (AggKind::Count, _) => Acc::Count(0),
            (AggKind::StringAgg(_), _) => Acc::StringAgg(String::new()),
            (AggKind::Sum, T::Float) => Acc::SumFloat(0.0),
            (AggKind::Sum, T::Decimal2) => Acc::SumDec(Decimal::ZERO),
            (AggKind::Sum, _) => Acc::SumInt(0),
            (AggKind::Avg, T::Float) => Acc::AvgFloat(0.0, 0),
            (AggKind::Avg, T::Decimal2) => Acc::AvgDec(Decimal::ZERO, 0),
            (AggKind::Avg, _) => Acc::AvgInt(0, 0),
            (_, T::Float) => Acc::ExtFloat(is_max, None),
            (_, T::Decimal2) => Acc::ExtDec(is_max, None),
            (_, T::String) => Acc::ExtStr(is_max, None),
            (_, _) => Acc::ExtInt(is_max, None),
        }
    }

    pub(crate) fn update(&mut self, spec: &AggSpec, env: Env<'_, '_>) -> Result<(), EvalError> {
        if let Some(c) = &spec.cond
            && !c.eval(env)?
        {
            return Ok(());
        }
        match (self, &spec.arg, &spec.kind) {
            (Acc::Count(n), None, _) => *n += 1,
            (Acc::SumInt(s), Some(Node::Int(a)), _) => *s = s.wrapping_add(a.eval(env)?),
            (Acc::SumFloat(s), Some(Node::Float(a)), _) => *s += a.eval(env)?,
            (Acc::SumDec(s), Some(Node::Dec(a)), _) => {
                let v = a.eval(env)?;
                *s = s
                    .checked_add(v)
                    .ok_or_else(|| EvalError(format!("sum(): decimal overflow adding {v}")))?;
            }
            (Acc::AvgInt(s, n), Some(Node::Int(a)), _) => {
                *s += i128::from(a.eval(env)?);
                *n += 1;
            }
            (Acc::AvgFloat(s, n), Some(Node::Float(a)), _) => {
                *s += a.eval(env)?;
                *n += 1;
            }
            (Acc::AvgDec(s, n), Some(Node::Dec(a)), _) => {
                let v = a.eval(env)?;
                *s = s
                    .checked_add(v)
                    .ok_or_else(|| EvalError(format!("avg(): decimal overflow adding {v}")))?;
                *n += 1;
            }
            (Acc::ExtInt(is_max, cur), Some(Node::Int(a)), _) => {
                let v = a.eval(env)?;
                if cur.is_none_or(|c| if *is_max { v > c } else { v < c }) {
                    *cur = Some(v);
                }
            }
            (Acc::ExtFloat(is_max, cur), Some(Node::Float(a)), _) => {
                let v = a.eval(env)?;
                // NaN never wins a comparison in Go, so it never becomes the min or max.
                if !v.is_nan() && cur.is_none_or(|c| if *is_max { v > c } else { v < c }) {
                    *cur = Some(v);
                }
            }
            (Acc::ExtDec(is_max, cur), Some(Node::Dec(a)), _) => {
                let v = a.eval(env)?;
                if cur.is_none_or(|c| if *is_max { v > c } else { v < c }) {
                    *cur = Some(v);
                }
            }
            (Acc::ExtStr(is_max, cur), Some(Node::Str(a)), _) => {
                let v = a.eval(env)?;
                // Capillaries' string min skips empty strings.
                if !*is_max && v.is_empty() {
                    return Ok(());
                }
                let wins = match cur {
                    None => true,
                    Some(c) if *is_max => *v > **c,
                    Some(c) => *v < **c,
                };
                if wins {
                    *cur = Some(v.into_owned());
                }
            }
            (Acc::StringAgg(buf), Some(Node::Str(a)), AggKind::StringAgg(sep)) => {
                let v = a.eval(env)?;
                // As in Capillaries, the separator goes in only once the text is non-empty.
                if !buf.is_empty() {
                    buf.push_str(sep);
                }
                buf.push_str(&v);
            }
            _ => {
                return Err(EvalError(
                    "aggregate state does not belong to this expression".into(),
                ));
            }
        }
        Ok(())
    }

    /// The result. A decimal sum is checked only here: Go's decimals are unbounded, so a partial
    /// sum beyond the decimal2 range that later comes back into it is no error.
    pub(crate) fn finish(&self) -> Result<Value, EvalError> {
        let zero = |t: FieldType| Value::zero(t);
        Ok(match self {
            Acc::Count(n) => Value::Int(*n),
            Acc::SumInt(s) => Value::Int(*s),
            Acc::SumFloat(s) => Value::Float(*s),
            Acc::SumDec(s) => Value::Decimal(
                decimal::check(positive_zero(*s))
                    .map_err(|e| EvalError(format!("sum(): decimal2 overflow: {e}")))?,
            ),
            Acc::AvgInt(_, 0) => Value::Int(0),
            // Truncating division of the exact sum, like Go's int64 division.
            Acc::AvgInt(s, n) => Value::Int((s / i128::from(*n)) as i64),
            Acc::AvgFloat(_, 0) => Value::Float(0.0),
            Acc::AvgFloat(s, n) => Value::Float(s / *n as f64),
            Acc::AvgDec(_, 0) => zero(FieldType::Decimal2),
            Acc::AvgDec(s, n) => Value::Decimal(positive_zero(decimal::round2(
                s.checked_div(Decimal::from(*n)).unwrap_or(Decimal::ZERO),
            ))),
            Acc::ExtInt(_, v) => v.map_or_else(|| zero(FieldType::Int), Value::Int),
            Acc::ExtFloat(_, v) => v.map_or_else(|| zero(FieldType::Float), Value::Float),
            Acc::ExtDec(_, v) => v.map_or_else(|| zero(FieldType::Decimal2), Value::Decimal),
            Acc::ExtStr(_, v) => Value::Str(v.clone().unwrap_or_default()),
            Acc::StringAgg(s) => Value::Str(s.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{AggState, Compiled};
    use vessel_core::{FieldType, Value};

    /// Right rows: (price, name, qty, w, ok).
    fn rows() -> Vec<Vec<Value>> {
        vec![
            l_row("334.27", "b", 2, 1.5, true),
            l_row("333.34", "", 5, -2.0, false),
            l_row("335.20", "B", -3, 0.25, true),
            l_row("0.01", "a", 4, 10.0, false),
        ]
    }

    fn run(src: &str, rows: &[Vec<Value>]) -> Value {
        let c = compile_agg(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert!(c.is_aggregate());
        let r = r_row();
        let mut st: AggState = c.new_agg_state().unwrap();
        for l in rows {
            st.update(&c, &[&r, l]).unwrap();
        }
        st.finish(&c).unwrap()
    }

    fn agg(src: &str) -> Value {
        run(src, &rows())
    }

    fn empty(src: &str) -> Value {
        run(src, &[])
    }

    fn agg_err(src: &str) -> crate::ExprError {
        compile_agg(src).unwrap_err()
    }

    #[test]
    fn sums_and_counts() {
        assert_eq!(agg("sum(l.price)"), d("1002.82"));
        assert_eq!(agg("sum(l.price)").to_string(), "1002.82");
        assert_eq!(agg("sum(l.qty)"), Value::Int(8));
        assert_eq!(agg("sum(l.w)"), Value::Float(9.75));
        assert_eq!(agg("sum(l.qty * r.i)"), Value::Int(56));
        assert_eq!(agg("count()"), Value::Int(4));
        assert_eq!(agg("count_if(l.ok)"), Value::Int(2));
        assert_eq!(agg("sum_if(l.price, l.ok)"), d("669.47"));
        assert_eq!(agg("sum_if(l.qty, l.qty > 100)"), Value::Int(0));
    }

    #[test]
    fn decimal_sum_beyond_the_decimal2_range_is_an_error() {
        let big = || l_row("60000000000000000", "x", 1, 0.0, true);
        let c = compile_agg("sum(l.price)").unwrap();
        let r = r_row();
        let mut st = c.new_agg_state().unwrap();
        st.update(&c, &[&r, &big()]).unwrap();
        assert_eq!(st.finish(&c), Ok(d("60000000000000000")));
        st.update(&c, &[&r, &big()]).unwrap();
        let e = st.finish(&c).unwrap_err();
        assert!(
            e.0.starts_with(
                "sum(): decimal2 overflow: 120000000000000000 is outside the decimal2 range"
            ),
            "{e}"
        );
        // Only the total counts, as with Go's unbounded decimals: a partial sum beyond the
        // range that comes back into it is fine, and so is the average of large values.
        let back = l_row("-60000000000000000", "x", 1, 0.0, true);
        st.update(&c, &[&r, &back]).unwrap();
        assert_eq!(st.finish(&c), Ok(d("60000000000000000")));
        assert_eq!(
            run("avg(l.price)", &[big(), big(), big()]),
            d("60000000000000000")
        );
    }

    #[test]
    fn averages() {
        // 1002.82 / 4 = 250.705 → 250.71 (half away from zero; banker's would give 250.70).
        assert_eq!(agg("avg(l.price)").to_string(), "250.71");
        // Integer division of the sum: 8 / 4.
        assert_eq!(agg("avg(l.qty)"), Value::Int(2));
        assert_eq!(
            run(
                "avg(l.qty)",
                &[l_row("0", "", -1, 0.0, true), l_row("0", "", -2, 0.0, true)]
            ),
            Value::Int(-1)
        );
        assert_eq!(
            run(
                "avg(l.qty)",
                &[
                    l_row("0", "", i64::MAX, 0.0, true),
                    l_row("0", "", i64::MAX, 0.0, true)
                ]
            ),
            Value::Int(i64::MAX)
        );
        assert_eq!(agg("avg(l.w)"), Value::Float(9.75 / 4.0));
        assert_eq!(agg("avg_if(l.price, l.ok)").to_string(), "334.74");
        assert_eq!(
            run(
                "avg(l.price)",
                &[
                    l_row("-0.01", "", 0, 0.0, true),
                    l_row("-0.04", "", 0, 0.0, true)
                ]
            )
            .to_string(),
            "-0.03"
        );
    }

    #[test]
    fn min_and_max() {
        assert_eq!(agg("min(l.price)"), d("0.01"));
        assert_eq!(agg("max(l.price)"), d("335.20"));
        assert_eq!(agg("min(l.qty)"), Value::Int(-3));
        assert_eq!(agg("max(l.qty)"), Value::Int(5));
        assert_eq!(agg("min(l.w)"), Value::Float(-2.0));
        assert_eq!(agg("max(l.w)"), Value::Float(10.0));
        // Byte-wise: "B" < "a" < "b"; the empty string is ignored by min.
        assert_eq!(agg("min(l.name)"), s("B"));
        assert_eq!(agg("max(l.name)"), s("b"));
        assert_eq!(agg("min_if(l.qty, !l.ok)"), Value::Int(4));
        assert_eq!(agg("max_if(l.price, !l.ok)"), d("333.34"));
        assert_eq!(agg("min_if(l.name, l.qty > 3)"), s("a"));
        assert_eq!(run("min(l.name)", &[l_row("0", "", 0, 0.0, true)]), s(""));
        assert_eq!(
            run(
                "min(l.w)",
                &[
                    l_row("0", "", 0, f64::NAN, true),
                    l_row("0", "", 0, 3.0, true)
                ]
            ),
            Value::Float(3.0)
        );
    }

    #[test]
    fn string_agg_keeps_order_and_capillaries_separator_rule() {
        assert_eq!(agg("string_agg(l.name, \",\")"), s("b,,B,a"));
        assert_eq!(agg("string_agg_if(l.name, \"|\", l.ok)"), s("b|B"));
        assert_eq!(agg("string_agg(l.name + \"!\", `; `)"), s("b!; !; B!; a!"));
        // The separator is only written once the text is non-empty.
        let rows = [l_row("0", "", 0, 0.0, true), l_row("0", "x", 0, 0.0, true)];
        assert_eq!(run("string_agg(l.name, \",\")", &rows), s("x"));
    }

    #[test]
    fn empty_groups_give_zero_values() {
        assert_eq!(empty("count()"), Value::Int(0));
        assert_eq!(empty("count_if(l.ok)"), Value::Int(0));
        assert_eq!(empty("sum(l.qty)"), Value::Int(0));
        assert_eq!(empty("sum(l.w)"), Value::Float(0.0));
        assert_eq!(empty("sum(l.price)"), d("0"));
        assert_eq!(empty("avg(l.qty)"), Value::Int(0));
        assert_eq!(empty("avg(l.w)"), Value::Float(0.0));
        assert_eq!(empty("avg(l.price)").to_string(), "0.00");
        assert_eq!(empty("min(l.qty)"), Value::Int(0));
        assert_eq!(empty("max(l.w)"), Value::Float(0.0));
        assert_eq!(empty("max(l.price)").to_string(), "0.00");
        assert_eq!(empty("min(l.name)"), s(""));
        assert_eq!(empty("string_agg(l.name, \",\")"), s(""));
        // Rows fed but none qualifying: the same zero values, not Capillaries' sentinels.
        assert_eq!(agg("min_if(l.qty, l.qty > 100)"), Value::Int(0));
        assert_eq!(agg("max_if(l.w, false)"), Value::Float(0.0));
        assert_eq!(agg("max_if(l.price, l.qty > 100)").to_string(), "0.00");
        assert_eq!(agg("avg_if(l.price, l.qty > 100)").to_string(), "0.00");
        assert_eq!(agg("string_agg_if(l.name, \",\", false)"), s(""));
    }

    #[test]
    fn result_types() {
        let t = |src: &str| compile_agg(src).unwrap().field_type();
        assert_eq!(t("count()"), Some(FieldType::Int));
        assert_eq!(t("sum(l.price)"), Some(FieldType::Decimal2));
        assert_eq!(t("avg(l.w)"), Some(FieldType::Float));
        assert_eq!(t("max(l.name)"), Some(FieldType::String));
        assert_eq!(t("string_agg(l.name, \",\")"), Some(FieldType::String));
        let c = compile_agg("sum(l.qty + r.i)").unwrap();
        assert_eq!(c.vars().len(), 2);
    }

    #[test]
    fn aggregate_call_errors() {
        let e = agg_err("count(l.qty)");
        assert_eq!(e.offset, 0);
        assert_eq!(e.message, "count() takes 0 arguments, got 1: write count()");
        assert_eq!(
            agg_err("sum_if(l.qty)").message,
            "sum_if() takes 2 arguments, got 1: write sum_if(x, cond)"
        );
        assert!(
            agg_err("string_agg(l.name)")
                .message
                .contains("string_agg(x, \"sep\")")
        );
        let e = agg_err("string_agg(l.name, l.name)");
        assert_eq!(e.offset, 19);
        assert!(e.message.contains("must be a string literal"));
        let e = agg_err("sum(l.name)");
        assert_eq!(e.offset, 4);
        assert_eq!(
            e.message,
            "sum() aggregates int, float or decimal2 values, got string"
        );
        assert!(agg_err("min(l.ok)").message.contains("or string"));
        assert!(
            agg_err("string_agg(l.qty, \",\")")
                .message
                .contains("string values")
        );
        let e = agg_err("count_if(l.qty)");
        assert_eq!(e.offset, 9);
        assert_eq!(
            e.message,
            "the condition of count_if() must be bool, got int"
        );
    }

    #[test]
    fn evaluation_entry_points_match_the_expression_kind() {
        let a = compile_agg("count()").unwrap();
        let r = r_row();
        assert!(a.eval(&[&r]).unwrap_err().0.contains("new_agg_state"));
        let plain = compile_agg("r.i + 1").unwrap();
        assert!(plain.new_agg_state().is_none());
        let mut st = a.new_agg_state().unwrap();
        assert!(
            st.update(&plain, &[&r])
                .unwrap_err()
                .0
                .contains("not an aggregate")
        );
        let other = compile_agg("sum(l.w)").unwrap();
        assert!(
            st.update(&other, &[&r])
                .unwrap_err()
                .0
                .contains("does not belong")
        );
        // Errors of the argument surface from update().
        let bad = compile_agg("sum(l.qty / r.zero)").unwrap();
        let mut st = bad.new_agg_state().unwrap();
        let l = l_row("1", "x", 1, 0.0, true);
        assert_eq!(
            st.update(&bad, &[&r, &l]).unwrap_err().0,
            "integer division by zero (1 / 0)"
        );
        // The state can be cloned mid-way (e.g. to finish a group early).
        let c = compile_agg("sum(l.qty)").unwrap();
        let mut st = c.new_agg_state().unwrap();
        st.update(&c, &[&r, &l]).unwrap();
        let snapshot = st.clone();
        st.update(&c, &[&r, &l]).unwrap();
        assert_eq!(snapshot.finish(&c), Ok(Value::Int(1)));
        assert_eq!(st.finish(&c), Ok(Value::Int(2)));
        let _: &Compiled = &c;
    }
}
