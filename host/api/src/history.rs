//! Read-only views of a keyspace, as Capillaries' webapi returns them: the runs × nodes
//! matrix, a run's node history and a node's batch history.

use crate::AppState;
use crate::envelope::{ApiError, ApiPath, ok};
use crate::model::{
    BatchEventRow, BatchHistory, Matrix, NodeEventRow, NodeHistory, NodeRow, NodeStatusCell,
    RunLifespan, RunProps,
};
use crate::model::{Envelope, ErrorBody};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::Arc;
use vessel_core::DateTime;
use vessel_store::{Keyspace, RunEvent, RunId, RunProperties, RunStatus};

/// Timestamps as RFC 3339 with milliseconds, in UTC.
pub(crate) fn ts(t: &DateTime) -> String {
    t.with_timezone(&vessel_core::chrono::Utc)
        .to_rfc3339_opts(vessel_core::chrono::SecondsFormat::Millis, true)
}

impl From<&RunProperties> for RunProps {
    fn from(p: &RunProperties) -> RunProps {
        RunProps {
            run_id: p.run_id,
            start_nodes: p.start_nodes.join(","),
            affected_nodes: p.affected_nodes.join(","),
            script_url: p.script_url.clone(),
            script_params_url: p.script_params_url.clone(),
            run_description: p.run_description.clone(),
        }
    }
}

pub(crate) fn lifespan(events: &[RunEvent], run_id: RunId) -> RunLifespan {
    let mut l = RunLifespan {
        run_id,
        start_ts: None,
        start_comment: String::new(),
        final_status: 0,
        final_status_name: "none".into(),
        completed_ts: None,
        completed_comment: String::new(),
        stopped_ts: None,
        stopped_comment: String::new(),
    };
    for e in events.iter().filter(|e| e.run_id == run_id) {
        let slot = match e.status {
            RunStatus::Start => (&mut l.start_ts, &mut l.start_comment),
            RunStatus::Complete => (&mut l.completed_ts, &mut l.completed_comment),
            RunStatus::Stop => (&mut l.stopped_ts, &mut l.stopped_comment),
            RunStatus::None => continue,
        };
        if slot.0.is_none() {
            *slot.0 = Some(ts(&e.ts));
            *slot.1 = e.comment.clone();
        }
    }
    let status = vessel_engine::status::run_status_priority(events, run_id);
    l.final_status = status.code();
    l.final_status_name = status.name().into();
    l
}

/// The keyspace (404 when missing).
pub(crate) async fn keyspace(state: &AppState, name: &str) -> Result<Arc<dyn Keyspace>, ApiError> {
    vessel_store::validate_keyspace_name(name).map_err(ApiError::from)?;
    Ok(state.engine.storage().open_keyspace(name, false).await?)
}

/// A run's properties (404 when the run does not exist).
pub(crate) async fn run_props(ks: &dyn Keyspace, run_id: RunId) -> Result<RunProperties, ApiError> {
    ks.run_properties()
        .await?
        .into_iter()
        .find(|p| p.run_id == run_id)
        .ok_or_else(|| ApiError::not_found(format!("keyspace '{}' has no run {run_id}", ks.name())))
}

/// `GET /ks/{ks}`: every run's lifespan and every node's status in each run.
#[utoipa::path(get, path = "/ks/{ks}", tag = "capillaries",
    params(("ks" = String, Path, description = "Keyspace")),
    responses(
        (status = 200, description = "Runs × nodes", body = Envelope<Matrix>),
        (status = 400, description = "Bad keyspace name", body = ErrorBody),
        (status = 404, description = "No such keyspace", body = ErrorBody),
    ))]
pub(crate) async fn keyspace_matrix(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let ks = keyspace(&state, &name).await?;
    let props = ks.run_properties().await?;
    let run_events = ks.run_events(None).await?;
    let node_events = ks.node_events(None).await?;
    let lifespans: Vec<RunLifespan> = props
        .iter()
        .map(|p| lifespan(&run_events, p.run_id))
        .collect();
    // Per node: its latest event in each run, and its first start.
    let mut cells: BTreeMap<String, BTreeMap<RunId, (i16, &'static str, &DateTime)>> =
        BTreeMap::new();
    let mut first: BTreeMap<String, &DateTime> = BTreeMap::new();
    for e in &node_events {
        first.entry(e.node.clone()).or_insert(&e.ts);
        cells
            .entry(e.node.clone())
            .or_default()
            .insert(e.run_id, (e.status.code(), e.status.name(), &e.ts));
    }
    for p in &props {
        let statuses = vessel_engine::status::node_statuses(&node_events, p.run_id);
        for (node, status) in statuses {
            if let Some(cell) = cells.get_mut(&node).and_then(|c| c.get_mut(&p.run_id)) {
                cell.0 = status.code();
                cell.1 = status.name();
            }
        }
    }
    // Node descriptions from the newest run's script that can still be read.
    let mut desc: BTreeMap<String, String> = BTreeMap::new();
    for p in props.iter().rev() {
        if let Ok(script) = state
            .engine
            .script(&p.script_url, &p.script_params_url)
            .await
        {
            for (n, node) in &script.nodes {
                desc.entry(n.clone()).or_insert_with(|| node.desc.clone());
            }
        }
    }
    let mut nodes: Vec<NodeRow> = cells
        .into_iter()
        .map(|(node, runs)| NodeRow {
            node_desc: desc.get(&node).cloned().unwrap_or_default(),
            node_statuses: runs
                .into_iter()
                .map(|(run_id, (status, status_name, t))| NodeStatusCell {
                    run_id,
                    status,
                    status_name: status_name.into(),
                    ts: ts(t),
                })
                .collect(),
            node_name: node,
        })
        .collect();
    nodes.sort_by(|a, b| {
        first
            .get(&a.node_name)
            .cmp(&first.get(&b.node_name))
            .then_with(|| a.node_name.cmp(&b.node_name))
    });
    Ok(ok(Matrix {
        run_lifespans: lifespans,
        nodes,
    }))
}

/// `GET /ks/{ks}/run/{run_id}/node_history`.
#[utoipa::path(get, path = "/ks/{ks}/run/{run_id}/node_history", tag = "capillaries",
    params(("ks" = String, Path, description = "Keyspace"), ("run_id" = i32, Path, description = "Run id")),
    responses(
        (status = 200, description = "Node history", body = Envelope<NodeHistory>),
        (status = 400, description = "Bad keyspace name or run id", body = ErrorBody),
        (status = 404, description = "No such keyspace or run", body = ErrorBody),
    ))]
