//! Python plugins: building a Wasm component from Python sources with componentize-py.
//!
//! A Python processor plugin is a folder of Python modules whose `processor.py` exports the
//! component (with the Python SDK, `sdk/python/vessel_plugin.py`: `Processor, Instance =
//! vessel_plugin.export(MyPlugin)`). [`python_component`] turns such a folder into component
//! bytes, and [`py_calc_component`] does the same for the built-in `py_calc` plugin, whose
//! sources are embedded in the binary (as are the SDK and the WIT files), so that neither
//! needs the repository at run time.
//!
//! Building takes about 20 s and gives an 18-20 MB component, so the result is cached in
//! `<cache_dir>/python/<name>-<key>.wasm`, the key being a hash of every input: the sources,
//! the SDK, the WIT files, the build flags and componentize-py's version. Only the first use
//! builds; later ones read the file.
//!
//! componentize-py is, in this order: the executable named by `VESSEL_COMPONENTIZE_PY`;
//! `componentize-py` on `PATH`; or a virtual environment this module creates in
//! `<cache_dir>/python-tools` with `python3 -m venv` and
//! `pip install componentize-py==0.25.1` (needs Python 3.10+ with `venv`, and PyPI). Builds are
//! serialised within the process and, through a lock file, across processes sharing the cache
//! directory.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The componentize-py release Vessel's Python SDK is written against.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// Environment variable naming the componentize-py executable to use.
pub const COMPONENTIZE_PY_ENV: &str = "VESSEL_COMPONENTIZE_PY";

/// The world Python processors are built for (`wit/processor.wit`).
const WORLD: &str = "processor-plugin";

/// The module componentize-py loads the exports from.
const APP_MODULE: &str = "processor";

/// Part of the cache key: changes whenever the way components are built changes.
const RECIPE: &str = "vessel-pybuild-1 --stub-wasi";

const WIT_FILES: [(&str, &str); 2] = [
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("processor.wit", include_str!("../../../wit/processor.wit")),
];

const SDK_FILE: (&str, &str) = (
    "vessel_plugin.py",
    include_str!("../../../sdk/python/vessel_plugin.py"),
);

const PY_CALC_FILES: [(&str, &str); 2] = [
    (
        "processor.py",
        include_str!("../../../plugins/py_calc/processor.py"),
    ),
    (
        "py_calc.py",
        include_str!("../../../plugins/py_calc/py_calc.py"),
    ),
];

/// How long a build lock may be held before another process treats it as abandoned.
const STALE_LOCK: Duration = Duration::from_secs(15 * 60);

/// Serialises builds within the process (each one is CPU-heavy anyway).
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// The component of the built-in `py_calc` plugin, built on first use and cached in
/// `cache_dir`.
///
/// # Errors
/// A message saying what to install when componentize-py cannot be found or installed, or
/// componentize-py's own output when the build fails.
pub fn py_calc_component(cache_dir: &Path) -> Result<Vec<u8>, String> {
    let files: Vec<(String, Vec<u8>)> = PY_CALC_FILES
        .iter()
        .map(|(p, text)| (p.to_string(), text.as_bytes().to_vec()))
        .collect();
    build(cache_dir, "py_calc", &files)
}

/// The component of a Python processor plugin whose sources are in `source_dir` (which must
/// hold `processor.py`), built with the Python SDK on first use and cached in `cache_dir`.
/// Every file below `source_dir` is part of the cache key, except `__pycache__`, `tests` and
/// hidden folders and `.pyc` files.
///
/// # Errors
/// When `source_dir` cannot be read or has no `processor.py`; otherwise as
/// [`py_calc_component`].
pub fn python_component(
    cache_dir: &Path,
    name: &str,
    source_dir: &Path,
) -> Result<Vec<u8>, String> {
    let mut files = Vec::new();
    collect_sources(source_dir, source_dir, &mut files)?;
    if !files.iter().any(|(p, _)| p == "processor.py") {
        return Err(format!(
            "Python plugin '{name}': {} has no processor.py; that module exports the component \
             (`Processor, Instance = vessel_plugin.export(MyPlugin)`)",
            source_dir.display()
        ));
    }
    build(cache_dir, name, &files)
}

