//! Helpers of the distributed tests: `vessel daemon` processes on the real RabbitMQ at
//! 127.0.0.1:5672, each test with a queue prefix of its own, sharing a SQLite data directory
//! or a Cassandra store (the CQL test server, or a real node named by
//! `VESSEL_TEST_CASSANDRA`).

use crate::support::s;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vessel_store::{BatchEvent, NodeStatus, Storage};

/// What the processes of a test share as their store, given to them as `--store URL`.
pub trait StoreUrl {
    /// The `--store` value.
    fn store_url(&self) -> String;
}

impl StoreUrl for Path {
    fn store_url(&self) -> String {
        format!("sqlite:{}", s(self))
    }
}

impl StoreUrl for PathBuf {
    fn store_url(&self) -> String {
        self.as_path().store_url()
    }
}

/// A Cassandra store for one test: the CQL test server on 127.0.0.1 (on a runtime of its
/// own, so that it outlives any test runtime), or the real node `VESSEL_TEST_CASSANDRA`
/// names.
pub struct CqlStore {
    url: String,
    server: Option<(vessel_cql_testserver::TestServer, tokio::runtime::Runtime)>,
}

impl CqlStore {
    /// Starts a CQL test server, or uses the real node when one is named.
    pub fn start() -> CqlStore {
        if let Some(node) = std::env::var("VESSEL_TEST_CASSANDRA")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            return CqlStore {
                url: format!("cassandra://{node}/?consistency=one"),
                server: None,
            };
        }
        let (server, rt) = std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let server = rt
                .block_on(vessel_cql_testserver::TestServer::start())
                .expect("the CQL test server starts");
            (server, rt)
        })
        .join()
        .unwrap();
        CqlStore {
            url: format!("cassandra://{}/?consistency=one", server.addr()),
            server: Some((server, rt)),
        }
    }

    /// Closes every open connection to the server once (clients must reconnect). Returns
    /// false on a real node, which this cannot do.
    pub fn drop_connections(&self) -> bool {
        match &self.server {
            Some((server, _)) => {
                server.drop_connections();
                true
            }
            None => false,
        }
    }

    /// Connections the server has accepted so far (0 on a real node).
    pub fn connections_accepted(&self) -> u64 {
        self.server
            .as_ref()
            .map_or(0, |(server, _)| server.connections_accepted())
    }
}

impl StoreUrl for CqlStore {
    fn store_url(&self) -> String {
        self.url.clone()
    }
}

impl Drop for CqlStore {
    fn drop(&mut self) {
        if let Some((server, rt)) = self.server.take() {
            drop(server);
            // Allowed inside a test's runtime, unlike dropping it.
            rt.shutdown_background();
        }
    }
}

/// Opens the store a URL names, as the processes do.
pub async fn open_store(url: &str) -> Option<Arc<dyn Storage>> {
    match url.strip_prefix("sqlite:") {
        Some(dir) => vessel_store_sqlite::SqliteStorage::open(Path::new(dir))
            .ok()
            .map(|st| Arc::new(st) as Arc<dyn Storage>),
        None => vessel_store_cassandra::CassandraStorage::open(url)
            .await
            .ok()
            .map(|st| Arc::new(st) as Arc<dyn Storage>),
    }
}

/// The broker every machine of this project runs.
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Lease time given to every process of a test, so that a killed daemon's batches are redone
/// after seconds, not the default ten.
pub const LEASE: &str = "2";

/// A queue prefix of its own for one test; its queues are deleted when it is dropped.
pub struct Broker {
    pub prefix: String,
}

impl Broker {
    /// A fresh prefix. Fails the test, saying how to start RabbitMQ, when nothing listens on
    /// 127.0.0.1:5672.
    pub fn new(name: &str) -> Broker {
        assert!(
            std::net::TcpStream::connect_timeout(
                &"127.0.0.1:5672".parse().unwrap(),
                Duration::from_secs(2)
            )
            .is_ok(),
            "RabbitMQ must listen on 127.0.0.1:5672 (start it with `rabbitmq-server -detached`)"
        );
        let random = random_name();
        Broker {
            prefix: format!("vessel-test-{name}-{random}"),
        }
    }

    /// `--queue URL --queue-prefix P` for a command line.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--queue".into(),
            AMQP_URL.into(),
            "--queue-prefix".into(),
            self.prefix.clone(),
        ]
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        // Its own runtime on its own thread: drop may run inside a test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let q = vessel_queue_amqp::AmqpQueue::connect(
                    AMQP_URL,
                    vessel_queue_amqp::AmqpOptions {
                        prefix,
                        ..Default::default()
                    },
                )
                .await
                .ok()?;
                q.delete_all().await.ok()
            })
        })
        .join();
    }
}

/// A short random name part.
fn random_name() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// One `vessel daemon` process; killed when dropped.
pub struct Daemon {
    child: Child,
    log: PathBuf,
    /// Its identity in batch history.
    pub instance: String,
    /// Where it serves metrics, when asked to.
    pub metrics: Option<String>,
}

