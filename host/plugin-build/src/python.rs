//! Python plugins: building a Wasm component from Python sources with componentize-py.
//!
//! A Python plugin is a folder of Python modules with one entry module that exports the
//! component, and whose name says which world it targets:
//!
//! * `processor.py`: a processor (`processor-plugin`), with the Python SDK
//!   `sdk/python/vessel_plugin.py`: `Processor, Instance = vessel_plugin.export(MyPlugin)`;
//! * `functions.py`: functions for expressions (`function-plugin`), with
//!   `sdk/python/vessel_functions.py`: `Functions = vessel_functions.export(f, g)`.
//!
//! [`build_component`] turns such a folder into component bytes. The SDK and the WIT files
//! are compiled into this crate, so a build does not need the repository. The built-in
//! `py_calc` plugin is built this way by `vessel-builtins`' build script and embedded in the
//! binary.
//!
//! Building takes about 20 s and gives an 18-20 MB component, so the result is cached in
//! `<cache_dir>/python/<name>-<key>.wasm`, the key being a hash of every input: the sources,
//! the SDK, the WIT files, the world, the build flags and componentize-py's version. A build
//! whose inputs did not change reads that file and does not run componentize-py. The
//! [`KEPT_PER_NAME`] most recently used components of each name are kept.
//!
//! componentize-py is, in this order: the executable named by `VESSEL_COMPONENTIZE_PY`;
//! `componentize-py` on `PATH`; or a virtual environment this module creates in
//! `<cache_dir>/python-tools` with `python3 -m venv` and
//! `pip install componentize-py==0.25.1` (needs Python 3.10+ with `venv`, and PyPI). Builds are
//! serialised within the process and, through a lock file, across processes sharing the cache
//! directory.

use std::ffi::OsString;
use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use crate::BuildError;

/// The componentize-py release Vessel's Python SDK is written against.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// Environment variable naming the componentize-py executable to use.
pub const COMPONENTIZE_PY_ENV: &str = "VESSEL_COMPONENTIZE_PY";

/// Part of the cache key: changes whenever the way components are built changes.
const RECIPE: &str = "vessel-pybuild-1 --stub-wasi";

const WIT_FILES: [(&str, &str); 2] = [
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("processor.wit", include_str!("../../../wit/processor.wit")),
];

/// The processor SDK; every build stages it.
const SDK_FILE: (&str, &str) = (
    "vessel_plugin.py",
    include_str!("../../../sdk/python/vessel_plugin.py"),
);

/// The functions SDK (it uses the processor SDK's codec); function builds stage it too.
const FUNCTIONS_SDK_FILE: (&str, &str) = (
    "vessel_functions.py",
    include_str!("../../../sdk/python/vessel_functions.py"),
);

/// Cached components kept per plugin name; older ones are removed (18-20 MB each).
pub const KEPT_PER_NAME: usize = 4;

/// The world a Python plugin is built for (`wit/processor.wit`), chosen by its entry module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PyWorld {
    /// `processor-plugin`: the entry module is `processor.py`.
    Processor,
    /// `function-plugin`: the entry module is `functions.py`.
    Functions,
}

impl PyWorld {
    /// The WIT world's name.
    pub fn name(self) -> &'static str {
        match self {
            PyWorld::Processor => "processor-plugin",
            PyWorld::Functions => "function-plugin",
        }
    }

    /// The module componentize-py loads the exports from.
    pub fn app_module(self) -> &'static str {
        match self {
            PyWorld::Processor => "processor",
            PyWorld::Functions => "functions",
        }
    }

    /// The entry module's file name.
    pub fn entry_file(self) -> &'static str {
        match self {
            PyWorld::Processor => "processor.py",
            PyWorld::Functions => "functions.py",
        }
    }

    /// The SDK modules staged beside the plugin's.
    fn sdk(self) -> &'static [(&'static str, &'static str)] {
        match self {
            PyWorld::Processor => &[SDK_FILE],
            PyWorld::Functions => &[SDK_FILE, FUNCTIONS_SDK_FILE],
        }
    }

    /// The world of the Python plugin in `dir`, from its entry module; `None` when it has
    /// neither `processor.py` nor `functions.py`.
    pub fn of_dir(dir: &Path) -> Option<PyWorld> {
        [PyWorld::Processor, PyWorld::Functions]
            .into_iter()
            .find(|w| dir.join(w.entry_file()).is_file())
    }
}

