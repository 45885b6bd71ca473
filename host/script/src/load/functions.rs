//! The `functions` section: namespaces of plugin functions that expressions call as
//! `namespace.function(args)`, and the sandbox limits shared with custom processors.

use super::*;

/// Names a namespace cannot take: aliases and the built-in function namespaces.
const RESERVED: &[&str] = &[
    "r", "l", "p", "w", "time", "math", "re", "strings", "fmt", "int", "float", "decimal2",
    "string", "wfmodel",
];

/// Checks a `limits` section; every problem is returned as (`field` under `limits`, message).
pub(super) fn check_limits(raw: &RawLimits) -> Result<PluginLimits, Vec<(&'static str, String)>> {
    let mut errs = Vec::new();
    let mut deadline = |field: &'static str, value: Option<i64>| match value {
        None => None,
        Some(ms) if (1..=3_600_000).contains(&ms) => Some(Duration::from_millis(ms as u64)),
        Some(ms) => {
            errs.push((
                field,
                format!("{ms} is not a valid deadline; give 1 to 3600000 milliseconds"),
            ));
            None
        }
    };
    let timeout = deadline("limits.timeout_ms", raw.timeout_ms);
    let open_timeout = deadline("limits.open_timeout_ms", raw.open_timeout_ms);
    let memory_bytes = match raw.memory_mb {
        None => None,
        Some(mb) if (1..=65_536).contains(&mb) => Some((mb as usize) << 20),
        Some(mb) => {
            errs.push((
                "limits.memory_mb",
                format!("{mb} is not a valid memory cap; give 1 to 65536 MiB"),
            ));
            None
        }
    };
    if errs.is_empty() {
        Ok(PluginLimits {
            timeout,
            open_timeout,
            memory_bytes,
        })
    } else {
        Err(errs)
    }
}

impl Loader<'_> {
    /// Decodes the `functions` section and asks the catalog for each namespace's functions.
    pub(super) fn functions(
        &mut self,
        raw: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> BTreeMap<String, FunctionNamespace> {
        let mut out = BTreeMap::new();
        for (ns, v) in raw.into_iter().flatten() {
            let path = format!("functions.{ns}");
            if !FIELD_NAME.is_match(ns) || RESERVED.contains(&ns.as_str()) {
                self.errors.push(ScriptError::field(
                    self.file,
                    &path,
                    format!(
                        "'{ns}' cannot name a function namespace: use letters, digits and _ \
                         (not starting with a digit), and none of {}",
                        RESERVED.join(", ")
                    ),
                ));
                continue;
            }
            let decl: RawFunctionNamespace = match v {
                serde_json::Value::String(c) => RawFunctionNamespace {
                    component: c.clone(),
                    limits: None,
                    unknown: Default::default(),
                },
                other => match decode(other) {
                    Ok(d) => d,
                    Err(m) => {
                        self.errors.push(ScriptError::field(
                            self.file,
                            &path,
                            format!("{m}; write {ns}: {{component: <.wasm path or plugin name>}}"),
                        ));
                        continue;
                    }
                },
            };
            self.unknown_keys(None, unknown_paths(&path, &decl.unknown));
            if let Some(l) = &decl.limits {
                self.unknown_keys(None, unknown_paths(&format!("{path}.limits"), &l.unknown));
            }
            let limits = match check_limits(&decl.limits.clone().unwrap_or_default()) {
                Ok(l) => l,
                Err(list) => {
                    for (f, m) in list {
                        self.errors
                            .push(ScriptError::field(self.file, &format!("{path}.{f}"), m));
                    }
                    continue;
                }
            };
            if decl.component.trim().is_empty() {
                self.errors.push(ScriptError::field(
                    self.file,
                    &format!("{path}.component"),
                    "component is empty; give a .wasm path or a plugin name",
                ));
                continue;
            }
            let req = FunctionRequest {
                namespace: ns,
                component: &decl.component,
                base_dir: self.opts.base_dir.as_deref(),
            };
            let sigs = match &self.opts.catalog {
                Some(cat) => cat.functions(&req),
                None => Err(format!(
                    "function plugins are not available here (component '{}')",
                    decl.component
                )),
            };
            match sigs {
                Ok(functions) => {
                    out.insert(
                        ns.clone(),
                        FunctionNamespace {
                            name: ns.clone(),
                            component: decl.component,
                            functions,
                            timeout: limits.timeout,
                            open_timeout: limits.open_timeout,
                            memory_bytes: limits.memory_bytes,
                        },
                    );
                }
                Err(m) => self.errors.push(ScriptError::field(
                    self.file,
                    &format!("{path}.component"),
                    m,
                )),
            }
        }
        out
    }
}
