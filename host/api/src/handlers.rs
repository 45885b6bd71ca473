//! Keyspaces and runs: list, start, stop, summarize, follow, validate.

use crate::AppState;
use crate::envelope::{ApiError, ApiPath, ok, parse_body};
use crate::history::{keyspace, run_props};
use crate::model::{
    Envelope, ErrorBody, RunIdData, RunSummaryDoc, ScriptSource, StopBody, ValidNode, Validation,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::path::{Path as FsPath, PathBuf};
use vessel_engine::RunRequest;
use vessel_store::{RunId, RunStatus};

/// The request body, or the reason it could not be read (too large, stalled) as an envelope.
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body too large: see --max-body-mb".to_string()
        } else {
            format!("cannot read the request body: {}", e.body_text())
        };
        ApiError::new(status, message)
    })
}

/// `GET /healthz`: the process answers (no token needed).
#[utoipa::path(get, path = "/healthz", tag = "vessel", security(()),
    responses((status = 200, description = "The server answers", body = Envelope<String>)))]
pub(crate) async fn healthz() -> Response {
    ok("ok")
}

/// Unknown paths: 404 with the envelope.
pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no endpoint {}", uri.path()))
}

/// `GET /ks`: keyspace names.
#[utoipa::path(get, path = "/ks", tag = "capillaries",
    responses(
        (status = 200, description = "Keyspace names", body = Envelope<Vec<String>>),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
    ))]
pub(crate) async fn list_keyspaces(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(ok(state.engine.storage().list_keyspaces().await?))
}

/// `DELETE /ks/{ks}`: drops a keyspace with all its runs.
#[utoipa::path(delete, path = "/ks/{ks}", tag = "capillaries",
    params(("ks" = String, Path, description = "Keyspace")),
    responses(
        (status = 200, description = "Dropped", body = Envelope<Option<String>>),
        (status = 400, description = "Bad keyspace name", body = ErrorBody),
        (status = 404, description = "No such keyspace", body = ErrorBody),
    ))]
pub(crate) async fn drop_keyspace(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    keyspace(&state, &name).await?;
    state.engine.storage().drop_keyspace(&name).await?;
    tracing::info!(keyspace = %name, "keyspace dropped");
    Ok(ok(serde_json::Value::Null))
}

impl ScriptSource {
    /// The script and params files: saved from the body when given there, else the given
    /// locations, which must lie under an allowed folder.
    fn files(&self, state: &AppState) -> Result<(PathBuf, Option<PathBuf>), ApiError> {
        let cwd = std::env::current_dir().map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read the working folder: {e}"),
            )
        })?;
        let allowed = &state.settings.allowed;
        let script = match (&self.script, self.script_url.trim()) {
            (Some(_), u) if !u.is_empty() => {
                return Err(ApiError::bad_request(
                    "give the script either in 'script' or as 'script_url', not both",
                ));
            }
            (Some(body), _) => save(state, "script", body)?,
            (None, "") => {
                return Err(ApiError::bad_request(
                    "no script: give 'script_url' (a file on the server) or 'script' (the script \
                     itself)",
                ));
            }
            (None, u) => {
                let p = local(u, "script_url")?;
                allowed.check("script_url", &p, &cwd)?;
                cwd.join(p)
            }
        };
        let params = match (&self.params, self.script_params_url.trim()) {
            (Some(_), u) if !u.is_empty() => {
                return Err(ApiError::bad_request(
                    "give the params either in 'params' or as 'script_params_url', not both",
                ));
            }
            (Some(body), _) => Some(save(state, "params", body)?),
            (None, "") => None,
            (None, u) => {
                let p = local(u, "script_params_url")?;
                allowed.check("script_params_url", &p, &cwd)?;
                Some(cwd.join(p))
            }
        };
        Ok((script, params))
    }
}

/// A local path from a location: `file://` or a plain path.
fn local(url: &str, field: &str) -> Result<PathBuf, ApiError> {
    if let Some(p) = url.strip_prefix("file://") {
        return Ok(PathBuf::from(p));
    }
    if url.contains("://") {
        return Err(ApiError::bad_request(format!(
            "{field}: {url} is not a file on this server; remote locations are not supported yet"
        )));
    }
    Ok(PathBuf::from(url))
}

