//! The process-wide host: wasmtime engine, epoch ticker, compile cache and plugin loading.

use std::collections::HashMap;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

use crate::error::{Site, WasmError};
use crate::functions::FunctionPlugin;
use crate::processor::ProcessorPlugin;
use crate::state::{self, StoreState, TICK};
use crate::{Limits, WasmConfig};

/// Content hash of a component.
pub(crate) type Sha = [u8; 32];

/// Engine and ticker, shared by the host and every plugin and instance made from it, so that
/// deadlines keep working for as long as anything can still run guest code.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreState>,
    _ticker: Ticker,
}

impl Runtime {
    /// Links `component` against the sandbox's imports.
    pub(crate) fn instance_pre(
        &self,
        component: &Component,
        site: &Site,
    ) -> Result<wasmtime::component::InstancePre<StoreState>, WasmError> {
        self.linker
            .instantiate_pre(component)
            .map_err(|e| WasmError::Incompatible {
                site: site.clone(),
                message: format!("{e:#}"),
            })
    }

    /// A store for the calls made while loading a plugin (`describe`, `list-functions`).
    pub(crate) fn loading_store(&self, limits: &Limits, plugin: &str) -> Store<StoreState> {
        let log_ctx = crate::capture::LogContext {
            plugin: plugin.to_string(),
            ..Default::default()
        };
        state::new_store(&self.engine, limits, log_ctx)
    }
}

/// The thread that advances the engine's epoch every [`TICK`]; it stops when dropped.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> std::io::Result<Ticker> {
        let (stop, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("vessel-wasm-epoch".into())
            .spawn(move || {
                // Any message, or the sender going away, ends the loop.
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Ticker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            // The thread only sleeps and ticks; it ends within one tick.
            let _ = t.join();
        }
    }
}

/// How components were obtained since the host started; lets tests and operators see that
/// the compile cache works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Components compiled with Cranelift.
    pub compiled: u64,
    /// Components loaded from precompiled files in the cache directory.
    pub loaded_from_disk: u64,
    /// Loads served from memory (the same bytes loaded before by this host).
    pub reused_in_memory: u64,
}

#[derive(Default)]
struct Stats {
    compiled: AtomicU64,
    loaded_from_disk: AtomicU64,
    reused_in_memory: AtomicU64,
}

struct HostInner {
    runtime: Arc<Runtime>,
    config: WasmConfig,
    /// First 16 hex digits of the engine's precompile compatibility hash.
    engine_hash: String,
    components: Mutex<HashMap<Sha, Component>>,
    processors: Mutex<HashMap<Sha, Arc<ProcessorPlugin>>>,
    functions: Mutex<HashMap<Sha, Arc<FunctionPlugin>>>,
    stats: Stats,
}

