//! The expression language of Capillaries scripts: a Go-syntax subset, type-checked at load
//! time and evaluated per row.
//!
//! Script fields such as `"expression": "r.price * decimal2(1.1)"`, `having`, lookup `filter`
//! and dependency rules are single Go expressions. [`Compiled::compile`] parses one, resolves
//! every `alias.field` through a [`Scope`] (which says where the field lives in the row
//! environment and of which type it is), checks types statically and folds constants. The
//! result is evaluated with [`Compiled::eval`] over `env[alias][index]`, with no name lookups
//! at run time.
//!
//! ```
//! use vessel_core::{FieldType, Value, decimal};
//! use vessel_expr::{CompileOptions, Compiled, Resolved, Scope, VarSlot};
//!
//! /// `r.*` are the reader's fields: slot 0 of the environment.
//! struct Reader;
//! impl Scope for Reader {
//!     fn resolve(&self, alias: &str, field: &str) -> Option<Resolved> {
//!         let (index, ty) = match (alias, field) {
//!             ("r", "price") => (0, FieldType::Decimal2),
//!             ("r", "qty") => (1, FieldType::Int),
//!             _ => return None,
//!         };
//!         Some(Resolved::Var(VarSlot { alias: 0, index }, ty))
//!     }
//! }
//!
//! let e = Compiled::compile("r.price * r.qty * decimal2(1.1)", &Reader, CompileOptions::default())?;
//! assert_eq!(e.field_type(), Some(FieldType::Decimal2));
//! let row = [Value::Decimal(decimal::from_f64_shortest(50.89)?), Value::Int(2)];
//! // 50.89 * 2 = 101.78, then * 1.1 = 111.958, rounded half away from zero.
//! assert_eq!(e.eval(&[&row])?.to_string(), "111.96");
//!
//! let err = Compiled::compile("r.price + \"x\"", &Reader, CompileOptions::default()).unwrap_err();
//! assert_eq!(err.offset, 8);
//! assert_eq!(err.to_string(), "column 9: mismatched types decimal2 and string for operator +: \
//!     convert with string(x), or parse the string with int(s), float(s) or decimal2(s)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The language
//!
//! * Literals: integers (beyond `int64` they become decimal2, as in Capillaries), floats,
//!   `"strings"` with Go escapes and raw `` `strings` ``, `true`, `false`.
//! * `alias.field` variables and constants resolved by the [`Scope`]; the built-in constants
//!   `time.January` … `time.December` and `time.UTC`.
//! * Operators with Go precedence: `||`; `&&`; `== != < <= > >=`; `+ -`; `* / %`; unary `!`
//!   and `-`; parentheses.
//! * Numeric promotion: float if either side is float, else decimal2 if either side is
//!   decimal2, else int. Every decimal2 `+ - * /` result is rounded to 2 places half away from
//!   zero. `%` is int-only; `+` also concatenates strings; bools compare with `==`/`!=` only;
//!   datetimes compare as instants.
//! * Functions: `len`, `string` (Go `%v`), `int`, `float`, `decimal2` (from a float: the
//!   shortest decimal that round-trips, not rounded), `int.iif`, `float.iif`, `decimal2.iif`,
//!   `string.iif`, `time.iif`, `math.Sqrt`, `math.Round`, `time.Parse`, `time.Format`,
//!   `time.Date`, `time.Now`, `time.Unix` (datetime → seconds), `time.UnixMilli`,
//!   `time.DiffMilli`, `time.Before`, `time.After`, `time.FixedZone`, `re.MatchString` (Go RE2:
//!   unanchored, ASCII `\w \d \s \b`), `strings.ReplaceAll`, `fmt.Sprintf`.
//! * Aggregates, only with [`CompileOptions::allow_aggregates`] and only as the whole
//!   expression: `sum`, `count()`, `avg`, `min`, `max`, `string_agg(x, "sep")` and the
//!   conditional `sum_if(x, cond)`, `count_if(cond)`, `avg_if`, `min_if`, `max_if`,
//!   `string_agg_if(x, "sep", cond)`. Feed them with [`Compiled::new_agg_state`],
//!   [`AggState::update`] and [`AggState::finish`].
//!
//! Not supported, with an error at the offending column: other identifiers, indexing, slices,
//! composite literals, bitwise operators, method calls, `?:` (use `*.iif`), statements and
//! expressions continued on a new line after a complete operand (Go's semicolon rule).
//!
//! # Where Vessel deliberately differs from Capillaries
//!
//! * Types are checked statically at compile time instead of by a dry run with dummy values;
//!   the accepted expressions and result types are the same.
//! * String literals resolve Go escapes (`"a\tb"` holds a tab); Capillaries keeps the escape
//!   text as written. Regular expressions are best written as raw strings either way.
//! * `*.iif`, `&&` and `||` evaluate lazily, so `int.iif(r.n != 0, r.t / r.n, 0)` cannot fail.
//! * Integer arithmetic wraps on overflow like Go's; integer division by zero is an
//!   [`EvalError`] instead of a panic.
//! * decimal2 holds -92233720368547758.08 to 92233720368547758.07 (a 64-bit count of
//!   hundredths, as stored). Every decimal2 result beyond that (arithmetic, `-x`, `decimal2(x)`
//!   of an int, float or string, `sum`) is an [`EvalError`] naming the value, never a clamped
//!   value; so is `decimal2(x)` of a NaN or infinite float, where Go panics.
//! * A constant subexpression that cannot be evaluated (`1/0`, `int("x")`, a `time.Parse` of a
//!   bad literal, an invalid literal regex) is a compile error.
//! * Empty aggregates: when no row was fed (for example every row failed the condition of a
//!   `*_if` variant), `min`/`max` return the type's zero value (`0`, `0.0`, `0.00`, `""`)
//!   instead of Capillaries' internal sentinels (`MaxInt64`, `MaxFloat64`, ...). `count`,
//!   `sum` and `avg` return 0 and `string_agg` returns `""`, as in Capillaries.
//! * `min` over strings ignores empty strings (as Capillaries intends, without its
//!   order-dependence); `string_agg` only inserts the separator once the text is non-empty,
//!   exactly as Capillaries does.
//! * Legacy octal literals such as `017` are rejected as ambiguous (write `0o17` or `17`).
//! * `fmt.Sprintf` accepts a format without arguments; its arguments must be column values.
//! * `time.FixedZone(name, seconds)` keeps the offset only: a datetime carries no zone name.
//! * `decimal2("...")` and integer literals beyond `int64` are limited to the 28–29 significant
//!   digits of a 96-bit decimal (Go's decimals are unbounded); more is an error.
//! * A month or location expression evaluates to its number or its UTC offset in seconds.
//! * Decimal results never carry a negative zero (`-0.001 * 1` is `0.00`), as with Go's
//!   decimals.