impl Daemon {
    /// Starts a daemon on `store` and waits until it works.
    pub fn start(
        broker: &Broker,
        store: &(impl StoreUrl + ?Sized),
        log_dir: &Path,
        extra: &[&str],
    ) -> Daemon {
        std::fs::create_dir_all(log_dir).unwrap();
        let log = log_dir.join(format!("daemon-{}.log", random_name()));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(vessel_tests::vessel_bin());
        cmd.arg("daemon")
            .args(["--store", &store.store_url()])
            .args(broker.args())
            .args(["--lease", LEASE])
            .args(extra)
            .env("VESSEL_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        let child = cmd.spawn().expect("vessel daemon starts");
        let mut d = Daemon {
            child,
            log,
            instance: String::new(),
            metrics: None,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = d.log_text();
            if let Some(line) = text.lines().find(|l| l.starts_with("vessel daemon ")) {
                let rest = &line["vessel daemon ".len()..];
                d.instance = rest.split(':').next().unwrap_or_default().to_string();
                d.metrics = line
                    .split("metrics at http://")
                    .nth(1)
                    .map(|a| a.trim_end_matches("/metrics").to_string());
                return d;
            }
            if let Some(status) = d.child.try_wait().unwrap() {
                panic!("vessel daemon exited with {status} before working:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "vessel daemon did not start within 60 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        let mut t = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut t);
        }
        t
    }

    /// SIGKILL: no chance to clean up, as when a machine dies.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal by name (`TERM`, `INT`) with kill(1): the workspace has no unsafe code.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{name} {pid} failed");
    }

    /// Waits for the process to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `vessel start-run`; returns the run id it printed.
pub fn start_run(
    broker: &Broker,
    store: &(impl StoreUrl + ?Sized),
    script: &Path,
    params: Option<&Path>,
    ks: &str,
    start_nodes: Option<&str>,
) -> i32 {
    let mut args: Vec<String> = vec![
        "start-run".into(),
        s(script).into(),
        "--keyspace".into(),
        ks.into(),
        "--store".into(),
        store.store_url(),
    ];
    args.extend(broker.args());
    if let Some(p) = params {
        args.extend(["--params".into(), s(p).into()]);
    }
    if let Some(n) = start_nodes {
        args.extend(["--start-nodes".into(), n.into()]);
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = crate::support::vessel_ok(&argv);
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("start-run printed {text:?}, not a run id"))
}

/// `vessel wait` with a timeout; returns exit code, stdout and stderr.
pub fn wait(
    store: &(impl StoreUrl + ?Sized),
    ks: &str,
    run_id: i32,
    json: bool,
) -> (Option<i32>, String, String) {
    let run = run_id.to_string();
    let store = store.store_url();
    let mut args = vec![
        "wait",
        "--keyspace",
        ks,
        "--run-id",
        &run,
        "--store",
        &store,
        "--timeout",
        "300",
    ];
    if json {
        args.push("--json");
    }
    let out = crate::support::vessel(&args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Batch history of a node straight from the store (cheap enough to poll).
pub async fn batches(
    store: &(impl StoreUrl + ?Sized),
    ks: &str,
    run_id: i32,
    node: &str,
) -> Vec<BatchEvent> {
    let Some(st) = open_store(&store.store_url()).await else {
        return Vec::new();
    };
    let Ok(k) = st.open_keyspace(ks, false).await else {
        return Vec::new();
    };
    k.batch_events(run_id, Some(node)).await.unwrap_or_default()
}

/// Batches that some instance started and that have no final status yet, with that instance.
pub fn in_progress(events: &[BatchEvent]) -> Vec<(i32, String)> {
    let mut latest: std::collections::BTreeMap<i32, &BatchEvent> = Default::default();
    for e in events {
        latest.insert(e.batch_idx, e);
    }
    latest
        .values()
        .filter(|e| e.status == NodeStatus::Start)
        .map(|e| (e.batch_idx, e.instance.clone()))
        .collect()
}

/// Finished batches of a node.
pub fn successes(events: &[BatchEvent]) -> usize {
    events
        .iter()
        .filter(|e| e.status == NodeStatus::Success)
        .count()
}

/// GET http://addr/metrics.
pub fn metrics(addr: &str) -> String {
    use std::io::Write as _;
    let mut conn = std::net::TcpStream::connect(addr).expect("metrics server listens");
    write!(
        conn,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

/// The sum of a metric's samples whose line contains every one of `parts`.
pub fn metric_sum(text: &str, name: &str, parts: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A plain lapin channel, for what the queue's API does not offer (raw bodies, queue depths).
async fn raw_channel() -> (lapin::Connection, lapin::Channel) {
    let conn = lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default())
        .await
        .expect("raw connection to RabbitMQ");
    let channel = conn.create_channel().await.expect("raw channel");
    (conn, channel)
}

/// Publishes `body` as it is to the daemons' queue, as a foreign producer would.
pub async fn publish_raw(broker: &Broker, body: &[u8]) {
    let (_conn, ch) = raw_channel().await;
    ch.basic_publish(
        broker.prefix.as_str().into(),
        "batches".into(),
        Default::default(),
        body,
        Default::default(),
    )
    .await
    .expect("raw publish");
}

/// Messages waiting in the dead-letter queue.
pub async fn dead_letters(broker: &Broker) -> u32 {
    let (_conn, ch) = raw_channel().await;
    let q = ch
        .queue_declare(
            format!("{}.dead", broker.prefix).as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("the dead-letter queue exists");
    q.message_count()
}