/// Loads and caches plugins; one per process, cheap to clone (an `Arc` inside).
///
/// Creating a host configures the wasmtime engine (sync calls, no component-model
/// concurrency, epoch interruption) and starts a thread that ticks the epoch every 10 ms. The
/// thread stops once the host, its clones and every plugin and instance loaded through it are
/// dropped.
#[derive(Clone)]
pub struct WasmHost {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for WasmHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmHost")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Feeds a `Hash` value into SHA-256, for a key that is stable across processes (the standard
/// hasher is not guaranteed to be).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl WasmHost {
    /// Configures the engine and starts the epoch ticker.
    ///
    /// # Errors
    /// [`WasmError::Compile`] if wasmtime rejects the configuration (not expected on
    /// supported platforms), [`WasmError::Io`] if the ticker thread cannot be started or the
    /// cache directory cannot be created.
    pub fn new(config: WasmConfig) -> Result<WasmHost, WasmError> {
        let engine_err = |e: wasmtime::Error| WasmError::Compile {
            site: Site::plugin("(engine)"),
            message: format!("{e:#}"),
        };
        let mut cfg = Config::new();
        // Component-model concurrency makes every call several times slower and is only
        // needed for WASIp3 async, which plugins do not use.
        cfg.concurrency_support(false);
        cfg.epoch_interruption(true);
        cfg.wasm_component_model(true);
        let engine = Engine::new(&cfg).map_err(engine_err)?;
        let linker = state::build_linker(&engine).map_err(engine_err)?;
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_hash = hex(&h.0.finalize()[..8]);
        if let Some(dir) = &config.cache_dir {
            fs::create_dir_all(dir).map_err(|source| WasmError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        let ticker = Ticker::start(engine.clone()).map_err(|source| WasmError::Io {
            path: PathBuf::from("(epoch ticker thread)"),
            source,
        })?;
        Ok(WasmHost {
            inner: Arc::new(HostInner {
                runtime: Arc::new(Runtime {
                    engine,
                    linker,
                    _ticker: ticker,
                }),
                config,
                engine_hash,
                components: Mutex::new(HashMap::new()),
                processors: Mutex::new(HashMap::new()),
                functions: Mutex::new(HashMap::new()),
                stats: Stats::default(),
            }),
        })
    }

    /// The configuration this host was made with.
    pub fn config(&self) -> &WasmConfig {
        &self.inner.config
    }

    /// How components were obtained so far.
    pub fn cache_stats(&self) -> CacheStats {
        let s = &self.inner.stats;
        CacheStats {
            compiled: s.compiled.load(Ordering::Relaxed),
            loaded_from_disk: s.loaded_from_disk.load(Ordering::Relaxed),
            reused_in_memory: s.reused_in_memory.load(Ordering::Relaxed),
        }
    }

    /// Loads a processor component (world `processor-plugin`) and calls its `describe`.
    ///
    /// The component is compiled once per content: later loads of the same bytes are served
    /// from memory, and with a cache directory from the precompiled file written by any
    /// earlier process with the same engine. `name_hint` names the plugin in errors until its
    /// own name is known.
    ///
    /// # Errors
    /// [`WasmError::Compile`] for bytes that are not a component, [`WasmError::Incompatible`]
    /// for imports outside the sandbox or a missing `processor` export,
    /// [`WasmError::BadOutput`] for an invalid `describe` result, [`WasmError::Timeout`],
    /// [`WasmError::OutOfMemory`] or [`WasmError::Trap`] if `describe` misbehaves. A cache
    /// directory that cannot be written is logged, not an error.
    pub fn load_processor(
        &self,
        name_hint: &str,
        bytes: &[u8],
    ) -> Result<Arc<ProcessorPlugin>, WasmError> {
        self.load_kind(
            &self.inner.processors,
            name_hint,
            bytes,
            ProcessorPlugin::load,
        )
    }

    /// Reads a file and loads it with [`WasmHost::load_processor`], naming it after the file.
    ///
    /// # Errors
    /// [`WasmError::Io`] if the file cannot be read; otherwise as
    /// [`WasmHost::load_processor`].
    pub fn load_processor_file(&self, path: &Path) -> Result<Arc<ProcessorPlugin>, WasmError> {
        let bytes = read(path)?;
        self.load_processor(&file_hint(path), &bytes)
    }

    /// Loads a function component (world `function-plugin`) and reads its signatures.
    /// `name_hint` is the plugin's name in errors and logs (its namespace in expressions).
    ///
    /// # Errors
    /// As [`WasmHost::load_processor`]; [`WasmError::BadOutput`] for signatures with invalid
    /// or duplicate names.
    pub fn load_functions(
        &self,
        name_hint: &str,
        bytes: &[u8],
    ) -> Result<Arc<FunctionPlugin>, WasmError> {
        self.load_kind(
            &self.inner.functions,
            name_hint,
            bytes,
            FunctionPlugin::load,
        )
    }

    /// Loads a component of one world: the plugin made earlier from the same bytes, or a new
    /// one made by `make` from the compiled component, once its imports are checked.
    fn load_kind<T>(
        &self,
        loaded: &Mutex<HashMap<Sha, Arc<T>>>,
        name_hint: &str,
        bytes: &[u8],
        make: impl FnOnce(Arc<Runtime>, &Component, &str, &Limits) -> Result<T, WasmError>,
    ) -> Result<Arc<T>, WasmError> {
        let sha: Sha = Sha256::digest(bytes).into();
        if let Some(p) = lock(loaded).get(&sha) {
            self.inner
                .stats
                .reused_in_memory
                .fetch_add(1, Ordering::Relaxed);
            return Ok(p.clone());
        }
        let site = Site::plugin(name_hint);
        let component = self.component(&site, bytes, sha)?;
        check_imports(&self.inner.runtime.engine, &component, &site)?;
        let plugin = Arc::new(make(
            self.inner.runtime.clone(),
            &component,
            name_hint,
            &self.inner.config.limits,
        )?);
        lock(loaded).insert(sha, plugin.clone());
        Ok(plugin)
    }

    /// Reads a file and loads it with [`WasmHost::load_functions`], naming it after the file.
    ///
    /// # Errors
    /// [`WasmError::Io`] if the file cannot be read; otherwise as
    /// [`WasmHost::load_functions`].
    pub fn load_functions_file(&self, path: &Path) -> Result<Arc<FunctionPlugin>, WasmError> {
        let bytes = read(path)?;
        self.load_functions(&file_hint(path), &bytes)
    }

    /// The compiled component for `bytes`: from memory, from the cache directory, or compiled.
    fn component(&self, site: &Site, bytes: &[u8], sha: Sha) -> Result<Component, WasmError> {
        let inner = &self.inner;
        if let Some(c) = lock(&inner.components).get(&sha) {
            inner.stats.reused_in_memory.fetch_add(1, Ordering::Relaxed);
            return Ok(c.clone());
        }
        let engine = &inner.runtime.engine;
        let compile_err = |e: wasmtime::Error| WasmError::Compile {
            site: site.clone(),
            message: format!("{e:#}"),
        };
        let component = match &inner.config.cache_dir {
            None => {
                let c = Component::new(engine, bytes).map_err(compile_err)?;
                inner.stats.compiled.fetch_add(1, Ordering::Relaxed);
                c
            }
            Some(dir) => {
                let path = dir.join(format!("{}-{}.cwasm", hex(&sha), inner.engine_hash));
                let cached = if path.is_file() {
                    match deserialize_file(engine, &path) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            tracing::warn!(
                                path = %path.display(), plugin = %site.plugin, error = %e,
                                "unusable precompiled component in the cache; compiling again"
                            );
                            None
                        }
                    }
                } else {
                    None
                };
                match cached {
                    Some(c) => {
                        inner.stats.loaded_from_disk.fetch_add(1, Ordering::Relaxed);
                        c
                    }
                    None => {
                        let native = engine.precompile_component(bytes).map_err(compile_err)?;
                        inner.stats.compiled.fetch_add(1, Ordering::Relaxed);
                        // A cache that cannot be written costs a compile in the next
                        // process, not this load.
                        match write_atomically(&path, &native) {
                            Ok(()) => tracing::debug!(
                                path = %path.display(), plugin = %site.plugin,
                                "precompiled component cached"
                            ),
                            Err(e) => tracing::warn!(
                                plugin = %site.plugin, error = %e,
                                "cannot write the compile cache; the component stays in memory"
                            ),
                        }
                        deserialize_bytes(engine, &native).map_err(compile_err)?
                    }
                }
            }
        };
        lock(&inner.components).insert(sha, component.clone());
        Ok(component)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read(path: &Path) -> Result<Vec<u8>, WasmError> {
    fs::read(path).map_err(|source| WasmError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn file_hint(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Writes through a temporary file and a rename, so that a concurrent reader never sees a
/// partial artifact.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WasmError> {
    let io = |source| WasmError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Unique per process and call: two threads may compile the same component at once.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{seq}", std::process::id()));
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Loads native code that this host's engine produced, from the cache directory.
///
/// The file is mapped (`Component::deserialize_file`), not read: code and the initial memory
/// of every instance then come straight from the page cache. For the 35 MB artifact of a
/// Python plugin that is a load of about 20 ms instead of 60-100 ms (reading and copying
/// it page-faults 70 MB of fresh memory, and the memory image is copied once more).
///
/// The price is that a mapped file must not be modified in place (truncating it would make
/// the process fault with SIGBUS). Vessel never does: cache files are written whole under a
/// temporary name and renamed, so a replaced file's old contents stay intact for the
/// processes that mapped them. `WasmConfig::cache_dir` documents the same rule for operators.
#[allow(unsafe_code)]
fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    if Engine::detect_precompiled_file(path)? != Some(wasmtime::Precompiled::Component) {
        wasmtime::bail!("not a precompiled component");
    }
    // SAFETY: the file sits in the operator's cache directory, was written whole (temporary
    // file and rename) by `precompile_component` of an engine with the same compatibility
    // hash (part of the file name), and wasmtime checks its header and engine settings again.
    // The cache directory must be trusted, and its files are never modified in place (see
    // above and `WasmConfig::cache_dir`).
    unsafe { Component::deserialize_file(engine, path) }
}

/// Loads native code produced by `Engine::precompile_component` of an engine with this
/// engine's compatibility hash: just now, or earlier through the cache directory.
#[allow(unsafe_code)]
fn deserialize_bytes(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires that the bytes come from its own precompilation and are not
    // crafted; both callers guarantee where they come from (see above).
    unsafe { Component::deserialize(engine, bytes) }
}

/// Rejects components that import anything beyond what the sandbox offers, listing all of it.
fn check_imports(engine: &Engine, component: &Component, site: &Site) -> Result<(), WasmError> {
    let bad: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .filter(|name| !state::import_allowed(name))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(WasmError::Incompatible {
        site: site.clone(),
        message: format!(
            "it imports {}, which the sandbox does not offer; a plugin may import only \
             vessel:plugin/host@0.1 and the WASI 0.2 interfaces cli, clocks, filesystem, io, \
             random and sockets (which grant nothing): remove the dependency that needs the rest",
            bad.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads of this process named like the epoch ticker (Linux keeps 15 bytes of a name),
    /// once the count settles on `expected` or after a second.
    #[cfg(target_os = "linux")]
    fn tickers(expected: usize) -> usize {
        let count = || {
            fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|name| name.trim() == "vessel-wasm-epo")
                .count()
        };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let mut n = count();
        // A new thread names itself once it runs; a joined one is gone at once.
        while n != expected && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(5));
            n = count();
        }
        n
    }

    // The only unit test that starts hosts, so the thread count is its alone.
    #[test]
    fn the_ticker_stops_with_the_last_clone_and_the_cache_key_is_stable() {
        let host = WasmHost::new(WasmConfig::default()).unwrap();
        let clone = host.clone();
        #[cfg(target_os = "linux")]
        assert_eq!(tickers(1), 1);
        let other = WasmHost::new(WasmConfig::default()).unwrap();
        assert_eq!(host.inner.engine_hash, other.inner.engine_hash);
        assert_eq!(host.inner.engine_hash.len(), 16);
        drop(other);
        drop(host);
        #[cfg(target_os = "linux")]
        assert_eq!(tickers(1), 1);
        drop(clone);
        #[cfg(target_os = "linux")]
        assert_eq!(tickers(0), 0);
    }
}
