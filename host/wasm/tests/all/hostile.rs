//! Hostile guests: runaway loops and sleeps, memory bombs, crashes, escapes, floods, garbage.

use std::time::{Duration, Instant};

use vessel_wasm::{Limits, WasmError};
use vessel_wasm_artifacts as guests;

use crate::{args, ints, open_ints, processor, results, schema};

fn quick() -> Limits {
    Limits {
        timeout: Duration::from_millis(300),
        open_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

/// Asserts that `e` is a timeout of `limits` for node_a and `batch`, and that it came within a
/// second of the deadline.
fn assert_timeout(e: &WasmError, started: Instant, batch: Option<i32>) {
    let elapsed = started.elapsed();
    eprintln!("timeout reported after {elapsed:?} (deadline 300 ms)");
    assert!(matches!(e, WasmError::Timeout { .. }), "{e}");
    assert!(
        elapsed < Duration::from_millis(300) + Duration::from_secs(1),
        "timed out after {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(300),
        "timed out early, after {elapsed:?}"
    );
    let site = e.site().unwrap();
    assert_eq!(site.plugin, "evil");
    assert_eq!(site.node.as_deref(), Some("node_a"));
    assert_eq!(site.batch, batch);
}

#[test]
fn infinite_loop_times_out_and_the_instance_recovers() {
    let mut inst = open_ints(guests::EVIL, r#"{"mode": "loop"}"#, quick());
    let started = Instant::now();
    let e = inst.process(&ints(&[1, 2]), 3).unwrap_err();
    assert_timeout(&e, started, Some(3));
    assert_eq!(
        e.to_string(),
        "plugin 'evil' in node 'node_a', batch 3: did not finish within 300 ms (the per-batch \
         deadline); raise the node's timeout or fix the loop"
    );
    assert!(e.is_fatal_to_instance());
    // The next batch runs on a fresh store (and loops again, as asked).
    let started = Instant::now();
    let e = inst.process(&ints(&[1]), 4).unwrap_err();
    assert_timeout(&e, started, Some(4));
    assert_eq!(inst.stores_used(), 2);
}

#[test]
fn sleeping_past_the_deadline_times_out() {
    let mut inst = open_ints(guests::EVIL, r#"{"mode": "sleep"}"#, quick());
    let started = Instant::now();
    let e = inst.process(&ints(&[1]), 0).unwrap_err();
    assert_timeout(&e, started, Some(0));
}

#[test]
fn a_loop_in_open_times_out() {
    let started = Instant::now();
    let e = processor(guests::EVIL)
        .open(
            &args(
                r#"{"open": "loop"}"#,
                schema(&[("n", vessel_core::FieldType::Int)]),
            ),
            quick(),
        )
        .unwrap_err();
    assert_timeout(&e, started, None);
    assert_eq!(
        e.to_string(),
        "plugin 'evil' in node 'node_a': did not finish within 300 ms (the deadline for \
         starting an instance: instantiation and open); raise the node's \
         limits.open_timeout_ms (or VESSEL_PLUGIN_OPEN_TIMEOUT_MS) or fix the loop"
    );
}

#[test]
fn open_has_its_own_deadline() {
    // A batch deadline far below what `open` takes does not stop `open`; the open deadline
    // does.
    let limits = Limits {
        timeout: Duration::from_millis(1),
        open_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let open = |params: &str| {
        processor(guests::EVIL).open(
            &args(params, schema(&[("n", vessel_core::FieldType::Int)])),
            limits,
        )
    };
    let e = open(r#"{"open": "loop"}"#).unwrap_err();
    assert!(
        matches!(e, WasmError::Timeout { timeout, phase: vessel_wasm::Phase::Start, .. }
            if timeout == Duration::from_millis(300)),
        "{e}"
    );
    // A flood of output takes a while to write; under the 1 ms batch deadline it would fail.
    open(r#"{"open": "stdout_flood"}"#).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn misbehaving_in_open_fails_cleanly() {
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..quick()
    };
    for (mode, want) in [
        ("panic", "crashed: "),
        ("trap", "unreachable"),
        ("stack_overflow", "crashed: "),
        ("memory_bomb", "ran out of memory (limit 32 MiB"),
        ("sleep", "did not finish within 300 ms"),
    ] {
        let e = processor(guests::EVIL)
            .open(
                &args(
                    &format!(r#"{{"open": "{mode}"}}"#),
                    schema(&[("n", vessel_core::FieldType::Int)]),
                ),
                limits,
            )
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("plugin 'evil' in node 'node_a': "),
            "{mode}: {text}"
        );
        assert!(text.contains(want), "{mode}: {text}");
        assert!(e.is_fatal_to_instance(), "{mode}: {text}");
    }
    let e = processor(guests::EVIL)
        .open(
            &args(
                r#"{"open": "panic"}"#,
                schema(&[("n", vessel_core::FieldType::Int)]),
            ),
            limits,
        )
        .unwrap_err();
    assert!(e.to_string().contains("boom in open of node node_a"), "{e}");
}

#[test]
fn the_clock_is_deterministic() {
    // The wall clock reads the epoch, the monotonic clock moves 1 µs per reading and by the
    // length of each sleep: the same values in every instance, at any time.
    for _ in 0..2 {
        let mut inst = open_ints(guests::EVIL, r#"{"mode": "clock"}"#, Limits::default());
        let out = inst.process(&ints(&[1]), 0).unwrap();
        assert_eq!(results(&out), vec!["wall=0 step=1000 slept=1001000"]);
    }
    // `open` sees the same clock.
    let mut inst = open_ints(guests::EVIL, r#"{"open": "clock"}"#, Limits::default());
    let out = inst.process(&ints(&[1]), 0).unwrap();
    assert_eq!(results(&out), vec!["wall=0 step=1000 slept=1001000"]);
}

#[test]
fn memory_bomb_fails_cleanly() {
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let mut inst = open_ints(guests::EVIL, r#"{"mode": "memory_bomb"}"#, limits);
    let e = inst.process(&ints(&[1]), 9).unwrap_err();
    assert!(
        matches!(e, WasmError::OutOfMemory { limit, .. } if limit == 32 << 20),
        "{e}"
    );
    assert!(
        e.to_string().starts_with(
            "plugin 'evil' in node 'node_a', batch 9: ran out of memory (limit 32 MiB per instance)"
        ),
        "{e}"
    );
    // The host is fine and so is the next store (which bombs again).
    let e = inst.process(&ints(&[1]), 10).unwrap_err();
    assert!(matches!(e, WasmError::OutOfMemory { .. }), "{e}");
}

#[test]
fn stack_overflow_is_a_trap() {
    let mut inst = open_ints(
        guests::EVIL,
        r#"{"mode": "stack_overflow"}"#,
        Limits::default(),
    );
    let e = inst.process(&ints(&[1]), 0).unwrap_err();
    assert!(matches!(e, WasmError::Trap { .. }), "{e}");
    // Rust keeps its stack in linear memory: running off its end is an out-of-bounds access
    // (a native wasm stack overflow would say "call stack exhausted").
    let msg = e.to_string();
    assert!(
        msg.contains("out of bounds") || msg.contains("stack"),
        "{msg}"
    );
}

#[test]
fn a_trap_fails_its_batch_and_the_next_batch_succeeds() {
    let mut inst = open_ints(guests::EVIL, r#"{"mode": "panic"}"#, Limits::default());
    let ok = inst.process(&ints(&[1, 2]), 0).unwrap();
    assert_eq!(results(&ok), vec!["ok", "ok"]);
    let e = inst.process(&ints(&[11, 12, 13]), 1).unwrap_err();
    assert!(matches!(e, WasmError::Trap { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("plugin 'evil' in node 'node_a', batch 1: crashed: "),
        "{msg}"
    );
    // The guest's panic message is part of the error.
    assert!(msg.contains("boom: row 2 holds 13"), "{msg}");
    let ok = inst.process(&ints(&[14]), 2).unwrap();
    assert_eq!(results(&ok), vec!["ok"]);
    assert_eq!(inst.stores_used(), 2);
}

#[test]
fn a_failed_batch_keeps_the_store() {
    let mut inst = open_ints(guests::EVIL, r#"{"mode": "fail"}"#, Limits::default());
    let e = inst.process(&ints(&[1]), 6).unwrap_err();
    assert!(matches!(e, WasmError::Failed { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "plugin 'evil' in node 'node_a', batch 6: failed: cannot process this batch: upstream \
         data is missing"
    );
    assert!(!e.is_fatal_to_instance());
    let _ = inst.process(&ints(&[1]), 7).unwrap_err();
    assert_eq!(inst.stores_used(), 1);
}

#[test]
fn files_are_out_of_reach() {
    let mut inst = open_ints(guests::EVIL, r#"{"mode": "read_file"}"#, Limits::default());
    let out = inst.process(&ints(&[1]), 0).unwrap();
    let r = &results(&out)[0];
    eprintln!("guest saw: {r}");
    let parts: Vec<&str> = r.split("; ").collect();
    assert_eq!(parts.len(), 3, "{r}");
    for p in parts {
        assert!(p.starts_with("denied: "), "{r}");
    }
}

#[test]
fn the_environment_is_empty() {
    // The host process has variables; the guest sees none of them.
    assert!(std::env::vars().count() > 0);
    let mut inst = open_ints(guests::EVIL, r#"{"mode": "env"}"#, Limits::default());
    let out = inst.process(&ints(&[1]), 0).unwrap();
    assert_eq!(results(&out), vec!["vars=0 home=- args=0"]);
}

#[test]
fn sockets_are_denied() {
    let mut inst = open_ints(guests::EVIL, r#"{"mode": "tcp"}"#, Limits::default());
    let out = inst.process(&ints(&[1]), 0).unwrap();
    let r = &results(&out)[0];
    eprintln!("guest saw: {r}");
    let parts: Vec<&str> = r.split("; ").collect();
    assert_eq!(parts.len(), 2, "{r}");
    for p in parts {
        assert!(p.starts_with("denied: "), "{r}");
    }
}

#[test]
fn oversized_output_is_capped() {
    let limits = Limits {
        max_output_bytes: 1 << 20,
        ..Limits::default()
    };
    let mut inst = open_ints(guests::EVIL, r#"{"mode": "big_output"}"#, limits);
    let e = inst.process(&ints(&[1, 2, 3]), 2).unwrap_err();
    assert!(
        matches!(e, WasmError::OutputTooLarge { bytes, limit, .. } if bytes > 3 << 20 && limit == 1 << 20),
        "{e}"
    );
    assert!(
        e.to_string().contains("over the limit of 1 MiB per batch"),
        "{e}"
    );
    // Under the default limit the same batch passes: the cap is what failed it.
    let mut inst = open_ints(guests::EVIL, r#"{"mode": "big_output"}"#, Limits::default());
    let out = inst.process(&ints(&[1, 2, 3]), 2).unwrap();
    assert_eq!(results(&out)[2].len(), 1 << 20);
}

#[test]
fn invalid_results_are_bad_output() {
    let cases = [
        (
            "bad_utf8",
            "column 'result' (string): row 0 is not valid UTF-8",
        ),
        (
            "bad_offsets",
            "column 'result' (string): row 1 ends at offset 1000, beyond the 4 bytes of values",
        ),
        ("bad_rows", "a map plugin returned 3 rows for 2 input rows"),
        (
            "wrong_columns",
            "output batch has 2 columns, the binding declares 1 (result)",
        ),
    ];
    for (mode, expected) in cases {
        let mut inst = open_ints(
            guests::EVIL,
            &format!(r#"{{"mode": "{mode}"}}"#),
            Limits::default(),
        );
        let e = inst.process(&ints(&[1, 2]), 8).unwrap_err();
        assert!(matches!(e, WasmError::BadOutput { .. }), "{mode}: {e}");
        assert!(e.to_string().contains(expected), "{mode}: {e}");
    }
}
