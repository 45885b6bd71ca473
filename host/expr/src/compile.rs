//! Type checker: turns the syntax tree into typed nodes, resolving selectors and folding constants.

use crate::agg::{self, AggSpec};
use crate::ast::{BinaryOp, Expr, ExprKind, ExprType, UnaryOp};
use crate::builtins;
use crate::eval::{
    ArithOp, BoolNode, CmpOp, DecNode, DtNode, FloatNode, IntNode, IntOp, LocNode, Node, StrNode,
    Var,
};
use crate::lexer::err;
use crate::{CompileOptions, ExprError, Resolved, Scope, VarSlot};
use vessel_core::Value;

/// A compiled subexpression: its node, whether it is a compile-time constant, and where it
/// starts in the source.
#[derive(Debug)]
pub(crate) struct Typed {
    pub node: Node,
    pub konst: bool,
    pub offset: usize,
}

/// What an expression compiles to.
#[derive(Debug)]
pub(crate) enum Root {
    Scalar(Node),
    Agg(AggSpec),
}

impl Node {
    /// The static type of the node.
    pub(crate) fn ty(&self) -> ExprType {
        match self {
            Node::Int(_) => ExprType::Int,
            Node::Float(_) => ExprType::Float,
            Node::Dec(_) => ExprType::Decimal2,
            Node::Str(_) => ExprType::String,
            Node::Bool(_) => ExprType::Bool,
            Node::Dt(_) => ExprType::DateTime,
            Node::Month(_) => ExprType::Month,
            Node::Loc(_) => ExprType::Location,
        }
    }

    /// A constant node holding `v`.
    pub(crate) fn constant(v: Value) -> Node {
        match v {
            Value::Int(i) => Node::Int(IntNode::Const(i)),
            Value::Float(f) => Node::Float(FloatNode::Const(f)),
            Value::Decimal(d) => Node::Dec(DecNode::Const(d)),
            Value::Str(s) => Node::Str(StrNode::Const(s)),
            Value::Bool(b) => Node::Bool(BoolNode::Const(b)),
            Value::DateTime(t) => Node::Dt(DtNode::Const(t)),
        }
    }

    fn is_leaf_const(&self) -> bool {
        matches!(
            self,
            Node::Int(IntNode::Const(_))
                | Node::Float(FloatNode::Const(_))
                | Node::Dec(DecNode::Const(_))
                | Node::Str(StrNode::Const(_))
                | Node::Bool(BoolNode::Const(_))
                | Node::Dt(DtNode::Const(_))
                | Node::Month(_)
                | Node::Loc(LocNode::Const(_))
        )
    }
}

/// The compiler state for one expression.
pub(crate) struct Compiler<'s> {
    scope: &'s dyn Scope,
    opts: CompileOptions,
    /// Variables read, in order of first use.
    pub vars: Vec<VarSlot>,
    /// Plugin function calls, inner calls first.
    pub calls: Vec<crate::ExternalCall>,
    /// Set while compiling the arguments of the root aggregate.
    in_aggregate: Option<&'static str>,
}

impl<'s> Compiler<'s> {
    pub(crate) fn new(scope: &'s dyn Scope, opts: CompileOptions) -> Self {
        Compiler {
            scope,
            opts,
            vars: Vec::new(),
            calls: Vec::new(),
            in_aggregate: None,
        }
    }

    /// Compiles the whole expression; an aggregate call is only accepted here.
    pub(crate) fn root(&mut self, e: &Expr) -> Result<Root, ExprError> {
        let mut inner = e;
        while let ExprKind::Paren(x) = &inner.kind {
            inner = x;
        }
        if let ExprKind::Call { func, args } = &inner.kind
            && let Some(kind) = agg::kind_of(func)
            && self.opts.allow_aggregates
        {
            self.in_aggregate = Some(kind);
            let spec = agg::compile(self, kind, args, inner.offset)?;
            return Ok(Root::Agg(spec));
        }
        Ok(Root::Scalar(self.expr(e)?.node))
    }