fn collect_sources(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if kind.is_dir() {
            if name.starts_with('.') || name == "__pycache__" || name == "tests" {
                continue;
            }
            collect_sources(root, &path, out)?;
        } else if !name.ends_with(".pyc") && !name.starts_with('.') {
            let rel = path
                .strip_prefix(root)
                .map_err(|_| format!("{} is outside {}", path.display(), root.display()))?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let bytes =
                fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
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

fn build(cache_dir: &Path, name: &str, app: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "Python plugin name '{name}': use only a-z, 0-9, '_' and '-'"
        ));
    }
    let _in_process = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let tool = find_tool(cache_dir)?;
    let version = tool
        .as_ref()
        .map_or(COMPONENTIZE_PY_VERSION, |t| t.version.as_str());
    let key = cache_key(version, app);
    let out_dir = cache_dir.join("python");
    let cached = out_dir.join(format!("{name}-{key}.wasm"));
    if let Some(bytes) = read_cached(&cached)? {
        tracing::debug!(plugin = name, path = %cached.display(), elapsed_ms = started.elapsed().as_millis() as u64, "Python component from cache");
        return Ok(bytes);
    }
    create_dir(cache_dir)?;
    let _across_processes = FileLock::acquire(&cache_dir.join("python-build.lock"))?;
    // Another process may have built it while this one waited for the lock.
    if let Some(bytes) = read_cached(&cached)? {
        return Ok(bytes);
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
    let key = cache_key(&tool.version, app);
    let cached = out_dir.join(format!("{name}-{key}.wasm"));
    if let Some(bytes) = read_cached(&cached)? {
        return Ok(bytes);
    }
    tracing::info!(
        plugin = name,
        "building the Python component with componentize-py {} (first use only; about 20 s)",
        tool.version
    );
    let stage = cache_dir
        .join("python-build")
        .join(format!("{name}-{key}-{}", std::process::id()));
    let result = componentize(&tool, name, &stage, app);
    let _ = fs::remove_dir_all(&stage);
    let bytes = result?;
    create_dir(&out_dir)?;
    let tmp = out_dir.join(format!("{name}-{key}.wasm.tmp{}", std::process::id()));
    fs::write(&tmp, &bytes)
        .and_then(|()| fs::rename(&tmp, &cached))
        .map_err(|e| format!("cannot write {}: {e}", cached.display()))?;
    tracing::info!(
        plugin = name,
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        bytes = bytes.len(),
        path = %cached.display(),
        "built the Python component"
    );
    Ok(bytes)
}

