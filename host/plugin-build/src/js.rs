//! Builds JavaScript plugins into components with componentize-js (`vessel plugin build`).
//!
//! A JavaScript plugin is a directory whose `index.js` default-exports `processor({...})` or
//! `functions({...})` from the SDK (`sdk/js/vessel-plugin.js`). Building it needs Node.js and
//! npm on the machine; componentize-js (which embeds the StarlingMonkey engine) is installed
//! once into a tools directory and reused, and so are built components whose inputs did not
//! change. The WIT package, the SDK and the Node driver are compiled into this crate (and so
//! into the `vessel` binary), so a build works anywhere, not only inside the repository.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::BuildError;

/// The componentize-js release builds are made with.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// Oldest Node.js major version componentize-js runs on.
const MIN_NODE_MAJOR: u32 = 18;

const WIT_TYPES: &str = include_str!("../../../wit/types.wit");
const WIT_PROCESSOR: &str = include_str!("../../../wit/processor.wit");
const SDK: &str = include_str!("../../../sdk/js/vessel-plugin.js");
const DRIVER: &str = include_str!("../../../sdk/js/tools/build.mjs");

/// Name of the SDK beside the plugin's modules.
const SDK_FILE: &str = "vessel-plugin.js";

/// Name of the driver script inside the tools directory.
const DRIVER_FILE: &str = "vessel-build.mjs";

/// Directory of the tools directory holding built components by input hash.
const BUILDS_DIR: &str = "builds";

/// Built components kept in [`BUILDS_DIR`]; older ones are removed (about 12 MB each).
const BUILDS_KEPT: usize = 16;

/// What [`build_component`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsComponent {
    /// The world the component targets: `processor-plugin` or `function-plugin`.
    pub world: String,
    /// Size of the component written, in bytes.
    pub bytes: u64,
    /// Whether componentize-js had to be installed for this build.
    pub installed_tools: bool,
    /// Whether the component came from an earlier build of the same inputs (no Node.js run).
    pub reused: bool,
    /// Wall time of the whole build, installation included.
    pub took: Duration,
}