/// What [`build_component`] produced.
#[derive(Debug)]
pub struct PyComponent {
    /// The world the component targets.
    pub world: PyWorld,
    /// The component.
    pub bytes: Vec<u8>,
    /// Whether it came from the cache (no componentize-py run).
    pub reused: bool,
}

/// Serialises builds within the process (each one is CPU-heavy anyway).
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// The component of the Python plugin whose sources are in `source_dir`, built with the
/// Python SDK, or read from `cache_dir` when an earlier build had the same inputs. The entry
/// module says the world: `processor.py` (a processor) or `functions.py` (functions for
/// expressions). `name` (`[a-z0-9_-]+`) names the cached file and the log lines.
///
/// Every file below `source_dir` is staged and part of the cache key, except hidden files
/// and folders, `__pycache__`, `tests`, `.pyc` and `.wasm` files (the component built into
/// the folder), and `vendor/sdk` and `vendor/wit` (the copies `vessel plugin new` makes of
/// the SDK and the WIT package: the build uses the ones compiled into this crate).
///
/// # Errors
/// [`BuildError::Io`] when `source_dir` cannot be read; otherwise as
/// [`build_component_from_files`].
pub fn build_component(
    cache_dir: &Path,
    name: &str,
    source_dir: &Path,
) -> Result<PyComponent, BuildError> {
    let mut files = Vec::new();
    collect_sources(source_dir, source_dir, &mut files)?;
    component_of(cache_dir, name, &source_dir.display().to_string(), &files)
}

/// As [`build_component`], from the plugin's files given as (path relative to the plugin's
/// folder, with `/` between folders; contents) rather than read from a folder.
///
/// # Errors
/// [`BuildError::Project`] when the files have no entry module or both, or the name is not
/// `[a-z0-9_-]+`; [`BuildError::Tool`], saying what to install, when componentize-py cannot
/// be found or installed; [`BuildError::Failed`] with componentize-py's output when it rejects
/// the sources; [`BuildError::Io`] when the cache cannot be read or written.
pub fn build_component_from_files(
    cache_dir: &Path,
    name: &str,
    files: &[(String, Vec<u8>)],
) -> Result<PyComponent, BuildError> {
    component_of(cache_dir, name, "its sources", files)
}

/// Builds `files`; `origin` says where they came from in messages.
fn component_of(
    cache_dir: &Path,
    name: &str,
    origin: &str,
    files: &[(String, Vec<u8>)],
) -> Result<PyComponent, BuildError> {
    let has = |w: PyWorld| files.iter().any(|(p, _)| p == w.entry_file());
    let world = match (has(PyWorld::Processor), has(PyWorld::Functions)) {
        (true, false) => PyWorld::Processor,
        (false, true) => PyWorld::Functions,
        (true, true) => {
            return Err(BuildError::Project(format!(
                "Python plugin '{name}': {origin} has both processor.py and functions.py; a \
                 component is either a processor or functions, so move one of them to a plugin \
                 of its own"
            )));
        }
        (false, false) => {
            return Err(BuildError::Project(format!(
                "Python plugin '{name}': {origin} has no processor.py or functions.py; one of \
                 them exports the component: processor.py for a processor (`Processor, Instance \
                 = vessel_plugin.export(MyPlugin)`), functions.py for functions (`Functions = \
                 vessel_functions.export(f, g)`)"
            )));
        }
    };
    let (bytes, reused) = build(cache_dir, name, world, files)?;
    Ok(PyComponent {
        world,
        bytes,
        reused,
    })
}

