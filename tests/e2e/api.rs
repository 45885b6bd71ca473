//! `vessel api` as a process: where it may listen, its token file, and a run started and
//! followed over real HTTP on the embedded backend.

use crate::support::{s, vessel};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `vessel api` process; killed when dropped.
struct Api {
    child: Child,
    addr: String,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Api {
    /// Starts `vessel api` in `dir` and waits for the address it prints.
    fn start(dir: &Path, extra: &[&str]) -> Api {
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
    fn request(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
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
    let shop = vessel_tests::project_root().join("examples/shop");
    let work = dir.path().join("shop");
    std::fs::create_dir_all(work.join("data")).unwrap();
    for f in ["script.yaml", "params.yaml"] {
        std::fs::copy(shop.join(f), work.join(f)).unwrap();
    }
    for f in ["customers.csv", "orders.csv"] {
        std::fs::copy(shop.join("data").join(f), work.join("data").join(f)).unwrap();
    }
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
