//! A storage wrapper that fails chosen calls, for tests of what callers do when storage fails:
//! a disk that fills up in the middle of a run, an I/O error in the call that records a
//! failure, a cleanup that cannot delete.
//!
//! [`FaultyStorage`] wraps a real backend and forwards every call to it, except the calls a
//! [`FaultPlan`] picks by method name and occurrence count (the 3rd `write_data`, every
//! `append_batch_event` from the 5th on, ...). A rule may wait for another rule to fire before
//! it counts, which reaches calls that only happen after a first failure (the call that records
//! a batch as failed, the `delete_batch` that cleans its rows). [`FaultPlan::heal`] stops every
//! injection, as an operator freeing disk space would.
//!
//! Compiled only with the `test-support` feature.
//!
//! ```
//! use vessel_store::faults::{Fault, FaultPlan, Rule};
//! let plan = FaultPlan::new();
//! let first = plan.add(Rule::nth("write_data", 2, Fault::Backend));
//! // Once the 2nd write failed, the 1st append_batch_event after it hits a full disk.
//! plan.add(Rule::nth("append_batch_event", 1, Fault::DiskFull).armed_by(first));
//! assert_eq!(plan.fired(), Vec::<String>::new());
//! ```

use crate::{
    BatchEvent, BatchIdx, IndexRef, Keyspace, LookupResult, NodeEvent, Page, PageCursor, Result,
    RunEvent, RunId, RunProperties, RunStatus, Storage, StoreError, TableDef, TableRef, TokenRange,
    WriteMode, WriteStats,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use vessel_core::{RowSet, Schema};

/// The error an injected failure returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `SQLITE_FULL`: an environmental failure ([`StoreError::Environment`]).
    DiskFull,
    /// `SQLITE_IOERR`: an environmental failure ([`StoreError::Environment`]).
    IoError,
    /// A lock timeout: a transient failure ([`StoreError::Unavailable`]).
    Busy,
    /// Any other backend failure ([`StoreError::Backend`]).
    Backend,
}

impl Fault {
    fn error(self, method: &str, occurrence: u64) -> StoreError {
        let at = format!("{method} (call {occurrence}, injected)");
        match self {
            Fault::DiskFull => StoreError::Environment(format!("{at}: database or disk is full")),
            Fault::IoError => StoreError::Environment(format!("{at}: disk I/O error")),
            Fault::Busy => StoreError::Unavailable(format!("{at}: database is locked")),
            Fault::Backend => StoreError::Backend(format!("{at}: SQL logic error")),
        }
    }
}

/// One injection: which call of which method fails, and how.
#[derive(Debug, Clone)]
pub struct Rule {
    method: &'static str,
    nth: u64,
    persistent: bool,
    fault: Fault,
    after_call: bool,
    armed_by: Option<usize>,
}

impl Rule {
    /// Fails the `nth` call (1-based) of `method` (a [`Keyspace`] or [`Storage`] method name,
    /// such as `write_data` or `open_keyspace`).
    pub fn nth(method: &'static str, nth: u64, fault: Fault) -> Rule {
        Rule {
            method,
            nth: nth.max(1),
            persistent: false,
            fault,
            after_call: false,
            armed_by: None,
        }
    }

    /// Fails every later call of the method too, as a disk that stays full does.
    pub fn persistent(mut self) -> Rule {
        self.persistent = true;
        self
    }

    /// Makes the call first and then reports the failure, as a commit whose final sync fails
    /// does: the change may be stored although the caller sees an error.
    pub fn after_call(mut self) -> Rule {
        self.after_call = true;
        self
    }

    /// Counts calls only once rule `rule` (an id from [`FaultPlan::add`]) has fired; the
    /// `nth` call is then the nth one after that moment.
    pub fn armed_by(mut self, rule: usize) -> Rule {
        self.armed_by = Some(rule);
        self
    }
}

#[derive(Default)]
struct PlanState {
    rules: Vec<(Rule, Option<u64>)>,
    fired: Vec<bool>,
    calls: HashMap<&'static str, u64>,
    log: Vec<String>,
    healed: bool,
}

