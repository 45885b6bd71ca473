//! The batch worker: takes messages, processes batches, settles messages. The same loop serves
//! `vessel run` (in-process queue) and `vessel daemon` (RabbitMQ).

use crate::engine::{instance_is_dead, rows_comment, run_props, table_def};
use crate::progress::ProgressEvent;
use crate::{Engine, EngineError, Result, deps, nodes, status};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use vessel_queue::{BatchMessage, Consumer};
use vessel_script::{DepCmd, RerunPolicy, Script};
use vessel_store::{BatchEvent, Keyspace, NodeEvent, NodeStatus, RunProperties, RunStatus};

/// What to do with a message after handling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done (processed, recorded as failed, or nothing to do).
    Ack,
    /// Deliver again after the delay.
    Retry(Duration),
}

/// Takes deliveries until the consumer ends or `shutdown` turns true; a delivery in progress
/// is finished before stopping.
pub async fn run_worker(
    engine: Arc<Engine>,
    slot: usize,
    mut consumer: Box<dyn Consumer>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let delivery = tokio::select! {
            biased;
            _ = async {
                // A dropped sender means nobody will ask for shutdown: keep working.
                if shutdown.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => return,
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
        let outcome = engine.process(&msg, slot).await;
        let settled = match outcome {
            Outcome::Ack => delivery.ack().await,
            Outcome::Retry(d) => delivery.retry_later(d).await,
        };
        if let Err(e) = settled {
            tracing::warn!(batch = %msg.full_batch_id(), error = %e, "could not settle message");
        }
    }
}

impl Engine {
    /// Handles one batch message; never fails: errors are recorded in batch history, and
    /// transient ones ask for redelivery.
    pub async fn process(&self, msg: &BatchMessage, slot: usize) -> Outcome {
        let key = msg.full_batch_id();
        self.lock_in_flight().insert(key.clone());
        let out = match self.process_inner(msg, slot).await {
            Ok(o) => o,
            Err(e) if e.is_transient() => {
                tracing::warn!(batch = %key, error = %e, "transient failure, will retry");
                Outcome::Retry(self.settings.retry_delay)
            }
            Err(e) => {
                tracing::error!(batch = %key, error = %e, "cannot handle message");
                // Record the failure so the run can complete; if even that fails the message
                // is dropped as Capillaries does with undecodable work.
                if let Ok(ks) = self.storage.open_keyspace(&msg.ks, false).await {
                    let _ = self
                        .finish_batch_failed(ks.as_ref(), msg, slot, &e.to_string())
                        .await;
                }
                Outcome::Ack
            }
        };
        self.lock_in_flight().remove(&key);
        out
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn process_inner(&self, msg: &BatchMessage, slot: usize) -> Result<Outcome> {
        let ks_shared = self.storage.open_keyspace(&msg.ks, false).await?;
        let ks = ks_shared.as_ref();
        let run_events = ks.run_events(Some(&[msg.run_id])).await?;
        match status::run_status_latest(&run_events, msg.run_id) {
            RunStatus::None => {
                self.record_batch(ks, msg, slot, NodeStatus::Fail, "run never started")
                    .await?;
                return Ok(Outcome::Ack);
            }
            RunStatus::Stop => {
                self.record_batch(ks, msg, slot, NodeStatus::StopReceived, "run stopped")
                    .await?;
                let props = run_props(ks, msg.run_id).await?;
                if let Ok(script) = self
                    .script(&props.script_url, &props.script_params_url)
                    .await
                {
                    self.refresh(ks, &script, &props, &msg.target_node, msg.batch_idx)
                        .await?;
                }
                return Ok(Outcome::Ack);
            }
            RunStatus::Complete => return Ok(Outcome::Ack),
            RunStatus::Start => {}
        }
        let props = run_props(ks, msg.run_id).await?;
        let script = self.script(&msg.script_url, &msg.script_params_url).await?;
        let Some(node) = script.nodes.get(&msg.target_node) else {
            return Err(EngineError::Invalid(format!(
                "script {} has no node '{}'",
                msg.script_url, msg.target_node
            )));
        };

        // Duplicate delivery or a batch left behind by a crashed worker?
        let batches = ks.batch_events(msg.run_id, Some(&msg.target_node)).await?;
        let latest = status::latest_batch_statuses(&batches);
        if let Some(prev) = latest.get(&msg.batch_idx) {
            match prev.status {
                NodeStatus::Success | NodeStatus::Fail => {
                    self.refresh(ks, &script, &props, &node.name, msg.batch_idx)
                        .await?;
                    return Ok(Outcome::Ack);
                }
                NodeStatus::StopReceived => return Ok(Outcome::Ack),
                NodeStatus::Start => {
                    // Our own instance never runs the same batch twice at once, so a
                    // "start" of ours is an attempt that ended without recording an outcome.
                    let dead = prev.instance == self.instance
                        || instance_is_dead(&prev.instance, &self.instance);
                    let age = (vessel_core::time::now() - prev.ts)
                        .to_std()
                        .unwrap_or_default();
                    if !dead && age < node.max_batch_processing_time {
                        let left = node.max_batch_processing_time - age;
                        return Ok(Outcome::Retry(left.min(Duration::from_secs(5))));
                    }
                    if node.rerun_policy == RerunPolicy::Fail {
                        // Capillaries acks silently here and the run never completes; we
                        // record the failure instead so the run finishes.
                        self.finish_batch_failed(
                            ks,
                            msg,
                            slot,
                            "batch was interrupted and the node's rerun_policy is fail",
                        )
                        .await?;
                        return Ok(Outcome::Ack);
                    }
                    if let Some(def) = table_def(node, msg.run_id) {
                        let n = ks.delete_batch(&def, msg.batch_idx).await?;
                        tracing::info!(batch = %msg.full_batch_id(), rows = n,
                            "cleaned rows of an interrupted batch before redoing it");
                    }
                }
                NodeStatus::None => {}
            }
        }

        let dep = deps::check(ks, &script, node, msg.run_id).await?;
        match dep.cmd {
            DepCmd::Wait => return Ok(Outcome::Retry(self.settings.retry_delay)),
            DepCmd::NoGo => {
                let why = format!("dependency check says nogo: {}", dep.explanation);
                self.finish_batch_failed(ks, msg, slot, &why).await?;
                return Ok(Outcome::Ack);
            }
            DepCmd::Go => {}
        }

        ks.append_node_event(&NodeEvent {
            ts: vessel_core::time::now(),
            run_id: msg.run_id,
            node: node.name.clone(),
            written_by_batch_idx: msg.batch_idx,
            status: NodeStatus::Start,
            comment: String::new(),
        })
        .await?;
        self.record_batch(ks, msg, slot, NodeStatus::Start, "")
            .await?;

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
        match nodes::process_batch(&ctx).await {
            Ok(stats) => {
                let elapsed = started.elapsed();
                let comment = rows_comment(stats.rows_in, stats.rows_out, elapsed);
                self.record_batch(ks, msg, slot, NodeStatus::Success, &comment)
                    .await?;
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
                    .await?;
                Ok(Outcome::Ack)
            }
            Err(e) if e.is_transient() => {
                // Leave the batch "started": the redelivery cleans its rows and redoes it.
                Err(e)
            }
            Err(e) => {
                if let Some(def) = table_def(node, msg.run_id) {
                    // A failed batch leaves no partial rows behind.
                    ks.delete_batch(&def, msg.batch_idx).await?;
                }
                let text = format!("{}: {e}", msg.full_batch_id());
                tracing::error!(batch = %msg.full_batch_id(), error = %e, "batch failed");
                self.finish_batch_failed_with(ks, &script, &props, msg, slot, &text, started)
                    .await?;
                Ok(Outcome::Ack)
            }
        }
    }

    async fn finish_batch_failed(
        &self,
        ks: &dyn Keyspace,
        msg: &BatchMessage,
        slot: usize,
        text: &str,
    ) -> Result<()> {
        let props = run_props(ks, msg.run_id).await?;
        let script = self
            .script(&props.script_url, &props.script_params_url)
            .await?;
        self.finish_batch_failed_with(ks, &script, &props, msg, slot, text, Instant::now())
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish_batch_failed_with(
        &self,
        ks: &dyn Keyspace,
        script: &Script,
        props: &RunProperties,
        msg: &BatchMessage,
        slot: usize,
        text: &str,
        started: Instant,
    ) -> Result<()> {
        self.record_batch(ks, msg, slot, NodeStatus::Fail, text)
            .await?;
        self.report(ProgressEvent::BatchDone {
            node: msg.target_node.clone(),
            batch_idx: msg.batch_idx,
            ok: false,
            rows_in: 0,
            rows_out: 0,
            elapsed: started.elapsed(),
            error: Some(text.to_string()),
        });
        self.refresh(ks, script, props, &msg.target_node, msg.batch_idx)
            .await
    }

    async fn record_batch(
        &self,
        ks: &dyn Keyspace,
        msg: &BatchMessage,
        slot: usize,
        status: NodeStatus,
        comment: &str,
    ) -> Result<()> {
        ks.append_batch_event(&BatchEvent {
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
        })
        .await?;
        Ok(())
    }
}
