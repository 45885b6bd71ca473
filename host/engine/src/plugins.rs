//! Plugins of a script: processors of `table_custom_tfm_table` nodes and function plugins of
//! the `functions` section; finding their components, checking them when the script is loaded,
//! and keeping opened instances for the next batch.
//!
//! A `functions` namespace names its component as a `.wasm` path (relative to the script's
//! folder) or as a plugin name, looked up as `<plugin dir>/<name>.wasm` or
//! `<plugin dir>/<name>/component.wasm`.
//!
//! A node names its processor in `custom_proc_type`. The component is, in this order:
//! 1. the file named by `p.component` (relative to the script's folder);
//! 2. a built-in plugin of that name (`tag_and_denormalize`, `py_calc`: components built with
//!    Vessel and embedded in the binary, see `vessel-builtins`);
//! 3. `<plugin dir>/<name>.wasm` or `<plugin dir>/<name>/component.wasm`, the plugin dir
//!    being `VESSEL_PLUGIN_DIR` or `plugins/` beside the script.
//!
//! Plugins cannot read files, so before a plugin sees its parameters the host reads every
//! top-level `*_url` (a path) into `*_url_content`, and every `*_urls` (a list) into
//! `*_urls_content`, resolving relative paths against the script's folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use vessel_core::{FieldType, Schema};
use vessel_script::{FunctionRequest, FunctionSig, ProcessorCatalog, ProcessorRequest};
use vessel_wasm::{
    FunctionInstance, FunctionPlugin, Limits, OpenArgs, ProcessorInstance, ProcessorPlugin,
    WasmConfig, WasmHost,
};

/// Key of the `p` section naming a component file.
pub const COMPONENT_KEY: &str = "component";

/// Opened instances waiting for the next batch of their node run: (keyspace, run, user),
/// the user being the node, or `node/namespace` for a node's function plugin.
type InstanceKey = (String, i32, String);

/// Idle instances per (keyspace, run, user): at most one per worker that ran the user.
struct Pool<T>(Mutex<HashMap<InstanceKey, Vec<T>>>);

