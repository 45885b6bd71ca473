//! Prometheus metrics of an engine's workers, in the text exposition format.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `vessel_batches_total` | keyspace, node, outcome | batches handled: `succeeded`, `failed` (recorded as failed, acknowledged), `skipped` (already done or run stopped, acknowledged without work), `retried` (handed back for later), `halted` (handed back, the engine halted) |
//! | `vessel_rows_in_total`, `vessel_rows_out_total` | keyspace, node | rows read and written by successful batches |
//! | `vessel_batch_duration_seconds` | keyspace, node | histogram of the processing time of successful batches |
//! | `vessel_dependency_checks_total` | keyspace, node, result | dependency checks: `go`, `wait`, `nogo` |
//! | `vessel_plugin_calls_total` | plugin, outcome | plugin calls: `ok`, `error` (the plugin said no), `trap`, `timeout`, `out_of_memory` |

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use vessel_wasm::WasmError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BatchLabels {
    keyspace: String,
    node: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    keyspace: String,
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabels {
    keyspace: String,
    node: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
    outcome: &'static str,
}

fn duration_histogram() -> Histogram {
    // 10 ms to about 3 hours.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.01, 2.5, 14,
    ))
}

/// How a batch message was handled, as counted by `vessel_batches_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Processed and recorded as a success.
    Succeeded,
    /// Recorded as failed.
    Failed,
    /// Acknowledged without work (already finished, or its run was stopped).
    Skipped,
    /// Handed back to the queue for later.
    Retried,
    /// Handed back because the engine halted.
    Halted,
}

impl BatchOutcome {
    fn label(self) -> &'static str {
        match self {
            BatchOutcome::Succeeded => "succeeded",
            BatchOutcome::Failed => "failed",
            BatchOutcome::Skipped => "skipped",
            BatchOutcome::Retried => "retried",
            BatchOutcome::Halted => "halted",
        }
    }
}

/// The metrics of one engine.
pub struct Metrics {
    registry: Registry,
    batches: Family<BatchLabels, Counter>,
    rows_in: Family<NodeLabels, Counter>,
    rows_out: Family<NodeLabels, Counter>,
    durations: Family<NodeLabels, Histogram, fn() -> Histogram>,
    dependencies: Family<DependencyLabels, Counter>,
    plugin_calls: Family<PluginLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty metrics, registered under the `vessel_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("vessel");
        let batches = Family::<BatchLabels, Counter>::default();
        let rows_in = Family::<NodeLabels, Counter>::default();
        let rows_out = Family::<NodeLabels, Counter>::default();
        let durations = Family::<NodeLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        let dependencies = Family::<DependencyLabels, Counter>::default();
        let plugin_calls = Family::<PluginLabels, Counter>::default();
        registry.register(
            "batches",
            "Batch messages handled, by outcome",
            batches.clone(),
        );
        registry.register(
            "rows_in",
            "Rows read by successful batches",
            rows_in.clone(),
        );
        registry.register(
            "rows_out",
            "Rows written by successful batches",
            rows_out.clone(),
        );
        registry.register_with_unit(
            "batch_duration",
            "Processing time of successful batches",
            prometheus_client::registry::Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "dependency_checks",
            "Dependency checks of batches, by result",
            dependencies.clone(),
        );
        registry.register(
            "plugin_calls",
            "Calls into Wasm plugins, by outcome",
            plugin_calls.clone(),
        );
        Metrics {
            registry,
            batches,
            rows_in,
            rows_out,
            durations,
            dependencies,
            plugin_calls,
        }
    }

    /// Counts a handled batch message.
    pub fn batch(&self, keyspace: &str, node: &str, outcome: BatchOutcome) {
        self.batches
            .get_or_create(&BatchLabels {
                keyspace: keyspace.to_string(),
                node: node.to_string(),
                outcome: outcome.label(),
            })
            .inc();
    }

    /// Records the rows and time of a successful batch.
    pub fn batch_done(&self, keyspace: &str, node: &str, rows_in: u64, rows_out: u64, secs: f64) {
        let labels = NodeLabels {
            keyspace: keyspace.to_string(),
            node: node.to_string(),
        };
        self.rows_in.get_or_create(&labels).inc_by(rows_in);
        self.rows_out.get_or_create(&labels).inc_by(rows_out);
        self.durations.get_or_create(&labels).observe(secs);
    }

    /// Counts a dependency check (`go`, `wait` or `nogo`).
    pub fn dependency(&self, keyspace: &str, node: &str, result: &'static str) {
        self.dependencies
            .get_or_create(&DependencyLabels {
                keyspace: keyspace.to_string(),
                node: node.to_string(),
                result,
            })
            .inc();
    }

    /// Counts a plugin call by its result.
    pub fn plugin_call<T>(&self, plugin: &str, result: &Result<T, WasmError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(WasmError::Trap { .. }) => "trap",
            Err(WasmError::Timeout { .. }) => "timeout",
            Err(WasmError::OutOfMemory { .. }) => "out_of_memory",
            Err(_) => "error",
        };
        self.plugin_calls
            .get_or_create(&PluginLabels {
                plugin: plugin.to_string(),
                outcome,
            })
            .inc();
    }

    /// Every metric in the Prometheus text format (OpenMetrics flavour).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_text_format() {
        let m = Metrics::new();
        m.batch("ks", "load", BatchOutcome::Succeeded);
        m.batch("ks", "load", BatchOutcome::Succeeded);
        m.batch("ks", "load", BatchOutcome::Retried);
        m.batch_done("ks", "load", 10, 7, 0.5);
        m.dependency("ks", "join", "wait");
        m.plugin_call::<()>("geo", &Ok(()));
        let text = m.encode();
        for line in [
            r#"vessel_batches_total{keyspace="ks",node="load",outcome="succeeded"} 2"#,
            r#"vessel_batches_total{keyspace="ks",node="load",outcome="retried"} 1"#,
            r#"vessel_rows_in_total{keyspace="ks",node="load"} 10"#,
            r#"vessel_rows_out_total{keyspace="ks",node="load"} 7"#,
            r#"vessel_batch_duration_seconds_count{keyspace="ks",node="load"} 1"#,
            r#"vessel_dependency_checks_total{keyspace="ks",node="join",result="wait"} 1"#,
            r#"vessel_plugin_calls_total{plugin="geo",outcome="ok"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
