//! Loaded scripts, cached by (script, params) location so a worker loads each once.

use crate::{EngineError, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use vessel_script::{LoadOptions, Script};

/// Cache of validated scripts keyed by `script_url` and `script_params_url`.
#[derive(Default)]
pub struct ScriptCache {
    scripts: Mutex<HashMap<(String, String), Arc<Script>>>,
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

    /// Returns the script, loading and validating it on first use.
    ///
    /// # Errors
    /// [`EngineError::Script`] with every validation error of the script.
    pub fn get(&self, script_url: &str, params_url: &str) -> Result<Arc<Script>> {
        let key = (script_url.to_string(), params_url.to_string());
        if let Some(s) = self.lock().get(&key) {
            return Ok(s.clone());
        }
        let params = (!params_url.is_empty()).then(|| Path::new(params_url));
        let script = vessel_script::load_script_with(Path::new(script_url), params, &self.options)
            .map_err(|e| EngineError::Script(e.to_string()))?;
        let script = Arc::new(script);
        self.lock().insert(key, script.clone());
        Ok(script)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<Script>>> {
        self.scripts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Directory that relative file paths of a script are resolved against: the script's own.
pub fn script_dir(script_url: &str) -> &Path {
    Path::new(script_url).parent().unwrap_or(Path::new("."))
}