fn collect_sources(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), BuildError> {
    let entries = fs::read_dir(dir).map_err(BuildError::io("read", dir))?;
    for entry in entries {
        let entry = entry.map_err(BuildError::io("read", dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(BuildError::io("read", &path))?;
        if kind.is_dir() {
            let vendored = dir == root.join("vendor") && (name == "sdk" || name == "wit");
            if name.starts_with('.') || name == "__pycache__" || name == "tests" || vendored {
                continue;
            }
            collect_sources(root, &path, out)?;
        } else if !name.ends_with(".pyc") && !name.ends_with(".wasm") && !name.starts_with('.') {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let bytes = fs::read(&path).map_err(BuildError::io("read", &path))?;
            out.push((rel, bytes));
        }
    }
    Ok(())
}

/// A componentize-py executable and the version it reports.
struct Tool {
    path: PathBuf,
    version: String,
}

/// Builds (or reads from the cache) the component; the flag says whether it was cached.
fn build(
    cache_dir: &Path,
    name: &str,
    world: PyWorld,
    app: &[(String, Vec<u8>)],
) -> Result<(Vec<u8>, bool), BuildError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(BuildError::Project(format!(
            "Python plugin name '{name}': use only a-z, 0-9, '_' and '-'"
        )));
    }
    let _in_process = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let tool = find_tool(std::env::var_os(COMPONENTIZE_PY_ENV), cache_dir)?;
    let version = tool
        .as_ref()
        .map_or(COMPONENTIZE_PY_VERSION, |t| t.version.as_str());
    let key = cache_key(version, world, app);
    let out_dir = cache_dir.join("python");
    let cached = out_dir.join(format!("{name}-{key}.wasm"));
    if let Some(bytes) = read_cached(&cached)? {
        tracing::debug!(plugin = name, path = %cached.display(), elapsed_ms = started.elapsed().as_millis() as u64, "Python component from cache");
        return Ok((bytes, true));
    }
    create_dir(cache_dir)?;
    let _across_processes = BuildLock::acquire(&cache_dir.join("python-build.lock"))?;
    // Another process may have built it while this one waited for the lock.
    if let Some(bytes) = read_cached(&cached)? {
        return Ok((bytes, true));
    }
    let tool = match tool {
        Some(t) => t,
        None => install_tool(cache_dir)?,
    };
    if tool.version != COMPONENTIZE_PY_VERSION {
        tracing::warn!(
            path = %tool.path.display(), version = %tool.version,
            "componentize-py {} is not the tested {COMPONENTIZE_PY_VERSION}; the build may fail \
             or the component may not load", tool.version
        );
    }
    // The key names the version actually used.
    let key = cache_key(&tool.version, world, app);
    let cached = out_dir.join(format!("{name}-{key}.wasm"));
    if let Some(bytes) = read_cached(&cached)? {
        return Ok((bytes, true));
    }
    tracing::info!(
        plugin = name,
        world = world.name(),
        "building the Python component with componentize-py {} (about 20 s; the result is cached)",
        tool.version
    );
    let stages = cache_dir.join("python-build");
    create_dir(&stages)?;
    let stage = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(&stages)
        .map_err(BuildError::io("create a folder in", &stages))?;
    let bytes = componentize(&tool, name, world, stage.path(), app)?;
    create_dir(&out_dir)?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(&out_dir).map_err(BuildError::io("write", &out_dir))?;
    tmp.write_all(&bytes)
        .map_err(BuildError::io("write", tmp.path()))?;
    tmp.persist(&cached)
        .map_err(|e| BuildError::io("write", &cached)(e.error))?;
    prune(&out_dir, name, KEPT_PER_NAME);
    tracing::info!(
        plugin = name,
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        bytes = bytes.len(),
        path = %cached.display(),
        "built the Python component"
    );
    Ok((bytes, false))
}

/// Reads a cached component, marking it as recently used for [`prune`].
fn read_cached(path: &Path) -> Result<Option<Vec<u8>>, BuildError> {
    match fs::read(path) {
        Ok(bytes) => {
            // Best effort: a read-only cache still works, it only prunes by build time.
            let _ = fs::File::options()
                .write(true)
                .open(path)
                .and_then(|f| f.set_modified(SystemTime::now()));
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BuildError::io("read", path)(e)),
    }
}

fn create_dir(dir: &Path) -> Result<(), BuildError> {
    fs::create_dir_all(dir).map_err(BuildError::io("create", dir))
}

/// Whether `file` is a cached component of plugin `name`: `<name>-<32 hex digits>.wasm`.
fn is_component_of(file: &str, name: &str) -> bool {
    file.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.strip_suffix(".wasm"))
        .is_some_and(|key| key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Removes all but the `keep` most recently used cached components of `name`. The cache
/// only saves time, so failures are logged and otherwise ignored.
fn prune(out_dir: &Path, name: &str, keep: usize) {
    let Ok(entries) = fs::read_dir(out_dir) else {
        return;
    };
    let mut mine: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let file = e.file_name();
            if !is_component_of(file.to_str()?, name) {
                return None;
            }
            Some((e.metadata().ok()?.modified().ok()?, e.path()))
        })
        .collect();
    mine.sort_unstable_by(|a, b| b.cmp(a));
    for (_, path) in mine.into_iter().skip(keep) {
        if let Err(e) = fs::remove_file(&path) {
            tracing::debug!(path = %path.display(), error = %e, "could not remove an old Python component");
        }
    }
}