/// Which calls fail; shared between the test and the wrapper.
#[derive(Default)]
pub struct FaultPlan {
    state: Mutex<PlanState>,
}

/// Whether a call fails, before or after it is made.
enum Verdict {
    Pass,
    Before(StoreError),
    After(StoreError),
}

impl FaultPlan {
    /// A plan with no rules: every call passes.
    pub fn new() -> Arc<FaultPlan> {
        Arc::new(FaultPlan::default())
    }

    fn lock(&self) -> MutexGuard<'_, PlanState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a rule; returns its id for [`Rule::armed_by`].
    pub fn add(&self, rule: Rule) -> usize {
        let mut s = self.lock();
        let base = if rule.armed_by.is_none() {
            Some(s.calls.get(rule.method).copied().unwrap_or(0))
        } else {
            None
        };
        s.rules.push((rule, base));
        s.fired.push(false);
        s.rules.len() - 1
    }

    /// Stops every injection from now on (the operator freed space, replaced the disk).
    pub fn heal(&self) {
        self.lock().healed = true;
    }

    /// How many calls of `method` were made (failed ones included).
    pub fn calls(&self, method: &str) -> u64 {
        self.lock().calls.get(method).copied().unwrap_or(0)
    }

    /// The injected failures so far, as `method (call n, injected): message`.
    pub fn fired(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    fn check(&self, method: &'static str) -> Verdict {
        let mut s = self.lock();
        let n = {
            let c = s.calls.entry(method).or_insert(0);
            *c += 1;
            *c
        };
        if s.healed {
            return Verdict::Pass;
        }
        let mut hit = None;
        for i in 0..s.rules.len() {
            let (rule, base) = &s.rules[i];
            if rule.method != method {
                continue;
            }
            let Some(base) = *base else { continue };
            let k = n - base;
            if k == rule.nth || (rule.persistent && k > rule.nth) {
                hit = Some((i, rule.fault, rule.after_call));
                break;
            }
        }
        let Some((i, fault, after)) = hit else {
            return Verdict::Pass;
        };
        let newly = !s.fired[i];
        s.fired[i] = true;
        if newly {
            // Arm the rules waiting for this one: their count starts now.
            let counts = s.calls.clone();
            for (rule, base) in &mut s.rules {
                if rule.armed_by == Some(i) && base.is_none() {
                    *base = Some(counts.get(rule.method).copied().unwrap_or(0));
                }
            }
        }
        let e = fault.error(method, n);
        s.log.push(e.to_string());
        if after {
            Verdict::After(e)
        } else {
            Verdict::Before(e)
        }
    }
}

/// Runs `$call` unless the plan fails it before; reports an after-call failure instead of its
/// result.
macro_rules! guarded {
    ($plan:expr, $method:literal, $call:expr) => {{
        match $plan.check($method) {
            Verdict::Before(e) => Err(e),
            Verdict::After(e) => {
                let _ = $call;
                Err(e)
            }
            Verdict::Pass => $call,
        }
    }};
}

/// A [`Storage`] whose calls, and its keyspaces' calls, fail as a [`FaultPlan`] says.
pub struct FaultyStorage {
    inner: Arc<dyn Storage>,
    plan: Arc<FaultPlan>,
}

impl FaultyStorage {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Storage>, plan: Arc<FaultPlan>) -> FaultyStorage {
        FaultyStorage { inner, plan }
    }
}

#[async_trait]
impl Storage for FaultyStorage {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn list_keyspaces(&self) -> Result<Vec<String>> {
        guarded!(
            self.plan,
            "list_keyspaces",
            self.inner.list_keyspaces().await
        )
    }

    async fn open_keyspace(&self, name: &str, create: bool) -> Result<Arc<dyn Keyspace>> {
        let inner = guarded!(
            self.plan,
            "open_keyspace",
            self.inner.open_keyspace(name, create).await
        )?;
        Ok(Arc::new(FaultyKeyspace {
            inner,
            plan: self.plan.clone(),
        }))
    }

