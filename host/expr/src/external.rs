//! Calls to functions of function plugins: `namespace.function(args)`.
//!
//! The expression language cannot call out per row: a plugin function is evaluated a row set at
//! a time by whoever evaluates the expression. The compiler therefore turns each call into a
//! variable read of `env[slot][k]` (the slot comes from the [`Scope`](crate::Scope), `k` is the
//! call's position in [`Compiled::external_calls`](crate::Compiled::external_calls)) and keeps
//! the argument expressions in an [`ExternalCall`]. The caller, for a row set:
//!
//! 1. for each call `k` in order, evaluates its arguments for every row with
//!    [`ExternalCall::eval_args`] — the environment's `slot` row holding the results of calls
//!    `0..k`, so nested calls such as `geo.b(geo.a(r.x))` see their inner result;
//! 2. calls the plugin once with those argument columns and appends the results to each row's
//!    slot row;
//! 3. evaluates the expression per row as usual, with the slot row in place.

use crate::ast::Expr;
use crate::compile::{Compiler, Typed};
use crate::eval::{BoolNode, DecNode, DtNode, FloatNode, IntNode, Node, StrNode, Var};
use crate::lexer::err;
use crate::{EvalError, ExprError, VarSlot};
use vessel_core::{FieldType, Value};

/// A plugin function as a [`Scope`](crate::Scope) resolves `namespace.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalFunction {
    /// Argument types, in order.
    pub params: Vec<FieldType>,
    /// Result type.
    pub returns: FieldType,
    /// Environment slot that holds, per row, the results of the expression's calls.
    pub slot: usize,
}

/// One call of a plugin function inside a compiled expression.
#[derive(Debug)]
pub struct ExternalCall {
    namespace: String,
    function: String,
    params: Vec<FieldType>,
    returns: FieldType,
    args: Vec<Node>,
    offset: usize,
}

impl ExternalCall {
    /// The namespace the function was called under (`geo` in `geo.distance(...)`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The function name after the namespace.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// Argument types, in order (the argument values have exactly these types).
    pub fn params(&self) -> &[FieldType] {
        &self.params
    }

    /// Result type.
    pub fn returns(&self) -> FieldType {
        self.returns
    }

    /// 0-based byte offset of the call in the expression.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Evaluates the arguments over one row, appending argument `i` to `columns[i]`.
    ///
    /// # Errors
    /// A runtime error of an argument expression; nothing is appended then.
    pub fn eval_args(&self, env: &[&[Value]], columns: &mut [Vec<Value>]) -> Result<(), EvalError> {
        debug_assert_eq!(columns.len(), self.args.len());
        let mut vals = Vec::with_capacity(self.args.len());
        for a in &self.args {
            vals.push(a.eval(env)?);
        }
        for (col, v) in columns.iter_mut().zip(vals) {
            col.push(v);
        }
        Ok(())
    }
}

/// Compiles `namespace.function(args)` against the plugin function `f`.
pub(crate) fn compile(
    c: &mut Compiler<'_>,
    func: &str,
    f: crate::ExternalFunction,
    args: &[Expr],
    offset: usize,
) -> Result<Typed, ExprError> {
    let (namespace, function) = func.split_once('.').unwrap_or(("", func));
    if args.len() != f.params.len() {
        let n = f.params.len();
        return Err(err(
            offset,
            format!(
                "{func}() takes {n} argument{} ({}), got {}",
                if n == 1 { "" } else { "s" },
                type_list(&f.params),
                args.len()
            ),
        ));
    }
    let mut nodes = Vec::with_capacity(args.len());
    for (i, (a, want)) in args.iter().zip(&f.params).enumerate() {
        let t = c.expr(a)?;
        let got = t.node.ty();
        if got.field_type() != Some(*want) {
            return Err(err(
                t.offset,
                format!(
                    "argument {} of {func}() is {got}, the function takes {want}{}",
                    i + 1,
                    conversion_hint(*want)
                ),
            ));
        }
        nodes.push(t.node);
    }
    let slot = VarSlot {
        alias: f.slot,
        index: c.calls.len(),
    };
    c.calls.push(ExternalCall {
        namespace: namespace.to_string(),
        function: function.to_string(),
        params: f.params,
        returns: f.returns,
        args: nodes,
        offset,
    });
    c.vars.push(slot);
    let var = Var {
        slot,
        name: format!("{func}()").into_boxed_str(),
    };
    let node = match f.returns {
        FieldType::Int => Node::Int(IntNode::Var(var)),
        FieldType::Float => Node::Float(FloatNode::Var(var)),
        FieldType::Decimal2 => Node::Dec(DecNode::Var(var)),
        FieldType::String => Node::Str(StrNode::Var(var)),
        FieldType::Bool => Node::Bool(BoolNode::Var(var)),
        FieldType::DateTime => Node::Dt(DtNode::Var(var)),
    };
    Ok(Typed {
        node,
        konst: false,
        offset,
    })
}