/// Stages the sources, the SDK and the WIT files and runs componentize-py.
fn componentize(
    tool: &Tool,
    name: &str,
    world: PyWorld,
    stage: &Path,
    app: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, BuildError> {
    let write = |rel: &str, bytes: &[u8]| -> Result<(), BuildError> {
        let path = stage.join(rel);
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        fs::write(&path, bytes).map_err(BuildError::io("write", &path))
    };
    for (rel, bytes) in app {
        write(&format!("app/{rel}"), bytes)?;
    }
    for (file, text) in world.sdk() {
        write(&format!("sdk/{file}"), text.as_bytes())?;
    }
    for (file, text) in WIT_FILES {
        write(&format!("wit/{file}"), text.as_bytes())?;
    }
    let output = stage.join(format!("{name}.wasm"));
    let started = Instant::now();
    // Relative paths, so that the staging folder's location is not baked into the
    // component's code objects.
    let run = Command::new(&tool.path)
        .current_dir(stage)
        .args([
            "-d",
            "wit",
            "-w",
            world.name(),
            "componentize",
            "--stub-wasi",
        ])
        .args(["-p", "app", "-p", "sdk", world.app_module(), "-o"])
        .arg(format!("{name}.wasm"))
        .output()
        .map_err(|e| BuildError::Tool(format!("cannot run {}: {e}", tool.path.display())))?;
    if !run.status.success() {
        return Err(BuildError::Failed(format!(
            "componentize-py could not build the Python plugin '{name}' ({}):\n{}",
            run.status,
            output_tail(&run)
        )));
    }
    let bytes = fs::read(&output).map_err(BuildError::io("read", &output))?;
    tracing::info!(
        plugin = name,
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "componentize-py finished"
    );
    Ok(bytes)
}

/// The last lines of a command's output, without componentize-py's Rust backtrace.
fn output_tail(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = text
        .split("\nStack backtrace:")
        .next()
        .unwrap_or_default()
        .trim();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// componentize-py from the environment variable (its value is `from_env`), `PATH` or an
/// earlier virtual environment; `None` when there is none yet.
fn find_tool(from_env: Option<OsString>, cache_dir: &Path) -> Result<Option<Tool>, BuildError> {
    if let Some(path) = from_env.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return version_of(&path).map(Some).map_err(|e| {
            BuildError::Tool(format!(
                "{COMPONENTIZE_PY_ENV}={} does not run componentize-py: {e}; install \
                 componentize-py {COMPONENTIZE_PY_VERSION} and set {COMPONENTIZE_PY_ENV} to its \
                 path, or unset it",
                path.display()
            ))
        });
    }
    if let Some(path) = on_path("componentize-py") {
        match version_of(&path) {
            Ok(tool) => return Ok(Some(tool)),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring componentize-py on PATH: {e}")
            }
        }
    }
    let venv = tools_dir(cache_dir);
    if venv.join(READY_MARK).is_file() {
        match version_of(&venv_bin(&venv, "componentize-py")) {
            Ok(tool) => return Ok(Some(tool)),
            // e.g. the Python it was made with is gone: it is made again.
            Err(e) => tracing::warn!(path = %venv.display(), "reinstalling componentize-py: {e}"),
        }
    }
    Ok(None)
}

fn version_of(path: &Path) -> Result<Tool, String> {
    let out = Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .trim()
        .strip_prefix("componentize-py ")
        .filter(|_| out.status.success())
        .ok_or_else(|| format!("`{} --version` printed {:?}", path.display(), text.trim()))?;
    Ok(Tool {
        path: path.to_path_buf(),
        version: version.to_string(),
    })
}

fn on_path(exe: &str) -> Option<PathBuf> {
    let names: Vec<String> = if cfg!(windows) {
        vec![format!("{exe}.exe"), format!("{exe}.cmd")]
    } else {
        vec![exe.to_string()]
    };
    std::env::split_paths(&std::env::var_os("PATH")?)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Marks a virtual environment whose install completed.
const READY_MARK: &str = ".vessel-ready";

fn tools_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("python-tools")
}

fn venv_bin(venv: &Path, exe: &str) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join(format!("{exe}.exe"))
    } else {
        venv.join("bin").join(exe)
    }
}