/// Builds the JavaScript plugin in `plugin_dir` into a component at `out`.
///
/// * `world`: `processor-plugin` or `function-plugin` (also accepted fully qualified, as
///   `vessel:plugin/processor-plugin@0.1.0`); `None` takes the one `index.js` defines. A world
///   that differs from what `index.js` defines fails the build.
/// * `tools_dir`: where componentize-js is installed by the first build (`npm install --prefix`,
///   about 385 MB) and found afterwards, and where the last built components are kept by a hash
///   of their inputs (plugin modules, SDK, WIT, world, componentize-js version): building
///   unchanged sources again copies the earlier component without running Node.js. Two builds
///   must not install into the same fresh directory at the same time.
///
/// The plugin's `.js` and `.mjs` files (outside `node_modules` and hidden directories) are
/// copied to a temporary directory beside the SDK's `vessel-plugin.js`, which replaces any copy
/// the plugin keeps, so that the component always carries the SDK of this `vessel`.
///
/// # Errors
/// [`BuildError::Project`] when there is no `index.js` or the world is unknown;
/// [`BuildError::Tool`] when Node.js or npm is missing or too old, or installing
/// componentize-js fails; [`BuildError::Failed`], with the end of the output, when `index.js`
/// fails to load, defines another world, or componentize-js rejects it; [`BuildError::Io`]
/// when a file cannot be read or written.
pub fn build_component(
    plugin_dir: &Path,
    world: Option<&str>,
    tools_dir: &Path,
    out: &Path,
) -> Result<JsComponent, BuildError> {
    let started = Instant::now();
    let index = plugin_dir.join("index.js");
    if !index.is_file() {
        return Err(BuildError::Project(format!(
            "{} has no index.js: a JavaScript plugin's entry module is index.js, which does \
             `export default processor({{...}})` or `export default functions({{...}})`",
            plugin_dir.display()
        )));
    }
    let world = match world {
        Some(w) => normalize_world(w)?,
        None => "auto",
    };
    let modules = collect_modules(plugin_dir)?;
    let key = cache_key(world, &modules);
    let builds = tools_dir.join(BUILDS_DIR);
    let cached = builds.join(format!("{key}.wasm"));
    if let (Ok(bytes), Ok(built_world)) = (
        fs::read(&cached),
        fs::read_to_string(cached.with_extension("world")),
    ) {
        write_atomically(out, &bytes)?;
        tracing::info!(
            plugin = %plugin_dir.display(), world = %built_world, out = %out.display(),
            bytes = bytes.len(), "sources unchanged: reused the component built before"
        );
        return Ok(JsComponent {
            world: built_world,
            bytes: bytes.len() as u64,
            installed_tools: false,
            reused: true,
            took: started.elapsed(),
        });
    }
    let node_version = check_node()?;
    tracing::debug!(node = %node_version, "found Node.js");
    let installed_tools = ensure_tools(tools_dir)?;

    // Removed when dropped, whichever way the build ends.
    let stage = tempfile::Builder::new()
        .prefix("vessel-jsbuild-")
        .tempdir()
        .map_err(BuildError::io("create", &std::env::temp_dir()))?;
    let src = stage.path().join("src");
    let wit = stage.path().join("wit");
    create_dir(&wit)?;
    write(&wit.join("types.wit"), WIT_TYPES)?;
    write(&wit.join("processor.wit"), WIT_PROCESSOR)?;
    for (rel, bytes) in &modules {
        let path = src.join(rel);
        if let Some(dir) = path.parent() {
            create_dir(dir)?;
        }
        fs::write(&path, bytes).map_err(BuildError::io("write", &path))?;
    }
    if let Ok(own) = fs::read_to_string(plugin_dir.join(SDK_FILE))
        && own != SDK
    {
        tracing::info!(
            plugin = %plugin_dir.display(),
            "the plugin's vessel-plugin.js differs from the SDK built into vessel, which the \
             component gets instead"
        );
    }
    write(&src.join(SDK_FILE), SDK)?;
    // Makes Node treat the plugin's `.js` files as ES modules when the driver checks them.
    write(&src.join("package.json"), "{ \"type\": \"module\" }\n")?;
    tracing::debug!(modules = modules.len(), stage = %stage.path().display(), "plugin staged");

    let component = stage.path().join("component.wasm");
    let summary = stage.path().join("build.json");
    tracing::info!(
        plugin = %plugin_dir.display(), world,
        "building JavaScript component with componentize-js (tens of seconds)"
    );
    let t = Instant::now();
    let output = Command::new("node")
        .arg(tools_dir.join(DRIVER_FILE))
        .args([&src, &wit])
        .arg(world)
        .args([&component, &summary])
        .current_dir(&src)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BuildError::Tool(format!("cannot run node: {e}")))?;
    if !output.status.success() {
        // Messages name the staged copies; point at the plugin's own files instead.
        let staged = format!("{}{}", src.display(), std::path::MAIN_SEPARATOR);
        let own = format!("{}{}", plugin_dir.display(), std::path::MAIN_SEPARATOR);
        return Err(BuildError::Failed(format!(
            "building {} failed:\n{}",
            plugin_dir.display(),
            tail(&output, 40)
                .replace(&format!("file://{staged}"), &own)
                .replace(&staged, &own)
        )));
    }
    let summary = fs::read_to_string(&summary).map_err(|e| {
        BuildError::Failed(format!(
            "the build of {} wrote no summary ({e}); its output:\n{}",
            plugin_dir.display(),
            tail(&output, 40)
        ))
    })?;
    let summary: serde_json::Value = serde_json::from_str(&summary)
        .map_err(|e| BuildError::Failed(format!("unreadable build summary: {e}")))?;
    let built_world = summary["world"].as_str().unwrap_or_default().to_string();
    let bytes = fs::read(&component).map_err(BuildError::io("read", &component))?;
    write_atomically(out, &bytes)?;
    remember(&builds, &cached, &built_world, &bytes);
    let took = started.elapsed();
    tracing::info!(
        plugin = %plugin_dir.display(),
        world = %built_world,
        out = %out.display(),
        bytes = bytes.len(),
        componentize_ms = t.elapsed().as_millis() as u64,
        total_ms = took.as_millis() as u64,
        "built JavaScript component"
    );
    Ok(JsComponent {
        world: built_world,
        bytes: bytes.len() as u64,
        installed_tools,
        reused: false,
        took,
    })
}

/// A hash of everything a component is built from.
fn cache_key(world: &str, modules: &[(PathBuf, Vec<u8>)]) -> String {
    let mut h = crate::content_key::ContentKey::new();
    for part in [
        COMPONENTIZE_JS_VERSION,
        DRIVER,
        SDK,
        WIT_TYPES,
        WIT_PROCESSOR,
        world,
    ] {
        h.part(part.as_bytes());
    }
    for (path, bytes) in modules {
        h.part(path.to_string_lossy().as_bytes()).part(bytes);
    }
    h.finish()
}