/// Saves a script or params given in the body under the submit folder, named by content, and
/// returns its path.
fn save(state: &AppState, what: &str, body: &serde_json::Value) -> Result<PathBuf, ApiError> {
    let (text, ext) = match body {
        serde_json::Value::String(s) => {
            let t = s.trim_start();
            let ext = if t.starts_with('{') { "json" } else { "yaml" };
            (s.clone(), ext)
        }
        serde_json::Value::Object(_) => (
            serde_json::to_string_pretty(body).unwrap_or_default(),
            "json",
        ),
        _ => {
            return Err(ApiError::bad_request(format!(
                "'{what}' must be an object or JSON / YAML text"
            )));
        }
    };
    let hash = Sha256::digest(text.as_bytes());
    let name: String = hash.iter().take(12).map(|b| format!("{b:02x}")).collect();
    let dir = &state.settings.submit_dir;
    let path = dir.join(format!("{what}-{name}.{ext}"));
    let io = |e: std::io::Error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot save the submitted {what} in {}: {e}", dir.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    if !path.exists() {
        let tmp = path.with_extension(format!("{ext}.tmp{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
    }
    Ok(path)
}

/// Loads and checks a submitted script: every script error (400), every path outside the
/// allowed folders (400).
async fn load_checked(
    state: &AppState,
    req: &RunRequest,
) -> Result<std::sync::Arc<vessel_script::Script>, ApiError> {
    let script = state.engine.request_script(req).await?;
    let base = req
        .script
        .parent()
        .map(FsPath::to_path_buf)
        .unwrap_or_default();
    state.settings.allowed.check_script(&script, &base)?;
    Ok(script)
}

/// `POST /ks/{ks}/run`: starts a run; `{"run_id": N}`.
#[utoipa::path(post, path = "/ks/{ks}/run", tag = "capillaries",
    params(("ks" = String, Path, description = "Keyspace (created if missing)")),
    request_body(content = ScriptSource, content_type = "application/json"),
    responses(
        (status = 200, description = "Started", body = Envelope<RunIdData>),
        (status = 400, description = "Bad body, keyspace name, script, start node or path", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body neither JSON nor YAML", body = ErrorBody),
    ))]
pub(crate) async fn start_run(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_of(body)?;
    vessel_store::validate_keyspace_name(&name).map_err(ApiError::from)?;
    let src: ScriptSource = parse_body(&headers, &body)?;
    let (script, params) = src.files(&state)?;
    let req = RunRequest {
        keyspace: name.clone(),
        script,
        params,
        start_nodes: src.start_nodes.names(),
        description: src.run_description.clone(),
    };
    load_checked(&state, &req).await?;
    let run_id = state.engine.start_run(&req).await?;
    tracing::info!(keyspace = %name, run_id, "run started through the API");
    Ok(ok(RunIdData { run_id }))
}

/// `DELETE /ks/{ks}/run/{run_id}`: stops a run in progress or invalidates a finished one;
/// 409 when it is stopped already.
#[utoipa::path(delete, path = "/ks/{ks}/run/{run_id}", tag = "capillaries",
    params(("ks" = String, Path, description = "Keyspace"), ("run_id" = i32, Path, description = "Run id")),
    request_body(content = StopBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Stopped", body = Envelope<Option<String>>),
        (status = 400, description = "Bad keyspace name, run id or body", body = ErrorBody),
        (status = 404, description = "No such keyspace or run", body = ErrorBody),
        (status = 409, description = "Stopped already", body = ErrorBody),
    ))]
pub(crate) async fn stop_run(
    State(state): State<AppState>,
    ApiPath((name, run_id)): ApiPath<(String, RunId)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_of(body)?;
    let ks = keyspace(&state, &name).await?;
    run_props(ks.as_ref(), run_id).await?;
    let stop: StopBody = if body.is_empty() {
        StopBody::default()
    } else {
        parse_body(&headers, &body)?
    };
    let events = ks.run_events(Some(&[run_id])).await?;
    if vessel_engine::status::run_status_priority(&events, run_id) == RunStatus::Stop {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("run {run_id} of keyspace '{name}' is stopped already"),
        ));
    }
    state.engine.stop_run(&name, run_id, &stop.comment).await?;
    Ok(ok(serde_json::Value::Null))
}

