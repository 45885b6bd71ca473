//! Helpers of the RabbitMQ tests: the broker check, per-test prefixes and their cleanup, a raw
//! lapin channel, `rabbitmqctl`, a TCP proxy that can cut or freeze a connection, and a log
//! capture.

use async_trait::async_trait;
use lapin::{Channel, Connection, ConnectionProperties};
use std::future::Future;
use std::io::Write;
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use vessel_queue::Queue;
use vessel_queue::contract::QueueFactory;
use vessel_queue_amqp::{AmqpOptions, AmqpQueue};

pub const BROKER: &str = "127.0.0.1:5672";
pub const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Fails the test, saying how to start the broker, when nothing listens on its port.
pub fn require_broker() {
    let addr: SocketAddr = BROKER.parse().expect("broker address");
    if let Err(e) = StdTcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        panic!(
            "RabbitMQ is not reachable on {BROKER} ({e}). These tests need a broker with the \
             guest/guest account: start it with `rabbitmq-server -detached`, then run the tests \
             again."
        );
    }
}

/// A prefix no other test uses.
pub fn fresh_prefix() -> String {
    format!("vessel-test-{}", uuid::Uuid::new_v4().simple())
}

/// What a test created on the broker, removed when the test ends, passed or failed.
#[derive(Default)]
pub struct Scope {
    prefixes: Mutex<Vec<String>>,
    policies: Mutex<Vec<String>>,
}

impl Scope {
    /// Remembers a prefix to delete at the end.
    pub fn track(&self, prefix: &str) {
        lock(&self.prefixes).push(prefix.to_string());
    }

    /// Remembers a policy to clear at the end.
    pub fn track_policy(&self, name: &str) {
        lock(&self.policies).push(name.to_string());
    }

    /// A queue on the broker with a fresh prefix.
    pub async fn queue(&self) -> AmqpQueue {
        self.queue_with(URL, AmqpOptions::with_prefix(fresh_prefix()))
            .await
    }

    /// A queue on `url` with `options`; its prefix is deleted at the end.
    pub async fn queue_with(&self, url: &str, options: AmqpOptions) -> AmqpQueue {
        self.track(&options.prefix);
        match AmqpQueue::connect(url, options).await {
            Ok(q) => q,
            Err(e) => panic!("connecting to RabbitMQ failed: {e}"),
        }
    }

    async fn clean(&self) {
        let policies: Vec<_> = lock(&self.policies).drain(..).collect();
        for policy in policies {
            // Cleared already when the test got that far.
            let _ = try_rabbitmqctl(&["clear_policy", &policy]);
        }
        let prefixes: Vec<_> = lock(&self.prefixes).drain(..).collect();
        for prefix in prefixes {
            // Through a connection of its own: the test's may point at a proxy that is gone.
            let cleaned = AmqpQueue::delete_prefix(URL, AmqpOptions::with_prefix(&prefix)).await;
            if let Err(e) = cleaned {
                eprintln!("could not delete the queues of {prefix}: {e}");
            }
        }
    }
}

#[async_trait]
impl QueueFactory for Scope {
    async fn fresh(&self) -> Arc<dyn Queue> {
        Arc::new(self.queue().await)
    }
}

/// Runs a test body with a scope, then deletes what it created on the broker (also when the
/// body panicked), then passes on the body's panic.
pub async fn scoped<F, Fut>(body: F)
where
    F: FnOnce(Arc<Scope>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    require_broker();
    let scope = Arc::new(Scope::default());
    let outcome = tokio::spawn(body(scope.clone())).await;
    scope.clean().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the test task did not finish: {e}"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A plain lapin channel on the broker, for what the queue's API does not offer (raw bodies,
/// inspecting queues).
pub async fn raw_channel() -> (Connection, Channel) {
    let conn = Connection::connect(URL, ConnectionProperties::default())
        .await
        .expect("raw connection to RabbitMQ");
    let channel = conn.create_channel().await.expect("raw channel");
    (conn, channel)
}

/// Runs `rabbitmqctl` and returns its standard output; fails the test when it fails.
pub fn rabbitmqctl(args: &[&str]) -> String {
    try_rabbitmqctl(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `rabbitmqctl` and returns its standard output, or what went wrong.
pub fn try_rabbitmqctl(args: &[&str]) -> Result<String, String> {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run rabbitmqctl {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rabbitmqctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Closes, from the broker's side, every connection whose client-provided name contains
/// `prefix`, and returns how many there were.
pub fn close_connections_of(prefix: &str) -> usize {
    let listing = rabbitmqctl(&[
        "-q",
        "list_connections",
        "--no-table-headers",
        "pid",
        "client_properties",
    ]);
    let pids: Vec<&str> = listing
        .lines()
        .filter(|line| line.contains(prefix))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    for pid in &pids {
        rabbitmqctl(&["close_connection", pid, "closed by a vessel test"]);
    }
    pids.len()
}

/// A TCP proxy in front of the broker, which a test can cut (close every connection and
/// refuse new ones), freeze (keep connections open but pass nothing, as a broker that hangs)
/// and restore, without touching the broker itself.
pub struct Proxy {
    port: u16,
    state: watch::Sender<ProxyState>,
    server: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ProxyState {
    Open,
    Frozen,
    Cut,
}

impl Proxy {
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let port = listener.local_addr().expect("proxy address").port();
        let (state, _) = watch::channel(ProxyState::Open);
        let mut proxy = Proxy {
            port,
            state,
            server: None,
        };
        proxy.serve(listener);
        proxy
    }

    /// The broker's URL through the proxy.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every connection and stops listening: new connections are refused.
    pub fn cut(&mut self) {
        self.state.send_replace(ProxyState::Cut);
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Keeps every connection open but passes no byte either way.
    pub fn freeze(&self) {
        self.state.send_replace(ProxyState::Frozen);
    }

    /// Listens again on the same port after a cut.
    pub async fn restore(&mut self) {
        self.state.send_replace(ProxyState::Open);
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("proxy bind again on the same port");
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let state = self.state.subscribe();
        self.server = Some(tokio::spawn(async move {
            // Owned here, so that aborting the server drops every connection with it.
            let mut links = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let state = state.clone();
                links.spawn(async move {
                    if let Ok(upstream) = TcpStream::connect(BROKER).await {
                        forward_both(client, upstream, state).await;
                    }
                });
            }
        }));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn forward_both(client: TcpStream, upstream: TcpStream, state: watch::Receiver<ProxyState>) {
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    tokio::select! {
        _ = forward(cr, uw, state.clone()) => {}
        _ = forward(ur, cw, state.clone()) => {}
        _ = wait_for(state, ProxyState::Cut) => {}
    }
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut state: watch::Receiver<ProxyState>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // While frozen, hold the bytes: the peer sees a connection that says nothing.
        if state.wait_for(|s| *s != ProxyState::Frozen).await.is_err() {
            return;
        }
        if *state.borrow() == ProxyState::Cut || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn wait_for(mut state: watch::Receiver<ProxyState>, wanted: ProxyState) {
    let _ = state.wait_for(|s| *s == wanted).await;
}

/// Every log line of the test process, for the checks that look for one.
pub fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        // Another test binary's subscriber cannot be here: this one is process-wide.
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
