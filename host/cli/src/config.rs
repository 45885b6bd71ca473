//! Settings of every command, and the one place that turns them into backends.
//!
//! Each setting comes, in this order of precedence, from a flag, an environment variable, the
//! settings file named by `--config` / `VESSEL_CONFIG` (TOML, every key optional), or its
//! default. docs/configuration.md lists them all. The file's relative paths are relative to
//! the file's folder.
//!
//! Storage and queue are named by URL: `--store sqlite:DIR` (the default: a data directory;
//! `--data-dir DIR` is short for it) or `--store cassandra://host1,host2:9042/?options`
//! (Cassandra or ScyllaDB), and `--queue memory` (the default, in this process only)
//! or `--queue amqp://user:pass@host:port/vhost` (RabbitMQ). No other module of the command
//! line names a concrete backend: they ask this one for a `Storage` and a `Queue`.

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use vessel_engine::plugins::PluginSettings;
use vessel_engine::{DEFAULT_LOOKUP_CACHE_BYTES, DEFAULT_MEMORY_BUDGET_BYTES, Settings};
use vessel_queue::Queue;
use vessel_store::Storage;

/// Where the data and the batch messages live; every command that touches a keyspace takes
/// these.
#[derive(Args, Debug, Clone, Default)]
pub struct BackendArgs {
    /// Settings file (TOML, see docs/configuration.md); flags and environment variables win
    /// over it.
    #[arg(long, env = "VESSEL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Storage URL: `sqlite:DIR` (default: the data directory) or
    /// `cassandra://host1,host2:9042/?replication=simple:3&consistency=local_quorum`.
    #[arg(long, env = "VESSEL_STORE", value_name = "URL", hide_env_values = true)]
    pub store: Option<String>,
    /// Short for `--store sqlite:DIR` (env VESSEL_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Queue URL: `memory` (this process only) or `amqp://user:pass@host:port/vhost`.
    #[arg(long, env = "VESSEL_QUEUE", value_name = "URL", hide_env_values = true)]
    pub queue: Option<String>,
    /// Prefix of the broker's queue and exchange names, so that several installations can
    /// share one broker (default: vessel).
    #[arg(long, env = "VESSEL_QUEUE_PREFIX", value_name = "NAME")]
    pub queue_prefix: Option<String>,
}

/// How a process that runs batches works: worker count, memory, plugins, leases. Their
/// environment variables are read by [`Config`], so that a bad value is reported with the
/// variable's name.
#[derive(Args, Debug, Clone, Default)]
pub struct WorkerArgs {
    /// Batches processed at the same time (env VESSEL_WORKERS; default: number of cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub workers: Option<u64>,
    /// Memory for in-memory copies of lookup tables, in MiB, shared by all workers; a lookup
    /// table that does not fit is read from storage. 0 turns the copies off (env
    /// VESSEL_LOOKUP_CACHE_MB; default: 1024).
    #[arg(long, value_name = "MIB")]
    pub lookup_cache_mb: Option<u64>,
    /// Memory for the buffers of the batches in progress, in MiB, shared by all workers: past
    /// it, sorted (`top`) file writers spill to temporary files beside their output and table
    /// writers write their index entries early (env VESSEL_MEMORY_BUDGET; default: 256).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_budget: Option<u64>,
    /// Seconds without a renewed lease after which a batch left "started" by a worker counts
    /// as abandoned and is redone by another (env VESSEL_LEASE; default: 10).
    #[arg(long, value_name = "SECONDS")]
    pub lease: Option<f64>,
    /// Folder of user plugins (env VESSEL_PLUGIN_DIR; default: `plugins/` beside the script).
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Folder for compiled plugin components (env VESSEL_CACHE_DIR; default: `components/` in
    /// the data directory).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Time limit of one plugin call, in ms, for plugins without their own `limits` (env
    /// VESSEL_PLUGIN_TIMEOUT_MS).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub plugin_timeout_ms: Option<u64>,
    /// Time limit of opening a plugin (instantiation and `open`), in ms (env
    /// VESSEL_PLUGIN_OPEN_TIMEOUT_MS).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub plugin_open_timeout_ms: Option<u64>,
    /// Memory limit of one plugin instance, in MiB (env VESSEL_PLUGIN_MEMORY_MB).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub plugin_memory_mb: Option<u64>,
}

/// The settings file: every key optional, unknown keys refused.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// `--store`.
    pub store: Option<String>,
    /// `--queue`.
    pub queue: Option<String>,
    /// `--queue-prefix`.
    pub queue_prefix: Option<String>,
    /// `--workers`.
    pub workers: Option<u64>,
    /// `--lookup-cache-mb`.
    pub lookup_cache_mb: Option<u64>,
    /// `--memory-budget`.
    pub memory_budget: Option<u64>,
    /// `--lease`.
    pub lease: Option<f64>,
    /// `--plugin-dir`.
    pub plugin_dir: Option<PathBuf>,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// `--plugin-timeout-ms`.
    pub plugin_timeout_ms: Option<u64>,
    /// `--plugin-open-timeout-ms`.
    pub plugin_open_timeout_ms: Option<u64>,
    /// `--plugin-memory-mb`.
    pub plugin_memory_mb: Option<u64>,
    /// `vessel daemon --metrics-addr`.
    pub metrics_addr: Option<String>,
    /// `vessel daemon --grace-period`.
    pub grace_period: Option<f64>,
}

