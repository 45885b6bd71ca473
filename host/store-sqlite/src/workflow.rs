//! Workflow tables (Capillaries §5.2): run counter, run properties, run / node / batch history.
//!
//! History tables are append-only event logs. Besides Capillaries' columns each has a `seq`
//! (the SQLite rowid) recording insertion order, and `ts` (UTC milliseconds) is written here at
//! append time, never taken from the caller. Events are returned ordered by `(ts, seq)`.

use crate::keyspace::KsInner;
use crate::sql::db_err;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::collections::BTreeSet;
use vessel_core::time;
use vessel_store::{
    BatchEvent, NodeEvent, NodeStatus, Result, RunEvent, RunId, RunProperties, RunStatus,
    StoreError,
};

/// Names of the workflow tables, which [`crate::data::list_tables`] leaves out.
pub(crate) const WORKFLOW_TABLES: [&str; 7] = [
    "wf_run_counter",
    "wf_run_properties",
    "wf_run_history",
    "wf_node_history",
    "wf_batch_history",
    "wf_markers",
    "wf_instances",
];

const CREATE_WORKFLOW_TABLES: &str = "
CREATE TABLE IF NOT EXISTS wf_run_counter (
    ks TEXT PRIMARY KEY, last_run INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS wf_run_properties (
    run_id INTEGER PRIMARY KEY, start_nodes TEXT NOT NULL, affected_nodes TEXT NOT NULL,
    script_url TEXT NOT NULL, script_params_url TEXT NOT NULL, run_description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS wf_run_history (
    seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, run_id INTEGER NOT NULL,
    status INTEGER NOT NULL, comment TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS wf_run_history__run_id ON wf_run_history (run_id);
CREATE TABLE IF NOT EXISTS wf_node_history (
    seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, run_id INTEGER NOT NULL,
    script_node TEXT NOT NULL, written_by_batch_idx INTEGER NOT NULL,
    status INTEGER NOT NULL, comment TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS wf_node_history__run_id ON wf_node_history (run_id);
CREATE TABLE IF NOT EXISTS wf_batch_history (
    seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, run_id INTEGER NOT NULL,
    script_node TEXT NOT NULL, batch_idx INTEGER NOT NULL, batches_total INTEGER NOT NULL,
    status INTEGER NOT NULL, first_token INTEGER NOT NULL, last_token INTEGER NOT NULL,
    instance TEXT NOT NULL, thread INTEGER NOT NULL, comment TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS wf_batch_history__run_node
    ON wf_batch_history (run_id, script_node);
CREATE TABLE IF NOT EXISTS wf_markers (marker TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS wf_instances (instance TEXT PRIMARY KEY, ts INTEGER NOT NULL);
";

/// Run filters longer than this read every event and filter in memory instead of binding one
/// parameter per run.
const MAX_IN_PARAMS: usize = 500;

/// Creates the workflow tables and the run counter row if they are missing.
pub(crate) fn create_workflow_tables(ks_name: &str, conn: &mut Connection) -> Result<()> {
    let what = || format!("creating the workflow tables of keyspace '{ks_name}'");
    // They are created in one transaction, so the last one present means all are (a keyspace
    // made by an older version lacks the newest and gets it here). Checking first keeps
    // opening an existing keyspace from waiting for the write lock.
    let present: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'wf_instances')",
            [],
            |r| r.get(0),
        )
        .map_err(db_err(what()))?;
    if present {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err(what()))?;
    tx.execute_batch(CREATE_WORKFLOW_TABLES)
        .map_err(db_err(what()))?;
    tx.execute(
        "INSERT OR IGNORE INTO wf_run_counter (ks, last_run) VALUES (?1, 0)",
        [ks_name],
    )
    .map_err(db_err(what()))?;
    tx.commit().map_err(db_err(what()))
}

/// Increments the run counter and returns the new value, in one write transaction so that
/// processes sharing the file never get the same id.
pub(crate) fn next_run_id(ks: &KsInner, conn: &mut Connection) -> Result<RunId> {
    let what = "allocating a run id";
    ks.write_tx(conn, what, |tx| {
        let next: Option<RunId> = tx
            .query_row(
                "UPDATE wf_run_counter SET last_run = last_run + 1 WHERE ks = ?1 RETURNING last_run",
                [&ks.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err(what))?;
        match next {
            Some(id) => Ok(id),
            None => {
                // The row is created with the keyspace; recreate it if someone removed it.
                tx.execute(
                    "INSERT INTO wf_run_counter (ks, last_run) VALUES (?1, 1)",
                    [&ks.name],
                )
                .map_err(db_err(what))?;
                Ok(1)
            }
        }
    })
}

/// Inserts the properties of a new run; a second write of the same run is a conflict.
pub(crate) fn write_run_properties(
    ks: &KsInner,
    conn: &mut Connection,
    p: &RunProperties,
) -> Result<()> {
    let what = format!("writing the properties of run {}", p.run_id);
    let inserted = ks.write_tx(conn, &what, |tx| {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO wf_run_properties
             (run_id, start_nodes, affected_nodes, script_url, script_params_url, run_description)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                p.run_id,
                p.start_nodes.join(","),
                p.affected_nodes.join(","),
                p.script_url,
                p.script_params_url,
                p.run_description
            ])
        })
        .map_err(db_err(&what))
    })?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "run {} of keyspace '{}' already has properties; run ids come from next_run_id and \
             are used once",
            p.run_id, ks.name
        )));
    }
    Ok(())
}