fn type_list(types: &[FieldType]) -> String {
    if types.is_empty() {
        return "none".to_string();
    }
    types
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn conversion_hint(want: FieldType) -> &'static str {
    match want {
        FieldType::Int => ": convert with int(x)",
        FieldType::Float => ": convert with float(x)",
        FieldType::Decimal2 => ": convert with decimal2(x)",
        FieldType::String => ": convert with string(x)",
        FieldType::Bool | FieldType::DateTime => "",
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{TestScope, r_row};
    use crate::{CompileOptions, Compiled, ExternalFunction, Resolved, Scope};
    use vessel_core::{FieldType, Value};

    const SLOT: usize = 4;

    /// `TestScope` plus a `geo` namespace with `scale(float, int) -> float` and
    /// `label(string) -> string`; `deny.*` exists but is not allowed here.
    struct Plugins;

    impl Scope for Plugins {
        fn resolve(&self, alias: &str, field: &str) -> Option<Resolved> {
            TestScope.resolve(alias, field)
        }

        fn function(&self, ns: &str, name: &str) -> Result<Option<ExternalFunction>, String> {
            match (ns, name) {
                ("geo", "scale") => Ok(Some(ExternalFunction {
                    params: vec![FieldType::Float, FieldType::Int],
                    returns: FieldType::Float,
                    slot: SLOT,
                })),
                ("geo", "label") => Ok(Some(ExternalFunction {
                    params: vec![FieldType::String],
                    returns: FieldType::String,
                    slot: SLOT,
                })),
                ("geo", other) => Err(format!("geo has no function '{other}'")),
                ("deny", _) => Err("plugin functions are not available here".into()),
                _ => Ok(None),
            }
        }
    }

    fn compile(src: &str) -> Result<Compiled, crate::ExprError> {
        Compiled::compile(src, &Plugins, CompileOptions::default())
    }

    /// Evaluates `c` over `row` the way an engine does, with `f` standing in for the plugin.
    fn run(c: &Compiled, row: &[Value], f: impl Fn(&str, &[Value]) -> Value) -> Value {
        let mut ext: Vec<Value> = Vec::new();
        for call in c.external_calls() {
            let mut cols = vec![Vec::new(); call.params().len()];
            let empty: &[Value] = &[];
            let env = [row, empty, empty, empty, ext.as_slice()];
            call.eval_args(&env, &mut cols).unwrap();
            let args: Vec<Value> = cols.into_iter().map(|mut c| c.remove(0)).collect();
            ext.push(f(call.function(), &args));
        }
        let empty: &[Value] = &[];
        c.eval(&[row, empty, empty, empty, ext.as_slice()]).unwrap()
    }

    fn fake(name: &str, args: &[Value]) -> Value {
        match (name, args) {
            ("scale", [Value::Float(x), Value::Int(k)]) => Value::Float(x * *k as f64),
            ("label", [Value::Str(s)]) => Value::Str(format!("<{s}>")),
            other => panic!("unexpected call {other:?}"),
        }
    }

    #[test]
    fn calls_read_their_results_from_the_slot() {
        let c = compile("geo.scale(r.f, 3) + 1.0").unwrap();
        assert_eq!(c.field_type(), Some(FieldType::Float));
        assert_eq!(c.external_calls().len(), 1);
        let call = &c.external_calls()[0];
        assert_eq!((call.namespace(), call.function()), ("geo", "scale"));
        assert_eq!(call.returns(), FieldType::Float);
        assert_eq!(call.offset(), 0);
        let row = r_row();
        let Value::Float(f) = row[2] else {
            panic!("r.f is a float")
        };
        assert_eq!(run(&c, &row, fake), Value::Float(f * 3.0 + 1.0));
        // Not folded into a constant even with constant arguments.
        let k = compile("geo.label(\"x\")").unwrap();
        assert_eq!(k.constant(), None);
        assert_eq!(run(&k, &row, fake), Value::Str("<x>".into()));
    }

    #[test]
    fn nested_calls_come_inner_first() {
        let c = compile("geo.label(geo.label(r.s) + \"!\")").unwrap();
        let names: Vec<_> = c.external_calls().iter().map(|c| c.offset()).collect();
        assert_eq!(names, vec![10, 0]);
        let row = r_row();
        let Value::Str(s) = &row[4] else {
            panic!("r.s is a string")
        };
        assert_eq!(run(&c, &row, fake), Value::Str(format!("<<{s}>!>")));
    }

    #[test]
    fn arity_and_types_are_checked() {
        let e = compile("geo.scale(r.f)").unwrap_err();
        assert_eq!(
            e.to_string(),
            "column 1: geo.scale() takes 2 arguments (float, int), got 1"
        );
        let e = compile("geo.scale(r.f, r.d)").unwrap_err();
        assert_eq!(
            e.to_string(),
            "column 16: argument 2 of geo.scale() is decimal2, the function takes int: \
             convert with int(x)"
        );
        let e = compile("geo.nope(1)").unwrap_err();
        assert_eq!(e.to_string(), "column 1: geo has no function 'nope'");
        let e = compile("deny.x(1)").unwrap_err();
        assert_eq!(
            e.to_string(),
            "column 1: plugin functions are not available here"
        );
        let e = compile("nons.x(1)").unwrap_err();
        assert!(e.to_string().contains("unknown function 'nons.x'"), "{e}");
        // Built-ins keep their meaning even if a scope offered the same name.
        assert!(
            compile("math.Sqrt(r.f)")
                .unwrap()
                .external_calls()
                .is_empty()
        );
    }

    #[test]
    fn argument_errors_surface_per_row() {
        let c = compile("geo.scale(float(r.i / r.zero), 1)").unwrap();
        let row = r_row();
        let mut cols = vec![Vec::new(), Vec::new()];
        let empty: &[Value] = &[];
        let err = c.external_calls()[0]
            .eval_args(&[&row, empty, empty, empty, empty], &mut cols)
            .unwrap_err();
        assert!(err.0.contains("division by zero"), "{err}");
        assert!(cols.iter().all(Vec::is_empty));
    }
}
