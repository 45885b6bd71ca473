//! Expression scopes: which `alias.field` selectors an expression may use, and where they live.

use crate::index::field_list;
use std::cell::RefCell;
use vessel_core::Schema;
use vessel_expr::{CompileOptions, Compiled, Resolved, Scope, VarSlot};

/// One alias visible in a scope.
pub(crate) struct Binding<'a> {
    /// Alias as written (`r`, `l`, `p`, `w`).
    pub alias: &'static str,
    /// Environment slot (one of the `ALIAS_*` constants).
    pub slot: usize,
    /// Fields of the alias.
    pub schema: &'a Schema,
    /// How error messages name the alias's row ("the reader", "the lookup table").
    pub what: String,
}

/// A scope over schemas, remembering the selectors it could not resolve (for error hints).
pub(crate) struct FieldScope<'a> {
    bindings: Vec<Binding<'a>>,
    /// Where the expression is, for "not available here" hints ("writer fields").
    place: &'static str,
    misses: RefCell<Vec<(String, String)>>,
}

impl<'a> FieldScope<'a> {
    pub fn new(place: &'static str, bindings: Vec<Binding<'a>>) -> Self {
        FieldScope {
            bindings,
            place,
            misses: RefCell::new(Vec::new()),
        }
    }

    /// Compiles `src`, adding a hint to "unknown field" errors: the fields the alias has, or
    /// the aliases allowed here.
    pub fn compile(&self, src: &str, opts: CompileOptions) -> Result<Compiled, String> {
        self.misses.borrow_mut().clear();
        Compiled::compile(src, self, opts).map_err(|e| {
            let mut msg = e.to_string();
            if let Some(hint) = self.hint(&msg) {
                msg.push_str("; ");
                msg.push_str(&hint);
            }
            msg
        })
    }

    fn hint(&self, msg: &str) -> Option<String> {
        let misses = self.misses.borrow();
        let (alias, _) = misses
            .iter()
            .find(|(a, f)| msg.contains(&format!("{a}.{f}")))?;
        match self.bindings.iter().find(|b| b.alias == alias) {
            Some(b) => Some(format!("{} has {}", b.what, field_list(b.schema))),
            None => {
                let allowed = self
                    .bindings
                    .iter()
                    .map(|b| format!("{}.*", b.alias))
                    .collect::<Vec<_>>();
                Some(if allowed.is_empty() {
                    format!("{} cannot use {alias}.* or any other field", self.place)
                } else {
                    format!(
                        "{} cannot use {alias}.*, only {}",
                        self.place,
                        allowed.join(", ")
                    )
                })
            }
        }
    }
}

impl Scope for FieldScope<'_> {
    fn resolve(&self, alias: &str, field: &str) -> Option<Resolved> {
        for b in &self.bindings {
            if b.alias == alias
                && let Some(i) = b.schema.index_of(field)
            {
                return Some(Resolved::Var(
                    VarSlot {
                        alias: b.slot,
                        index: i,
                    },
                    b.schema.field_type(i),
                ));
            }
        }
        self.misses
            .borrow_mut()
            .push((alias.to_string(), field.to_string()));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vessel_core::FieldType;

    #[test]
    fn resolves_bindings_and_records_misses() {
        let s = Schema::new(vec![
            ("a".into(), FieldType::Int),
            ("b".into(), FieldType::String),
        ]);
        let scope = FieldScope::new(
            "writer fields",
            vec![Binding {
                alias: "r",
                slot: 0,
                schema: &s,
                what: "the reader".into(),
            }],
        );
        assert_eq!(
            scope.resolve("r", "b"),
            Some(Resolved::Var(
                VarSlot { alias: 0, index: 1 },
                FieldType::String
            ))
        );
        assert_eq!(scope.resolve("r", "zz"), None);
        assert_eq!(scope.resolve("w", "a"), None);
        assert_eq!(
            scope.hint("column 1: unknown field r.zz").as_deref(),
            Some("the reader has a (int), b (string)")
        );
        assert_eq!(
            scope.hint("column 3: unknown field w.a").as_deref(),
            Some("writer fields cannot use w.*, only r.*")
        );
        assert_eq!(scope.hint("column 3: something else"), None);
    }
}
