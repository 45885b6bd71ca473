//! Status aggregation: batch events → node status → run status (Capillaries' rules).

use std::collections::BTreeMap;
use vessel_store::{BatchEvent, NodeEvent, NodeStatus, RunEvent, RunId, RunStatus};

/// Latest run status from its events (what a worker checks before processing).
pub fn run_status_latest(events: &[RunEvent], run_id: RunId) -> RunStatus {
    events
        .iter()
        .filter(|e| e.run_id == run_id)
        .max_by_key(|e| e.ts)
        .map_or(RunStatus::None, |e| e.status)
}

/// Run status by priority stop > complete > start (what dependency checks use).
pub fn run_status_priority(events: &[RunEvent], run_id: RunId) -> RunStatus {
    events
        .iter()
        .filter(|e| e.run_id == run_id)
        .map(|e| e.status)
        .max_by_key(|s| match s {
            RunStatus::None => 0,
            RunStatus::Start => 1,
            RunStatus::Complete => 2,
            RunStatus::Stop => 3,
        })
        .unwrap_or(RunStatus::None)
}

/// Latest status of every batch of one node, by batch index.
pub fn latest_batch_statuses(events: &[BatchEvent]) -> BTreeMap<i32, &BatchEvent> {
    let mut out: BTreeMap<i32, &BatchEvent> = BTreeMap::new();
    for e in events {
        // Events come ordered by time; a terminal status is never overridden by a later
        // "start" of a duplicate delivery.
        match out.get(&e.batch_idx) {
            Some(prev) if prev.status.is_terminal() && !e.status.is_terminal() => {}
            _ => {
                out.insert(e.batch_idx, e);
            }
        }
    }
    out
}

/// Node status computed from its batches: terminal once every batch is terminal
/// (fail if any failed, else stopreceived if any was stopped, else success); start otherwise.
pub fn node_status_from_batches(events: &[BatchEvent], batches_total: usize) -> NodeStatus {
    if events.is_empty() {
        return NodeStatus::None;
    }
    let latest = latest_batch_statuses(events);
    let terminal: Vec<NodeStatus> = latest
        .values()
        .map(|e| e.status)
        .filter(|s| s.is_terminal())
        .collect();
    if terminal.len() < batches_total {
        return NodeStatus::Start;
    }
    if terminal.contains(&NodeStatus::Fail) {
        NodeStatus::Fail
    } else if terminal.contains(&NodeStatus::StopReceived) {
        NodeStatus::StopReceived
    } else {
        NodeStatus::Success
    }
}

/// Node status of each node of one run from node history, priority
/// stop > fail > success > start.
pub fn node_statuses(events: &[NodeEvent], run_id: RunId) -> BTreeMap<String, NodeStatus> {
    let rank = |s: NodeStatus| match s {
        NodeStatus::None => 0,
        NodeStatus::Start => 1,
        NodeStatus::Success => 2,
        NodeStatus::Fail => 3,
        NodeStatus::StopReceived => 4,
    };
    let mut out: BTreeMap<String, NodeStatus> = BTreeMap::new();
    for e in events.iter().filter(|e| e.run_id == run_id) {
        let cur = out.entry(e.node.clone()).or_insert(NodeStatus::None);
        if rank(e.status) > rank(*cur) {
            *cur = e.status;
        }
    }
    out
}

/// Combined status of a run's affected nodes: `None` while any is not terminal, otherwise the
/// numerically highest status (stopreceived > fail > success).
pub fn combined_node_status(
    statuses: &BTreeMap<String, NodeStatus>,
    affected: &[String],
) -> Option<NodeStatus> {
    let mut worst = NodeStatus::Success;
    for n in affected {
        let s = statuses.get(n).copied().unwrap_or(NodeStatus::None);
        if !s.is_terminal() {
            return None;
        }
        if s.code() > worst.code() {
            worst = s;
        }
    }
    Some(worst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vessel_core::time;

    fn batch(idx: i32, status: NodeStatus) -> BatchEvent {
        BatchEvent {
            ts: time::now(),
            run_id: 1,
            node: "n".into(),
            batch_idx: idx,
            batches_total: 3,
            status,
            first_token: 0,
            last_token: 0,
            instance: String::new(),
            thread: 0,
            comment: String::new(),
        }
    }

    #[test]
    fn node_completes_only_when_every_batch_is_terminal() {
        let mut ev = vec![
            batch(0, NodeStatus::Start),
            batch(0, NodeStatus::Success),
            batch(1, NodeStatus::Start),
        ];
        assert_eq!(node_status_from_batches(&ev, 3), NodeStatus::Start);
        ev.push(batch(1, NodeStatus::Success));
        ev.push(batch(2, NodeStatus::Fail));
        assert_eq!(node_status_from_batches(&ev, 3), NodeStatus::Fail);
        // A late duplicate "start" does not reopen a finished batch.
        ev.push(batch(2, NodeStatus::Start));
        assert_eq!(node_status_from_batches(&ev, 3), NodeStatus::Fail);
    }

    #[test]
    fn run_combination_takes_the_worst_terminal_status() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), NodeStatus::Success);
        m.insert("b".to_string(), NodeStatus::Start);
        let affected = vec!["a".to_string(), "b".to_string()];
        assert_eq!(combined_node_status(&m, &affected), None);
        m.insert("b".to_string(), NodeStatus::Fail);
        assert_eq!(combined_node_status(&m, &affected), Some(NodeStatus::Fail));
    }
}