/// Keeps a built component for [`cache_key`], dropping the oldest beyond [`BUILDS_KEPT`]. The
/// cache only saves time, so failures are logged and otherwise ignored.
fn remember(builds: &Path, cached: &Path, world: &str, bytes: &[u8]) {
    let saved = create_dir(builds)
        .and_then(|()| write(&cached.with_extension("world"), world))
        .and_then(|()| write_atomically(cached, bytes));
    if let Err(e) = saved {
        tracing::debug!(error = %e, "could not keep the built component");
        return;
    }
    let Ok(entries) = fs::read_dir(builds) else {
        return;
    };
    let mut wasm: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let modified = fs::metadata(&path).ok()?.modified().ok()?;
            (path.extension()? == "wasm").then_some((modified, path))
        })
        .collect();
    wasm.sort();
    let excess = wasm.len().saturating_sub(BUILDS_KEPT);
    for (_, path) in wasm.into_iter().take(excess) {
        let _ = fs::remove_file(path.with_extension("world"));
        let _ = fs::remove_file(&path);
    }
}

/// `processor-plugin` or `function-plugin`, from a short or fully qualified world name.
fn normalize_world(world: &str) -> Result<&'static str, BuildError> {
    let short = world.strip_prefix("vessel:plugin/").unwrap_or(world);
    let short = short.split_once('@').map_or(short, |(w, _)| w);
    match short {
        "processor-plugin" => Ok("processor-plugin"),
        "function-plugin" => Ok("function-plugin"),
        _ => Err(BuildError::Project(format!(
            "unknown world `{world}`: a JavaScript plugin targets processor-plugin or \
             function-plugin (vessel:plugin/...@0.1.0)"
        ))),
    }
}

/// The program name of a Node.js tool (`npm` is a batch file on Windows).
fn program(name: &str) -> String {
    if cfg!(windows) && name != "node" {
        format!("{name}.cmd")
    } else {
        name.to_string()
    }
}

/// Runs `<name> --version`, with a message saying what to install when it is missing.
fn tool_version(name: &str) -> Result<String, BuildError> {
    match Command::new(program(name))
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(BuildError::Tool(format!(
            "`{name} --version` failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BuildError::Tool(format!(
            "`{name}` was not found on PATH: building JavaScript plugins needs Node.js \
             {MIN_NODE_MAJOR} or later with npm (https://nodejs.org); install it and try again"
        ))),
        Err(e) => Err(BuildError::Tool(format!("cannot run `{name}`: {e}"))),
    }
}

/// Checks that Node.js is installed and recent enough; returns its version.
fn check_node() -> Result<String, BuildError> {
    let v = tool_version("node")?;
    let major = v
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= MIN_NODE_MAJOR => Ok(v),
        _ => Err(BuildError::Tool(format!(
            "Node.js {v} is too old: componentize-js needs Node.js {MIN_NODE_MAJOR} or later"
        ))),
    }
}

/// Installs componentize-js into `tools_dir` unless an earlier build did, and writes the
/// driver there. Returns whether it installed.
fn ensure_tools(tools_dir: &Path) -> Result<bool, BuildError> {
    create_dir(tools_dir)?;
    // Written only after a complete installation, so that an interrupted one is redone.
    let marker = tools_dir.join(format!(".vessel-componentize-js-{COMPONENTIZE_JS_VERSION}"));
    let package = tools_dir.join("node_modules/@bytecodealliance/componentize-js/package.json");
    let installed = if marker.is_file() && package.is_file() {
        tracing::debug!(tools = %tools_dir.display(), "componentize-js already installed");
        false
    } else {
        let npm = tool_version("npm")?;
        tracing::info!(
            tools = %tools_dir.display(), npm = %npm, version = COMPONENTIZE_JS_VERSION,
            "installing componentize-js with npm (once; about 385 MB)"
        );
        let t = Instant::now();
        let output = Command::new(program("npm"))
            .arg("install")
            .arg("--prefix")
            .arg(tools_dir)
            .args([
                "--no-audit",
                "--no-fund",
                "--save-exact",
                "--loglevel=error",
                &format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}"),
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BuildError::Tool(format!("cannot run npm: {e}")))?;
        if !output.status.success() || !package.is_file() {
            return Err(BuildError::Tool(format!(
                "installing componentize-js {COMPONENTIZE_JS_VERSION} into {} failed (is the npm \
                 registry reachable?):\n{}",
                tools_dir.display(),
                tail(&output, 30)
            )));
        }
        write(&marker, COMPONENTIZE_JS_VERSION)?;
        tracing::info!(
            tools = %tools_dir.display(),
            elapsed_ms = t.elapsed().as_millis() as u64,
            "componentize-js installed"
        );
        true
    };
    let driver = tools_dir.join(DRIVER_FILE);
    if fs::read_to_string(&driver).ok().as_deref() != Some(DRIVER) {
        write(&driver, DRIVER)?;
    }
    Ok(installed)
}

