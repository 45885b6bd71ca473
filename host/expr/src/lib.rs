//! The expression language of Capillaries scripts (a Go-syntax subset).
//!
//! SCAFFOLD: the public API below is fixed; the implementation is being written.

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
    _private: (),
}

impl Compiled {
    /// Parses and type-checks `src`.
    ///
    /// # Errors
    /// [`ExprError`] with the offset of the problem.
    pub fn compile(
        _src: &str,
        _scope: &dyn Scope,
        _opts: CompileOptions,
    ) -> Result<Compiled, ExprError> {
        unimplemented!("scaffold")
    }

    /// The source text.
    pub fn source(&self) -> &str {
        unimplemented!("scaffold")
    }

    /// The result type (`None` for pseudo types such as a month or a location).
    pub fn field_type(&self) -> Option<FieldType> {
        unimplemented!("scaffold")
    }

    /// Variables the expression reads.
    pub fn vars(&self) -> &[VarSlot] {
        unimplemented!("scaffold")
    }

    /// True when the root is an aggregate call.
    pub fn is_aggregate(&self) -> bool {
        unimplemented!("scaffold")
    }

    /// Evaluates over `env[alias][index]`. For an aggregate expression use [`AggState`].
    ///
    /// # Errors
    /// Runtime errors (integer division by zero, unparsable number, ...).
    pub fn eval(&self, _env: &[&[Value]]) -> Result<Value, EvalError> {
        unimplemented!("scaffold")
    }

    /// A fresh accumulator for an aggregate expression (`None` when not an aggregate).
    pub fn new_agg_state(&self) -> Option<AggState> {
        unimplemented!("scaffold")
    }
}

/// Accumulator of one aggregate field over the matching right rows of one left row.
#[derive(Debug, Clone)]
pub struct AggState {
    _private: (),
}

impl AggState {
    /// Feeds one row.
    ///
    /// # Errors
    /// Runtime errors of the argument or condition expression, type mixing.
    pub fn update(&mut self, _expr: &Compiled, _env: &[&[Value]]) -> Result<(), EvalError> {
        unimplemented!("scaffold")
    }

    /// The aggregate result for the rows fed so far.
    pub fn finish(&self, _expr: &Compiled) -> Value {
        unimplemented!("scaffold")
    }
}
