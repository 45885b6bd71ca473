//! Loaded scripts, cached by (script, params) location so a worker loads each once.
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

/// Cache of validated scripts keyed by `script_url` and `script_params_url`.
#[derive(Default)]
pub struct ScriptCache {
    scripts: Mutex<HashMap<(String, String), Slot>>,
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

    /// Returns the script, loading and validating it on first use, on a blocking thread.
    /// Callers asking for the same script while it loads wait for that load; a failed load
    /// is not kept, the next caller tries again.
    ///
    /// # Errors
    /// [`EngineError::Script`] with every validation error of the script, or saying that the
    /// load stopped (a panic while loading).
    pub async fn get(&self, script_url: &str, params_url: &str) -> Result<Arc<Script>> {
        let key = (script_url.to_string(), params_url.to_string());
        let slot = self.lock().entry(key).or_default().clone();
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Slot>> {
        self.scripts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Directory that relative file paths of a script are resolved against: the script's own.
pub fn script_dir(script_url: &str) -> &Path {
    Path::new(script_url).parent().unwrap_or(Path::new("."))
}