pub(crate) async fn node_history(
    State(state): State<AppState>,
    ApiPath((name, run_id)): ApiPath<(String, RunId)>,
) -> Result<Response, ApiError> {
    let ks = keyspace(&state, &name).await?;
    let props = run_props(ks.as_ref(), run_id).await?;
    let run_events = ks.run_events(Some(&[run_id])).await?;
    let events = ks.node_events(Some(&[run_id])).await?;
    let rows: Vec<NodeEventRow> = events
        .iter()
        .map(|e| NodeEventRow {
            ts: ts(&e.ts),
            run_id: e.run_id,
            script_node: e.node.clone(),
            written_by_batch_idx: e.written_by_batch_idx,
            status: e.status.code(),
            status_name: e.status.name().into(),
            comment: e.comment.clone(),
        })
        .collect();
    Ok(ok(NodeHistory {
        run_props: RunProps::from(&props),
        run_lifespan: lifespan(&run_events, run_id),
        node_history: rows,
    }))
}

/// `GET /ks/{ks}/run/{run_id}/node/{node}/batch_history`.
#[utoipa::path(get, path = "/ks/{ks}/run/{run_id}/node/{node}/batch_history", tag = "capillaries",
    params(("ks" = String, Path, description = "Keyspace"), ("run_id" = i32, Path, description = "Run id"),
        ("node" = String, Path, description = "Node name")),
    responses(
        (status = 200, description = "Batch history", body = Envelope<BatchHistory>),
        (status = 400, description = "Bad keyspace name or run id", body = ErrorBody),
        (status = 404, description = "No such keyspace, run or node", body = ErrorBody),
    ))]
pub(crate) async fn batch_history(
    State(state): State<AppState>,
    ApiPath((name, run_id, node)): ApiPath<(String, RunId, String)>,
) -> Result<Response, ApiError> {
    let ks = keyspace(&state, &name).await?;
    let props = run_props(ks.as_ref(), run_id).await?;
    if !props.affected_nodes.contains(&node) {
        return Err(ApiError::not_found(format!(
            "run {run_id} of keyspace '{name}' does not process node '{node}' (its nodes: {})",
            props.affected_nodes.join(", ")
        )));
    }
    let run_events = ks.run_events(Some(&[run_id])).await?;
    let events = ks.batch_events(run_id, Some(&node)).await?;
    let rows: Vec<BatchEventRow> = events
        .iter()
        .map(|e| BatchEventRow {
            ts: ts(&e.ts),
            run_id: e.run_id,
            script_node: e.node.clone(),
            batch_idx: e.batch_idx,
            batches_total: e.batches_total,
            status: e.status.code(),
            status_name: e.status.name().into(),
            first_token: e.first_token,
            last_token: e.last_token,
            instance: e.instance.clone(),
            thread: e.thread,
            comment: e.comment.clone(),
        })
        .collect();
    Ok(ok(BatchHistory {
        run_props: RunProps::from(&props),
        run_lifespan: lifespan(&run_events, run_id),
        batch_history: rows,
    }))
}

/// Query of the picture endpoint.
#[derive(serde::Deserialize, Default, utoipa::IntoParams)]
pub(crate) struct VizQuery {
    /// Colour the nodes by their status in this run.
    #[serde(default)]
    is_status: bool,
}

/// `GET /ks/{ks}/run/{run_id}/viz`: the run's script as an SVG DAG, coloured by node status
/// with `?is_status=true`.
#[utoipa::path(get, path = "/ks/{ks}/run/{run_id}/viz", tag = "capillaries",
    params(("ks" = String, Path, description = "Keyspace"), ("run_id" = i32, Path, description = "Run id"), VizQuery),
    responses(
        (status = 200, description = "SVG picture", content_type = "image/svg+xml", body = String),
        (status = 400, description = "Bad keyspace name, run id or query", body = ErrorBody),
        (status = 404, description = "No such keyspace or run", body = ErrorBody),
    ))]
pub(crate) async fn viz(
    State(state): State<AppState>,
    ApiPath((name, run_id)): ApiPath<(String, RunId)>,
    query: Result<axum::extract::Query<VizQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let ks = keyspace(&state, &name).await?;
    let props = run_props(ks.as_ref(), run_id).await?;
    let script = state
        .engine
        .script(&props.script_url, &props.script_params_url)
        .await?;
    let statuses = if q.is_status {
        let events = ks.node_events(Some(&[run_id])).await?;
        Some(
            vessel_engine::status::node_statuses(&events, run_id)
                .into_iter()
                .map(|(n, s)| (n, s.name().to_string()))
                .collect(),
        )
    } else {
        None
    };
    let svg = vessel_script::draw::to_svg(&script, statuses.as_ref());
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