/// `GET /ks/{ks}/run/{run_id}/summary`: per node status, batches, rows in and out, time.
#[utoipa::path(get, path = "/ks/{ks}/run/{run_id}/summary", tag = "vessel",
    params(("ks" = String, Path, description = "Keyspace"), ("run_id" = i32, Path, description = "Run id")),
    responses(
        (status = 200, description = "Summary", body = Envelope<RunSummaryDoc>),
        (status = 400, description = "Bad keyspace name or run id", body = ErrorBody),
        (status = 404, description = "No such keyspace or run", body = ErrorBody),
    ))]
pub(crate) async fn summary(
    State(state): State<AppState>,
    ApiPath((name, run_id)): ApiPath<(String, RunId)>,
) -> Result<Response, ApiError> {
    let ks = keyspace(&state, &name).await?;
    run_props(ks.as_ref(), run_id).await?;
    Ok(ok(state.engine.summary(&name, run_id).await?))
}

/// `GET /ks/{ks}/run/{run_id}/events`: Server-Sent Events: a `summary` event with the run's
/// summary whenever it changes (and at once), then `end` when the run is complete or stopped.
#[utoipa::path(get, path = "/ks/{ks}/run/{run_id}/events", tag = "vessel",
    params(("ks" = String, Path, description = "Keyspace"), ("run_id" = i32, Path, description = "Run id")),
    responses(
        (status = 200, description = "Event stream of run summaries", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad keyspace name or run id", body = ErrorBody),
        (status = 404, description = "No such keyspace or run", body = ErrorBody),
    ))]
pub(crate) async fn events(
    State(state): State<AppState>,
    ApiPath((name, run_id)): ApiPath<(String, RunId)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let ks = keyspace(&state, &name).await?;
    run_props(ks.as_ref(), run_id).await?;
    let interval = state.settings.progress_interval;
    let engine = state.engine.clone();
    struct Follow {
        last: String,
        done: bool,
        first: bool,
    }
    let stream = futures::stream::unfold(
        Follow {
            last: String::new(),
            done: false,
            first: true,
        },
        move |mut f| {
            let engine = engine.clone();
            let name = name.clone();
            async move {
                if f.done {
                    return None;
                }
                loop {
                    if !f.first {
                        tokio::time::sleep(interval).await;
                    }
                    f.first = false;
                    let summary = match engine.summary(&name, run_id).await {
                        Ok(s) => s,
                        Err(e) => {
                            f.done = true;
                            let ev = Event::default().event("error").data(e.to_string());
                            return Some((Ok(ev), f));
                        }
                    };
                    let finished = summary.run_status == "complete" || summary.run_status == "stop";
                    let text = serde_json::to_string(&summary).unwrap_or_default();
                    if finished {
                        f.done = true;
                        let ev = Event::default().event("end").data(text);
                        return Some((Ok(ev), f));
                    }
                    if text != f.last {
                        f.last = text.clone();
                        return Some((Ok(Event::default().event("summary").data(text)), f));
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `POST /validate`: loads a script (by location or in the body) without running it; the
/// nodes and warnings, or 400 with every error.
#[utoipa::path(post, path = "/validate", tag = "vessel",
    request_body(content = ScriptSource, content_type = "application/json"),
    responses(
        (status = 200, description = "The script is valid", body = Envelope<Validation>),
        (status = 400, description = "Every error of the script, or a path outside the allowed folders", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body neither JSON nor YAML", body = ErrorBody),
    ))]
pub(crate) async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_of(body)?;
    let src: ScriptSource = parse_body(&headers, &body)?;
    let (script, params) = src.files(&state)?;
    let req = RunRequest {
        keyspace: String::new(),
        script,
        params,
        start_nodes: Vec::new(),
        description: String::new(),
    };
    let script = load_checked(&state, &req).await?;
    let order = vessel_script::dag::topological_order(&script);
    let nodes: Vec<ValidNode> = order
        .iter()
        .filter_map(|n| script.nodes.get(n))
        .map(|n| ValidNode {
            name: n.name.clone(),
            node_type: n.node_type.name().into(),
            desc: n.desc.clone(),
            depends_on: vessel_script::dag::dependencies(&script, &n.name),
        })
        .collect();
    let warnings: Vec<String> = script.warnings.iter().map(|w| w.to_string()).collect();
    Ok(ok(Validation { nodes, warnings }))
}