    /// Wraps a composite node; folds it when every input is constant. A constant expression
    /// that fails (e.g. `1/0`, `int("x")`) is reported at compile time.
    pub(crate) fn finish(
        &mut self,
        node: Node,
        konst: bool,
        offset: usize,
    ) -> Result<Typed, ExprError> {
        if !konst || node.is_leaf_const() {
            return Ok(Typed {
                node,
                konst,
                offset,
            });
        }
        let node = match node {
            Node::Loc(l) => Node::Loc(LocNode::Const(l.eval(&[]).map_err(|e| err(offset, e.0))?)),
            other => Node::constant(other.eval(&[]).map_err(|e| err(offset, e.0))?),
        };
        Ok(Typed {
            node,
            konst: true,
            offset,
        })
    }

    fn leaf(node: Node, konst: bool, offset: usize) -> Typed {
        Typed {
            node,
            konst,
            offset,
        }
    }

    pub(crate) fn expr(&mut self, e: &Expr) -> Result<Typed, ExprError> {
        let offset = e.offset;
        match &e.kind {
            ExprKind::Int(i) => Ok(Self::leaf(Node::Int(IntNode::Const(*i)), true, offset)),
            ExprKind::Decimal(d) => Ok(Self::leaf(Node::Dec(DecNode::Const(*d)), true, offset)),
            ExprKind::Float(f) => Ok(Self::leaf(Node::Float(FloatNode::Const(*f)), true, offset)),
            ExprKind::Str(s) => Ok(Self::leaf(
                Node::Str(StrNode::Const(s.clone())),
                true,
                offset,
            )),
            ExprKind::Ident(name) => match name.as_str() {
                "true" => Ok(Self::leaf(Node::Bool(BoolNode::Const(true)), true, offset)),
                "false" => Ok(Self::leaf(Node::Bool(BoolNode::Const(false)), true, offset)),
                _ if builtins::is_function(name) || agg::kind_of(name).is_some() => Err(err(
                    offset,
                    format!("function '{name}' must be called: {name}(...)"),
                )),
                _ => Err(err(
                    offset,
                    format!(
                        "unknown identifier '{name}': fields are written alias.field, e.g. \
                         r.{name}"
                    ),
                )),
            },
            ExprKind::Selector { alias, field } => self.selector(alias, field, offset),
            ExprKind::Paren(inner) => {
                let mut t = self.expr(inner)?;
                t.offset = offset;
                Ok(t)
            }
            ExprKind::Unary { op, operand } => {
                let t = self.expr(operand)?;
                self.unary(*op, t, offset)
            }
            ExprKind::Binary {
                op,
                op_offset,
                lhs,
                rhs,
            } => {
                let l = self.expr(lhs)?;
                let r = self.expr(rhs)?;
                let konst = l.konst && r.konst;
                let node = binary(*op, *op_offset, l, r)?;
                let mut t = self.finish(node, konst, *op_offset)?;
                t.offset = offset;
                Ok(t)
            }
            ExprKind::Call { func, args } => {
                if agg::kind_of(func).is_some() {
                    return Err(self.misplaced_aggregate(func, offset));
                }
                if !builtins::is_function(func)
                    && let Some((ns, name)) = func.split_once('.')
                {
                    match self.scope.function(ns, name) {
                        Ok(Some(f)) => {
                            return crate::external::compile(self, func, f, args, offset);
                        }
                        Ok(None) => {}
                        Err(message) => return Err(err(offset, message)),
                    }
                }
                builtins::compile_call(self, func, args, offset)
            }
        }
    }

    fn misplaced_aggregate(&self, func: &str, offset: usize) -> ExprError {
        let msg = if !self.opts.allow_aggregates {
            format!("aggregate function {func}() is only allowed in a lookup with \"group\": true")
        } else if let Some(root) = self.in_aggregate {
            format!(
                "only one aggregate function per expression: {func}() inside {root}() is not \
                 allowed"
            )
        } else {
            format!(
                "aggregate function {func}() must be the whole expression, e.g. {func}(l.x), \
                 not {func}(l.x) * 2"
            )
        };
        err(offset, msg)
    }

