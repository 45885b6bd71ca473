//! Dependency checks: which run's tables a batch reads, or whether it must wait or fail.

use crate::engine::parents;
use crate::{EngineError, Result, status};
use vessel_core::time;
use vessel_script::policy::DepEvent;
use vessel_script::{DepCmd, Node, Reader, Script};
use vessel_store::{Keyspace, NodeStatus, RunId, RunStatus};

/// Decision for one batch.
pub(crate) struct DepDecision {
    pub cmd: DepCmd,
    /// Run whose copy of the reader table to read.
    pub reader_run: Option<RunId>,
    /// Run whose copy of the lookup table to read.
    pub lookup_run: Option<RunId>,
    /// Which rules matched, for the batch comment.
    pub explanation: String,
}

/// Applies the node's dependency policy to each upstream node and combines the results:
/// any nogo → nogo, else any wait → wait, else go.
pub(crate) async fn check(
    ks: &dyn Keyspace,
    script: &Script,
    node: &Node,
    run_id: RunId,
) -> Result<DepDecision> {
    let mut decision = DepDecision {
        cmd: DepCmd::Go,
        reader_run: None,
        lookup_run: None,
        explanation: String::new(),
    };
    let ups = parents(script, node);
    if ups.is_empty() {
        return Ok(decision);
    }
    let policy = script
        .policies
        .get(&node.dependency_policy)
        .ok_or_else(|| {
            EngineError::Invalid(format!(
                "node '{}' names unknown dependency policy '{}'",
                node.name, node.dependency_policy
            ))
        })?;
    let props = ks.run_properties().await?;
    let run_events = ks.run_events(None).await?;
    let node_events = ks.node_events(None).await?;
    let mut cmds = Vec::new();
    for up in &ups {
        let mut events = Vec::new();
        for p in props.iter().filter(|p| p.affected_nodes.contains(up)) {
            let rs = status::run_status_priority(&run_events, p.run_id);
            let ns = status::node_statuses(&node_events, p.run_id)
                .get(up)
                .copied()
                .unwrap_or(NodeStatus::None);
            let ts_of = |s: RunStatus| {
                run_events
                    .iter()
                    .filter(|e| e.run_id == p.run_id && e.status == s)
                    .map(|e| e.ts)
                    .max()
                    .unwrap_or_else(time::zero)
            };
            let node_ts: Vec<_> = node_events
                .iter()
                .filter(|e| e.run_id == p.run_id && &e.node == up)
                .collect();
            events.push(DepEvent {
                run_id: p.run_id,
                run_is_current: p.run_id == run_id,
                run_status: rs.code() as i64,
                node_status: ns.code() as i64,
                run_start_ts: ts_of(RunStatus::Start),
                run_completed_ts: ts_of(RunStatus::Complete),
                run_stopped_ts: ts_of(RunStatus::Stop),
                node_is_started: !node_ts.is_empty(),
                node_start_ts: node_ts
                    .iter()
                    .filter(|e| e.status == NodeStatus::Start)
                    .map(|e| e.ts)
                    .min()
                    .unwrap_or_else(time::zero),
                node_status_ts: node_ts
                    .iter()
                    .map(|e| e.ts)
                    .max()
                    .unwrap_or_else(time::zero),
            });
        }
        if events.is_empty() {
            cmds.push(DepCmd::NoGo);
            decision.explanation.push_str(&format!(
                "upstream node '{up}' is not part of any run of this keyspace; start a run \
                 that includes it first; "
            ));
            continue;
        }
        let (cmd, chosen, why) = policy
            .decide(&events)
            .map_err(|e| EngineError::Invalid(format!("policy '{}': {e}", policy.name)))?;
        decision.explanation.push_str(&format!("{up}: {why}; "));
        if cmd == DepCmd::Go {
            if let Reader::Table(t) = &node.reader
                && script.table_creators.get(&t.table) == Some(up)
            {
                decision.reader_run = chosen;
            }
            if let Some(l) = &node.lookup
                && script.index_owners.get(&l.index_name) == Some(up)
            {
                decision.lookup_run = chosen;
            }
        }
        cmds.push(cmd);
    }
    decision.cmd = if cmds.contains(&DepCmd::NoGo) {
        DepCmd::NoGo
    } else if cmds.contains(&DepCmd::Wait) {
        DepCmd::Wait
    } else {
        DepCmd::Go
    };
    Ok(decision)
}
