//! Plugin function calls in expressions (`ns.fn(args)`): one Wasm call per function call site
//! and row set, never one per row.
//!
//! For a row set, each call's arguments are evaluated for every row, the plugin gets them as
//! columns in one call, and the results become the rows' `vessel_script::ALIAS_X` values, which the compiled
//! expression reads (see `vessel_expr::ExternalCall`). Instances are opened on first use in a
//! batch and kept for the next batch of the same node run.
//!
//! Arguments are evaluated for every row of the set, also where the expression would not use
//! the result (inside a `*.iif` branch not taken); an argument that fails fails its row's
//! field as any expression error does.

use super::BatchCtx;
use crate::Result;
use crate::scripts::script_dir;
use std::collections::HashMap;
use vessel_core::Value;
use vessel_expr::Compiled;
use vessel_wasm::FunctionInstance;

/// The environment of one input row: `r`, `l`, `p` (`w` and the call results are added here).
pub(crate) type InputRow<'r> = [&'r [Value]; 3];

/// Function instances of one batch of one node, by namespace.
pub(crate) struct Calls<'a> {
    ctx: &'a BatchCtx<'a>,
    instances: HashMap<String, FunctionInstance>,
}

impl<'a> Calls<'a> {
    pub fn new(ctx: &'a BatchCtx<'a>) -> Self {
        Calls {
            ctx,
            instances: HashMap::new(),
        }
    }

    /// For each row, the results of `expr`'s calls, in call order (the row's `ALIAS_X` values).
    /// `field` names the expression in errors.
    pub async fn eval(
        &mut self,
        expr: &Compiled,
        field: &str,
        rows: &[InputRow<'_>],
    ) -> Result<Vec<Vec<Value>>> {
        let calls = expr.external_calls();
        let mut results: Vec<Vec<Value>> = vec![Vec::with_capacity(calls.len()); rows.len()];
        if rows.is_empty() {
            return Ok(results);
        }
        let empty: &[Value] = &[];
        for call in calls {
            let mut args: Vec<Vec<Value>> =
                vec![Vec::with_capacity(rows.len()); call.params().len()];
            for (row, done) in rows.iter().zip(&results) {
                let env = [row[0], row[1], row[2], empty, done.as_slice()];
                call.eval_args(&env, &mut args).map_err(|e| {
                    self.ctx.eval_err(
                        field,
                        format!(
                            "argument of {}.{}(): {e}",
                            call.namespace(),
                            call.function()
                        ),
                    )
                })?;
            }
            let values = self
                .call(call.namespace(), call.function(), args, rows.len())
                .await
                .map_err(|m| self.ctx.eval_err(field, m))?;
            if values.len() != rows.len() {
                return Err(self.ctx.eval_err(
                    field,
                    format!(
                        "{}.{}() returned {} values for {} rows",
                        call.namespace(),
                        call.function(),
                        values.len(),
                        rows.len()
                    ),
                ));
            }
            for (done, v) in results.iter_mut().zip(values) {
                done.push(v);
            }
        }
        Ok(results)
    }

    /// One call of `namespace.function` over `rows` rows.
    async fn call(
        &mut self,
        namespace: &str,
        function: &str,
        args: Vec<Vec<Value>>,
        rows: usize,
    ) -> std::result::Result<Vec<Value>, String> {
        let inst = match self.instances.remove(namespace) {
            Some(i) => i,
            None => open(self.ctx, namespace).await?,
        };
        let name = function.to_string();
        let (inst, result) = tokio::task::spawn_blocking(move || {
            let mut inst = inst;
            let r = inst.call(&name, &args, rows);
            (inst, r)
        })
        .await
        .map_err(|e| format!("plugin call stopped: {e}"))?;
        // A failed call has already replaced the instance's store: fit for the next call.
        self.instances.insert(namespace.to_string(), inst);
        self.ctx.engine.metrics.plugin_call(namespace, &result);
        result.map_err(|e| e.to_string())
    }
}

/// An instance of the node's function namespace: an idle one of the node run, or a new one.
/// (A free function: a future holding `&Calls` across an await would need it to be `Sync`.)
async fn open(
    ctx: &BatchCtx<'_>,
    namespace: &str,
) -> std::result::Result<FunctionInstance, String> {
    let plugins = ctx.engine.plugins()?;
    if let Some(i) =
        plugins.take_idle_functions(&ctx.msg.ks, ctx.msg.run_id, &ctx.node.name, namespace)
    {
        return Ok(i);
    }
    let ns = ctx
        .script
        .functions
        .get(namespace)
        .ok_or_else(|| format!("the script declares no function namespace '{namespace}'"))?;
    let component = ns.component.clone();
    let base = script_dir(&ctx.msg.script_url).to_path_buf();
    let limits = plugins.limits_for_functions(ns);
    let label = ctx.node.name.clone();
    tokio::task::spawn_blocking(move || {
        let plugin = plugins.resolve_functions(&component, &base)?;
        plugin.instance(limits, &label).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("opening function plugin '{namespace}' stopped: {e}"))?
    .map_err(|m| format!("function plugin '{namespace}': {m}"))
}

impl Calls<'_> {
    /// Keeps the instances for the next batch of the node run.
    pub fn release(self) {
        let ctx = self.ctx;
        let Ok(plugins) = ctx.engine.plugins() else {
            return;
        };
        for (ns, inst) in self.instances {
            plugins.put_idle_functions(&ctx.msg.ks, ctx.msg.run_id, &ctx.node.name, &ns, inst);
        }
    }
}

/// True when any of the expressions calls a plugin function.
pub(crate) fn any_calls<'e>(mut exprs: impl Iterator<Item = &'e Compiled>) -> bool {
    exprs.any(|e| !e.external_calls().is_empty())
}