/// Every run's properties, ordered by run id.
pub(crate) fn run_properties(ks: &KsInner, conn: &mut Connection) -> Result<Vec<RunProperties>> {
    let what = format!("reading run properties of keyspace '{}'", ks.name);
    let mut stmt = conn
        .prepare_cached(
            "SELECT run_id, start_nodes, affected_nodes, script_url, script_params_url,
                    run_description
             FROM wf_run_properties ORDER BY run_id",
        )
        .map_err(db_err(&what))?;
    stmt.query_map([], |r| {
        Ok(RunProperties {
            run_id: r.get(0)?,
            start_nodes: split_nodes(&r.get::<_, String>(1)?),
            affected_nodes: split_nodes(&r.get::<_, String>(2)?),
            script_url: r.get(3)?,
            script_params_url: r.get(4)?,
            run_description: r.get(5)?,
        })
    })
    .and_then(|rows| rows.collect())
    .map_err(db_err(&what))
}

/// `ts` of a new event in `table`: now, but never before the latest event, so that time order
/// equals append order across every process even if the clock steps back. The latest event is
/// the one with the highest `seq`, found in O(log n).
fn ts_sql(table: &str) -> String {
    format!("MAX(?1, COALESCE((SELECT ts FROM {table} ORDER BY seq DESC LIMIT 1), ?1))")
}

/// Appends a run status event.
pub(crate) fn append_run_event(
    ks: &KsInner,
    conn: &mut Connection,
    run_id: RunId,
    status: RunStatus,
    comment: &str,
) -> Result<()> {
    let what = format!("appending a run event of run {run_id}");
    let sql = format!(
        "INSERT INTO wf_run_history (ts, run_id, status, comment) VALUES ({}, ?2, ?3, ?4)",
        ts_sql("wf_run_history")
    );
    ks.write_tx(conn, &what, |tx| {
        tx.prepare_cached(&sql)
            .and_then(|mut s| {
                s.execute(params![
                    time::to_millis(&time::now()),
                    run_id,
                    status.code(),
                    comment
                ])
            })
            .map_err(db_err(&what))
    })?;
    Ok(())
}

/// Run events of some or all runs, in time order.
pub(crate) fn run_events(
    ks: &KsInner,
    conn: &mut Connection,
    run_ids: Option<&[RunId]>,
) -> Result<Vec<RunEvent>> {
    select_events(
        conn,
        &format!("reading run events of keyspace '{}'", ks.name),
        "SELECT ts, run_id, status, comment FROM wf_run_history",
        run_ids,
        |r| {
            let code = r.get(2)?;
            Ok(RunEvent {
                ts: time::from_millis(r.get(0)?),
                run_id: r.get(1)?,
                status: RunStatus::from_code(code).ok_or_else(|| bad_code("run", code))?,
                comment: r.get(3)?,
            })
        },
        |e| e.run_id,
    )
}

/// Appends a node status event.
pub(crate) fn append_node_event(ks: &KsInner, conn: &mut Connection, e: &NodeEvent) -> Result<()> {
    let what = format!("appending a node event of {}/{}", e.run_id, e.node);
    let sql = format!(
        "INSERT INTO wf_node_history
         (ts, run_id, script_node, written_by_batch_idx, status, comment)
         VALUES ({}, ?2, ?3, ?4, ?5, ?6)",
        ts_sql("wf_node_history")
    );
    ks.write_tx(conn, &what, |tx| {
        tx.prepare_cached(&sql)
            .and_then(|mut s| {
                s.execute(params![
                    time::to_millis(&time::now()),
                    e.run_id,
                    e.node,
                    e.written_by_batch_idx,
                    e.status.code(),
                    e.comment
                ])
            })
            .map_err(db_err(&what))
    })?;
    Ok(())
}