/// The `.js` and `.mjs` files under `dir` with their paths relative to it, sorted, skipping
/// `node_modules`, hidden directories and a copy of the SDK (which the build supplies).
fn collect_modules(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, BuildError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) -> Result<(), BuildError> {
        let err = |e| BuildError::io("read", dir)(e);
        for entry in fs::read_dir(dir).map_err(err)? {
            let entry = entry.map_err(err)?;
            let path = entry.path();
            let name = entry.file_name();
            if entry.file_type().map_err(err)?.is_dir() {
                if name != "node_modules" && !name.to_string_lossy().starts_with('.') {
                    walk(root, &path, out)?;
                }
            } else if matches!(path.extension().and_then(OsStr::to_str), Some("js" | "mjs")) {
                let bytes = fs::read(&path).map_err(BuildError::io("read", &path))?;
                let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                if rel != Path::new(SDK_FILE) {
                    out.push((rel, bytes));
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn create_dir(path: &Path) -> Result<(), BuildError> {
    fs::create_dir_all(path).map_err(BuildError::io("create", path))
}

fn write(path: &Path, contents: &str) -> Result<(), BuildError> {
    fs::write(path, contents).map_err(BuildError::io("write", path))
}

/// Writes through a temporary file beside `out` and a rename, so that `out` is never a partial
/// component.
fn write_atomically(out: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let dir = match out.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir,
        None => Path::new("."),
    };
    create_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(BuildError::io("write", out))?;
    tmp.write_all(bytes)
        .map_err(BuildError::io("write", tmp.path()))?;
    tmp.persist(out)
        .map_err(|e| BuildError::io("write", out)(e.error))?;
    Ok(())
}

/// The last `lines` lines of a process's stderr, then stdout when stderr is empty.
fn tail(output: &Output, lines: usize) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = if stderr.trim().is_empty() {
        String::from_utf8_lossy(&output.stdout)
    } else {
        stderr
    };
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worlds_are_normalized() {
        assert_eq!(
            normalize_world("processor-plugin").unwrap(),
            "processor-plugin"
        );
        assert_eq!(
            normalize_world("vessel:plugin/function-plugin@0.1.0").unwrap(),
            "function-plugin"
        );
        let err = normalize_world("http-proxy").unwrap_err();
        assert!(matches!(err, BuildError::Project(_)), "{err:?}");
        assert!(err.to_string().contains("processor-plugin"), "{err}");
    }

    #[test]
    fn a_directory_without_index_js_is_rejected_before_node_runs() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            build_component(dir.path(), None, dir.path(), &dir.path().join("x.wasm")).unwrap_err();
        assert!(matches!(err, BuildError::Project(_)), "{err:?}");
        assert!(err.to_string().contains("has no index.js"), "{err}");
    }

    #[test]
    fn modules_are_collected_without_node_modules() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path();
        fs::create_dir_all(from.join("lib")).unwrap();
        fs::create_dir_all(from.join("node_modules/x")).unwrap();
        fs::create_dir_all(from.join(".git")).unwrap();
        fs::write(from.join("index.js"), "export default 1;").unwrap();
        fs::write(from.join("vessel-plugin.js"), "").unwrap();
        fs::write(from.join("lib/util.mjs"), "").unwrap();
        fs::write(from.join("README.md"), "").unwrap();
        fs::write(from.join("node_modules/x/index.js"), "").unwrap();
        fs::write(from.join(".git/hook.js"), "").unwrap();
        let modules = collect_modules(from).unwrap();
        let paths: Vec<&Path> = modules.iter().map(|(p, _)| p.as_path()).collect();
        assert_eq!(paths, [Path::new("index.js"), Path::new("lib/util.mjs")]);
        assert_eq!(modules[0].1, b"export default 1;");
    }

    #[test]
    fn the_cache_key_follows_sources_and_world() {
        let a = vec![(PathBuf::from("index.js"), b"a".to_vec())];
        let b = vec![(PathBuf::from("index.js"), b"b".to_vec())];
        assert_eq!(cache_key("auto", &a), cache_key("auto", &a));
        assert_ne!(cache_key("auto", &a), cache_key("auto", &b));
        assert_ne!(cache_key("auto", &a), cache_key("function-plugin", &a));
    }
}