mod agg;
mod ast;
mod builtins;
mod compile;
mod eval;
mod external;
mod goregex;
mod lexer;
mod parser;
pub use ast::{BinaryOp, Expr, ExprKind, ExprType, UnaryOp};
pub use external::{ExternalCall, ExternalFunction};
pub use parser::parse;

use compile::{Compiler, Root};
use vessel_core::{FieldType, Value};

/// Where a variable lives in the evaluation environment: `env[alias][index]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VarSlot {
    /// Environment slot of the alias (chosen by the [`Scope`]).
    pub alias: usize,
    /// Position of the field in that slot's row.
    pub index: usize,
}

/// What a selector `alias.name` resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// A variable of the row environment.
    Var(VarSlot, FieldType),
    /// A constant (e.g. `wfmodel.RunStart`).
    Const(Value),
}

/// Resolves selectors for the compiler.
pub trait Scope {
    /// Resolves `alias.field`; `None` when unknown (the compiler reports it).
    fn resolve(&self, alias: &str, field: &str) -> Option<Resolved>;

    /// Resolves a call `namespace.name(...)` that is not a built-in function to a plugin
    /// function. `Ok(None)`: no such namespace (the compiler reports an unknown function);
    /// `Err(message)`: the namespace exists but the call cannot be made (unknown name, or
    /// plugin functions are not available in this expression).
    ///
    /// # Errors
    /// The message the compiler reports at the call.
    fn function(&self, namespace: &str, name: &str) -> Result<Option<ExternalFunction>, String> {
        let _ = (namespace, name);
        Ok(None)
    }
}

/// Options of [`Compiled::compile`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileOptions {
    /// Allow an aggregate call at the root (grouped lookups only).
    pub allow_aggregates: bool,
}