/// Node events of some or all runs, in time order.
pub(crate) fn node_events(
    ks: &KsInner,
    conn: &mut Connection,
    run_ids: Option<&[RunId]>,
) -> Result<Vec<NodeEvent>> {
    select_events(
        conn,
        &format!("reading node events of keyspace '{}'", ks.name),
        "SELECT ts, run_id, script_node, written_by_batch_idx, status, comment
         FROM wf_node_history",
        run_ids,
        |r| {
            let code = r.get(4)?;
            Ok(NodeEvent {
                ts: time::from_millis(r.get(0)?),
                run_id: r.get(1)?,
                node: r.get(2)?,
                written_by_batch_idx: r.get(3)?,
                status: NodeStatus::from_code(code).ok_or_else(|| bad_code("node", code))?,
                comment: r.get(5)?,
            })
        },
        |e| e.run_id,
    )
}

/// Appends a batch status event.
pub(crate) fn append_batch_event(
    ks: &KsInner,
    conn: &mut Connection,
    e: &BatchEvent,
) -> Result<()> {
    insert_batch_event(ks, conn, e, None).map(|_| ())
}

/// Appends `e` (a start) only if the batch has exactly `attempt` start events so far.
pub(crate) fn append_batch_start(
    ks: &KsInner,
    conn: &mut Connection,
    e: &BatchEvent,
    attempt: usize,
) -> Result<bool> {
    insert_batch_event(ks, conn, e, Some(attempt))
}

/// Inserts a batch event; with `starts`, only if the batch has that many events of `e`'s
/// status already (checked in the same statement, so concurrent callers cannot both win).
/// Returns whether it was inserted.
fn insert_batch_event(
    ks: &KsInner,
    conn: &mut Connection,
    e: &BatchEvent,
    starts: Option<usize>,
) -> Result<bool> {
    let what = match starts {
        None => format!(
            "appending a batch event of {}/{}/{}",
            e.run_id, e.node, e.batch_idx
        ),
        Some(n) => format!(
            "starting attempt {n} of batch {}/{}/{}",
            e.run_id, e.node, e.batch_idx
        ),
    };
    let only_if = if starts.is_some() {
        " WHERE (SELECT COUNT(*) FROM wf_batch_history
                 WHERE run_id = ?2 AND script_node = ?3 AND batch_idx = ?4 AND status = ?6) = ?12"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO wf_batch_history
         (ts, run_id, script_node, batch_idx, batches_total, status, first_token, last_token,
          instance, thread, comment)
         SELECT {}, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11{only_if}",
        ts_sql("wf_batch_history")
    );
    let now = time::to_millis(&time::now());
    let status = e.status.code();
    let count = starts.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![
        &now,
        &e.run_id,
        &e.node,
        &e.batch_idx,
        &e.batches_total,
        &status,
        &e.first_token,
        &e.last_token,
        &e.instance,
        &e.thread,
        &e.comment,
    ];
    if let Some(n) = &count {
        args.push(n);
    }
    let inserted = ks.write_tx(conn, &what, |tx| {
        tx.prepare_cached(&sql)
            .and_then(|mut s| s.execute(args.as_slice()))
            .map_err(db_err(&what))
    })?;
    Ok(inserted == 1)
}

/// Batch events of one run (and one node, if given), in time order.
pub(crate) fn batch_events(
    ks: &KsInner,
    conn: &mut Connection,
    run_id: RunId,
    node: Option<&str>,
) -> Result<Vec<BatchEvent>> {
    let what = format!(
        "reading batch events of run {run_id} in keyspace '{}'",
        ks.name
    );
    let mut sql = String::from(
        "SELECT ts, run_id, script_node, batch_idx, batches_total, status, first_token,
                last_token, instance, thread, comment
         FROM wf_batch_history WHERE run_id = ?1",
    );
    let mut args = vec![SqlValue::Integer(run_id.into())];
    if let Some(node) = node {
        sql.push_str(" AND script_node = ?2");
        args.push(SqlValue::Text(node.to_string()));
    }
    sql.push_str(" ORDER BY ts, seq");
    let mut stmt = conn.prepare_cached(&sql).map_err(db_err(&what))?;
    stmt.query_map(rusqlite::params_from_iter(args), |r| {
        let code = r.get(5)?;
        Ok(BatchEvent {
            ts: time::from_millis(r.get(0)?),
            run_id: r.get(1)?,
            node: r.get(2)?,
            batch_idx: r.get(3)?,
            batches_total: r.get(4)?,
            status: NodeStatus::from_code(code).ok_or_else(|| bad_code("batch", code))?,
            first_token: r.get(6)?,
            last_token: r.get(7)?,
            instance: r.get(8)?,
            thread: r.get(9)?,
            comment: r.get(10)?,
        })
    })
    .and_then(|rows| rows.collect())
    .map_err(db_err(&what))
}