    fn selector(&mut self, alias: &str, field: &str, offset: usize) -> Result<Typed, ExprError> {
        if let Some(node) = builtins::constant(alias, field) {
            return Ok(Self::leaf(node, true, offset));
        }
        let name = format!("{alias}.{field}");
        match self.scope.resolve(alias, field) {
            Some(Resolved::Const(v)) => Ok(Self::leaf(Node::constant(v), true, offset)),
            Some(Resolved::Var(slot, ty)) => {
                if !self.vars.contains(&slot) {
                    self.vars.push(slot);
                }
                let var = Var {
                    slot,
                    name: name.into_boxed_str(),
                };
                use vessel_core::FieldType as F;
                let node = match ty {
                    F::Int => Node::Int(IntNode::Var(var)),
                    F::Float => Node::Float(FloatNode::Var(var)),
                    F::Decimal2 => Node::Dec(DecNode::Var(var)),
                    F::String => Node::Str(StrNode::Var(var)),
                    F::Bool => Node::Bool(BoolNode::Var(var)),
                    F::DateTime => Node::Dt(DtNode::Var(var)),
                };
                Ok(Self::leaf(node, false, offset))
            }
            None if builtins::is_function(&name) => Err(err(
                offset,
                format!("function '{name}' must be called: {name}(...)"),
            )),
            None if matches!(alias, "time" | "math" | "re" | "strings" | "fmt") => Err(err(
                offset,
                format!(
                    "unknown constant '{name}': the built-in constants are time.January … \
                     time.December and time.UTC"
                ),
            )),
            None => Err(err(
                offset,
                format!(
                    "unknown field '{name}': no field '{field}' is available under alias \
                     '{alias}' in this expression"
                ),
            )),
        }
    }

    fn unary(&mut self, op: UnaryOp, t: Typed, offset: usize) -> Result<Typed, ExprError> {
        let konst = t.konst;
        let ty = t.node.ty();
        let node = match (op, t.node) {
            (UnaryOp::Not, Node::Bool(b)) => Node::Bool(BoolNode::Not(Box::new(b))),
            (UnaryOp::Neg, Node::Int(n)) => Node::Int(IntNode::Neg(Box::new(n))),
            (UnaryOp::Neg, Node::Float(n)) => Node::Float(FloatNode::Neg(Box::new(n))),
            (UnaryOp::Neg, Node::Dec(n)) => Node::Dec(DecNode::Neg(Box::new(n))),
            (UnaryOp::Not, _) => {
                return Err(err(
                    offset,
                    format!("operator ! needs a bool operand, got {ty}"),
                ));
            }
            (UnaryOp::Neg, _) => {
                return Err(err(
                    offset,
                    format!("operator - needs a number (int, float, decimal2), got {ty}"),
                ));
            }
        };
        self.finish(node, konst, offset)
    }
}

/// Converts a numeric node to float.
fn to_float(n: Node) -> FloatNode {
    match n {
        Node::Float(f) => f,
        Node::Int(i) => FloatNode::FromInt(Box::new(i)),
        Node::Dec(d) => FloatNode::FromDec(Box::new(d)),
        // Callers only pass numeric nodes.
        _ => FloatNode::Const(0.0),
    }
}

/// Converts an int or decimal node to decimal.
fn to_dec(n: Node) -> DecNode {
    match n {
        Node::Dec(d) => d,
        Node::Int(i) => DecNode::FromInt(Box::new(i)),
        _ => DecNode::Const(Default::default()),
    }
}

fn cmp_op(op: BinaryOp) -> CmpOp {
    match op {
        BinaryOp::Eq => CmpOp::Eq,
        BinaryOp::Ne => CmpOp::Ne,
        BinaryOp::Lt => CmpOp::Lt,
        BinaryOp::Le => CmpOp::Le,
        BinaryOp::Gt => CmpOp::Gt,
        _ => CmpOp::Ge,
    }
}

fn arith_op(op: BinaryOp) -> ArithOp {
    match op {
        BinaryOp::Add => ArithOp::Add,
        BinaryOp::Sub => ArithOp::Sub,
        BinaryOp::Mul => ArithOp::Mul,
        _ => ArithOp::Div,
    }
}

/// The promoted type of two numeric operands: float wins, then decimal2, then int.
fn promote(a: ExprType, b: ExprType) -> ExprType {
    if a == ExprType::Float || b == ExprType::Float {
        ExprType::Float
    } else if a == ExprType::Decimal2 || b == ExprType::Decimal2 {
        ExprType::Decimal2
    } else {
        ExprType::Int
    }
}

