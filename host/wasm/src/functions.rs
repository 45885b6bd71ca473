//! Function plugins: scalar functions for expressions, evaluated a batch (one column per argument) at a time.

use std::collections::HashSet;
use std::sync::Arc;

use vessel_core::{FieldType, Value};
use wasmtime::Store;
use wasmtime::component::Component;

use crate::Limits;
use crate::bindings::function_world;
use crate::capture::LogContext;
use crate::columns;
use crate::error::{Phase, Site, WasmError};
use crate::host::Runtime;
use crate::processor::guest_error;
use crate::state::{self, StoreState};

/// One function a function plugin offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Name after the namespace in expressions (`[a-z_][a-z0-9_]*`).
    pub name: String,
    /// Argument types, in order.
    pub params: Vec<FieldType>,
    /// Result type.
    pub returns: FieldType,
    /// One line of documentation.
    pub description: String,
}

struct FnShared {
    runtime: Arc<Runtime>,
    pre: function_world::FunctionPluginPre<StoreState>,
    name: String,
    signatures: Vec<Signature>,
}

/// A loaded function component; make one [`FunctionInstance`] per worker (or node run).
pub struct FunctionPlugin {
    shared: Arc<FnShared>,
}

impl std::fmt::Debug for FunctionPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionPlugin")
            .field("name", &self.shared.name)
            .field("signatures", &self.shared.signatures)
            .finish_non_exhaustive()
    }
}

fn valid_function_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn instantiate(
    pre: &function_world::FunctionPluginPre<StoreState>,
    store: &mut Store<StoreState>,
    limits: &Limits,
    site: &Site,
) -> Result<function_world::FunctionPlugin, WasmError> {
    state::guarded_call(store, limits, Phase::Start, site, |s| pre.instantiate(s))
}

impl FunctionPlugin {
    pub(crate) fn load(
        runtime: Arc<Runtime>,
        component: &Component,
        name: &str,
        limits: &Limits,
    ) -> Result<FunctionPlugin, WasmError> {
        let site = Site::plugin(name);
        let pre = runtime.instance_pre(component, &site)?;
        let pre =
            function_world::FunctionPluginPre::new(pre).map_err(|e| WasmError::Incompatible {
                site: site.clone(),
                message: format!(
                    "it does not export vessel:plugin/functions@0.1.0 ({}); build it for the \
                     function-plugin world, or use it as a custom processor if it exports \
                     processor",
                    e.root_cause()
                ),
            })?;
        let mut store = runtime.loading_store(limits, name);
        let guest = instantiate(&pre, &mut store, limits, &site)?;
        let listed = state::guarded_call(&mut store, limits, Phase::Start, &site, |s| {
            guest.vessel_plugin_functions().call_list_functions(s)
        })?;
        let mut seen = HashSet::new();
        let mut signatures = Vec::with_capacity(listed.len());
        for sig in listed {
            if !valid_function_name(&sig.name) {
                return Err(WasmError::BadOutput {
                    site,
                    message: format!(
                        "list-functions() offers '{}'; function names match [a-z_][a-z0-9_]*",
                        sig.name
                    ),
                });
            }
            if !seen.insert(sig.name.clone()) {
                return Err(WasmError::BadOutput {
                    site,
                    message: format!("list-functions() offers '{}' twice", sig.name),
                });
            }
            signatures.push(Signature {
                name: sig.name,
                params: sig.params.into_iter().map(columns::from_wit_type).collect(),
                returns: columns::from_wit_type(sig.returns),
                description: sig.description,
            });
        }
        Ok(FunctionPlugin {
            shared: Arc::new(FnShared {
                runtime,
                pre,
                name: name.to_string(),
                signatures,
            }),
        })
    }

    /// The plugin's name (the name it was loaded under).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The functions the plugin offers.
    pub fn signatures(&self) -> &[Signature] {
        &self.shared.signatures
    }

    /// A fresh instance with its own store. `label` names the caller (typically the node) in
    /// messages and logs.
    ///
    /// # Errors
    /// [`WasmError::Timeout`], [`WasmError::OutOfMemory`] or [`WasmError::Trap`] if the
    /// component's start-up misbehaves.
    pub fn instance(&self, limits: Limits, label: &str) -> Result<FunctionInstance, WasmError> {
        let mut inst = FunctionInstance {
            shared: self.shared.clone(),
            limits,
            label: label.to_string(),
            live: None,
            calls_in_store: 0,
        };
        inst.live = Some(inst.start(None)?);
        Ok(inst)
    }
}

struct FnLive {
    store: Store<StoreState>,
    guest: function_world::FunctionPlugin,
}