/// Creates `<cache_dir>/python-tools` and installs the pinned componentize-py into it.
fn install_tool(cache_dir: &Path) -> Result<Tool, BuildError> {
    let venv = tools_dir(cache_dir);
    let how = format!(
        "Python plugins (such as py_calc) are built with componentize-py \
         {COMPONENTIZE_PY_VERSION}, which was not found. Install it (`pipx install \
         componentize-py=={COMPONENTIZE_PY_VERSION}`, or `pip install \
         componentize-py=={COMPONENTIZE_PY_VERSION}` in a virtual environment) and put it on \
         PATH or set {COMPONENTIZE_PY_ENV} to its path. Vessel tried to install it into {}",
        venv.display()
    );
    let _ = fs::remove_dir_all(&venv);
    let started = Instant::now();
    tracing::info!(path = %venv.display(), "installing componentize-py {COMPONENTIZE_PY_VERSION} into a virtual environment (once)");
    let python = if cfg!(windows) { "python" } else { "python3" };
    let made = Command::new(python)
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .output()
        .map_err(|e| {
            BuildError::Tool(format!(
                "{how}, but `{python}` could not be run ({e}): install Python 3.10 or later"
            ))
        })?;
    if !made.status.success() {
        return Err(BuildError::Tool(format!(
            "{how}, but `{python} -m venv` failed (on Debian or Ubuntu, install the \
             python3-venv package):\n{}",
            output_tail(&made)
        )));
    }
    let pip = Command::new(venv_bin(&venv, "python"))
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}"))
        .output()
        .map_err(|e| BuildError::Tool(format!("{how}, but pip could not be run: {e}")))?;
    if !pip.status.success() {
        return Err(BuildError::Tool(format!(
            "{how}, but `pip install componentize-py=={COMPONENTIZE_PY_VERSION}` failed (is \
             PyPI reachable?):\n{}",
            output_tail(&pip)
        )));
    }
    let tool = version_of(&venv_bin(&venv, "componentize-py")).map_err(|e| {
        BuildError::Tool(format!(
            "{how}, but the installed componentize-py does not run: {e}"
        ))
    })?;
    let mark = venv.join(READY_MARK);
    fs::write(&mark, &tool.version).map_err(BuildError::io("write", &mark))?;
    tracing::info!(
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "componentize-py {} installed",
        tool.version
    );
    Ok(tool)
}

/// An exclusive lock on a file, held while building. The system releases it when the file is
/// closed, also when the process dies, so an interrupted build leaves no stale lock behind.
struct BuildLock {
    _file: fs::File,
}

impl BuildLock {
    fn acquire(path: &Path) -> Result<BuildLock, BuildError> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(BuildError::io("create", path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                tracing::info!(lock = %path.display(), "waiting for another process building a Python component");
                file.lock().map_err(BuildError::io("lock", path))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(BuildError::io("lock", path)(e)),
        }
        Ok(BuildLock { _file: file })
    }
}