    async fn drop_keyspace(&self, name: &str) -> Result<()> {
        guarded!(
            self.plan,
            "drop_keyspace",
            self.inner.drop_keyspace(name).await
        )
    }
}

/// A keyspace of a [`FaultyStorage`].
struct FaultyKeyspace {
    inner: Arc<dyn Keyspace>,
    plan: Arc<FaultPlan>,
}

#[async_trait]
impl Keyspace for FaultyKeyspace {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn next_run_id(&self) -> Result<RunId> {
        guarded!(self.plan, "next_run_id", self.inner.next_run_id().await)
    }

    async fn write_run_properties(&self, props: &RunProperties) -> Result<()> {
        guarded!(
            self.plan,
            "write_run_properties",
            self.inner.write_run_properties(props).await
        )
    }

    async fn run_properties(&self) -> Result<Vec<RunProperties>> {
        guarded!(
            self.plan,
            "run_properties",
            self.inner.run_properties().await
        )
    }

    async fn append_run_event(
        &self,
        run_id: RunId,
        status: RunStatus,
        comment: &str,
    ) -> Result<()> {
        guarded!(
            self.plan,
            "append_run_event",
            self.inner.append_run_event(run_id, status, comment).await
        )
    }

    async fn run_events(&self, run_ids: Option<&[RunId]>) -> Result<Vec<RunEvent>> {
        guarded!(
            self.plan,
            "run_events",
            self.inner.run_events(run_ids).await
        )
    }

    async fn append_node_event(&self, event: &NodeEvent) -> Result<()> {
        guarded!(
            self.plan,
            "append_node_event",
            self.inner.append_node_event(event).await
        )
    }

    async fn node_events(&self, run_ids: Option<&[RunId]>) -> Result<Vec<NodeEvent>> {
        guarded!(
            self.plan,
            "node_events",
            self.inner.node_events(run_ids).await
        )
    }

    async fn append_batch_event(&self, event: &BatchEvent) -> Result<()> {
        guarded!(
            self.plan,
            "append_batch_event",
            self.inner.append_batch_event(event).await
        )
    }

    async fn batch_events(&self, run_id: RunId, node: Option<&str>) -> Result<Vec<BatchEvent>> {
        guarded!(
            self.plan,
            "batch_events",
            self.inner.batch_events(run_id, node).await
        )
    }

    async fn claim_marker(&self, marker: &str) -> Result<bool> {
        guarded!(
            self.plan,
            "claim_marker",
            self.inner.claim_marker(marker).await
        )
    }

    async fn append_batch_start(&self, event: &BatchEvent, attempt: usize) -> Result<bool> {
        guarded!(
            self.plan,
            "append_batch_start",
            self.inner.append_batch_start(event, attempt).await
        )
    }

    async fn marker_claimed(&self, marker: &str) -> Result<bool> {
        guarded!(
            self.plan,
            "marker_claimed",
            self.inner.marker_claimed(marker).await
        )
    }

    async fn heartbeat(&self, instance: &str, alive: bool) -> Result<()> {
        guarded!(
            self.plan,
            "heartbeat",
            self.inner.heartbeat(instance, alive).await
        )
    }

    async fn last_heartbeat(&self, instance: &str) -> Result<Option<vessel_core::DateTime>> {
        guarded!(
            self.plan,
            "last_heartbeat",
            self.inner.last_heartbeat(instance).await
        )
    }

    async fn create_table(&self, table: &TableDef) -> Result<()> {
        guarded!(
            self.plan,
            "create_table",
            self.inner.create_table(table).await
        )
    }