/// Records a marker; true only for the first caller, in any process.
pub(crate) fn claim_marker(ks: &KsInner, conn: &mut Connection, marker: &str) -> Result<bool> {
    let what = format!("claiming marker '{marker}'");
    let inserted = ks.write_tx(conn, &what, |tx| {
        tx.prepare_cached("INSERT OR IGNORE INTO wf_markers (marker) VALUES (?1)")
            .and_then(|mut s| s.execute([marker]))
            .map_err(db_err(&what))
    })?;
    Ok(inserted == 1)
}

/// Whether `marker` was claimed.
pub(crate) fn marker_claimed(conn: &Connection, marker: &str) -> Result<bool> {
    let what = format!("reading marker '{marker}'");
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM wf_markers WHERE marker = ?1)")
        .and_then(|mut s| s.query_row([marker], |r| r.get(0)))
        .map_err(db_err(&what))
}

/// Renews (`alive`) or removes the lease of `instance`.
pub(crate) fn heartbeat(
    ks: &KsInner,
    conn: &mut Connection,
    instance: &str,
    alive: bool,
) -> Result<()> {
    let what = format!("renewing the lease of worker '{instance}'");
    ks.write_tx(conn, &what, |tx| {
        if alive {
            tx.prepare_cached(
                "INSERT INTO wf_instances (instance, ts) VALUES (?1, ?2) \
                 ON CONFLICT (instance) DO UPDATE SET ts = excluded.ts",
            )
            .and_then(|mut s| s.execute(params![instance, time::to_millis(&time::now())]))
        } else {
            tx.prepare_cached("DELETE FROM wf_instances WHERE instance = ?1")
                .and_then(|mut s| s.execute([instance]))
        }
        .map_err(db_err(&what))
    })?;
    Ok(())
}

/// The latest lease renewal of `instance`.
pub(crate) fn last_heartbeat(
    conn: &Connection,
    instance: &str,
) -> Result<Option<vessel_core::DateTime>> {
    let what = format!("reading the lease of worker '{instance}'");
    conn.prepare_cached("SELECT ts FROM wf_instances WHERE instance = ?1")
        .and_then(|mut s| s.query_row([instance], |r| r.get::<_, i64>(0)).optional())
        .map(|ms| ms.map(time::from_millis))
        .map_err(db_err(&what))
}

/// Runs `select` (without WHERE) for the given runs, ordered by `(ts, seq)`.
fn select_events<T>(
    conn: &Connection,
    what: &str,
    select: &str,
    run_ids: Option<&[RunId]>,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    run_of: impl Fn(&T) -> RunId,
) -> Result<Vec<T>> {
    let ids: Option<BTreeSet<RunId>> = run_ids.map(|ids| ids.iter().copied().collect());
    let (sql, args, filter_later) = match &ids {
        None => (format!("{select} ORDER BY ts, seq"), Vec::new(), false),
        Some(ids) if ids.is_empty() => return Ok(Vec::new()),
        Some(ids) if ids.len() <= MAX_IN_PARAMS => {
            let marks = vec!["?"; ids.len()].join(",");
            (
                format!("{select} WHERE run_id IN ({marks}) ORDER BY ts, seq"),
                ids.iter().map(|i| i64::from(*i)).collect(),
                false,
            )
        }
        Some(_) => (format!("{select} ORDER BY ts, seq"), Vec::new(), true),
    };
    // Run filters vary: prepare without caching so they do not evict the hot statements.
    let mut stmt = conn.prepare(&sql).map_err(db_err(what))?;
    let mut out: Vec<T> = stmt
        .query_map(rusqlite::params_from_iter(args), map)
        .and_then(|rows| rows.collect())
        .map_err(db_err(what))?;
    if filter_later && let Some(ids) = &ids {
        out.retain(|e| ids.contains(&run_of(e)));
    }
    Ok(out)
}

fn bad_code(what: &str, code: i64) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Integer,
        format!("unknown {what} status code {code}").into(),
    )
}

/// Inverse of `join(",")`: the empty string is no nodes.
fn split_nodes(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists_round_trip() {
        for nodes in [
            vec![],
            vec!["a".to_string()],
            vec!["a".into(), "b_c".into()],
        ] {
            assert_eq!(split_nodes(&nodes.join(",")), nodes);
        }
    }
}
