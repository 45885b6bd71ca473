//! Hostile map guest for the sandbox tests. It reads the first input field and writes one
//! string field, `p.result`. Parameter `mode` picks the misbehaviour of `process`
//! (`{"mode": "loop"}`); parameter `open` picks one for `open`: `invalid`, `read_missing` (a
//! binding that reads a field the input lacks), and the hostile behaviours `process` also
//! has (`loop`, `sleep`, `memory_bomb`, `stack_overflow`, `panic`, `trap`, `stdout`,
//! `stderr`, `stdout_flood`, `stderr_flood`, `log_flood`, `read_file`, `env`, `tcp`,
//! `clock`; what the last four find becomes every row's `result`). With
//! `"open_in": "run"` the `open` misbehaviour happens only in a run (run id above 0), not when
//! a script is validated. Without a mode it behaves: `result` is "ok".

wit_bindgen::generate!({ path: "../../../wit", world: "processor-plugin" });

use std::hint::black_box;

use exports::vessel::plugin::processor::{
    BatchResult, Binding, Guest, GuestInstance, Instance, Kind, OpenArgs, PluginInfo,
};
use vessel::plugin::host;
use vessel::plugin::types::{Batch, Column, Error, Field, FieldType, LogLevel};

struct Component;

struct Evil {
    read: Field,
    mode: String,
    /// What an `open` probe (files, environment, sockets, clock) found, written to every row.
    found: Option<String>,
}

/// The string value of `"key": "value"` in flat JSON, without a JSON parser.
fn param(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn spin() -> ! {
    let mut i: u64 = 0;
    loop {
        i = black_box(i.wrapping_add(1));
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let pad = black_box([depth; 64]);
    recurse(depth + 1).wrapping_add(pad[3])
}

/// A string column with the same text in every row.
fn strings(rows: &[String]) -> Column {
    let mut values = Vec::new();
    let mut offsets = vec![0u8, 0, 0, 0];
    for r in rows {
        values.extend_from_slice(r.as_bytes());
        offsets.extend_from_slice(&(values.len() as u32).to_le_bytes());
    }
    Column {
        validity: None,
        offsets: Some(offsets),
        values,
    }
}

/// Prints `lines` lines to stdout or stderr, each long enough that the flood passes any
/// per-call budget many times over.
fn flood(stderr: bool, lines: usize) {
    for i in 0..lines {
        if stderr {
            eprintln!("stderr flood {i} {}", "-".repeat(80));
        } else {
            println!("stdout flood {i} {}", "-".repeat(80));
        }
    }
}

/// What reading the clocks shows: nanoseconds since the epoch on the wall clock, the step
/// between two monotonic readings, and how long a 1 ms sleep lasts on the monotonic clock.
fn clocks() -> String {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos().to_string())
        .unwrap_or_else(|e| format!("before the epoch by {:?}", e.duration()));
    let a = std::time::Instant::now();
    let b = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(1));
    let c = std::time::Instant::now();
    format!(
        "wall={wall} step={} slept={}",
        (b - a).as_nanos(),
        (c - b).as_nanos()
    )
}

/// Runs one of the misbehaviours `open` and `process` share. Probes (files, environment,
/// sockets, clock) return what they found; the others end by trapping, never return, or
/// return `None` after printing.
fn misbehave(mode: &str) -> Option<String> {
    match mode {
        "loop" => spin(),
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_secs(60));
            Some("slept".to_string())
        }
        "memory_bomb" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(black_box(vec![7u8; 1 << 20]));
            }
        }
        "stack_overflow" => Some(recurse(0).to_string()),
        "trap" => core::arch::wasm32::unreachable(),
        "stdout" => {
            println!("hello from the plugin's stdout");
            None
        }
        "stderr" => {
            eprintln!("hello from the plugin's stderr");
            None
        }
        "stdout_flood" => {
            flood(false, 20_000);
            None
        }
        "stderr_flood" => {
            flood(true, 20_000);
            None
        }
        "log_flood" => {
            for i in 0..20_000 {
                host::log(
                    LogLevel::Warn,
                    &format!("flood line {i} {}", "-".repeat(80)),
                );
                println!("stdout flood {i}");
                eprintln!("stderr flood {i}");
            }
            Some("flooded".to_string())
        }
        "read_file" => {
            let read = outcome(std::fs::read("/etc/passwd"), |b| {
                format!("read {} bytes", b.len())
            });
            let list = outcome(std::fs::read_dir("/"), |d| {
                format!("listed {} entries", d.count())
            });
            let write = outcome(std::fs::write("escape.txt", b"x"), |_| "wrote".into());
            Some(format!("{read}; {list}; {write}"))
        }
        "env" => Some(format!(
            "vars={} home={} args={}",
            std::env::vars().count(),
            std::env::var("HOME").unwrap_or_else(|_| "-".into()),
            std::env::args().count()
        )),
        "tcp" => {
            let ip = outcome(std::net::TcpStream::connect("127.0.0.1:5672"), |_| {
                "connected".into()
            });
            let dns = outcome(std::net::TcpStream::connect("localhost:5672"), |_| {
                "connected".into()
            });
            Some(format!("{ip}; {dns}"))
        }
        "clock" => Some(clocks()),
        _ => None,
    }
}