/// Hex key over everything that determines the component.
fn cache_key(tool_version: &str, world: PyWorld, app: &[(String, Vec<u8>)]) -> String {
    let mut h = crate::content_key::ContentKey::new();
    h.part(RECIPE.as_bytes());
    h.part(world.name().as_bytes());
    h.part(tool_version.as_bytes());
    let mut files: Vec<(&str, &[u8])> = app
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    files.sort_unstable();
    for (path, bytes) in files {
        h.part(b"app");
        h.part(path.as_bytes());
        h.part(bytes);
    }
    for (_, text) in world.sdk() {
        h.part(text.as_bytes());
    }
    for (file, text) in WIT_FILES {
        h.part(file.as_bytes());
        h.part(text.as_bytes());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_key_covers_version_world_paths_and_contents() {
        let app = |p: &str, b: &[u8]| vec![(p.to_string(), b.to_vec())];
        let proc = PyWorld::Processor;
        let k = cache_key("0.25.1", proc, &app("processor.py", b"x"));
        assert_eq!(k.len(), 32);
        assert_eq!(k, cache_key("0.25.1", proc, &app("processor.py", b"x")));
        assert_ne!(k, cache_key("0.25.2", proc, &app("processor.py", b"x")));
        assert_ne!(k, cache_key("0.25.1", proc, &app("processor.py", b"y")));
        assert_ne!(k, cache_key("0.25.1", proc, &app("other.py", b"x")));
        assert_ne!(
            k,
            cache_key("0.25.1", PyWorld::Functions, &app("processor.py", b"x"))
        );
        let two = vec![
            ("a.py".to_string(), b"1".to_vec()),
            ("b.py".to_string(), b"2".to_vec()),
        ];
        let swapped = vec![two[1].clone(), two[0].clone()];
        assert_eq!(cache_key("v", proc, &two), cache_key("v", proc, &swapped));
    }

    #[test]
    fn sources_skip_tests_caches_components_and_the_vendored_sdk() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for d in [
            "pkg/__pycache__",
            "tests",
            "vendor/sdk/python",
            "vendor/wit",
            "vendor/lib",
        ] {
            fs::create_dir_all(p.join(d)).unwrap();
        }
        fs::write(p.join("processor.py"), "x").unwrap();
        fs::write(p.join("plugin.wasm"), "built").unwrap();
        fs::write(p.join(".plugin.wasm.tmp"), "partial").unwrap();
        fs::write(p.join("pkg/mod.py"), "y").unwrap();
        fs::write(p.join("pkg/__pycache__/mod.cpython-311.pyc"), "z").unwrap();
        fs::write(p.join("tests/test_x.py"), "t").unwrap();
        fs::write(p.join("vendor/sdk/python/vessel_plugin.py"), "sdk").unwrap();
        fs::write(p.join("vendor/wit/types.wit"), "wit").unwrap();
        fs::write(p.join("vendor/lib/dep.py"), "dep").unwrap();
        let mut files = Vec::new();
        collect_sources(p, p, &mut files).unwrap();
        files.sort();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["pkg/mod.py", "processor.py", "vendor/lib/dep.py"]);
    }

    #[test]
    fn the_build_lock_excludes_others_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("build.lock");
        let held = BuildLock::acquire(&path).unwrap();
        let other = fs::File::options().write(true).open(&path).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        drop(held);
        other.try_lock().unwrap();
    }

    #[test]
    fn a_componentize_py_named_by_the_environment_must_run() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-componentize-py");
        let err = find_tool(Some(missing.into_os_string()), dir.path())
            .err()
            .expect("a missing executable is an error, not a reason to install one");
        assert!(matches!(err, BuildError::Tool(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(COMPONENTIZE_PY_ENV), "{text}");
        assert!(text.contains("install componentize-py 0.25.1"), "{text}");
    }

    #[test]
    fn a_source_dir_needs_exactly_one_entry_module() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("app.py"), "x").unwrap();
        let err = build_component(dir.path(), "mine", dir.path()).unwrap_err();
        assert!(matches!(err, BuildError::Project(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("has no processor.py or functions.py"),
            "{err}"
        );
        assert_eq!(PyWorld::of_dir(dir.path()), None);
        fs::write(dir.path().join("processor.py"), "x").unwrap();
        fs::write(dir.path().join("functions.py"), "x").unwrap();
        let err = build_component(dir.path(), "mine", dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("has both processor.py and functions.py"),
            "{err}"
        );
        fs::remove_file(dir.path().join("processor.py")).unwrap();
        assert_eq!(PyWorld::of_dir(dir.path()), Some(PyWorld::Functions));
    }

    #[test]
    fn pruning_keeps_the_newest_components_of_one_name() {
        let dir = tempfile::tempdir().unwrap();
        let key = |i: u8| format!("{:032x}", i);
        let t0 = SystemTime::now() - Duration::from_secs(100);
        for i in 0..5u8 {
            let path = dir.path().join(format!("calc-{}.wasm", key(i)));
            fs::write(&path, "c").unwrap();
            let f = fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(t0 + Duration::from_secs(u64::from(i)))
                .unwrap();
        }
        let other = dir.path().join(format!("calc-two-{}.wasm", key(9)));
        fs::write(&other, "o").unwrap();
        prune(dir.path(), "calc", 2);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                format!("calc-{}.wasm", key(3)),
                format!("calc-{}.wasm", key(4)),
                format!("calc-two-{}.wasm", key(9)),
            ]
        );
        assert!(!is_component_of("calc-x.wasm", "calc"));
    }

    #[test]
    fn the_embedded_sources_are_complete() {
        assert!(SDK_FILE.1.contains("def export(cls)"));
        assert!(FUNCTIONS_SDK_FILE.1.contains("def export(*functions)"));
        assert!(FUNCTIONS_SDK_FILE.1.contains("import vessel_plugin"));
        assert!(WIT_FILES[1].1.contains("world processor-plugin"));
        assert!(WIT_FILES[1].1.contains("world function-plugin"));
    }
}
