//! Loaded scripts, cached by (script, params) location and version so that a worker loads
//! each version once: a long-running daemon picks up an edited script for the next batch, and
//! never loads an unchanged one again.
//!
//! Loading a script is blocking work: it reads files, and its catalog compiles plugin
//! components and runs their guest code (`describe`, instantiation, `open`). Guest code must
//! never run on an async worker thread: WASI's blocking calls (a flush of the captured stdout,
//! say) enter the runtime with `block_on`, which panics there. So loads go through
//! `spawn_blocking`, one per script at a time.

use crate::{EngineError, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use vessel_script::{LoadOptions, Script, ScriptError, ScriptErrors};

/// A script's slot: filled once by the first successful load; concurrent callers wait for it.
type Slot = Arc<OnceCell<Arc<Script>>>;

/// The version of a script and its params as the file system tells it: modification time and
/// length of each (`None` for a file that cannot be read; loading then reports why).
type Version = [Option<(std::time::SystemTime, u64)>; 2];

fn version(script_url: &str, params_url: &str) -> Version {
    let of = |p: &str| {
        (!p.is_empty())
            .then(|| std::fs::metadata(p).ok())
            .flatten()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    [of(script_url), of(params_url)]
}

/// Cache of validated scripts keyed by `script_url` and `script_params_url`, holding the
/// latest version of each.
#[derive(Default)]
pub struct ScriptCache {
    scripts: Mutex<HashMap<(String, String), (Version, Slot)>>,
    options: LoadOptions,
}

impl ScriptCache {
    /// A cache whose scripts are loaded with `options` (the plugin catalog, mostly).
    pub fn with_options(options: LoadOptions) -> ScriptCache {
        ScriptCache {
            scripts: Mutex::default(),
            options,
        }
    }

    /// Returns the script, loading and validating it on first use of each version (the files'
    /// modification times and lengths), on a blocking thread. Callers asking for the same
    /// script while it loads wait for that load; a failed load is not kept, the next caller
    /// tries again.
    ///
    /// # Errors
    /// [`EngineError::Script`] with every validation error of the script, or saying that the
    /// load stopped (a panic while loading).
    pub async fn get(&self, script_url: &str, params_url: &str) -> Result<Arc<Script>> {
        let key = (script_url.to_string(), params_url.to_string());
        let now = version(script_url, params_url);
        let slot = {
            let mut scripts = self.lock();
            let entry = scripts.entry(key).or_insert_with(|| (now, Slot::default()));
            if entry.0 != now {
                *entry = (now, Slot::default());
            }
            entry.1.clone()
        };
        slot.get_or_try_init(|| {
            let options = self.options.clone();
            let (script_url, params_url) = (script_url.to_string(), params_url.to_string());
            async move {
                let url = script_url.clone();
                tokio::task::spawn_blocking(move || {
                    let params = (!params_url.is_empty()).then(|| Path::new(&params_url));
                    vessel_script::load_script_with(Path::new(&script_url), params, &options)
                        .map(Arc::new)
                        .map_err(EngineError::Script)
                })
                .await
                .map_err(|e| {
                    EngineError::Script(ScriptErrors::one(ScriptError::file(
                        &url,
                        format!("loading the script stopped: {e}"),
                    )))
                })?
            }
        })
        .await
        .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (Version, Slot)>> {
        self.scripts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Directory that relative file paths of a script are resolved against: the script's own.
pub fn script_dir(script_url: &str) -> &Path {
    Path::new(script_url).parent().unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(nodes: &[&str]) -> String {
        let nodes: Vec<String> = nodes
            .iter()
            .map(|n| {
                format!(
                    r#""{n}": {{"type": "file_table",
  "r": {{"urls": ["in.csv"], "csv": {{"hdr_line_idx": 0, "first_data_line_idx": 1}},
        "columns": {{"col_n": {{"csv": {{"col_hdr": "n", "col_format": "%d"}}, "col_type": "int"}}}}}},
  "w": {{"name": "t_{n}", "fields": {{"n": {{"expression": "r.col_n", "type": "int"}}}}}}}}"#
                )
            })
            .collect();
        format!(r#"{{"nodes": {{{}}}}}"#, nodes.join(","))
    }

    #[tokio::test]
    async fn an_edited_script_is_loaded_again_and_an_unchanged_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, script(&["a"])).unwrap();
        let url = path.to_str().unwrap();
        let cache = ScriptCache::default();
        let first = cache.get(url, "").await.unwrap();
        assert!(Arc::ptr_eq(&first, &cache.get(url, "").await.unwrap()));
        std::fs::write(&path, script(&["a", "b"])).unwrap();
        let edited = cache.get(url, "").await.unwrap();
        assert_eq!(edited.nodes.len(), 2);
        assert!(Arc::ptr_eq(&edited, &cache.get(url, "").await.unwrap()));
    }
}
