//! Mutated real CSV files through the CSV reader, configured as the `file_table` nodes of real
//! scripts read them: no input may panic or hang, and every error names the file.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use vessel_engine::files::{FileError, read_csv};
use vessel_script::{FileReader, Reader, Script, load_script};

/// Bytes of each real file the mutations start from (cut at a line end): enough for headers,
/// quoting and many records, small enough for hundreds of cases in a few seconds.
const SAMPLE_BYTES: usize = 16 << 10;

/// A reader as a script configures it, and the start of the file it reads.
struct Case {
    name: String,
    script: Arc<Script>,
    node: String,
    sample: Vec<u8>,
}

impl Case {
    fn reader(&self) -> &FileReader {
        match &self.script.nodes[&self.node].reader {
            Reader::File(r) => r,
            Reader::Table(_) => unreachable!("cases are file readers"),
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The file readers of a script, each with the start of its input file from `dir_in`.
fn script_cases(script: &Path, params: &Path, dir_in: &Path) -> Vec<Case> {
    let script = Arc::new(
        load_script(script, Some(params)).unwrap_or_else(|e| panic!("{}: {e}", script.display())),
    );
    let mut cases = Vec::new();
    for (name, node) in &script.nodes {
        let Reader::File(reader) = &node.reader else {
            continue;
        };
        for url in &reader.urls {
            let file = dir_in.join(Path::new(url).file_name().expect("url names a file"));
            let bytes = std::fs::read(&file)
                .unwrap_or_else(|e| panic!("input of node {name}: {}: {e}", file.display()));
            let mut end = bytes.len().min(SAMPLE_BYTES);
            if end < bytes.len() {
                end = bytes[..end]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(end, |p| p + 1);
            }
            cases.push(Case {
                name: format!("{name} ({})", file.display()),
                script: script.clone(),
                node: name.clone(),
                sample: bytes[..end].to_vec(),
            });
        }
    }
    cases
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let root = root();
        let capi = root.join("../shared/testdata/capillaries");
        let mut cases = script_cases(
            &root.join("examples/shop/script.yaml"),
            &root.join("examples/shop/params.yaml"),
            &root.join("examples/shop/data"),
        );
        cases.extend(script_cases(
            &capi.join("cfg/lookup/script_quick.yaml"),
            &capi.join("cfg/lookup/script_params_quick_fs_one.yaml"),
            &capi.join("in/lookup"),
        ));
        // Two scripts, two file readers each: a missing one means the data moved.
        assert_eq!(cases.len(), 4, "file readers found: {}", cases.len());
        cases
    })
}

/// One change to the bytes, at a position taken modulo the length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Delete(usize),
    Insert(usize, &'static [u8]),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let inserts: &[&'static [u8]] = &[
        b"\"",
        b"\"\"",
        b",",
        b"\t",
        b"\n",
        b"\r",
        b"\r\n",
        b"\xff",
        b"\xc3",
        b"\xe2\x82",
        b"\xed\xa0\x80",
        b"\0",
        b",\"",
        b"\"\n",
    ];
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(p, x)| Mutation::Flip(p, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), proptest::sample::select(inserts))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
    match *m {
        Mutation::Flip(p, x) => {
            if !bytes.is_empty() {
                let i = p % bytes.len();
                bytes[i] ^= x;
            }
        }
        Mutation::Truncate(p) => {
            let i = at(p, bytes.len());
            bytes.truncate(i);
        }
        Mutation::Delete(p) => {
            if !bytes.is_empty() {
                let i = p % bytes.len();
                bytes.remove(i);
            }
        }
        Mutation::Insert(p, b) => {
            let i = at(p, bytes.len());
            bytes.splice(i..i, b.iter().copied());
        }
    }
}

/// Reads `bytes` with `reader` as a `file_table` batch does (row sets of 1000), on its own
/// thread; `None` when it did not finish within a bound generous enough for a busy machine.
fn read(case: &'static Case, bytes: &[u8]) -> Option<Result<u64, FileError>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("input.csv");
    std::fs::write(&path, bytes).expect("write input");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut rows = 0u64;
        let got = read_csv(case.reader(), &path, "fuzz.csv", 1000, &mut |rs| {
            rows += rs.len() as u64;
            Ok(())
        })
        .map(|stats| {
            assert_eq!(stats.rows_read, rows, "rows counted and rows handed over");
            rows
        });
        let _ = tx.send(got);
    });
    let got = rx.recv_timeout(Duration::from_secs(60));
    drop(dir);
    match got {
        Ok(got) => Some(got),
        // A panic on the reading thread drops the sender.
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the CSV reader panicked"),
        Err(mpsc::RecvTimeoutError::Timeout) => None,
    }
}

#[test]
fn unmutated_samples_read() {
    for case in cases() {
        let got = read(case, &case.sample).expect("finishes");
        let rows = got.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(rows > 10, "{}: {rows} rows", case.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_files_never_panic_or_hang(
        which in 0..4usize,
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let case = &cases()[which];
        let mut bytes = case.sample.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let got = read(case, &bytes);
        prop_assert!(got.is_some(), "{}: the reader did not finish", case.name);
        if let Some(Err(e)) = got {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("fuzz.csv"), "{}: error does not name the file: {}", case.name, msg);
        }
    }
}
