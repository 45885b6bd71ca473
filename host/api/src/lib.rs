//! Vessel's web API (`vessel api`): Capillaries' webapi endpoints with the same paths, methods,
//! bodies and `{"data", "error"}` envelope, so that a Capillaries client works, plus what Vessel
//! adds: runs submitted with the script and params in the body, run summaries, validation
//! without running, and run progress pushed as Server-Sent Events.
//!
//! Errors are HTTP statuses with the envelope: 400 for a bad request or script (every error,
//! naming node and field), 401 without the bearer token, 403 for a path outside the allowed
//! folders, 404 for an unknown keyspace, run or node, 409 for stopping a run that is already
//! stopped, 413 for an oversized body, 503 when the store or queue is unreachable.
//!
//! Security (see [`ApiSettings`]): an optional bearer token for every endpoint but `/healthz`,
//! compared in constant time; every file a submitted script reads or writes, and every plugin
//! it runs, must lie under an allowed folder; CORS only for configured origins; bodies capped.

mod access;
mod envelope;
mod handlers;
mod history;
pub mod model;
pub mod openapi;
mod ui;

pub use access::AllowedDirs;
pub use envelope::ApiError;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use std::path::PathBuf;
use std::sync::Arc;
use vessel_engine::Engine;

/// Settings of the API server.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The bearer token every endpoint but `/healthz` requires (none: no authentication, and
    /// the command line then listens on loopback only).
    pub token: Option<String>,
    /// Folders that submitted scripts may read, write and load plugins from.
    pub allowed: AllowedDirs,
    /// Origins allowed to call the API from a browser page (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Where scripts and params submitted in a request body are saved (inside an allowed
    /// folder, and shared with the daemons when runs are distributed).
    pub submit_dir: PathBuf,
    /// How often run progress is pushed to event streams.
    pub progress_interval: std::time::Duration,
    /// Longest wait for the next piece of a request body; a stalled upload is cut off.
    pub body_timeout: std::time::Duration,
}

impl ApiSettings {
    /// Defaults for a server whose allowed folder is `dir`: no token, no CORS origins, 4 MiB
    /// bodies, submitted scripts saved under `dir/vessel-submitted`.
    pub fn new(dir: PathBuf) -> std::io::Result<ApiSettings> {
        Ok(ApiSettings {
            token: None,
            submit_dir: dir.join("vessel-submitted"),
            allowed: AllowedDirs::new(vec![dir])?,
            cors_origins: Vec::new(),
            max_body_bytes: 4 << 20,
            progress_interval: std::time::Duration::from_millis(500),
            body_timeout: std::time::Duration::from_secs(30),
        })
    }
}

/// What every handler sees.
#[derive(Clone)]
pub(crate) struct AppState {
    pub engine: Arc<Engine>,
    pub settings: Arc<ApiSettings>,
}

/// The API's routes with their security layers.
pub fn router(engine: Arc<Engine>, settings: ApiSettings) -> Router {
    let cors = access::cors_layer(&settings.cors_origins);
    let limit = settings.max_body_bytes;
    let body_timeout = settings.body_timeout;
    let state = AppState {
        engine,
        settings: Arc::new(settings),
    };
    let api = Router::new()
        .route("/ks", get(handlers::list_keyspaces))
        .route(
            "/ks/{ks}",
            get(history::keyspace_matrix).delete(handlers::drop_keyspace),
        )
        .route("/ks/{ks}/run", post(handlers::start_run))
        .route("/ks/{ks}/run/{run_id}", delete(handlers::stop_run))
        .route(
            "/ks/{ks}/run/{run_id}/node_history",
            get(history::node_history),
        )
        .route(
            "/ks/{ks}/run/{run_id}/node/{node}/batch_history",
            get(history::batch_history),
        )
        .route("/ks/{ks}/run/{run_id}/viz", get(history::viz))
        .route("/ks/{ks}/run/{run_id}/summary", get(handlers::summary))
        .route("/ks/{ks}/run/{run_id}/events", get(handlers::events))
        .route("/validate", post(handlers::validate))
        .route("/openapi.json", get(openapi::openapi_json))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::require_token,
        ));
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/", get(ui::index))
        .route("/ui/app.js", get(ui::app_js))
        .route("/ui/app.css", get(ui::app_css))
        .merge(api)
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .layer(cors)
        .with_state(state)
}