/// Keys of the settings file, for "did you mean" hints.
const FILE_KEYS: &[&str] = &[
    "store",
    "queue",
    "queue_prefix",
    "workers",
    "lookup_cache_mb",
    "memory_budget",
    "lease",
    "plugin_dir",
    "cache_dir",
    "plugin_timeout_ms",
    "plugin_open_timeout_ms",
    "plugin_memory_mb",
    "metrics_addr",
    "grace_period",
];

/// The settings of one command: its flags (with their environment variables) over the file.
#[derive(Debug, Clone)]
pub struct Config {
    backend: BackendArgs,
    file: FileSettings,
    file_dir: PathBuf,
}

/// A storage URL, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreUrl {
    /// `sqlite:DIR`: one SQLite file per keyspace in DIR.
    Sqlite(PathBuf),
    /// `cassandra://hosts/?options`: a Cassandra or ScyllaDB cluster.
    Cassandra(Box<vessel_store_cassandra::CassandraConfig>),
}

impl StoreUrl {
    /// Parses `sqlite:DIR` (also `sqlite://DIR`) and `cassandra://hosts/?options` (also
    /// `scylla://`).
    ///
    /// # Errors
    /// A message that says which forms are understood.
    pub fn parse(url: &str) -> anyhow::Result<StoreUrl> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let dir = rest.strip_prefix("//").unwrap_or(rest);
            if dir.is_empty() {
                bail!("store URL {url:?} names no directory; write sqlite:DIR");
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(dir)));
        }
        if url.starts_with("cassandra://") || url.starts_with("scylla://") {
            let cfg = vessel_store_cassandra::CassandraConfig::from_url(url)?;
            return Ok(StoreUrl::Cassandra(Box::new(cfg)));
        }
        bail!(
            "store URL {:?} is not understood; write sqlite:DIR (a data directory) or \
             cassandra://host1[:port],host2[:port]/?options",
            redact(url)
        )
    }

    /// The folder for caches that belong with this store (compiled plugins).
    fn cache_base(&self) -> PathBuf {
        match self {
            StoreUrl::Sqlite(dir) => dir.clone(),
            // Compiled plugins are per machine: the user's cache folder.
            StoreUrl::Cassandra(_) => std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(std::env::temp_dir)
                .join("vessel"),
        }
    }

    /// How the store is named in messages and commands a person may copy.
    pub fn display(&self) -> String {
        match self {
            StoreUrl::Sqlite(dir) => format!("sqlite:{}", dir.display()),
            StoreUrl::Cassandra(cfg) => cfg.display(),
        }
    }
}