fn read_cached(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn create_dir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Stages the sources, the SDK and the WIT files and runs componentize-py.
fn componentize(
    tool: &Tool,
    name: &str,
    stage: &Path,
    app: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, String> {
    let _ = fs::remove_dir_all(stage);
    let write = |rel: &str, bytes: &[u8]| -> Result<(), String> {
        let path = stage.join(rel);
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    for (rel, bytes) in app {
        write(&format!("app/{rel}"), bytes)?;
    }
    write(&format!("sdk/{}", SDK_FILE.0), SDK_FILE.1.as_bytes())?;
    for (file, text) in WIT_FILES {
        write(&format!("wit/{file}"), text.as_bytes())?;
    }
    let output = stage.join(format!("{name}.wasm"));
    let started = Instant::now();
    // Relative paths, so that the staging folder's location is not baked into the
    // component's code objects.
    let run = Command::new(&tool.path)
        .current_dir(stage)
        .args(["-d", "wit", "-w", WORLD, "componentize", "--stub-wasi"])
        .args(["-p", "app", "-p", "sdk", APP_MODULE, "-o"])
        .arg(format!("{name}.wasm"))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", tool.path.display()))?;
    if !run.status.success() {
        return Err(format!(
            "componentize-py could not build the Python plugin '{name}' ({}):\n{}",
            run.status,
            output_tail(&run)
        ));
    }
    let bytes = fs::read(&output).map_err(|e| format!("cannot read {}: {e}", output.display()))?;
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

/// componentize-py from the environment variable, `PATH` or an earlier virtual environment;
/// `None` when there is none yet.
fn find_tool(cache_dir: &Path) -> Result<Option<Tool>, String> {
    if let Some(path) = std::env::var_os(COMPONENTIZE_PY_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return version_of(&path).map(Some).map_err(|e| {
            format!(
                "{COMPONENTIZE_PY_ENV}={} does not run componentize-py: {e}",
                path.display()
            )
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
fn install_tool(cache_dir: &Path) -> Result<Tool, String> {
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
    tracing::info!(path = %venv.display(), "installing componentize-py {COMPONENTIZE_PY_VERSION} into a virtual environment (first use only)");
    let python = if cfg!(windows) { "python" } else { "python3" };
    let made = Command::new(python)
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .output()
        .map_err(|e| {
            format!("{how}, but `{python}` could not be run ({e}): install Python 3.10 or later")
        })?;
    if !made.status.success() {
        return Err(format!(
            "{how}, but `{python} -m venv` failed (on Debian or Ubuntu, install the \
             python3-venv package):\n{}",
            output_tail(&made)
        ));
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
        .map_err(|e| format!("{how}, but pip could not be run: {e}"))?;
    if !pip.status.success() {
        return Err(format!(
            "{how}, but `pip install componentize-py=={COMPONENTIZE_PY_VERSION}` failed (is \
             PyPI reachable?):\n{}",
            output_tail(&pip)
        ));
    }
    let tool = version_of(&venv_bin(&venv, "componentize-py"))
        .map_err(|e| format!("{how}, but the installed componentize-py does not run: {e}"))?;
    fs::write(venv.join(READY_MARK), &tool.version)
        .map_err(|e| format!("cannot write in {}: {e}", venv.display()))?;
    tracing::info!(
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "componentize-py {} installed",
        tool.version
    );
    Ok(tool)
}

/// A lock file held while building; removed on drop. A lock older than [`STALE_LOCK`] is
/// taken over (its process is assumed gone).
struct FileLock(PathBuf);

impl FileLock {
    fn acquire(path: &Path) -> Result<FileLock, String> {
        let mut announced = false;
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return Ok(FileLock(path.to_path_buf())),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let age = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    if age.is_some_and(|a| a > STALE_LOCK) {
                        let _ = fs::remove_file(path);
                        continue;
                    }
                    if !announced {
                        tracing::info!(lock = %path.display(), "waiting for another process building a Python component");
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Hex key over everything that determines the component.
fn cache_key(tool_version: &str, app: &[(String, Vec<u8>)]) -> String {
    let mut h = Fnv128::new();
    h.part(RECIPE.as_bytes());
    h.part(WORLD.as_bytes());
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
    h.part(SDK_FILE.1.as_bytes());
    for (file, text) in WIT_FILES {
        h.part(file.as_bytes());
        h.part(text.as_bytes());
    }
    format!("{:032x}", h.0)
}

/// FNV-1a, 128 bits: a stable content hash without a dependency (this is a cache key, not a
/// security boundary: the cache directory is trusted, as for precompiled components).
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

    fn new() -> Fnv128 {
        Fnv128(Self::OFFSET)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    /// A length-prefixed part, so that part boundaries count.
    fn part(&mut self, bytes: &[u8]) {
        self.bytes(&(bytes.len() as u64).to_le_bytes());
        self.bytes(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_covers_version_paths_and_contents() {
        let app = |p: &str, b: &[u8]| vec![(p.to_string(), b.to_vec())];
        let k = cache_key("0.25.1", &app("processor.py", b"x"));
        assert_eq!(k.len(), 32);
        assert_eq!(k, cache_key("0.25.1", &app("processor.py", b"x")));
        assert_ne!(k, cache_key("0.25.2", &app("processor.py", b"x")));
        assert_ne!(k, cache_key("0.25.1", &app("processor.py", b"y")));
        assert_ne!(k, cache_key("0.25.1", &app("other.py", b"x")));
        let two = vec![
            ("a.py".to_string(), b"1".to_vec()),
            ("b.py".to_string(), b"2".to_vec()),
        ];
        let swapped = vec![two[1].clone(), two[0].clone()];
        assert_eq!(cache_key("v", &two), cache_key("v", &swapped));
    }

    #[test]
    fn sources_skip_tests_and_caches() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("pkg/__pycache__")).unwrap();
        fs::create_dir_all(p.join("tests")).unwrap();
        fs::write(p.join("processor.py"), "x").unwrap();
        fs::write(p.join("pkg/mod.py"), "y").unwrap();
        fs::write(p.join("pkg/__pycache__/mod.cpython-311.pyc"), "z").unwrap();
        fs::write(p.join("tests/test_x.py"), "t").unwrap();
        let mut files = Vec::new();
        collect_sources(p, p, &mut files).unwrap();
        files.sort();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["pkg/mod.py", "processor.py"]);
    }

    #[test]
    fn a_source_dir_needs_processor_py() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("app.py"), "x").unwrap();
        let err = python_component(dir.path(), "mine", dir.path()).unwrap_err();
        assert!(err.contains("has no processor.py"), "{err}");
    }

    #[test]
    fn the_embedded_py_calc_sources_are_complete() {
        assert!(PY_CALC_FILES[0].1.contains("vessel_plugin.export(PyCalc)"));
        assert!(SDK_FILE.1.contains("def export(cls)"));
        assert!(WIT_FILES[1].1.contains("world processor-plugin"));
    }
}
