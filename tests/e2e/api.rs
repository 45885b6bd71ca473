//! `vessel api` as a process: where it may listen, its token file, and a run started and
//! followed over real HTTP on the embedded backend.

use crate::support::{s, vessel};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A copy of the example pipeline (script, params, input data) in `dir/shop`, without its
/// outputs or data directory; returns the copy's folder.
pub(crate) fn copy_shop(dir: &Path) -> std::path::PathBuf {
    let shop = vessel_tests::project_root().join("examples/shop");
    let work = dir.join("shop");
    std::fs::create_dir_all(work.join("data")).unwrap();
    for f in ["script.yaml", "params.yaml"] {
        std::fs::copy(shop.join(f), work.join(f)).unwrap();
    }
    for f in ["customers.csv", "orders.csv"] {
        std::fs::copy(shop.join("data").join(f), work.join("data").join(f)).unwrap();
    }
    work
}

/// A `vessel api` process; killed when dropped.
pub(crate) struct Api {
    child: Child,
    pub(crate) addr: String,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Api {
    /// Starts `vessel api` in `dir` and waits for the address it prints.
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> Api {
        let mut child = Command::new(vessel_tests::vessel_bin())
            .arg("api")
            .args([
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                s(&dir.join("data")),
            ])
            .args(extra)
            .current_dir(dir)
            .env("VESSEL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vessel api starts");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        assert!(line.contains("vessel api listening on"), "{line}");
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = err.read_to_string(&mut sink);
        });
        Api { child, addr }
    }

    /// One HTTP/1.1 request; returns the status and the body.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let mut conn = TcpStream::connect(&self.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            conn,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        conn.read_to_string(&mut text).unwrap();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {text:?}"));
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }
}

#[test]
fn without_a_token_it_listens_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = vessel(&["api", "--listen", "0.0.0.0:0", "--data-dir", s(dir.path())]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without authentication"),
        "{err}"
    );
    std::fs::write(dir.path().join("short"), "abc\n").unwrap();
    let out = vessel(&[
        "api",
        "--token-file",
        s(&dir.path().join("short")),
        "--data-dir",
        s(dir.path()),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 16"), "{err}");
}

#[test]
fn a_run_started_over_http_completes_and_the_token_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let work = copy_shop(dir.path());
    let token = "f00dfeedf00dfeedf00dfeed";
    std::fs::write(dir.path().join("token"), format!("{token}\n")).unwrap();
    let api = Api::start(
        &work,
        &[
            "--token-file",
            s(&dir.path().join("token")),
            "--workers",
            "2",
        ],
    );
    assert_eq!(api.request("GET", "/healthz", None, "").0, 200);
    let (status, body) = api.request("GET", "/ks", None, "");
    assert_eq!(status, 401, "{body}");
    let (status, body) = api.request("GET", "/ks", Some("not-the-token"), "");
    assert_eq!(status, 401, "{body}");

    let (status, body) = api.request(
        "POST",
        "/ks/shop/run",
        Some(token),
        r#"{"script_url": "script.yaml", "script_params_url": "params.yaml", "run_description": "over http"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["run_id"], 1, "{body}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = api.request("GET", "/ks/shop/run/1/summary", Some(token), "");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if v["data"]["run_status"] == "complete" {
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(work.join("out/customer_totals.csv").exists());
}

/// The pinned schemathesis release the fuzzing test uses.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The `st` command: `VESSEL_SCHEMATHESIS`, else a venv kept under `target/` (made here with
/// pip on first use, as the build makes its componentize-py venv).
fn schemathesis() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("VESSEL_SCHEMATHESIS").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let venv = vessel_tests::vessel_bin()
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/vessel")
        .join("st-venv");
    let st = venv.join("bin/st");
    if st.exists() {
        return st;
    }
    let ok = Command::new("python3")
        .args(["-m", "venv", s(&venv)])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", SCHEMATHESIS])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok && st.exists(),
        "cannot install {SCHEMATHESIS} into {} (python3 with venv and pip, and PyPI, are needed; \
         or point VESSEL_SCHEMATHESIS at an `st` command)",
        venv.display()
    );
    st
}

/// schemathesis generates requests from /openapi.json for every endpoint (a bounded number
/// per endpoint, fixed seed) and fails on any 5xx, any status, content type or body the
/// description does not document.
#[test]
fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    let st = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let work = copy_shop(dir.path());
    let token = "5ch3ma7h3515-t0k3n-0123";
    std::fs::write(dir.path().join("token"), token).unwrap();
    let api = Api::start(
        &work,
        &[
            "--token-file",
            s(&dir.path().join("token")),
            "--workers",
            "1",
        ],
    );
    // Something to look at: a finished run.
    let (status, body) = api.request(
        "POST",
        "/ks/shop/run",
        Some(token),
        r#"{"script_url": "script.yaml", "script_params_url": "params.yaml"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let out = Command::new(st)
        .args([
            "run",
            &format!("http://{}/openapi.json", api.addr),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--no-shrink",
            "--workers",
            "2",
        ])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .current_dir(dir.path())
        .output()
        .expect("schemathesis runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It did test: every operation, hundreds of cases.
    assert!(text.contains("Tested: 12"), "{text}");
    assert!(text.contains("passed"), "{text}");
}

/// With `--queue amqp://...` the API only records and publishes runs; a `vessel daemon` on the
/// same store and broker does the work.
#[test]
fn with_a_shared_queue_the_daemons_do_the_work() {
    let broker = crate::cluster::Broker::new("api");
    let dir = tempfile::tempdir().unwrap();
    let work = copy_shop(dir.path());
    let store = work.join("data");
    let daemon = crate::cluster::Daemon::start(
        &broker,
        &store,
        &dir.path().join("logs"),
        &["--workers", "2"],
    );
    let queue = broker.args();
    let queue: Vec<&str> = queue.iter().map(String::as_str).collect();
    let api = Api::start(&work, &queue);
    let (status, body) = api.request(
        "POST",
        "/ks/shop/run",
        None,
        r#"{"script_url": "script.yaml", "script_params_url": "params.yaml"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, body) = api.request("GET", "/ks/shop/run/1/summary", None, "");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if v["data"]["run_status"] == "complete" {
            break;
        }
        assert!(Instant::now() < deadline, "{body}\n{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, body) = api.request(
        "GET",
        "/ks/shop/run/1/node/order_details/batch_history",
        None,
        "",
    );
    assert!(
        body.contains(&daemon.instance),
        "the daemon did not process the batches: {body}"
    );
}
