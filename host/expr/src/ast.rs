//! Syntax tree of a parsed expression and the static types the checker assigns to it.

use std::fmt;
use vessel_core::{Decimal, FieldType};

/// One node of the syntax tree, with the byte offset where it starts in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// 0-based byte offset of the node's first token (for a binary expression, of its left
    /// operand; the operator's own offset is in [`ExprKind::Binary`]).
    pub offset: usize,
    /// Height of the subtree (a leaf is 1); bounded by the parser so that recursive passes over
    /// the tree cannot exhaust the stack.
    pub(crate) height: u32,
}

impl Expr {
    pub(crate) fn leaf(kind: ExprKind, offset: usize) -> Expr {
        Expr {
            kind,
            offset,
            height: 1,
        }
    }
}

/// The node kinds of the supported Go subset.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// An integer literal that fits in an `int64`.
    Int(i64),
    /// An integer literal too large for an `int64` (Capillaries reads it as a decimal).
    Decimal(Decimal),
    /// A floating-point literal.
    Float(f64),
    /// A string literal (`"..."` with escapes resolved, or a raw `` `...` ``).
    Str(String),
    /// A bare identifier. Only `true` and `false` are valid; others are reported by the checker.
    Ident(String),
    /// `alias.field` (a variable) or `pkg.Name` (a constant such as `time.UTC`).
    Selector {
        /// The part before the dot.
        alias: String,
        /// The part after the dot.
        field: String,
    },
    /// `f(args)` or `pkg.f(args)`; `func` is the full dotted name.
    Call {
        /// Function name as written, e.g. `len` or `time.Parse`.
        func: String,
        /// Arguments in order.
        args: Vec<Expr>,
    },
    /// `!x` or `-x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Expr>,
    },
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Byte offset of the operator.
        op_offset: usize,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `(x)`.
    Paren(Box<Expr>),
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `!`
    Not,
    /// `-`
    Neg,
}

/// Binary operators, in Go's precedence classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `||` (precedence 1)
    Or,
    /// `&&` (precedence 2)
    And,
    /// `==` (precedence 3)
    Eq,
    /// `!=` (precedence 3)
    Ne,
    /// `<` (precedence 3)
    Lt,
    /// `<=` (precedence 3)
    Le,
    /// `>` (precedence 3)
    Gt,
    /// `>=` (precedence 3)
    Ge,
    /// `+` (precedence 4)
    Add,
    /// `-` (precedence 4)
    Sub,
    /// `*` (precedence 5)
    Mul,
    /// `/` (precedence 5)
    Div,
    /// `%` (precedence 5)
    Rem,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Go precedence: 5 binds tightest (`* / %`), 1 loosest (`||`).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 5,
        }
    }

    /// True for `== != < <= > >=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// Static type of an expression: one of the six column types, or one of the two pseudo types
/// that only exist as arguments of `time.Date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExprType {
    /// `int`
    Int,
    /// `float`
    Float,
    /// `decimal2`
    Decimal2,
    /// `string`
    String,
    /// `bool`
    Bool,
    /// `datetime`
    DateTime,
    /// A `time.January` … `time.December` constant.
    Month,
    /// `time.UTC` or `time.FixedZone(name, seconds)`.
    Location,
}

impl ExprType {
    /// The column type, `None` for the pseudo types.
    pub fn field_type(self) -> Option<FieldType> {
        Some(match self {
            ExprType::Int => FieldType::Int,
            ExprType::Float => FieldType::Float,
            ExprType::Decimal2 => FieldType::Decimal2,
            ExprType::String => FieldType::String,
            ExprType::Bool => FieldType::Bool,
            ExprType::DateTime => FieldType::DateTime,
            ExprType::Month | ExprType::Location => return None,
        })
    }

    /// True for int, float and decimal2.
    pub fn is_numeric(self) -> bool {
        matches!(self, ExprType::Int | ExprType::Float | ExprType::Decimal2)
    }

    /// The name used in messages (`int`, `decimal2`, `time.Month`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ExprType::Int => "int",
            ExprType::Float => "float",
            ExprType::Decimal2 => "decimal2",
            ExprType::String => "string",
            ExprType::Bool => "bool",
            ExprType::DateTime => "datetime",
            ExprType::Month => "time.Month",
            ExprType::Location => "time.Location",
        }
    }
}

impl From<FieldType> for ExprType {
    fn from(t: FieldType) -> ExprType {
        match t {
            FieldType::Int => ExprType::Int,
            FieldType::Float => ExprType::Float,
            FieldType::Decimal2 => ExprType::Decimal2,
            FieldType::String => ExprType::String,
            FieldType::Bool => ExprType::Bool,
            FieldType::DateTime => ExprType::DateTime,
        }
    }
}

impl fmt::Display for ExprType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_classes_follow_go() {
        assert!(BinaryOp::Mul.precedence() > BinaryOp::Add.precedence());
        assert!(BinaryOp::Add.precedence() > BinaryOp::Lt.precedence());
        assert!(BinaryOp::Lt.precedence() > BinaryOp::And.precedence());
        assert!(BinaryOp::And.precedence() > BinaryOp::Or.precedence());
        assert!(BinaryOp::Ge.is_comparison());
        assert!(!BinaryOp::Rem.is_comparison());
    }

    #[test]
    fn expr_types_map_to_field_types() {
        for t in FieldType::ALL {
            assert_eq!(ExprType::from(t).field_type(), Some(t));
        }
        assert_eq!(ExprType::Month.field_type(), None);
        assert_eq!(ExprType::Location.to_string(), "time.Location");
    }
}
