//! The batch worker: takes messages, processes batches, settles messages. The same loop serves
//! `vessel run` (in-process queue) and `vessel daemon` (RabbitMQ).

use crate::engine::{rows_comment, run_props, table_def};
use crate::metrics::BatchOutcome;
use crate::progress::ProgressEvent;
use crate::{Engine, EngineError, Result, deps, nodes, status};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::Instrument as _;
use vessel_queue::{BatchMessage, Consumer};
use vessel_script::{DepCmd, RerunPolicy};
use vessel_store::{BatchEvent, Keyspace, NodeEvent, NodeStatus, RunStatus, StoreError};

/// What to do with a message after handling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done (processed, recorded as failed, or nothing to do).
    Ack,
    /// Deliver again after the delay.
    Retry(Duration),
    /// The batch's outcome could not be recorded (or the machine failed under it): the message
    /// goes back to the queue unfinished, and this engine's workers stop taking work, because
    /// acknowledging it would leave a batch without a final status and the run waiting for it
    /// forever. The text names the batch and the cause; [`Engine::halted`] returns it too.
    Halt(String),
}

/// Takes deliveries until the consumer ends, `shutdown` turns true or the engine halts
/// ([`Engine::halted`]); a delivery in progress is finished before stopping.
pub async fn run_worker(
    engine: Arc<Engine>,
    slot: usize,
    mut consumer: Box<dyn Consumer>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut halt = engine.halt.subscribe();
    loop {
        let delivery = tokio::select! {
            biased;
            _ = async {
                // A dropped sender means nobody will ask for shutdown: keep working.
                if shutdown.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => return,
            // The engine owns the sender, so this wait only ends with a halt.
            _ = halt.wait_for(Option::is_some) => return,
            d = consumer.next() => d,
        };
        let delivery = match delivery {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "queue consumer failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let msg = delivery.message().clone();
        let outcome = if engine.halted().is_some() {
            // Halted while this delivery was on its way: hand it back untouched.
            Outcome::Halt(String::new())
        } else {
            // Every log line of the batch carries its coordinates.
            let span = tracing::info_span!(
                "batch",
                keyspace = %msg.ks,
                run = msg.run_id,
                node = %msg.target_node,
                batch = msg.batch_idx
            );
            engine.process(&msg, slot).instrument(span).await
        };
        let stop = matches!(outcome, Outcome::Halt(_));
        let settled = match outcome {
            Outcome::Ack => delivery.ack().await,
            Outcome::Retry(d) => delivery.retry_later(d).await,
            // Released, not acknowledged: whoever resumes the run will do the batch.
            Outcome::Halt(_) => delivery.retry_later(engine.settings.retry_delay).await,
        };
        if let Err(e) = settled {
            tracing::warn!(batch = %msg.full_batch_id(), error = %e, "could not settle message");
        }
        if stop {
            tracing::warn!(slot, "worker stops: the engine halted");
            return;
        }
    }
}

/// Starts `workers` worker tasks (slots `0..workers`), each on a consumer of its own, until
/// `shutdown` turns true (see [`run_worker`]).
///
/// # Errors
/// When the queue cannot open a consumer.
pub async fn spawn_workers(
    engine: &Arc<Engine>,
    workers: usize,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, vessel_queue::QueueError> {
    let mut handles = Vec::with_capacity(workers);
    for slot in 0..workers {
        let consumer = engine.queue.consumer().await?;
        handles.push(tokio::spawn(run_worker(
            engine.clone(),
            slot,
            consumer,
            shutdown.clone(),
        )));
    }
    Ok(handles)
}

/// How handling a message failed, by how far it got.
enum Failure {
    /// Before this attempt took the batch over: it wrote nothing, and rows in the batch's
    /// table may belong to an attempt of another process, so nothing is deleted.
    Before(EngineError),
    /// The batch is this attempt's, and an earlier attempt's rows may be in its table.
    Owned(EngineError),
    /// The batch's own work (reading, evaluating, writing rows) failed.
    Work(EngineError, Instant),
    /// The batch's final status is recorded; what follows it (node status, publishing the
    /// next nodes, completing the run) failed.
    After(EngineError),
    /// Recording the batch's success failed and whether it is stored cannot be read: its rows
    /// must stay until a resume knows.
    Unsure(EngineError),
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Failure {
        Failure::Before(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Before(e.into())
    }
}

impl Engine {
    /// Handles one batch message; never fails. A batch error is recorded in batch history (the
    /// batch's rows removed first); transient errors ask for redelivery. When the outcome
    /// cannot be recorded, or the machine fails (full disk, I/O error), the engine halts
    /// ([`Outcome::Halt`]) instead of acknowledging a batch that has no final status; the run
    /// stays unfinished and can be resumed once the cause is fixed.
    pub async fn process(&self, msg: &BatchMessage, slot: usize) -> Outcome {
        let key = msg.full_batch_id();
        if !self.lock_in_flight().insert(key.clone()) {
            // A duplicate delivery while a worker of this process holds the batch: running
            // both would clean and write the same batch twice at once.
            self.count(msg, BatchOutcome::Retried);
            return Outcome::Retry(self.settings.retry_delay);
        }
        let out = match self.process_inner(msg, slot).await {
            Ok(o) => o,
            Err(f) => self.settle_failure(msg, slot, f).await,
        };
        self.lock_in_flight().remove(&key);
        // Acknowledged outcomes are counted where they are decided.
        match &out {
            Outcome::Retry(_) => self.count(msg, BatchOutcome::Retried),
            Outcome::Halt(_) => self.count(msg, BatchOutcome::Halted),
            Outcome::Ack => {}
        }
        out
    }

    /// Decides what a failure means for the batch, recording it where it belongs.
    async fn settle_failure(&self, msg: &BatchMessage, slot: usize, failure: Failure) -> Outcome {
        let key = msg.full_batch_id();
        let (e, started, work, owned) = match failure {
            Failure::After(e) => return self.settle_after(&key, e),
            Failure::Unsure(e) => {
                return self.halt(format!("cannot record status of batch {key}: {e}"));
            }
            Failure::Before(e) => (e, Instant::now(), false, false),
            Failure::Owned(e) => (e, Instant::now(), false, true),
            Failure::Work(e, started) => (e, started, true, true),
        };
        if e.is_transient() {
            // The batch stays "started": the redelivery cleans its rows and redoes it.
            tracing::warn!(batch = %key, error = %e, "transient failure, will retry");
            return Outcome::Retry(self.settings.retry_delay);
        }
        let ks = match self.storage.open_keyspace(&msg.ks, false).await {
            Ok(ks) => ks,
            Err(StoreError::NoSuchKeyspace(_)) => {
                // Nothing waits for a batch whose keyspace was dropped: there is no status to
                // record, and halting over a stale message would stop every worker.
                tracing::error!(batch = %key, error = %e, "dropping a message for a missing keyspace");
                self.count(msg, BatchOutcome::Skipped);
                return Outcome::Ack;
            }
            Err(oe) => {
                return self.halt(format!(
                    "cannot record status of batch {key} ({e}): cannot open keyspace: {oe}"
                ));
            }
        };
        let def = if owned {
            self.script(&msg.script_url, &msg.script_params_url)
                .await
                .ok()
                .and_then(|s| table_def(s.nodes.get(&msg.target_node)?, msg.run_id))
        } else {
            None
        };
        if e.is_environmental() {
            // Not the batch's fault: leave it "started" so that a resume redoes it. Its rows go
            // now if the storage still allows it; otherwise the resume cleans them first.
            if let Some(def) = &def
                && let Err(de) = ks.delete_batch(def, msg.batch_idx).await
            {
                tracing::warn!(batch = %key, error = %de, "cannot remove the rows of the stopped batch; a resume will");
            }
            return self.halt(format!("cannot process batch {key}: {e}"));
        }
        tracing::error!(batch = %key, error = %e, "batch failed");
        if let Some(def) = &def
            && let Err(de) = ks.delete_batch(def, msg.batch_idx).await
        {
            if de.is_transient() {
                return Outcome::Retry(self.settings.retry_delay);
            }
            // Recording "fail" now would leave the rows visible for good; "started" makes
            // the resume clean them before redoing the batch.
            return self.halt(format!(
                "cannot remove the rows of failed batch {key} ({e}): {de}"
            ));
        }
        let text = if work {
            format!("{key}: {e}")
        } else {
            e.to_string()
        };
        match self
            .finish_batch_failed(ks.as_ref(), msg, slot, &text, started)
            .await
        {
            Ok(()) => Outcome::Ack,
            Err(Failure::After(e)) => self.settle_after(&key, e),
            Err(
                Failure::Before(re)
                | Failure::Owned(re)
                | Failure::Work(re, _)
                | Failure::Unsure(re),
            ) => {
                if re.is_transient() {
                    // Still "started": the redelivery cleans, redoes and records it.
                    Outcome::Retry(self.settings.retry_delay)
                } else {
                    self.halt(format!("cannot record status of batch {key}: {re}"))
                }
            }
        }
    }

    /// A failure after the batch's final status was recorded.
    fn settle_after(&self, key: &str, e: EngineError) -> Outcome {
        if e.is_transient() {
            tracing::warn!(batch = %key, error = %e, "transient failure, will retry");
            return Outcome::Retry(self.settings.retry_delay);
        }
        // Acknowledging would leave the node or the run unfinished for good; a resume
        // refreshes every status and publishes what is missing.
        self.halt(format!(
            "batch {key} finished but the run's state could not be updated: {e}"
        ))
    }

    fn count(&self, msg: &BatchMessage, outcome: BatchOutcome) {
        self.metrics.batch(&msg.ks, &msg.target_node, outcome);
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn process_inner(&self, msg: &BatchMessage, slot: usize) -> Result<Outcome, Failure> {
        let ks_shared = self.storage.open_keyspace(&msg.ks, false).await?;
        let ks = ks_shared.as_ref();
        let run_events = ks.run_events(Some(&[msg.run_id])).await?;
        match status::run_status_latest(&run_events, msg.run_id) {
            RunStatus::None => {
                self.record_batch(ks, msg, slot, NodeStatus::Fail, "run never started")
                    .await?;
                self.count(msg, BatchOutcome::Failed);
                return Ok(Outcome::Ack);
            }
            RunStatus::Stop => {
                self.record_batch(ks, msg, slot, NodeStatus::StopReceived, "run stopped")
                    .await?;
                self.count(msg, BatchOutcome::Skipped);
                let props = run_props(ks, msg.run_id).await.map_err(Failure::After)?;
                if let Ok(script) = self
                    .script(&props.script_url, &props.script_params_url)
                    .await
                {
                    self.refresh(ks, &script, &props, &msg.target_node, msg.batch_idx)
                        .await
                        .map_err(Failure::After)?;
                }
                return Ok(Outcome::Ack);
            }
            RunStatus::Complete => {
                self.count(msg, BatchOutcome::Skipped);
                return Ok(Outcome::Ack);
            }
            RunStatus::Start => {}
        }
        let props = run_props(ks, msg.run_id).await?;
        let script = self.script(&msg.script_url, &msg.script_params_url).await?;
        let Some(node) = script.nodes.get(&msg.target_node) else {
            return Err(EngineError::Invalid(format!(
                "script {} has no node '{}'",
                msg.script_url, msg.target_node
            ))
            .into());
        };

        // Duplicate delivery or a batch left behind by a crashed worker?
        let batches = ks.batch_events(msg.run_id, Some(&msg.target_node)).await?;
        let attempt = batches
            .iter()
            .filter(|e| e.batch_idx == msg.batch_idx && e.status == NodeStatus::Start)
            .count();
        let mut redo = false;
        let latest = status::latest_batch_statuses(&batches);
        if let Some(prev) = latest.get(&msg.batch_idx) {
            match prev.status {
                NodeStatus::Success | NodeStatus::Fail => {
                    // A redelivery of a finished batch: nothing to do but make sure what
                    // follows it happened.
                    self.refresh(ks, &script, &props, &node.name, msg.batch_idx)
                        .await
                        .map_err(Failure::After)?;
                    self.count(msg, BatchOutcome::Skipped);
                    return Ok(Outcome::Ack);
                }
                NodeStatus::StopReceived => {
                    self.count(msg, BatchOutcome::Skipped);
                    return Ok(Outcome::Ack);
                }
                NodeStatus::Start => {
                    // Our own instance never runs the same batch twice at once, so a
                    // "start" of ours is an attempt that ended without recording an outcome.
                    let dead = prev.instance == self.instance
                        || self.liveness.is_dead(ks, &prev.instance).await?;
                    if !dead {
                        // Another process works on it (its lease is renewed): running it here
                        // too would write the batch twice. Look again once the lease could
                        // have expired, or sooner.
                        let age = (vessel_core::time::now() - prev.ts)
                            .to_std()
                            .unwrap_or_default();
                        if age > node.max_batch_processing_time {
                            tracing::warn!(batch = %msg.full_batch_id(), instance = %prev.instance,
                                "batch takes longer than the node's max_batch_processing_time; its worker is alive, waiting for it");
                        }
                        return Ok(Outcome::Retry(
                            (self.settings.lease / 2)
                                .min(Duration::from_secs(5))
                                .max(self.settings.retry_delay),
                        ));
                    }
                    if node.rerun_policy == RerunPolicy::Fail {
                        // Capillaries acks silently here and the run never completes; we
                        // record the failure instead so the run finishes. The interrupted
                        // attempt's rows go first, as for any failed batch.
                        return Err(Failure::Owned(EngineError::Invalid(
                            "batch was interrupted and the node's rerun_policy is fail".into(),
                        )));
                    }
                    // Its rows are removed once this attempt has taken the batch over below:
                    // removing them before could remove the rows of another worker that took
                    // it over first.
                    redo = true;
                }
                NodeStatus::None => {}
            }
        }

        let dep = deps::check(ks, &script, node, msg.run_id).await?;
        let result = match dep.cmd {
            DepCmd::Go => "go",
            DepCmd::Wait => "wait",
            DepCmd::NoGo => "nogo",
        };
        self.metrics.dependency(&msg.ks, &node.name, result);
        match dep.cmd {
            DepCmd::Wait => return Ok(Outcome::Retry(self.settings.retry_delay)),
            DepCmd::NoGo => {
                return Err(Failure::Before(EngineError::Invalid(format!(
                    "dependency check says nogo: {}",
                    dep.explanation
                ))));
            }
            DepCmd::Go => {}
        }

        // The lease exists before the batch is recorded as started, and is renewed until this
        // attempt ends, so that others can tell whether this process still works on it.
        let _hold = self.liveness.hold(ks).await?;
        // Taking the batch over is atomic: of two deliveries of the same batch handled at the
        // same time (a node published twice, a redelivery), exactly one records this attempt.
        let taken = ks
            .append_batch_start(&self.batch_event(msg, slot, NodeStatus::Start, ""), attempt)
            .await?;
        if !taken {
            tracing::debug!(batch = %msg.full_batch_id(), attempt, "another worker took the batch over first");
            return Ok(Outcome::Retry(self.settings.retry_delay));
        }
        if redo && let Some(def) = table_def(node, msg.run_id) {
            let n = ks
                .delete_batch(&def, msg.batch_idx)
                .await
                .map_err(|e| Failure::Owned(e.into()))?;
            tracing::info!(batch = %msg.full_batch_id(), rows = n,
                "cleaned rows of an interrupted batch before redoing it");
        }
        ks.append_node_event(&NodeEvent {
            ts: vessel_core::time::now(),
            run_id: msg.run_id,
            node: node.name.clone(),
            written_by_batch_idx: msg.batch_idx,
            status: NodeStatus::Start,
            comment: String::new(),
        })
        .await
        .map_err(|e| Failure::Owned(e.into()))?;

        let started = Instant::now();
        let ctx = nodes::BatchCtx {
            engine: self,
            ks,
            ks_shared: &ks_shared,
            script: &script,
            node,
            msg,
            reader_run: dep.reader_run,
            lookup_run: dep.lookup_run,
        };
        let stats = nodes::process_batch(&ctx)
            .await
            .map_err(|e| Failure::Work(e, started))?;
        let elapsed = started.elapsed();
        let comment = rows_comment(stats.rows_in, stats.rows_out, elapsed);
        if let Err(e) = self
            .record_batch(ks, msg, slot, NodeStatus::Success, &comment)
            .await
        {
            if e.is_transient() {
                // The redelivery finds the batch done or cleans and redoes it.
                return Err(Failure::Work(e, started));
            }
            // A commit can report an error and still be stored (an I/O error on the final
            // sync); removing the rows of a batch recorded as done would lose them for good.
            let Ok(ev) = ks.batch_events(msg.run_id, Some(&msg.target_node)).await else {
                return Err(Failure::Unsure(e));
            };
            let stored = status::latest_batch_statuses(&ev)
                .get(&msg.batch_idx)
                .map(|b| b.status);
            if stored != Some(NodeStatus::Success) {
                return Err(Failure::Work(e, started));
            }
            tracing::warn!(batch = %msg.full_batch_id(), "recording the batch's success reported an error, but it is stored");
        }
        self.count(msg, BatchOutcome::Succeeded);
        self.metrics.batch_done(
            &msg.ks,
            &node.name,
            stats.rows_in,
            stats.rows_out,
            elapsed.as_secs_f64(),
        );
        self.report(ProgressEvent::BatchDone {
            node: node.name.clone(),
            batch_idx: msg.batch_idx,
            ok: true,
            rows_in: stats.rows_in,
            rows_out: stats.rows_out,
            elapsed,
            error: None,
        });
        self.refresh(ks, &script, &props, &node.name, msg.batch_idx)
            .await
            .map_err(Failure::After)?;
        Ok(Outcome::Ack)
    }

    /// Records a batch as failed (its rows are already gone), reports it and refreshes the
    /// node and run statuses.
    async fn finish_batch_failed(
        &self,
        ks: &dyn Keyspace,
        msg: &BatchMessage,
        slot: usize,
        text: &str,
        started: Instant,
    ) -> Result<(), Failure> {
        self.record_batch(ks, msg, slot, NodeStatus::Fail, text)
            .await?;
        self.count(msg, BatchOutcome::Failed);
        self.report(ProgressEvent::BatchDone {
            node: msg.target_node.clone(),
            batch_idx: msg.batch_idx,
            ok: false,
            rows_in: 0,
            rows_out: 0,
            elapsed: started.elapsed(),
            error: Some(text.to_string()),
        });
        let props = run_props(ks, msg.run_id).await.map_err(Failure::After)?;
        let script = self
            .script(&props.script_url, &props.script_params_url)
            .await
            .map_err(Failure::After)?;
        self.refresh(ks, &script, &props, &msg.target_node, msg.batch_idx)
            .await
            .map_err(Failure::After)
    }

    async fn record_batch(
        &self,
        ks: &dyn Keyspace,
        msg: &BatchMessage,
        slot: usize,
        status: NodeStatus,
        comment: &str,
    ) -> Result<()> {
        ks.append_batch_event(&self.batch_event(msg, slot, status, comment))
            .await?;
        Ok(())
    }

    fn batch_event(
        &self,
        msg: &BatchMessage,
        slot: usize,
        status: NodeStatus,
        comment: &str,
    ) -> BatchEvent {
        BatchEvent {
            ts: vessel_core::time::now(),
            run_id: msg.run_id,
            node: msg.target_node.clone(),
            batch_idx: msg.batch_idx,
            batches_total: msg.batches_total,
            status,
            first_token: msg.first_token,
            last_token: msg.last_token,
            instance: self.instance.clone(),
            thread: slot as i64,
            comment: comment.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vessel_queue::MemoryQueue;

    fn engine(dir: &std::path::Path) -> Engine {
        let storage = Arc::new(vessel_store_sqlite::SqliteStorage::open(dir).unwrap());
        Engine::new(storage, Arc::new(MemoryQueue::new()))
    }

    #[tokio::test]
    async fn a_batch_held_by_another_worker_of_this_process_waits() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        engine.storage.open_keyspace("ks", true).await.unwrap();
        let msg = BatchMessage::new("ks", 1, "n", 0, 1, 0, 0);
        engine.lock_in_flight().insert(msg.full_batch_id());
        assert_eq!(
            engine.process(&msg, 0).await,
            Outcome::Retry(engine.settings.retry_delay)
        );
        assert!(engine.halted().is_none());
    }

    #[tokio::test]
    async fn a_message_for_a_dropped_keyspace_is_dropped_without_halting() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let msg = BatchMessage::new("gone", 1, "n", 0, 1, 0, 0);
        assert_eq!(engine.process(&msg, 0).await, Outcome::Ack);
        assert!(engine.halted().is_none());
    }
}