/// A parse or type error, with the 0-based byte offset in the expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {}: {message}", offset + 1)]
pub struct ExprError {
    /// 0-based byte offset.
    pub offset: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// A runtime error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// A parsed, type-checked expression.
#[derive(Debug)]
pub struct Compiled {
    src: String,
    root: Root,
    ty: ExprType,
    vars: Vec<VarSlot>,
    calls: Vec<ExternalCall>,
}

impl Compiled {
    /// Parses and type-checks `src`.
    ///
    /// # Errors
    /// [`ExprError`] with the offset of the problem.
    pub fn compile(
        src: &str,
        scope: &dyn Scope,
        opts: CompileOptions,
    ) -> Result<Compiled, ExprError> {
        let ast = parse(src)?;
        let mut c = Compiler::new(scope, opts);
        let root = c.root(&ast)?;
        let ty = match &root {
            Root::Scalar(n) => n.ty(),
            Root::Agg(spec) => spec.ty,
        };
        // Literals beyond int64 are decimals of any size (they may take part in a comparison or
        // a float computation), but as the value of the whole expression they must fit.
        if let Root::Scalar(eval::Node::Dec(eval::DecNode::Const(d))) = &root {
            vessel_core::decimal::check(*d).map_err(|e| ExprError {
                offset: 0,
                message: e.to_string(),
            })?;
        }
        Ok(Compiled {
            src: src.to_string(),
            root,
            ty,
            vars: c.vars,
            calls: c.calls,
        })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// The result type (`None` for pseudo types such as a month or a location).
    pub fn field_type(&self) -> Option<FieldType> {
        self.ty.field_type()
    }

    /// The static result type, including the pseudo types.
    pub fn expr_type(&self) -> ExprType {
        self.ty
    }

    /// Variables the expression reads.
    pub fn vars(&self) -> &[VarSlot] {
        &self.vars
    }

    /// The plugin function calls of the expression, in the order they must be evaluated (an
    /// inner call before the call it is an argument of). Call `k`'s result is read from
    /// `env[slot][k]`; see [`ExternalCall`] for how a caller evaluates them.
    pub fn external_calls(&self) -> &[ExternalCall] {
        &self.calls
    }

    /// True when the root is an aggregate call.
    pub fn is_aggregate(&self) -> bool {
        matches!(self.root, Root::Agg(_))
    }

    /// The constant value of the expression, when it reads no variable and does not call
    /// `time.Now()` (it was folded at compile time).
    pub fn constant(&self) -> Option<Value> {
        match &self.root {
            Root::Scalar(n) if self.vars.is_empty() && self.ty.field_type().is_some() => {
                use eval::{BoolNode, DecNode, DtNode, FloatNode, IntNode, Node, StrNode};
                match n {
                    Node::Int(IntNode::Const(i)) => Some(Value::Int(*i)),
                    Node::Float(FloatNode::Const(f)) => Some(Value::Float(*f)),
                    Node::Dec(DecNode::Const(d)) => Some(Value::Decimal(*d)),
                    Node::Str(StrNode::Const(s)) => Some(Value::Str(s.clone())),
                    Node::Bool(BoolNode::Const(b)) => Some(Value::Bool(*b)),
                    Node::Dt(DtNode::Const(t)) => Some(Value::DateTime(*t)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Evaluates over `env[alias][index]`. For an aggregate expression use [`AggState`].
    ///
    /// # Errors
    /// Runtime errors (integer division by zero, unparsable number, ...).
    pub fn eval(&self, env: &[&[Value]]) -> Result<Value, EvalError> {
        match &self.root {
            // Every decimal computation checks its result; a choice between operands does not,
            // and one of them may be a literal beyond the decimal2 range.
            Root::Scalar(eval::Node::Dec(n @ eval::DecNode::Iif(..))) => {
                let d = n.eval(env)?;
                vessel_core::decimal::check(d)
                    .map(Value::Decimal)
                    .map_err(|e| EvalError(format!("decimal2.iif(): {e}")))
            }
            Root::Scalar(n) => n.eval(env),
            Root::Agg(_) => Err(EvalError(format!(
                "{}: an aggregate expression is evaluated with new_agg_state(), update() and \
                 finish()",
                self.src
            ))),
        }
    }

    /// A fresh accumulator for an aggregate expression (`None` when not an aggregate).
    pub fn new_agg_state(&self) -> Option<AggState> {
        match &self.root {
            Root::Agg(spec) => Some(AggState {
                acc: agg::Acc::new(spec),
            }),
            Root::Scalar(_) => None,
        }
    }
}

/// Accumulator of one aggregate field over the matching right rows of one left row.
#[derive(Debug, Clone)]
pub struct AggState {
    acc: agg::Acc,
}

impl AggState {
    /// Feeds one row.
    ///
    /// # Errors
    /// Runtime errors of the argument or condition expression, type mixing.
    pub fn update(&mut self, expr: &Compiled, env: &[&[Value]]) -> Result<(), EvalError> {
        match &expr.root {
            Root::Agg(spec) => self.acc.update(spec, env),
            Root::Scalar(_) => Err(EvalError(format!(
                "{}: not an aggregate expression",
                expr.src
            ))),
        }
    }

    /// The aggregate result for the rows fed so far.
    ///
    /// # Errors
    /// A decimal2 sum beyond the decimal2 range.
    pub fn finish(&self, _expr: &Compiled) -> Result<Value, EvalError> {
        self.acc.finish()
    }
}

#[cfg(test)]
mod testutil;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{TestScope, dec, l_row, r_row, utc};
    use proptest::prelude::*;
    use vessel_core::Decimal;

    fn opts(allow_aggregates: bool) -> CompileOptions {
        CompileOptions { allow_aggregates }
    }

    #[test]
    fn compiled_expressions_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Compiled>();
        assert_send_sync::<AggState>();
    }

    #[test]
    fn source_and_errors_display() {
        let c = Compiled::compile(" r.i ", &TestScope, opts(false)).unwrap();
        assert_eq!(c.source(), " r.i ");
        let e = Compiled::compile("r.a +", &TestScope, opts(false)).unwrap_err();
        assert_eq!(e.offset, 5);
        assert_eq!(
            e.to_string(),
            "column 6: unexpected end of expression: expected an operand after '+'"
        );
    }

    #[test]
    fn dependency_rule_expressions() {
        let c = Compiled::compile(
            "r.b == true && (r.i == wfmodel.RunStart || r.i == wfmodel.RunNone)",
            &TestScope,
            opts(false),
        )
        .unwrap();
        let mut row = r_row();
        assert_eq!(c.eval(&[&row]).unwrap(), Value::Bool(false));
        row[0] = Value::Int(1);
        assert_eq!(c.eval(&[&row]).unwrap(), Value::Bool(true));
    }

    /// Tokens that exercise every branch of the lexer, parser and checker.
    const SOUP: &[&str] = &[
        "r.i",
        "r.j",
        "r.f",
        "r.d",
        "r.s",
        "r.b",
        "r.t",
        "r.e",
        "r.zero",
        "l.price",
        "l.name",
        "l.qty",
        "l.w",
        "l.ok",
        "w.total",
        "r.nope",
        "x",
        "true",
        "false",
        "nil",
        "0",
        "1",
        "-1",
        "2.5",
        "1e308",
        "9223372036854775807",
        "9223372036854775808",
        "0x7f",
        "017",
        "1_0",
        "\"abc\"",
        "\"\"",
        "\"2006-01-02\"",
        "\"%v %d %s %.2f\"",
        "`[`",
        "`(a|b)*`",
        "\"\\d\"",
        "'a'",
        "+",
        "-",
        "*",
        "/",
        "%",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "&&",
        "||",
        "!",
        "&",
        "|",
        "^",
        "<<",
        "&^",
        "(",
        ")",
        "(",
        ")",
        ",",
        ".",
        "[",
        "]",
        "{",
        "}",
        "?",
        ":",
        "=",
        ";",
        "...",
        "\n",
        "len",
        "string",
        "int",
        "float",
        "decimal2",
        "int.iif",
        "float.iif",
        "decimal2.iif",
        "string.iif",
        "time.iif",
        "math.Sqrt",
        "math.Round",
        "time.Parse",
        "time.Format",
        "time.Date",
        "time.Now",
        "time.Unix",
        "time.UnixMilli",
        "time.DiffMilli",
        "time.Before",
        "time.After",
        "time.FixedZone",
        "time.UTC",
        "time.January",
        "time.December",
        "re.MatchString",
        "strings.ReplaceAll",
        "fmt.Sprintf",
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
        "func",
        "map",
        "wfmodel.RunStart",
        "/*",
        "*/",
        "//",
        "é",
        "\u{0}",
    ];

    fn env_rows() -> (Vec<Value>, Vec<Value>, Vec<Value>) {
        (
            r_row(),
            l_row("10.50", "x", 3, 0.5, true),
            vec![Value::Decimal(dec("12.34"))],
        )
    }

    /// Compiles and, when that succeeds, evaluates: neither may panic.
    fn exercise(src: &str, allow_aggregates: bool) {
        if let Ok(c) = Compiled::compile(src, &TestScope, opts(allow_aggregates)) {
            let (r, l, w) = env_rows();
            let env: [&[Value]; 4] = [&r, &l, &[], &w];
            if let Some(mut st) = c.new_agg_state() {
                let _ = st.update(&c, &env);
                let _ = st.update(&c, &env);
                let _ = st.finish(&c);
            } else {
                let _ = c.eval(&env);
                // An environment with missing slots and wrongly typed values is an error too.
                let _ = c.eval(&[]);
                let _ = c.eval(&[&l, &r]);
            }
        }
    }

    /// A well-typed numeric expression over int, float and decimal2 operands.
    fn arith() -> impl Strategy<Value = String> {
        let int_leaf = prop_oneof![
            Just("r.i".to_string()),
            Just("r.j".to_string()),
            Just("r.zero".to_string()),
            Just("l.qty".to_string()),
            any::<i64>().prop_map(|i| format!("({i})")),
            (0i64..5).prop_map(|i| i.to_string()),
        ];
        let int_expr = int_leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (
                    inner.clone(),
                    prop::sample::select(&["+", "-", "*", "/", "%"][..]),
                    inner.clone()
                )
                    .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
                inner.clone().prop_map(|a| format!("-({a})")),
                (any::<bool>(), inner.clone(), inner)
                    .prop_map(|(c, a, b)| format!("int.iif({c}, {a}, {b})")),
            ]
        });
        let num_leaf = prop_oneof![
            int_expr,
            Just("r.f".to_string()),
            Just("l.w".to_string()),
            Just("r.d".to_string()),
            Just("l.price".to_string()),
            any::<f64>().prop_map(|f| format!("float(\"{f}\")")),
            (-1e6f64..1e6).prop_map(|f| format!("decimal2({f:?})")),
            "[0-9]{1,30}".prop_map(|s| format!("decimal2(\"{s}\")")),
        ];
        num_leaf.prop_recursive(4, 32, 2, |inner| {
            prop_oneof![
                (
                    inner.clone(),
                    prop::sample::select(&["+", "-", "*", "/"][..]),
                    inner.clone()
                )
                    .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
                inner.clone().prop_map(|a| format!("-({a})")),
                inner.clone().prop_map(|a| format!("int({a})")),
                inner.clone().prop_map(|a| format!("decimal2({a})")),
                inner.clone().prop_map(|a| format!("math.Sqrt({a})")),
                (
                    inner.clone(),
                    prop::sample::select(&["<", "==", ">="][..]),
                    inner
                )
                    .prop_map(|(a, op, b)| format!("int.iif({a} {op} {b}, 1, 0)")),
            ]
        })
    }

    fn numeric_row() -> impl Strategy<Value = (Vec<Value>, Vec<Value>)> {
        let int = prop_oneof![
            Just(0i64),
            Just(-1),
            Just(i64::MIN),
            Just(i64::MAX),
            any::<i64>()
        ];
        let float = prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(f64::MAX),
            any::<f64>()
        ];
        let decimal = prop_oneof![
            Just(Decimal::MAX),
            Just(Decimal::MIN),
            Just(Decimal::ZERO),
            (any::<i64>(), 0u32..28).prop_map(|(m, s)| Decimal::new(m, s)),
        ];
        (
            int.clone(),
            int.clone(),
            int.clone(),
            float.clone(),
            float,
            decimal.clone(),
            decimal,
        )
            .prop_map(|(i, j, q, f, w, d, p)| {
                let mut r = r_row();
                r[0] = Value::Int(i);
                r[1] = Value::Int(j);
                r[2] = Value::Float(f);
                r[3] = Value::Decimal(d);
                let mut l = l_row("0", "x", q, w, true);
                l[0] = Value::Decimal(p);
                (r, l)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_text_never_panics(src in any::<String>()) {
            exercise(&src, false);
            exercise(&src, true);
        }

        #[test]
        fn go_like_text_never_panics(src in "[ -~\\n\\té]{0,40}") {
            exercise(&src, false);
            exercise(&src, true);
        }

        #[test]
        fn token_soup_never_panics(toks in prop::collection::vec(prop::sample::select(SOUP), 0..14)) {
            let src = toks.join(" ");
            exercise(&src, false);
            exercise(&src, true);
            let tight = toks.concat();
            exercise(&tight, true);
        }

        #[test]
        fn well_typed_arithmetic_never_panics(src in arith(), (r, l) in numeric_row()) {
            match Compiled::compile(&src, &TestScope, opts(false)) {
                Ok(c) => {
                    prop_assert!(c.field_type().is_some_and(|t| t.is_numeric()), "{}", src);
                    // From decimal2 inputs within range, a decimal2 result is within range
                    // too or an error: never a clamped or wrapped value.
                    let in_range = |v: &Value| match v {
                        Value::Decimal(d) => vessel_core::decimal::check(*d).is_ok(),
                        _ => true,
                    };
                    let inputs_in_range = r.iter().chain(&l).all(in_range);
                    if let Ok(Value::Decimal(d)) = c.eval(&[&r, &l])
                        && inputs_in_range
                    {
                        prop_assert!(
                            vessel_core::decimal::check(d).is_ok(),
                            "{} gave {} beyond the decimal2 range", src, d
                        );
                    }
                }
                // Only a failing constant subexpression may be rejected.
                Err(e) => prop_assert!(
                    e.message.contains("division by zero")
                        || e.message.contains("overflow")
                        || e.message.contains("not a decimal number")
                        || e.message.contains("outside the decimal2 range")
                        || e.message.contains("has no decimal2 value")
                        || e.message.contains("out of the"),
                    "{}: {}", src, e
                ),
            }
        }

        #[test]
        fn formatting_and_time_builtins_never_panic(
            fmt in "[%a-zA-Z0-9.+# *\\[\\]-]{0,16}",
            layout in "(2006|06|01|1|Jan|January|02|2|_2|15|03|3|04|05|PM|pm|MST|Z07:00|-0700|-07|\\.000|\\.999|Mon|[ :T/.-]){0,8}",
            text in "[0-9A-Za-z :+./-]{0,24}",
        ) {
            let (r, l, w) = env_rows();
            let env: [&[Value]; 4] = [&r, &l, &[], &w];
            let lit = |x: &str| format!("`{}`", x.replace('`', ""));
            for src in [
                format!("fmt.Sprintf({}, r.i, r.f, r.d, r.s, r.b, r.t)", lit(&fmt)),
                format!("fmt.Sprintf({})", lit(&fmt)),
                format!("time.Format(r.t, {})", lit(&layout)),
                format!("time.Parse({}, {})", lit(&layout), lit(&text)),
                format!("time.Parse(r.s + {}, r.e + {})", lit(&layout), lit(&text)),
                format!("re.MatchString(r.e + {}, r.s)", lit(&fmt)),
            ] {
                if let Ok(c) = Compiled::compile(&src, &TestScope, opts(false)) {
                    let _ = c.eval(&env);
                }
            }
        }

        #[test]
        fn int_arithmetic_matches_wrapping_semantics(a in any::<i64>(), b in any::<i64>()) {
            let c = Compiled::compile("r.i * r.j + r.i - r.j", &TestScope, opts(false)).unwrap();
            let mut r = r_row();
            r[0] = Value::Int(a);
            r[1] = Value::Int(b);
            prop_assert_eq!(
                c.eval(&[&r]).unwrap(),
                Value::Int(a.wrapping_mul(b).wrapping_add(a).wrapping_sub(b))
            );
            let q = Compiled::compile("r.i / r.j", &TestScope, opts(false)).unwrap();
            let got = q.eval(&[&r]);
            if b == 0 {
                prop_assert!(got.is_err());
            } else {
                prop_assert_eq!(got.unwrap(), Value::Int(a.wrapping_div(b)));
            }
        }

        #[test]
        fn datetimes_round_trip_through_format_and_parse(secs in -30_000_000_000i64..30_000_000_000) {
            let c = Compiled::compile(
                "time.Parse(\"2006-01-02T15:04:05Z07:00\", time.Format(r.t, \"2006-01-02T15:04:05Z07:00\")) == r.t",
                &TestScope,
                opts(false),
            ).unwrap();
            let mut r = r_row();
            r[6] = Value::DateTime(utc(1970, 1, 1, 0, 0, 0) + vessel_core::chrono::Duration::seconds(secs));
            prop_assert_eq!(c.eval(&[&r]).unwrap(), Value::Bool(true));
        }
    }
}