/// A queue URL, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueUrl {
    /// This process only.
    Memory,
    /// RabbitMQ (or another AMQP 0.9.1 broker).
    Amqp(String),
}

impl QueueUrl {
    /// Parses `memory` or `amqp://...` / `amqps://...`.
    ///
    /// # Errors
    /// A message that says which forms are understood.
    pub fn parse(url: &str) -> anyhow::Result<QueueUrl> {
        match url {
            "memory" | "memory:" => Ok(QueueUrl::Memory),
            u if u.starts_with("amqp://") || u.starts_with("amqps://") => {
                Ok(QueueUrl::Amqp(u.to_string()))
            }
            u => bail!(
                "queue URL {:?} is not understood; write memory or amqp://user:pass@host:port/vhost",
                redact(u)
            ),
        }
    }

    /// The URL without its password, for messages.
    pub fn display(&self) -> String {
        match self {
            QueueUrl::Memory => "memory".into(),
            QueueUrl::Amqp(u) => redact(u),
        }
    }
}

/// `scheme://user:***@host...`: a URL fit for logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.split_once('@') {
        Some(parts) => parts,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

impl Config {
    /// Reads the settings file, if one is named.
    ///
    /// # Errors
    /// An unreadable file, bad TOML, or an unknown key (with the key it resembles).
    pub fn load(backend: &BackendArgs) -> anyhow::Result<Config> {
        let Some(path) = &backend.config else {
            return Ok(Config {
                backend: backend.clone(),
                file: FileSettings::default(),
                file_dir: PathBuf::from("."),
            });
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read settings file {}", path.display()))?;
        let file = parse_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let file_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(Config {
            backend: backend.clone(),
            file,
            file_dir,
        })
    }

    /// A path from the settings file, relative to the file's folder.
    fn file_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.file_dir.join(p)
        }
    }

    /// The store to use; `default_dir` is the data directory when nothing names one.
    ///
    /// # Errors
    /// A malformed URL.
    pub fn store_url(&self, default_dir: impl FnOnce() -> PathBuf) -> anyhow::Result<StoreUrl> {
        if let Some(url) = &self.backend.store {
            return StoreUrl::parse(url);
        }
        if let Some(dir) = &self.backend.data_dir {
            return Ok(StoreUrl::Sqlite(dir.clone()));
        }
        if let Some(dir) = std::env::var_os("VESSEL_DATA_DIR").filter(|d| !d.is_empty()) {
            return Ok(StoreUrl::Sqlite(PathBuf::from(dir)));
        }
        if let Some(url) = &self.file.store {
            // Paths in the file are relative to the file.
            return match StoreUrl::parse(url)? {
                StoreUrl::Sqlite(dir) => Ok(StoreUrl::Sqlite(self.file_path(&dir))),
                StoreUrl::Cassandra(mut cfg) => {
                    if let Some(tls) = &mut cfg.tls {
                        for path in [&mut tls.ca, &mut tls.cert, &mut tls.key]
                            .into_iter()
                            .flatten()
                        {
                            *path = self.file_path(path);
                        }
                    }
                    Ok(StoreUrl::Cassandra(cfg))
                }
            };
        }
        Ok(StoreUrl::Sqlite(default_dir()))
    }

    /// The queue to use (default: `memory`).
    ///
    /// # Errors
    /// A malformed URL.
    pub fn queue_url(&self) -> anyhow::Result<QueueUrl> {
        match self.backend.queue.as_ref().or(self.file.queue.as_ref()) {
            Some(u) => QueueUrl::parse(u),
            None => Ok(QueueUrl::Memory),
        }
    }

    /// The queue name prefix (default: `vessel`).
    pub fn queue_prefix(&self) -> String {
        self.backend
            .queue_prefix
            .clone()
            .or_else(|| self.file.queue_prefix.clone())
            .unwrap_or_else(|| "vessel".into())
    }

    /// A value from the flag, else its environment variable, else the file.
    fn pick<T: Clone + std::str::FromStr>(
        flag: &Option<T>,
        env: &str,
        file: &Option<T>,
    ) -> anyhow::Result<Option<T>> {
        if flag.is_some() {
            return Ok(flag.clone());
        }
        match std::env::var(env) {
            Ok(text) if !text.trim().is_empty() => match text.trim().parse::<T>() {
                Ok(v) => Ok(Some(v)),
                Err(_) => bail!("{env}={text:?} is not valid; give a number"),
            },
            _ => Ok(file.clone()),
        }
    }

    /// A whole number from the flag, its variable or the file, within `range`.
    fn pick_within(
        flag: &Option<u64>,
        env: &str,
        file: &Option<u64>,
        range: std::ops::RangeInclusive<u64>,
    ) -> anyhow::Result<Option<u64>> {
        let key = env.trim_start_matches("VESSEL_").to_ascii_lowercase();
        let bad = |shown: &str| {
            anyhow::anyhow!(
                "{shown} is not valid; give a whole number from {} to {}",
                range.start(),
                range.end()
            )
        };
        // The value and how to name it in a message: as the user wrote it, where they wrote it.
        let (value, shown) = if let Some(v) = *flag {
            (v, format!("--{} {v}", key.replace('_', "-")))
        } else if let Some(text) = std::env::var(env).ok().filter(|t| !t.trim().is_empty()) {
            let shown = format!("{env}={text:?}");
            (text.trim().parse().map_err(|_| bad(&shown))?, shown)
        } else if let Some(v) = *file {
            (v, format!("{key} = {v}"))
        } else {
            return Ok(None);
        };
        if range.contains(&value) {
            Ok(Some(value))
        } else {
            Err(bad(&shown))
        }
    }

    /// The worker count.
    ///
    /// # Errors
    /// A bad value in the environment or the file.
    pub fn workers(&self, w: &WorkerArgs) -> anyhow::Result<usize> {
        Ok(
            Self::pick_within(&w.workers, "VESSEL_WORKERS", &self.file.workers, 1..=1024)?
                .map(|n| usize::try_from(n).unwrap_or(1))
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        )
    }

    /// The engine settings of a process running batches against `store`.
    ///
    /// # Errors
    /// Values out of range in the settings file.
    pub fn engine_settings(&self, w: &WorkerArgs, store: &StoreUrl) -> anyhow::Result<Settings> {
        let f = &self.file;
        let mib = |v: u64| usize::try_from(v.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        let lookup = Self::pick_within(
            &w.lookup_cache_mb,
            "VESSEL_LOOKUP_CACHE_MB",
            &f.lookup_cache_mb,
            0..=(1 << 30),
        )?
        .map_or(DEFAULT_LOOKUP_CACHE_BYTES, mib);
        let budget = Self::pick_within(
            &w.memory_budget,
            "VESSEL_MEMORY_BUDGET",
            &f.memory_budget,
            1..=(1 << 30),
        )?
        .map_or(DEFAULT_MEMORY_BUDGET_BYTES, mib);
        let lease = match Self::pick(&w.lease, "VESSEL_LEASE", &f.lease)? {
            Some(s) if s.is_finite() && (0.1..=3600.0).contains(&s) => Duration::from_secs_f64(s),
            Some(s) => bail!("the lease must be from 0.1 to 3600 seconds, not {s}"),
            None => vessel_engine::liveness::DEFAULT_LEASE,
        };
        let mut limits = vessel_wasm::Limits::default();
        if let Some(ms) = Self::pick_within(
            &w.plugin_timeout_ms,
            "VESSEL_PLUGIN_TIMEOUT_MS",
            &f.plugin_timeout_ms,
            1..=3_600_000,
        )? {
            limits.timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = Self::pick_within(
            &w.plugin_open_timeout_ms,
            "VESSEL_PLUGIN_OPEN_TIMEOUT_MS",
            &f.plugin_open_timeout_ms,
            1..=3_600_000,
        )? {
            limits.open_timeout = Duration::from_millis(ms);
        }
        if let Some(mb) = Self::pick_within(
            &w.plugin_memory_mb,
            "VESSEL_PLUGIN_MEMORY_MB",
            &f.plugin_memory_mb,
            1..=65_536,
        )? {
            limits.memory_bytes = usize::try_from(mb << 20).unwrap_or(usize::MAX);
        }
        let env_path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let cache_dir = w
            .cache_dir
            .clone()
            .or_else(|| env_path("VESSEL_CACHE_DIR"))
            .or_else(|| f.cache_dir.as_deref().map(|p| self.file_path(p)))
            .unwrap_or_else(|| store.cache_base().join("components"));
        let plugin_dir = w
            .plugin_dir
            .clone()
            .or_else(|| env_path("VESSEL_PLUGIN_DIR"))
            .or_else(|| f.plugin_dir.as_deref().map(|p| self.file_path(p)));
        Ok(Settings {
            lookup_cache_bytes: lookup,
            plugins: PluginSettings {
                cache_dir: Some(cache_dir),
                plugin_dir,
                limits,
            },
            memory_budget_bytes: budget,
            concurrent_batches: self.workers(w)?,
            lease,
            ..Settings::default()
        })
    }

    /// `vessel daemon --metrics-addr`, else the file's.
    ///
    /// # Errors
    /// An address that is not `HOST:PORT`.
    pub fn metrics_addr(&self, flag: Option<&str>) -> anyhow::Result<Option<SocketAddr>> {
        let Some(text) = flag.or(self.file.metrics_addr.as_deref()) else {
            return Ok(None);
        };
        let addr = std::net::ToSocketAddrs::to_socket_addrs(text)
            .ok()
            .and_then(|mut a| a.next())
            .with_context(|| format!("metrics address {text:?} is not HOST:PORT"))?;
        Ok(Some(addr))
    }

    /// `vessel daemon --grace-period`, else the file's, else 30 s.
    ///
    /// # Errors
    /// A negative or absurd value.
    pub fn grace_period(&self, flag: Option<f64>) -> anyhow::Result<Duration> {
        match flag.or(self.file.grace_period) {
            None => Ok(Duration::from_secs(30)),
            Some(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => {
                Ok(Duration::from_secs_f64(s))
            }
            Some(s) => bail!("grace period must be from 0 to 86400 seconds, not {s}"),
        }
    }
}

/// Parses the settings file, naming an unknown key's likely intended spelling.
fn parse_file(text: &str) -> anyhow::Result<FileSettings> {
    match toml::from_str::<FileSettings>(text) {
        Ok(f) => Ok(f),
        Err(e) => {
            let msg = e.to_string();
            let hint = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.contains("unknown field"))
                .and_then(|key| {
                    FILE_KEYS
                        .iter()
                        .map(|k| (strsim::jaro_winkler(k, key), *k))
                        .filter(|(score, _)| *score > 0.8)
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
                })
                .unwrap_or_default();
            bail!("{}{hint}", msg.trim_end())
        }
    }
}

/// Opens the store.
///
/// # Errors
/// The store cannot be opened (the message names it).
pub async fn open_store(url: &StoreUrl) -> anyhow::Result<Arc<dyn Storage>> {
    match url {
        StoreUrl::Sqlite(dir) => {
            let s = vessel_store_sqlite::SqliteStorage::open(dir)
                .with_context(|| format!("cannot open data directory {}", dir.display()))?;
            Ok(Arc::new(s))
        }
        StoreUrl::Cassandra(cfg) => {
            let s = vessel_store_cassandra::CassandraStorage::connect((**cfg).clone()).await?;
            Ok(Arc::new(s))
        }
    }
}

/// Opens the queue. `memory` makes a new in-process queue.
///
/// # Errors
/// The broker cannot be reached (the message names it, without the password).
pub async fn open_queue(url: &QueueUrl, prefix: &str) -> anyhow::Result<Arc<dyn Queue>> {
    match url {
        QueueUrl::Memory => Ok(Arc::new(vessel_queue::MemoryQueue::new())),
        QueueUrl::Amqp(u) => {
            let q = vessel_queue_amqp::AmqpQueue::connect(
                u,
                vessel_queue_amqp::AmqpOptions::with_prefix(prefix),
            )
            .await
            .with_context(|| format!("cannot use the queue at {}", redact(u)))?;
            Ok(Arc::new(q))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_bad_ones_say_what_is_understood() {
        assert_eq!(
            StoreUrl::parse("sqlite:data").unwrap(),
            StoreUrl::Sqlite("data".into())
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///var/v").unwrap(),
            StoreUrl::Sqlite("/var/v".into())
        );
        let e = StoreUrl::parse("/var/v").unwrap_err().to_string();
        assert!(e.contains("sqlite:DIR"), "{e}");
        assert!(StoreUrl::parse("sqlite:").is_err());
        match StoreUrl::parse("cassandra://u:pw@a,b:9043/?consistency=one").unwrap() {
            StoreUrl::Cassandra(c) => {
                assert_eq!(c.hosts, ["a:9042", "b:9043"]);
                assert_eq!(
                    StoreUrl::Cassandra(c).display(),
                    "cassandra://u:***@a:9042,b:9043/"
                );
            }
            other => panic!("{other:?}"),
        }
        let e = StoreUrl::parse("cassandra://h/?consistency=most")
            .unwrap_err()
            .to_string();
        assert!(e.contains("consistency=most"), "{e}");
        assert_eq!(QueueUrl::parse("memory").unwrap(), QueueUrl::Memory);
        let amqp = QueueUrl::parse("amqp://u:secret@h:5672/%2f").unwrap();
        assert_eq!(amqp.display(), "amqp://u:***@h:5672/%2f");
        let e = QueueUrl::parse("kafka://u:secret@h")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret") && e.contains("amqp://"), "{e}");
    }

    #[test]
    fn flags_win_over_the_file_and_file_paths_are_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vessel.toml");
        std::fs::write(
            &path,
            "store = \"sqlite:data\"\nqueue = \"amqp://g:g@h/%2f\"\nworkers = 3\nlease = 2.5\n",
        )
        .unwrap();
        let mut backend = BackendArgs {
            config: Some(path),
            ..Default::default()
        };
        let c = Config::load(&backend).unwrap();
        assert_eq!(
            c.store_url(|| "unused".into()).unwrap(),
            StoreUrl::Sqlite(dir.path().join("data"))
        );
        assert_eq!(
            c.queue_url().unwrap(),
            QueueUrl::Amqp("amqp://g:g@h/%2f".into())
        );
        let w = WorkerArgs::default();
        assert_eq!(c.workers(&w).unwrap(), 3);
        let s = c
            .engine_settings(&w, &c.store_url(|| "x".into()).unwrap())
            .unwrap();
        assert_eq!(s.lease, Duration::from_millis(2500));
        assert_eq!(s.concurrent_batches, 3);
        backend.queue = Some("memory".into());
        backend.store = Some("sqlite:other".into());
        let c = Config::load(&backend).unwrap();
        assert_eq!(c.queue_url().unwrap(), QueueUrl::Memory);
        assert_eq!(
            c.store_url(|| "x".into()).unwrap(),
            StoreUrl::Sqlite("other".into())
        );
        let w = WorkerArgs {
            workers: Some(5),
            ..Default::default()
        };
        assert_eq!(c.workers(&w).unwrap(), 5);
    }

    #[test]
    fn a_misspelt_key_names_the_file_line_and_the_intended_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vessel.toml");
        std::fs::write(&path, "store = \"sqlite:d\"\nworkerz = 2\n").unwrap();
        let e = Config::load(&BackendArgs {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("vessel.toml"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("did you mean `workers`"), "{e}");
        std::fs::write(&path, "workers = 0\n").unwrap();
        let c = Config::load(&BackendArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap();
        let e = c.workers(&WorkerArgs::default()).unwrap_err().to_string();
        assert!(e.contains("workers = 0 is not valid"), "{e}");
    }
}