fn hint(a: ExprType, b: ExprType) -> &'static str {
    use ExprType as T;
    match (a, b) {
        (T::String, t) | (t, T::String) if t.is_numeric() || t == T::Bool => {
            ": convert with string(x), or parse the string with int(s), float(s) or decimal2(s)"
        }
        (T::DateTime, t) | (t, T::DateTime) if t.is_numeric() => {
            ": use time.Unix(t), time.UnixMilli(t) or time.DiffMilli(a, b)"
        }
        (T::Bool, t) | (t, T::Bool) if t.is_numeric() => ": convert with int(b)",
        _ => "",
    }
}

fn binary(op: BinaryOp, at: usize, l: Typed, r: Typed) -> Result<Node, ExprError> {
    use ExprType as T;
    let (lt, rt) = (l.node.ty(), r.node.ty());
    let mismatch = || {
        err(
            at,
            format!(
                "mismatched types {lt} and {rt} for operator {op}{}",
                hint(lt, rt)
            ),
        )
    };
    if lt == T::Month || lt == T::Location || rt == T::Month || rt == T::Location {
        return Err(err(
            at,
            format!(
                "operator {op} is not defined on {}: months and locations are only arguments \
                 of time.Date",
                if lt == T::Month || lt == T::Location {
                    lt
                } else {
                    rt
                }
            ),
        ));
    }
    Ok(match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
            if lt.is_numeric() && rt.is_numeric() {
                let aop = arith_op(op);
                match promote(lt, rt) {
                    T::Float => Node::Float(FloatNode::Bin(
                        aop,
                        Box::new(to_float(l.node)),
                        Box::new(to_float(r.node)),
                    )),
                    T::Decimal2 => Node::Dec(DecNode::Bin(
                        aop,
                        Box::new(to_dec(l.node)),
                        Box::new(to_dec(r.node)),
                    )),
                    _ => {
                        let (Node::Int(a), Node::Int(b)) = (l.node, r.node) else {
                            return Err(mismatch());
                        };
                        let iop = match op {
                            BinaryOp::Add => IntOp::Add,
                            BinaryOp::Sub => IntOp::Sub,
                            BinaryOp::Mul => IntOp::Mul,
                            _ => IntOp::Div,
                        };
                        Node::Int(IntNode::Bin(iop, Box::new(a), Box::new(b)))
                    }
                }
            } else if lt == T::String && rt == T::String {
                if op != BinaryOp::Add {
                    return Err(err(
                        at,
                        format!("operator {op} is not defined on strings (only + concatenates)"),
                    ));
                }
                let (Node::Str(a), Node::Str(b)) = (l.node, r.node) else {
                    return Err(mismatch());
                };
                let mut parts = Vec::new();
                for s in [a, b] {
                    match s {
                        StrNode::Concat(v) => parts.extend(v),
                        other => parts.push(other),
                    }
                }
                Node::Str(StrNode::Concat(parts))
            } else if lt == rt {
                return Err(err(
                    at,
                    format!(
                        "operator {op} is not defined on {lt}{}",
                        if lt == T::DateTime {
                            ": use time.DiffMilli(a, b) for differences"
                        } else {
                            ""
                        }
                    ),
                ));
            } else {
                return Err(mismatch());
            }
        }
        BinaryOp::Rem => match (l.node, r.node) {
            (Node::Int(a), Node::Int(b)) => {
                Node::Int(IntNode::Bin(IntOp::Rem, Box::new(a), Box::new(b)))
            }
            _ => {
                return Err(err(
                    at,
                    format!("operator % needs int operands, got {lt} and {rt}"),
                ));
            }
        },
        BinaryOp::And | BinaryOp::Or => match (l.node, r.node) {
            (Node::Bool(a), Node::Bool(b)) => Node::Bool(if op == BinaryOp::And {
                BoolNode::And(Box::new(a), Box::new(b))
            } else {
                BoolNode::Or(Box::new(a), Box::new(b))
            }),
            _ => {
                return Err(err(
                    at,
                    format!("operator {op} needs bool operands, got {lt} and {rt}"),
                ));
            }
        },
        _ => {
            let c = cmp_op(op);
            if lt.is_numeric() && rt.is_numeric() {
                Node::Bool(match promote(lt, rt) {
                    T::Float => BoolNode::CmpFloat(
                        c,
                        Box::new(to_float(l.node)),
                        Box::new(to_float(r.node)),
                    ),
                    T::Decimal2 => {
                        BoolNode::CmpDec(c, Box::new(to_dec(l.node)), Box::new(to_dec(r.node)))
                    }
                    _ => match (l.node, r.node) {
                        (Node::Int(a), Node::Int(b)) => {
                            BoolNode::CmpInt(c, Box::new(a), Box::new(b))
                        }
                        _ => return Err(mismatch()),
                    },
                })
            } else {
                Node::Bool(match (l.node, r.node) {
                    (Node::Str(a), Node::Str(b)) => BoolNode::CmpStr(c, Box::new(a), Box::new(b)),
                    (Node::Dt(a), Node::Dt(b)) => BoolNode::CmpDt(c, Box::new(a), Box::new(b)),
                    (Node::Bool(a), Node::Bool(b)) => {
                        if !matches!(c, CmpOp::Eq | CmpOp::Ne) {
                            return Err(err(
                                at,
                                format!("operator {op} is not defined on bool (only == and !=)"),
                            ));
                        }
                        BoolNode::CmpBool(c, Box::new(a), Box::new(b))
                    }
                    _ => {
                        return Err(err(
                            at,
                            format!("cannot compare {lt} with {rt}{}", hint(lt, rt)),
                        ));
                    }
                })
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{ExprType, VarSlot};
    use vessel_core::{FieldType, Value};

    #[test]
    fn precedence_is_go_precedence() {
        assert_eq!(ev("1 + 2 * 3"), Value::Int(7));
        assert_eq!(ev("(1 + 2) * 3"), Value::Int(9));
        assert_eq!(ev("10 - 4 - 3"), Value::Int(3));
        assert_eq!(ev("12 / 3 / 2"), Value::Int(2));
        assert_eq!(ev("7 % 4 * 2"), Value::Int(6));
        assert_eq!(ev("-r.i + 10"), Value::Int(3));
        assert_eq!(ev("1 + 2 == 3 && 2 > 1 || false"), Value::Bool(true));
        assert_eq!(ev("true || false && false"), Value::Bool(true));
        assert_eq!(ev("!false && false"), Value::Bool(false));
        assert_eq!(ev("!(false && false)"), Value::Bool(true));
        assert_eq!(ev("r.i > 5 == true"), Value::Bool(true));
    }

    #[test]
    fn numeric_promotion() {
        assert_eq!(ev("r.i + r.j"), Value::Int(9));
        assert_eq!(ev("r.i / r.j"), Value::Int(3));
        assert_eq!(ev("r.i / 2.0"), Value::Float(3.5));
        assert_eq!(ev("r.i + r.f"), Value::Float(9.5));
        assert_eq!(ev("r.d + r.i"), d("108.78"));
        assert_eq!(ev("r.i * r.d"), d("712.46"));
        assert_eq!(ev("r.d * 2"), d("203.56"));
        // decimal ⊕ float → float.
        assert_eq!(ev("r.d * 1.0"), Value::Float(101.78));
        assert_eq!(ev("r.d + r.f"), Value::Float(104.28));
        assert_eq!(ev("r.d > 100"), Value::Bool(true));
        assert_eq!(ev("r.d > 101.79"), Value::Bool(false));
        assert_eq!(ev("r.i == 7.0"), Value::Bool(true));
        assert_eq!(ev("-r.d"), d("-101.78"));
        assert_eq!(ev("-r.f"), Value::Float(-2.5));
        assert_eq!(ev("1 / 2.0"), Value::Float(0.5));
        // Literals beyond int64 are decimals; they compare and convert, but a decimal2 result
        // must fit decimal2's 64-bit hundredths.
        assert_eq!(ev("9223372036854775808 > r.d"), Value::Bool(true));
        assert_eq!(
            ev("float(9223372036854775808)"),
            Value::Float(9_223_372_036_854_775_808.0)
        );
        let e = cerr("9223372036854775808");
        assert!(
            e.message
                .starts_with("9223372036854775808 is outside the decimal2 range"),
            "{e}"
        );
        let e = cerr("9223372036854775808 + 1");
        assert!(
            e.message
                .starts_with("decimal2 overflow in 9223372036854775808 + 1: "),
            "{e}"
        );
    }

    #[test]
    fn decimal2_range_is_checked_wherever_a_decimal2_is_made() {
        let range = "is outside the decimal2 range -92233720368547758.08 to 92233720368547758.07";
        let cases = [
            (
                "decimal2(\"92233720368547758.07\") + decimal2(r.i) / decimal2(r.i) / 100",
                "decimal2 overflow in 92233720368547758.07 + 0.01: 92233720368547758.08 ",
            ),
            (
                "decimal2(r.i) * decimal2(\"20000000000000000\")",
                "decimal2 overflow in 7 * 20000000000000000: 140000000000000000.00 ",
            ),
            (
                "-(decimal2(\"-92233720368547758.08\") + decimal2(r.zero))",
                "-(-92233720368547758.08): 92233720368547758.08 ",
            ),
            (
                "decimal2(r.i * 100000000000000000)",
                "decimal2(700000000000000000): 700000000000000000 ",
            ),
            ("decimal2(r.f * 1e17)", "decimal2(2.5e+17): 2.5e+17 "),
            (
                "decimal2(string(r.i) + \"e17\")",
                "decimal2(\"7e17\"): 700000000000000000 ",
            ),
            (
                "decimal2.iif(r.b, 100000000000000000000, r.d)",
                "decimal2.iif(): 100000000000000000000 ",
            ),
        ];
        for (src, want) in cases {
            let e = try_ev(src).unwrap_err();
            assert!(e.0.starts_with(want), "{src}: {e}");
            assert!(e.0.contains(range), "{src}: {e}");
        }
        for src in [
            "decimal2(math.Sqrt(r.f - 3.0))",
            "decimal2(1.0 / float(r.zero))",
        ] {
            let e = try_ev(src).unwrap_err();
            assert!(e.0.contains("has no decimal2 value"), "{src}: {e}");
        }
        assert_eq!(
            try_ev("decimal2(\"92233720368547758.07\") - decimal2(r.zero)"),
            Ok(d("92233720368547758.07"))
        );
        assert_eq!(
            try_ev("decimal2(r.i * -13176245766935394) - decimal2(\"0.02\")"),
            Ok(d("-92233720368547758.02"))
        );
    }

    #[test]
    fn decimal_rounding() {
        assert_eq!(ev("r.d * decimal2(1.1)"), d("111.96"));
        assert_eq!(ev("r.d * decimal2(1.1)").to_string(), "111.96");
        assert_eq!(ev("decimal2(1.1)"), d("1.1"));
        assert_eq!(ev("decimal2(1.1)").to_string(), "1.1");
        assert_eq!(ev("decimal2(0.125) * 1").to_string(), "0.13");
        assert_eq!(ev("decimal2(-0.125) * 1").to_string(), "-0.13");
        // No negative zero, as with shopspring decimals.
        assert_eq!(ev("decimal2(-0.001) * 1").to_string(), "0.00");
        assert_eq!(ev("-decimal2(0)").to_string(), "0");
        assert_eq!(ev("-(r.d - r.d)").to_string(), "0.00");
        assert_eq!(ev("decimal2(1) / decimal2(3)").to_string(), "0.33");
        assert_eq!(ev("decimal2(2) / decimal2(3)").to_string(), "0.67");
        assert_eq!(ev("decimal2(10) / 4").to_string(), "2.50");
        // (value × 1.1 → T) / 9.0 is float because 9.0 is.
        assert_eq!(
            ev("float(r.d*decimal2(1.1))/9.0"),
            Value::Float(111.96 / 9.0)
        );
        assert_eq!(ev("decimal2(float(r.d*decimal2(1.1)/9.0))"), d("12.44"));
        assert_eq!(
            ev("decimal2(float(r.d*decimal2(1.1)/9.0))").to_string(),
            "12.44"
        );
    }

    #[test]
    fn strings_concatenate_and_compare() {
        assert_eq!(ev("r.s + \"-\" + r.s"), s("abc-abc"));
        assert_eq!(ev("\"a\" + \"b\" + r.s + \"c\""), s("ababcc"));
        assert_eq!(ev("r.s + `\\d`"), s("abc\\d"));
        assert_eq!(ev("r.s < \"abd\""), Value::Bool(true));
        assert_eq!(ev("r.s >= \"abc\""), Value::Bool(true));
        assert_eq!(ev("r.s != \"abc\""), Value::Bool(false));
        assert_eq!(ev("\"B\" < \"a\""), Value::Bool(true));
        assert_eq!(ev("r.e == \"\""), Value::Bool(true));
    }

    #[test]
    fn datetimes_and_bools_compare() {
        assert_eq!(
            ev("r.t > time.Parse(\"2006-01-02\", \"2020-01-30\")"),
            Value::Bool(true)
        );
        assert_eq!(
            ev(
                "r.t == time.Date(2020, time.January, 30, 23, 43, 11, 0, time.FixedZone(\"X\", 10800))"
            ),
            Value::Bool(true)
        );
        assert_eq!(
            ev("r.t <= time.Date(2020, time.January, 30, 20, 43, 10, 0, time.UTC)"),
            Value::Bool(false)
        );
        assert_eq!(ev("r.b == true"), Value::Bool(true));
        assert_eq!(ev("r.b != r.b"), Value::Bool(false));
        assert_eq!(ev("r.f != r.f"), Value::Bool(false));
    }

    #[test]
    fn logical_operators_short_circuit() {
        assert_eq!(ev("r.zero != 0 && r.i / r.zero > 1"), Value::Bool(false));
        assert_eq!(ev("r.zero == 0 || r.i / r.zero > 1"), Value::Bool(true));
        let e = try_ev("r.zero == 0 && r.i / r.zero > 1").unwrap_err();
        assert_eq!(e.0, "integer division by zero (7 / 0)");
    }

    #[test]
    fn runtime_errors_name_the_problem() {
        assert_eq!(
            try_ev("r.i % r.zero").unwrap_err().0,
            "integer division by zero (7 % 0)"
        );
        assert_eq!(
            try_ev("r.d / decimal2(r.zero)").unwrap_err().0,
            "decimal division by zero (101.78 / 0)"
        );
        assert_eq!(ev("r.f / float(r.zero)"), Value::Float(f64::INFINITY));
        assert_eq!(ev("9223372036854775807 + r.i - r.i"), Value::Int(i64::MAX));
        assert_eq!(ev("9223372036854775807 + r.j"), Value::Int(i64::MIN + 1));
    }

    #[test]
    fn constants_are_folded_and_failing_constants_rejected() {
        let c = compile("1 + 2 * 3").unwrap();
        assert_eq!(c.constant(), Some(Value::Int(7)));
        assert!(c.vars().is_empty());
        let c = compile("\"a\" + string(1.5)").unwrap();
        assert_eq!(c.constant(), Some(s("a1.5")));
        assert_eq!(compile("r.i + 1").unwrap().constant(), None);
        assert_eq!(compile("time.Now()").unwrap().constant(), None);
        let e = cerr("1 + 10 / 0");
        assert_eq!(e.offset, 7);
        assert_eq!(e.message, "integer division by zero (10 / 0)");
        let e = cerr("r.i + int(\"abc\")");
        assert_eq!(e.offset, 6);
        assert_eq!(e.message, "int(\"abc\"): not a base-10 integer");
        let e = cerr("time.Parse(\"2006-01-02\", \"2020-13-01\")");
        assert_eq!(e.offset, 0);
        assert!(
            e.message
                .starts_with("time.Parse(\"2006-01-02\", \"2020-13-01\"): ")
        );
        assert_eq!(
            compile("wfmodel.RunStart + 1").unwrap().constant(),
            Some(Value::Int(2))
        );
    }

    #[test]
    fn vars_are_listed_once_in_order() {
        let c = compile("r.i + l.qty * r.i + r.j > 0 && w.total > decimal2(0)").unwrap();
        assert_eq!(
            c.vars(),
            &[
                VarSlot { alias: 0, index: 0 },
                VarSlot { alias: 1, index: 2 },
                VarSlot { alias: 0, index: 1 },
                VarSlot { alias: 3, index: 0 },
            ]
        );
        assert!(compile("wfmodel.RunStart == 1").unwrap().vars().is_empty());
    }

    #[test]
    fn result_types() {
        let t = |src: &str| compile(src).unwrap().field_type();
        assert_eq!(t("r.i + 1"), Some(FieldType::Int));
        assert_eq!(t("r.i + 1.5"), Some(FieldType::Float));
        assert_eq!(t("r.d + 1"), Some(FieldType::Decimal2));
        assert_eq!(t("r.s + r.s"), Some(FieldType::String));
        assert_eq!(t("r.s == r.s"), Some(FieldType::Bool));
        assert_eq!(t("r.t"), Some(FieldType::DateTime));
        assert_eq!(t("time.March"), None);
        assert_eq!(t("time.UTC"), None);
        assert_eq!(compile("time.March").unwrap().expr_type(), ExprType::Month);
        assert_eq!(ev("time.March"), Value::Int(3));
        assert_eq!(ev("time.FixedZone(\"X\", -3600)"), Value::Int(-3600));
    }

    #[test]
    fn type_errors_point_at_the_operator() {
        let e = cerr("r.s + r.i");
        assert_eq!(e.offset, 4);
        assert!(
            e.message
                .starts_with("mismatched types string and int for operator +"),
            "{}",
            e.message
        );
        assert!(e.message.contains("string(x)"));
        let e = cerr("r.s - r.s");
        assert_eq!(
            e.message,
            "operator - is not defined on strings (only + concatenates)"
        );
        let e = cerr("r.d % 2");
        assert_eq!(e.offset, 4);
        assert_eq!(
            e.message,
            "operator % needs int operands, got decimal2 and int"
        );
        assert!(cerr("r.f % 2").message.contains("int operands"));
        let e = cerr("r.i && r.b");
        assert_eq!(
            e.message,
            "operator && needs bool operands, got int and bool"
        );
        let e = cerr("r.b < r.b");
        assert_eq!(
            e.message,
            "operator < is not defined on bool (only == and !=)"
        );
        let e = cerr("r.t == r.s");
        assert_eq!(e.message, "cannot compare datetime with string");
        assert!(cerr("r.t - r.t").message.contains("time.DiffMilli"));
        assert!(cerr("r.t + 1").message.contains("time.Unix"));
        assert!(cerr("r.b + 1").message.contains("int(b)"));
        let e = cerr("!r.i");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (0, "operator ! needs a bool operand, got int")
        );
        assert!(cerr("-r.s").message.contains("needs a number"));
        assert!(
            cerr("time.March + 1")
                .message
                .contains("only arguments of time.Date")
        );
        assert!(
            cerr("time.UTC == time.UTC")
                .message
                .contains("time.Location")
        );
    }

    #[test]
    fn scoping_errors() {
        let e = cerr("x + 1");
        assert_eq!(e.offset, 0);
        assert_eq!(
            e.message,
            "unknown identifier 'x': fields are written alias.field, e.g. r.x"
        );
        let e = cerr("r.i + r.nope");
        assert_eq!(e.offset, 6);
        assert!(
            e.message.starts_with("unknown field 'r.nope'"),
            "{}",
            e.message
        );
        let e = cerr("1 + p.x");
        assert_eq!(e.offset, 4);
        assert!(e.message.contains("'p.x'"));
        assert!(cerr("nil").message.contains("unknown identifier 'nil'"));
        assert!(
            cerr("time.Monday")
                .message
                .contains("unknown constant 'time.Monday'")
        );
        assert!(cerr("math.Pi").message.contains("unknown constant"));
        assert!(cerr("time.Now").message.contains("must be called"));
        assert!(cerr("len").message.contains("must be called"));
        assert!(
            cerr("wfmodel.RunBogus")
                .message
                .contains("unknown field 'wfmodel.RunBogus'")
        );
    }

    #[test]
    fn aggregates_are_rejected_unless_allowed_at_the_root() {
        let e = cerr("sum(l.price)");
        assert_eq!(e.offset, 0);
        assert!(
            e.message
                .contains("only allowed in a lookup with \"group\": true")
        );
        let e = compile_agg("sum(l.price) * 2").unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(
            e.message.contains("must be the whole expression"),
            "{}",
            e.message
        );
        let e = compile_agg("1 + count()").unwrap_err();
        assert_eq!(e.offset, 4);
        let e = compile_agg("sum(l.qty + count())").unwrap_err();
        assert_eq!(e.offset, 12);
        assert!(e.message.contains("only one aggregate"), "{}", e.message);
        assert!(compile_agg("(sum(l.qty))").unwrap().is_aggregate());
        assert!(!compile_agg("r.i + 1").unwrap().is_aggregate());
    }
}
