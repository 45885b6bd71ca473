//! Guest logs, stdout and stderr reach `tracing` with their fields, bounded per batch.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use vessel_wasm::Limits;
use vessel_wasm_artifacts as guests;

use crate::{ints, open_ints, results};

/// One recorded event: level and fields (the message under `message`).
#[derive(Debug, Clone)]
struct Event {
    level: tracing::Level,
    fields: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "vessel::plugin" {
            return;
        }
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Event {
            level: *event.metadata().level(),
            fields,
        });
    }
}

/// Runs `f` with a subscriber (for this thread only) that records plugin events.
fn recorded<R>(f: impl FnOnce() -> R) -> (R, Vec<Event>) {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let r = tracing::subscriber::with_default(subscriber, f);
    let events = recorder.0.lock().unwrap().clone();
    (r, events)
}

#[test]
fn guest_logs_carry_keyspace_run_node_batch_and_plugin() {
    let (out, events) = recorded(|| {
        let mut inst = open_ints(guests::ECHO, "{}", Limits::default());
        inst.process(&ints(&[1, 2, 3]), 12).unwrap()
    });
    assert_eq!(out.len(), 3);
    let opened = events
        .iter()
        .find(|e| e.fields["message"] == "echo opened for node node_a of run 7")
        .expect("the open log line");
    assert_eq!(opened.level, tracing::Level::DEBUG);
    assert_eq!(opened.fields["batch"], "-");
    let got = events
        .iter()
        .find(|e| e.fields["message"] == "echo got 3 rows")
        .expect("the process log line");
    assert_eq!(got.level, tracing::Level::INFO);
    for (k, v) in [
        ("keyspace", "ks_test"),
        ("run_id", "7"),
        ("node", "node_a"),
        ("batch", "12"),
        ("plugin", "echo"),
        ("source", "log"),
    ] {
        assert_eq!(got.fields[k], v, "field {k}");
    }
}

#[test]
fn a_log_flood_is_capped_per_batch() {
    let limits = Limits::default();
    let ((first, second), events) = recorded(|| {
        let mut inst = open_ints(guests::EVIL, r#"{"mode": "log_flood"}"#, limits);
        let first = inst.process(&ints(&[1]), 0).unwrap();
        let second = inst.process(&ints(&[1]), 1).unwrap();
        (first, second)
    });
    // The flood does not fail the batch.
    assert_eq!(results(&first), vec!["flooded"]);
    assert_eq!(results(&second), vec!["flooded"]);
    for batch in ["0", "1"] {
        let of_batch: Vec<&Event> = events
            .iter()
            .filter(|e| e.fields["batch"] == batch)
            .collect();
        let notes: Vec<&&Event> = of_batch
            .iter()
            .filter(|e| e.fields["message"].starts_with("plugin output truncated"))
            .collect();
        assert_eq!(notes.len(), 1, "one truncation note for batch {batch}");
        assert_eq!(notes[0].level, tracing::Level::WARN);
        let kept: usize = of_batch
            .iter()
            .filter(|e| !e.fields["message"].starts_with("plugin output truncated"))
            .map(|e| e.fields["message"].len())
            .sum();
        assert!(
            kept <= limits.log_bytes_per_batch,
            "{kept} bytes of guest output kept"
        );
        // The budget was used, not dropped wholesale, and all three sources got through.
        assert!(
            kept > limits.log_bytes_per_batch / 2,
            "only {kept} bytes kept"
        );
        let sources: std::collections::BTreeSet<&str> = of_batch
            .iter()
            .map(|e| e.fields["source"].as_str())
            .collect();
        assert!(sources.contains("log"), "{sources:?}");
        assert!(
            sources.contains("stdout") || sources.contains("stderr"),
            "{sources:?}"
        );
    }
}