impl<T> Pool<T> {
    fn new() -> Self {
        Pool(Mutex::new(HashMap::new()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InstanceKey, Vec<T>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, keyspace: &str, run_id: i32, user: &str) -> Option<T> {
        let key = (keyspace.to_string(), run_id, user.to_string());
        self.lock().get_mut(&key).and_then(Vec::pop)
    }

    /// Instances of older runs of the same user are dropped: a node run never goes back to an
    /// earlier run.
    fn put(&self, keyspace: &str, run_id: i32, user: &str, inst: T) {
        let mut idle = self.lock();
        idle.retain(|(ks, run, n), _| !(ks == keyspace && n == user && *run < run_id));
        idle.entry((keyspace.to_string(), run_id, user.to_string()))
            .or_default()
            .push(inst);
    }
}

/// Loaded components by where they came from.
struct Loaded<T>(Mutex<HashMap<String, Arc<T>>>);

impl<T> Loaded<T> {
    fn new() -> Self {
        Loaded(Mutex::new(HashMap::new()))
    }

    /// The component loaded under `key`, loading it with `load` the first time.
    fn get_or_load(
        &self,
        key: String,
        load: impl FnOnce() -> Result<Arc<T>, String>,
    ) -> Result<Arc<T>, String> {
        let lock = || self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = lock().get(&key) {
            return Ok(p.clone());
        }
        let p = load()?;
        lock().insert(key, p.clone());
        Ok(p)
    }
}

/// The plugin side of an engine: a Wasm host, where components are found, and open instances.
pub struct Plugins {
    host: WasmHost,
    plugin_dir: Option<PathBuf>,
    limits: Limits,
    loaded: Loaded<ProcessorPlugin>,
    loaded_functions: Loaded<FunctionPlugin>,
    idle: Pool<ProcessorInstance>,
    idle_functions: Pool<FunctionInstance>,
}

impl Plugins {
    /// A plugin host with compiled components cached in `cache_dir` and the given limits.
    ///
    /// # Errors
    /// When the Wasm engine cannot be set up.
    pub fn new(
        cache_dir: Option<PathBuf>,
        plugin_dir: Option<PathBuf>,
        limits: Limits,
    ) -> Result<Plugins, String> {
        let host = WasmHost::new(WasmConfig { cache_dir, limits }).map_err(|e| e.to_string())?;
        Ok(Plugins {
            host,
            plugin_dir,
            limits,
            loaded: Loaded::new(),
            loaded_functions: Loaded::new(),
            idle: Pool::new(),
            idle_functions: Pool::new(),
        })
    }

    /// The limits every instance gets unless its node sets its own.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The limits of a node's instances: the engine's, with the node's `limits` applied.
    pub fn limits_for(&self, proc: &vessel_script::CustomProcessor) -> Limits {
        self.limits_with(proc.limits())
    }

    /// The limits of a function namespace's instances: the engine's, with the namespace's
    /// `limits` applied.
    pub fn limits_for_functions(&self, ns: &vessel_script::FunctionNamespace) -> Limits {
        self.limits_with(ns.limits())
    }

    /// The engine's limits with a script's `limits` section applied.
    pub fn limits_with(&self, script: vessel_script::PluginLimits) -> Limits {
        let mut l = self.limits;
        if let Some(t) = script.timeout {
            l.timeout = t;
        }
        if let Some(t) = script.open_timeout {
            l.open_timeout = t;
        }
        if let Some(m) = script.memory_bytes {
            l.memory_bytes = m;
        }
        l
    }

    /// The component of a `functions` namespace: `component` is a `.wasm` path (relative to
    /// the script's folder) or the name of a plugin in the plugin directory.
    ///
    /// # Errors
    /// A message naming what was looked for and where.
    pub fn resolve_functions(
        &self,
        component: &str,
        base_dir: &Path,
    ) -> Result<Arc<FunctionPlugin>, String> {
        let candidates = if component.ends_with(".wasm") || component.contains('/') {
            vec![base_dir.join(component)]
        } else {
            let dir = self.plugin_dir(base_dir);
            vec![
                dir.join(format!("{component}.wasm")),
                dir.join(component).join("component.wasm"),
            ]
        };
        let Some(path) = candidates.iter().find(|c| c.is_file()) else {
            let tried: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
            return Err(format!(
                "no function plugin '{component}': {} not found",
                tried.join(" or ")
            ));
        };
        self.loaded_functions
            .get_or_load(format!("file:{}", path.display()), || {
                self.host
                    .load_functions_file(path)
                    .map_err(|e| e.to_string())
            })
    }

    /// An idle instance of a node's function namespace, if a previous batch left one.
    pub fn take_idle_functions(
        &self,
        keyspace: &str,
        run_id: i32,
        node: &str,
        namespace: &str,
    ) -> Option<FunctionInstance> {
        self.idle_functions
            .take(keyspace, run_id, &format!("{node}/{namespace}"))
    }

    /// Keeps a function instance for the next batch of its node run.
    pub fn put_idle_functions(
        &self,
        keyspace: &str,
        run_id: i32,
        node: &str,
        namespace: &str,
        inst: FunctionInstance,
    ) {
        self.idle_functions
            .put(keyspace, run_id, &format!("{node}/{namespace}"), inst);
    }

    fn plugin_dir(&self, base_dir: &Path) -> PathBuf {
        self.plugin_dir
            .clone()
            .unwrap_or_else(|| base_dir.join("plugins"))
    }

    /// The component of a node's processor.
    ///
    /// # Errors
    /// A message naming what was looked for and where.
    pub fn resolve(
        &self,
        proc_type: &str,
        params: &serde_json::Value,
        base_dir: &Path,
    ) -> Result<Arc<ProcessorPlugin>, String> {
        if let Some(path) = params.get(COMPONENT_KEY) {
            let Some(path) = path.as_str() else {
                return Err(format!(
                    "p.{COMPONENT_KEY} must be the path of a .wasm component"
                ));
            };
            let path = base_dir.join(path);
            return self.load_file(&path);
        }
        if let Some(bytes) = vessel_builtins::get(proc_type) {
            return self.cached(format!("builtin:{proc_type}"), || {
                self.host
                    .load_processor(proc_type, bytes)
                    .map_err(|e| e.to_string())
            });
        }
        let dir = self.plugin_dir(base_dir);
        let candidates = [
            dir.join(format!("{proc_type}.wasm")),
            dir.join(proc_type).join("component.wasm"),
        ];
        for c in &candidates {
            if c.is_file() {
                return self.load_file(c);
            }
        }
        let builtins: Vec<&str> = vessel_builtins::BUILTINS.iter().map(|b| b.name).collect();
        Err(format!(
            "no processor '{proc_type}': it is not built in ({}), not in {} or {}, and the node \
             has no p.{COMPONENT_KEY} path",
            builtins.join(", "),
            candidates[0].display(),
            candidates[1].display()
        ))
    }

    fn load_file(&self, path: &Path) -> Result<Arc<ProcessorPlugin>, String> {
        self.cached(format!("file:{}", path.display()), || {
            self.host
                .load_processor_file(path)
                .map_err(|e| e.to_string())
        })
    }

    fn cached(
        &self,
        key: String,
        load: impl FnOnce() -> Result<Arc<ProcessorPlugin>, String>,
    ) -> Result<Arc<ProcessorPlugin>, String> {
        self.loaded.get_or_load(key, load)
    }

    /// Opens an instance for a node run (blocking: compiles, instantiates and calls `open`).
    ///
    /// # Errors
    /// A message from resolving, reading `*_url` files or the plugin's `open`.
    pub fn open(
        &self,
        proc_type: &str,
        params: &serde_json::Value,
        base_dir: &Path,
        args: OpenArgs,
        limits: Limits,
    ) -> Result<ProcessorInstance, String> {
        let plugin = self.resolve(proc_type, params, base_dir)?;
        let args = OpenArgs {
            params_json: params_json(params, base_dir)?,
            ..args
        };
        plugin.open(&args, limits).map_err(|e| e.to_string())
    }

    /// An idle instance of the node run, if a previous batch left one.
    pub fn take_idle(&self, keyspace: &str, run_id: i32, node: &str) -> Option<ProcessorInstance> {
        self.idle.take(keyspace, run_id, node)
    }

    /// Keeps an instance for the next batch of its node run. Instances of older runs of the
    /// same node are dropped: a node run never goes back to an earlier run.
    pub fn put_idle(&self, keyspace: &str, run_id: i32, node: &str, inst: ProcessorInstance) {
        self.idle.put(keyspace, run_id, node, inst);
    }
}

/// The node's `p` section as the plugin gets it: with the contents of `*_url(s)` files.
///
/// # Errors
/// A message naming the key and the file that cannot be read.
pub fn params_json(params: &serde_json::Value, base_dir: &Path) -> Result<String, String> {
    let mut obj = match params {
        serde_json::Value::Object(m) => m.clone(),
        serde_json::Value::Null => serde_json::Map::new(),
        _ => return Err("p must be a map of parameters".to_string()),
    };
    let read = |key: &str, url: &str| -> Result<String, String> {
        let path =
            crate::nodes::local_path_in(base_dir, url).map_err(|e| format!("p.{key}: {e}"))?;
        std::fs::read_to_string(&path)
            .map_err(|e| format!("p.{key}: cannot read {}: {e}", path.display()))
    };
    let mut added = Vec::new();
    for (key, value) in &obj {
        if key.ends_with("_url") {
            let Some(url) = value.as_str() else {
                return Err(format!("p.{key} must be a path or URL"));
            };
            added.push((format!("{key}_content"), read(key, url)?.into()));
        } else if key.ends_with("_urls") {
            let Some(urls) = value.as_array() else {
                return Err(format!("p.{key} must be a list of paths or URLs"));
            };
            let mut texts = Vec::with_capacity(urls.len());
            for u in urls {
                let Some(url) = u.as_str() else {
                    return Err(format!("p.{key} must be a list of paths or URLs"));
                };
                texts.push(serde_json::Value::String(read(key, url)?));
            }
            added.push((format!("{key}_content"), serde_json::Value::Array(texts)));
        }
    }
    obj.extend(added);
    serde_json::to_string(&serde_json::Value::Object(obj)).map_err(|e| e.to_string())
}

/// Where plugins come from and what they may use.
#[derive(Debug, Clone, Default)]
pub struct PluginSettings {
    /// Folder for compiled components (`None`: compile in memory on every start).
    pub cache_dir: Option<PathBuf>,
    /// Folder of user plugins (`None`: `plugins/` beside the script).
    pub plugin_dir: Option<PathBuf>,
    /// Sandbox limits of every instance.
    pub limits: Limits,
}

/// [`Plugins`] made on first use, so that scripts without plugins never start a Wasm engine.
pub struct LazyPlugins {
    settings: PluginSettings,
    cell: OnceLock<Result<Arc<Plugins>, String>>,
}

impl LazyPlugins {
    /// Plugins with these settings, not made yet.
    pub fn new(settings: PluginSettings) -> LazyPlugins {
        LazyPlugins {
            settings,
            cell: OnceLock::new(),
        }
    }

    /// The plugins, made now if this is the first use.
    ///
    /// # Errors
    /// When the Wasm engine cannot be set up (the message says why).
    pub fn get(&self) -> Result<Arc<Plugins>, String> {
        self.cell
            .get_or_init(|| {
                let s = &self.settings;
                Plugins::new(s.cache_dir.clone(), s.plugin_dir.clone(), s.limits).map(Arc::new)
            })
            .clone()
    }
}

/// Lets the script loader open each node's plugin, so that `vessel validate` and the start of
/// a run report parameter and schema errors, naming node and plugin.
pub struct PluginCatalog(pub Arc<LazyPlugins>);

impl ProcessorCatalog for PluginCatalog {
    fn fields(&self, req: &ProcessorRequest<'_>) -> Result<Vec<(String, FieldType)>, String> {
        let plugins = self.0.get()?;
        let base = req.base_dir.unwrap_or(Path::new("."));
        let input = req
            .input
            .map(|s| Arc::new(s.clone()))
            .unwrap_or_else(|| Arc::new(Schema::new(Vec::new())));
        let inst = plugins
            .open(
                req.proc_type,
                req.params,
                base,
                OpenArgs {
                    params_json: String::new(),
                    input_schema: input,
                    keyspace: String::new(),
                    run_id: 0,
                    node: req.node.to_string(),
                },
                // The node's own limits: an `open` that needs more time or memory than the
                // defaults must get them here too, not only when the run opens it.
                plugins.limits_with(req.limits),
            )
            .map_err(|m| format!("plugin '{}': {m}", req.proc_type))?;
        Ok(inst
            .binding()
            .output_schema
            .fields()
            .iter()
            .map(|(n, t)| (n.clone(), *t))
            .collect())
    }

    fn functions(&self, req: &FunctionRequest<'_>) -> Result<Vec<FunctionSig>, String> {
        let plugins = self.0.get()?;
        let base = req.base_dir.unwrap_or(Path::new("."));
        let plugin = plugins.resolve_functions(req.component, base)?;
        Ok(plugin
            .signatures()
            .iter()
            .map(|s| FunctionSig {
                name: s.name.clone(),
                params: s.params.clone(),
                returns: s.returns,
            })
            .collect())
    }
}