/// An instance of a function plugin: owns its store; recycled like a processor instance.
pub struct FunctionInstance {
    shared: Arc<FnShared>,
    limits: Limits,
    label: String,
    live: Option<FnLive>,
    calls_in_store: u64,
}

impl std::fmt::Debug for FunctionInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionInstance")
            .field("plugin", &self.shared.name)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl FunctionInstance {
    /// The functions the plugin offers.
    pub fn signatures(&self) -> &[Signature] {
        &self.shared.signatures
    }

    fn site(&self, function: Option<&str>) -> Site {
        Site {
            plugin: self.shared.name.clone(),
            node: Some(self.label.clone()),
            function: function.map(str::to_string),
            batch: None,
        }
    }

    fn start(&mut self, function: Option<&str>) -> Result<FnLive, WasmError> {
        let log_ctx = LogContext {
            node: self.label.clone(),
            plugin: self.shared.name.clone(),
            ..LogContext::default()
        };
        self.calls_in_store = 0;
        let mut store = state::new_store(&self.shared.runtime.engine, &self.limits, log_ctx);
        let guest = instantiate(
            &self.shared.pre,
            &mut store,
            &self.limits,
            &self.site(function),
        )?;
        Ok(FnLive { store, guest })
    }

    /// Evaluates `name` over `rows` rows: `args` holds one vector per parameter, each `rows`
    /// long and of the parameter's type. Returns `rows` values of the result type.
    ///
    /// # Errors
    /// [`WasmError::UnknownFunction`] for a name the plugin does not offer,
    /// [`WasmError::BadInput`] for arguments that do not match the signature,
    /// [`WasmError::Failed`] (or another guest error) if the function refuses the batch,
    /// [`WasmError::Timeout`], [`WasmError::OutOfMemory`] and [`WasmError::Trap`] if it
    /// misbehaves (the store is then replaced before the next call),
    /// [`WasmError::OutputTooLarge`] and [`WasmError::BadOutput`] for an invalid result.
    pub fn call(
        &mut self,
        name: &str,
        args: &[Vec<Value>],
        rows: usize,
    ) -> Result<Vec<Value>, WasmError> {
        let site = self.site(Some(name));
        let Some(sig) = self
            .shared
            .signatures
            .iter()
            .find(|s| s.name == name)
            .cloned()
        else {
            let available: Vec<&str> = self
                .shared
                .signatures
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            return Err(WasmError::UnknownFunction {
                site,
                available: available.join(", "),
            });
        };
        let bad_input = |message: String| WasmError::BadInput {
            site: site.clone(),
            message,
        };
        if args.len() != sig.params.len() {
            return Err(bad_input(format!(
                "{} arguments given, the function takes {}",
                args.len(),
                sig.params.len()
            )));
        }
        let row_count = u32::try_from(rows)
            .map_err(|_| bad_input(format!("{rows} rows do not fit in one call")))?;
        let mut columns_in = Vec::with_capacity(args.len());
        for (i, (values, ty)) in args.iter().zip(&sig.params).enumerate() {
            if values.len() != rows {
                return Err(bad_input(format!(
                    "argument {} holds {} values for {rows} rows",
                    i + 1,
                    values.len()
                )));
            }
            let col = columns::column_from_values(*ty, values).map_err(|row| {
                bad_input(format!(
                    "argument {} at row {row} is a {}, the function expects {ty}",
                    i + 1,
                    values[row].field_type()
                ))
            })?;
            columns_in.push(
                columns::encode_column(&col, &format!("argument {}", i + 1))
                    .map_err(|e| bad_input(e.0))?,
            );
        }
        if self.calls_in_store >= self.limits.batches_per_store {
            self.live = None;
        }
        let mut live = match self.live.take() {
            Some(l) => l,
            None => self.start(Some(name))?,
        };
        self.calls_in_store += 1;
        let result = state::guarded_call(&mut live.store, &self.limits, Phase::Call, &site, |s| {
            live.guest
                .vessel_plugin_functions()
                .call_call(s, name, &columns_in, row_count)
        })?;
        self.live = Some(live);
        let col = result.map_err(|e| guest_error(e, site.clone()))?;
        let bytes = columns::column_bytes(&col);
        if bytes > self.limits.max_output_bytes {
            return Err(WasmError::OutputTooLarge {
                site,
                bytes,
                limit: self.limits.max_output_bytes,
            });
        }
        columns::decode_column(col, sig.returns, rows, "result")
            .map_err(|message| WasmError::BadOutput { site, message })
    }
}
