//! Who may call the API, and which files a submitted script may touch.

use crate::AppState;
use crate::envelope::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::path::{Component, Path, PathBuf};
use tower_http::cors::{AllowOrigin, CorsLayer};
use vessel_script::{Reader, Script, Writer};

/// Requires `Authorization: Bearer <token>` when a token is set.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(token) = &state.settings.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.as_bytes(), token.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong token: send Authorization: Bearer <token>",
            ));
        }
    }
    Ok(next.run(req).await)
}

/// Compares two byte strings in time that depends on their lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// CORS for the configured origins only (none: no cross-origin page may call the API).
pub(crate) fn cors_layer(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}

/// The folders a submitted script may read, write and load plugins from.
#[derive(Debug, Clone)]
pub struct AllowedDirs {
    dirs: Vec<PathBuf>,
}

impl AllowedDirs {
    /// The folders, made absolute with symbolic links resolved.
    ///
    /// # Errors
    /// A folder that does not exist.
    pub fn new(dirs: Vec<PathBuf>) -> std::io::Result<AllowedDirs> {
        let dirs = dirs
            .into_iter()
            .map(|d| {
                std::fs::canonicalize(&d).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("allowed folder {}: {e}", d.display()))
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(AllowedDirs { dirs })
    }

    /// The folders.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Whether `path` (absolute, or relative to `base`) lies under an allowed folder, with
    /// `..` and symbolic links resolved. A path that does not exist yet (an output) is judged
    /// by its deepest existing ancestor plus the rest, which must not contain `..`.
    pub fn permits(&self, path: &Path, base: &Path) -> bool {
        let full = if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        };
        let Some(real) = resolve(&full) else {
            return false;
        };
        self.dirs.iter().any(|d| real.starts_with(d))
    }

    /// Checks a path given in a request (script or params location).
    pub(crate) fn check(&self, what: &str, path: &Path, base: &Path) -> Result<(), ApiError> {
        if self.permits(path, base) {
            Ok(())
        } else {
            Err(self.refusal(what, path))
        }
    }

    fn refusal(&self, what: &str, path: &Path) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{what}: {} is outside the folders this server may use ({}); start `vessel api` \
                 with --allow-dir for its folder",
                path.display(),
                self.dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }

    /// Checks every file a loaded script reads or writes and every plugin it runs; the error
    /// names each offending node and path.
    pub(crate) fn check_script(&self, script: &Script, base: &Path) -> Result<(), ApiError> {
        let mut bad = Vec::new();
        let mut check = |node: &str, what: &str, p: &str| {
            if is_remote(p) {
                return;
            }
            // A template's folder is what matters: `{batch_idx}` only names files in it.
            let path = Path::new(p);
            if !self.permits(path, base) {
                bad.push(format!("node '{node}', {what}: {p}"));
            }
        };
        for (name, node) in &script.nodes {
            if let Reader::File(f) = &node.reader {
                for u in &f.urls {
                    check(name, "r.urls", u);
                }
            }
            if let Writer::File(f) = &node.writer {
                check(name, "w.url_template", &f.url_template);
            }
            if let Some(p) = &node.processor {
                if looks_like_path(&p.proc_type) {
                    check(name, "plugin", &p.proc_type);
                }
                walk_urls(&p.params, "p", &mut |key, v| check(name, key, v));
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "the script uses files outside the folders this server may use ({}):\n{}",
                    self.dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    bad.join("\n")
                ),
            ))
        }
    }
}

fn is_remote(p: &str) -> bool {
    ["http://", "https://", "s3://", "sftp://"]
        .iter()
        .any(|s| p.starts_with(s))
}

fn looks_like_path(t: &str) -> bool {
    t.contains('/') || t.ends_with(".wasm")
}

/// Calls `f` for every string under a key ending in `url` or `urls` (plugin parameters that
/// name files, such as `python_code_urls` and `tag_criteria_url`).
fn walk_urls(v: &serde_json::Value, at: &str, f: &mut dyn FnMut(&str, &str)) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = format!("{at}.{k}");
                if k.ends_with("url") || k.ends_with("urls") {
                    match v {
                        serde_json::Value::String(s) => f(&key, s),
                        serde_json::Value::Array(a) => {
                            for s in a.iter().filter_map(|s| s.as_str()) {
                                f(&key, s);
                            }
                        }
                        other => walk_urls(other, &key, f),
                    }
                } else {
                    walk_urls(v, &key, f);
                }
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                walk_urls(v, at, f);
            }
        }
        _ => {}
    }
}

/// The real location of `path`: the deepest existing ancestor with links resolved, plus the
/// rest; `None` when the rest climbs with `..`.
fn resolve(path: &Path) -> Option<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return Some(out);
        }
        let name = existing.file_name()?.to_os_string();
        rest.push(name);
        if !existing.pop() {
            return None;
        }
        // A `..` in the part that does not exist could climb anywhere.
        if existing
            .components()
            .next_back()
            .is_some_and(|c| c == Component::ParentDir)
        {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_judged_after_dots_and_links() {
        let root = tempfile::tempdir().unwrap();
        let inside = root.path().join("ok");
        std::fs::create_dir(&inside).unwrap();
        let outside = root.path().join("secret");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("f.csv"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, inside.join("link")).unwrap();
        let allowed = AllowedDirs::new(vec![inside.clone()]).unwrap();
        assert!(allowed.permits(Path::new("a.csv"), &inside));
        assert!(allowed.permits(Path::new("out/new/a.csv"), &inside));
        assert!(allowed.permits(&inside.join("x.csv"), Path::new("/")));
        assert!(!allowed.permits(Path::new("../secret/f.csv"), &inside));
        assert!(!allowed.permits(Path::new("link/f.csv"), &inside));
        assert!(!allowed.permits(Path::new("/etc/passwd"), &inside));
        assert!(!allowed.permits(Path::new("new/../../secret/x"), &inside));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }
}