    async fn read_page(
        &self,
        table: &TableRef,
        fields: &Arc<Schema>,
        range: TokenRange,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> Result<Page> {
        guarded!(
            self.plan,
            "read_page",
            self.inner
                .read_page(table, fields, range, cursor, limit)
                .await
        )
    }

    async fn write_rows(
        &self,
        table: &TableDef,
        batch_idx: BatchIdx,
        rows: &RowSet,
        keys: &[Vec<String>],
        mode: WriteMode,
    ) -> Result<WriteStats> {
        guarded!(
            self.plan,
            "write_rows",
            self.inner
                .write_rows(table, batch_idx, rows, keys, mode)
                .await
        )
    }

    async fn write_data(
        &self,
        table: &TableDef,
        batch_idx: BatchIdx,
        rows: RowSet,
    ) -> Result<Vec<i64>> {
        guarded!(
            self.plan,
            "write_data",
            self.inner.write_data(table, batch_idx, rows).await
        )
    }

    async fn write_index_entries(
        &self,
        table: &TableDef,
        index: usize,
        batch_idx: BatchIdx,
        entries: Vec<(String, i64)>,
    ) -> Result<u64> {
        guarded!(
            self.plan,
            "write_index_entries",
            self.inner
                .write_index_entries(table, index, batch_idx, entries)
                .await
        )
    }

    async fn lookup(
        &self,
        index: &IndexRef,
        right: &TableRef,
        keys: &[String],
        fields: &Arc<Schema>,
    ) -> Result<LookupResult> {
        guarded!(
            self.plan,
            "lookup",
            self.inner.lookup(index, right, keys, fields).await
        )
    }

    async fn delete_batch(&self, table: &TableDef, batch_idx: BatchIdx) -> Result<u64> {
        guarded!(
            self.plan,
            "delete_batch",
            self.inner.delete_batch(table, batch_idx).await
        )
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        guarded!(self.plan, "list_tables", self.inner.list_tables().await)
    }

    async fn count_rows(&self, table: &TableRef) -> Result<u64> {
        guarded!(self.plan, "count_rows", self.inner.count_rows(table).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(plan: &FaultPlan, method: &'static str) -> &'static str {
        match plan.check(method) {
            Verdict::Pass => "pass",
            Verdict::Before(_) => "before",
            Verdict::After(_) => "after",
        }
    }

    #[test]
    fn rules_pick_calls_by_method_and_occurrence() {
        let plan = FaultPlan::new();
        plan.add(Rule::nth("write_data", 2, Fault::DiskFull));
        plan.add(Rule::nth("delete_batch", 2, Fault::IoError).persistent());
        let got: Vec<_> = (0..3).map(|_| verdict(&plan, "write_data")).collect();
        assert_eq!(got, ["pass", "before", "pass"]);
        let got: Vec<_> = (0..4).map(|_| verdict(&plan, "delete_batch")).collect();
        assert_eq!(got, ["pass", "before", "before", "before"]);
        plan.heal();
        assert_eq!(verdict(&plan, "delete_batch"), "pass");
        assert_eq!(plan.calls("delete_batch"), 5);
        assert_eq!(plan.fired().len(), 4);
        assert!(plan.fired()[0].contains("database or disk is full"));
    }

    #[test]
    fn armed_rules_count_from_the_moment_their_trigger_fires() {
        let plan = FaultPlan::new();
        let trigger = plan.add(Rule::nth("write_data", 2, Fault::Backend));
        plan.add(Rule::nth("append_batch_event", 1, Fault::DiskFull).armed_by(trigger));
        assert_eq!(verdict(&plan, "append_batch_event"), "pass");
        assert_eq!(verdict(&plan, "write_data"), "pass");
        assert_eq!(verdict(&plan, "append_batch_event"), "pass");
        assert_eq!(verdict(&plan, "write_data"), "before");
        assert_eq!(verdict(&plan, "append_batch_event"), "before");
        assert_eq!(verdict(&plan, "append_batch_event"), "pass");
    }

    #[test]
    fn after_call_failures_are_reported_after_the_call() {
        let plan = FaultPlan::new();
        plan.add(Rule::nth("claim_marker", 1, Fault::Busy).after_call());
        assert_eq!(verdict(&plan, "claim_marker"), "after");
        assert!(matches!(
            Fault::Busy.error("claim_marker", 1),
            StoreError::Unavailable(_)
        ));
    }
}