fn outcome<T, E: std::fmt::Display>(r: Result<T, E>, ok: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => format!("denied: {e}"),
    }
}

impl Guest for Component {
    type Instance = Evil;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "evil".into(),
            version: "0.1.0".into(),
            kind: Kind::Map,
            description: "Misbehaves on request".into(),
            params_schema: None,
        }
    }
}

impl GuestInstance for Evil {
    fn open(args: OpenArgs) -> Result<Instance, Error> {
        let open_mode = param(&args.params_json, "open").unwrap_or_default();
        let in_run_only = param(&args.params_json, "open_in").as_deref() == Some("run");
        let mut found = None;
        if !in_run_only || args.run_id > 0 {
            match open_mode.as_str() {
                "invalid" => {
                    return Err(Error::InvalidParams("'open' must not be 'invalid'".into()));
                }
                "panic" => panic!("boom in open of node {}", args.node_name),
                other => found = misbehave(other),
            }
        }
        let mut read =
            args.input_schema.first().cloned().ok_or_else(|| {
                Error::SchemaMismatch("evil needs at least one input field".into())
            })?;
        if param(&args.params_json, "open").as_deref() == Some("read_missing") {
            read.name = "missing".into();
        }
        Ok(Instance::new(Evil {
            read,
            mode: param(&args.params_json, "mode").unwrap_or_default(),
            found,
        }))
    }

    fn binding(&self) -> Binding {
        Binding {
            output_schema: vec![Field {
                name: "result".into(),
                ty: FieldType::String,
            }],
            reads: vec![self.read.name.clone()],
        }
    }

    fn process(&self, input: Batch) -> Result<BatchResult, Error> {
        let n = input.row_count as usize;
        let mut row_count = input.row_count;
        let mut columns = None;
        let result = match self.mode.as_str() {
            "panic" => {
                if self.read.ty == FieldType::Int {
                    let v = &input.columns[0].values;
                    for i in 0..n {
                        if i64::from_le_bytes(v[i * 8..i * 8 + 8].try_into().unwrap()) == 13 {
                            panic!("boom: row {i} holds 13");
                        }
                    }
                }
                "ok".to_string()
            }
            "big_output" => "x".repeat(1 << 20),
            "fail" => {
                return Err(Error::Failed(
                    "cannot process this batch: upstream data is missing".into(),
                ));
            }
            "bad_utf8" => {
                columns = Some(vec![Column {
                    validity: None,
                    offsets: Some(
                        [0u32, 1]
                            .iter()
                            .chain(vec![1u32; n.saturating_sub(1)].iter())
                            .flat_map(|o| o.to_le_bytes())
                            .collect(),
                    ),
                    values: vec![0xff],
                }]);
                String::new()
            }
            "bad_offsets" => {
                let mut col = strings(&vec!["ab".to_string(); n]);
                let len = col.offsets.as_ref().unwrap().len();
                col.offsets.as_mut().unwrap()[len - 4..].copy_from_slice(&1000u32.to_le_bytes());
                columns = Some(vec![col]);
                String::new()
            }
            "bad_rows" => {
                row_count += 1;
                columns = Some(vec![strings(&vec!["ok".to_string(); n + 1])]);
                String::new()
            }
            "wrong_columns" => {
                let col = strings(&vec!["ok".to_string(); n]);
                columns = Some(vec![col.clone(), col]);
                String::new()
            }
            other => misbehave(other)
                .or_else(|| self.found.clone())
                .unwrap_or_else(|| "ok".to_string()),
        };
        let columns = columns.unwrap_or_else(|| vec![strings(&vec![result; n])]);
        Ok(BatchResult {
            output: Batch { row_count, columns },
            keep: None,
            parents: None,
            row_errors: Vec::new(),
        })
    }
}

export!(Component);
