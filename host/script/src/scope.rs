//! Expression scopes: which `alias.field` selectors an expression may use, and where they live.

use crate::index::field_list;
use crate::model::{ALIAS_X, FunctionNamespace};
use std::cell::RefCell;
use std::collections::BTreeMap;
use vessel_core::Schema;
use vessel_expr::{CompileOptions, Compiled, ExternalFunction, Resolved, Scope, VarSlot};

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
    /// Plugin function namespaces the expression may name.
    functions: Option<&'a BTreeMap<String, FunctionNamespace>>,
    /// Why calling them is not allowed here (`None`: allowed).
    deny_functions: Option<&'static str>,
}

impl<'a> FieldScope<'a> {
    pub fn new(place: &'static str, bindings: Vec<Binding<'a>>) -> Self {
        FieldScope {
            bindings,
            place,
            misses: RefCell::new(Vec::new()),
            functions: None,
            deny_functions: None,
        }
    }

    /// Lets expressions name the script's plugin functions; with `deny`, naming one is an
    /// error with that explanation.
    pub fn with_functions(
        mut self,
        functions: &'a BTreeMap<String, FunctionNamespace>,
        deny: Option<&'static str>,
    ) -> Self {
        self.functions = Some(functions);
        self.deny_functions = deny;
        self
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

    fn function(&self, namespace: &str, name: &str) -> Result<Option<ExternalFunction>, String> {
        let Some(ns) = self.functions.and_then(|f| f.get(namespace)) else {
            return Ok(None);
        };
        if let Some(why) = self.deny_functions {
            return Err(format!("{namespace}.{name}(): {why}"));
        }
        match ns.functions.iter().find(|f| f.name == name) {
            Some(f) => Ok(Some(ExternalFunction {
                params: f.params.clone(),
                returns: f.returns,
                slot: ALIAS_X,
            })),
            None => {
                let offered: Vec<String> = ns
                    .functions
                    .iter()
                    .map(|f| {
                        let params: Vec<String> = f.params.iter().map(|t| t.to_string()).collect();
                        format!("{}({}) {}", f.name, params.join(", "), f.returns)
                    })
                    .collect();
                Err(format!(
                    "the function plugin '{namespace}' ({}) has no function '{name}'; it offers: \
                     {}",
                    ns.component,
                    if offered.is_empty() {
                        "nothing".to_string()
                    } else {
                        offered.join(", ")
                    }
                ))
            }
        }
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
