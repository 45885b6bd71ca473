//! Connection settings, read from a `cassandra://` URL.
//!
//! ```text
//! cassandra://[user[:password]@]host1[:port][,host2[:port]...]/[?option=value&...]
//! ```
//!
//! Options: `replication`, `consistency`, `serial_consistency`, `request_timeout`,
//! `connect_timeout`, `write_concurrency`, `local_dc`, `tls`, `tls_ca`, `tls_cert`, `tls_key`,
//! `tls_verify` (see [`CassandraConfig`]). A user without a password in the URL takes it from
//! the `VESSEL_CASSANDRA_PASSWORD` environment variable, which keeps it out of settings files
//! and process listings.

use percent_encoding::percent_decode_str;
use scylla::statement::{Consistency, SerialConsistency};
use std::path::PathBuf;
use std::time::Duration;

/// The port of a contact point that names none.
pub const DEFAULT_PORT: u16 = 9042;

/// The environment variable a password comes from when the URL has a user but no password.
pub const PASSWORD_ENV: &str = "VESSEL_CASSANDRA_PASSWORD";

/// Every option the URL understands, for error messages.
const OPTIONS: &[&str] = &[
    "replication",
    "consistency",
    "serial_consistency",
    "request_timeout",
    "connect_timeout",
    "write_concurrency",
    "local_dc",
    "tls",
    "tls_ca",
    "tls_cert",
    "tls_key",
    "tls_verify",
];

/// A setting of the URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("store URL {url}: {message}")]
pub struct ConfigError {
    /// The URL, without its password.
    pub url: String,
    /// What is wrong and how to write it.
    pub message: String,
}

/// How to reach a cluster and how to use it.
#[derive(Clone, PartialEq)]
pub struct CassandraConfig {
    /// Contact points, `host:port`.
    pub hosts: Vec<String>,
    /// User name for password authentication.
    pub user: Option<String>,
    /// Password for `user`.
    pub password: Option<String>,
    /// The `replication` map of keyspaces this backend creates, as CQL.
    /// URL forms: `simple:N` (SimpleStrategy, N replicas; the default is `simple:1`),
    /// `dc1:3,dc2:2` (NetworkTopologyStrategy), or a CQL map `{'class': ...}`.
    pub replication: String,
    /// Consistency of reads and writes (`local_quorum` by default).
    pub consistency: Consistency,
    /// Serial consistency of lightweight transactions (`local_serial` by default).
    pub serial_consistency: SerialConsistency,
    /// Client-side limit of one request (10 s by default).
    pub request_timeout: Duration,
    /// Limit of opening a connection (5 s by default).
    pub connect_timeout: Duration,
    /// Requests one table write keeps in flight (32 by default).
    pub write_concurrency: usize,
    /// The datacenter whose nodes are preferred (token-aware inside it).
    pub local_dc: Option<String>,
    /// TLS, when enabled.
    pub tls: Option<TlsOptions>,
}

/// TLS settings of the connections.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    /// PEM file of the certificate authorities to trust (the system's when absent).
    pub ca: Option<PathBuf>,
    /// PEM client certificate, for clusters that require one.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// Whether the server's certificate is checked against the authorities (default true).
    pub verify: bool,
}

impl std::fmt::Debug for CassandraConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraConfig")
            .field("hosts", &self.hosts)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("replication", &self.replication)
            .field("consistency", &self.consistency)
            .field("serial_consistency", &self.serial_consistency)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("write_concurrency", &self.write_concurrency)
            .field("local_dc", &self.local_dc)
            .field("tls", &self.tls)
            .finish()
    }
}

impl CassandraConfig {
    /// Settings for the given contact points, every option at its default.
    pub fn new(hosts: Vec<String>) -> CassandraConfig {
        CassandraConfig {
            hosts,
            user: None,
            password: None,
            replication: replication_map("simple:1").unwrap_or_default(),
            consistency: Consistency::LocalQuorum,
            serial_consistency: SerialConsistency::LocalSerial,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            write_concurrency: 32,
            local_dc: None,
            tls: None,
        }
    }

    /// Parses a `cassandra://` (or `scylla://`) URL; a user without a password takes it from
    /// [`PASSWORD_ENV`].
    ///
    /// # Errors
    /// [`ConfigError`] naming the part that is wrong and the forms understood.
    pub fn from_url(url: &str) -> Result<CassandraConfig, ConfigError> {
        Self::from_url_with_env(url, |k| std::env::var(k).ok())
    }

    /// [`CassandraConfig::from_url`] with the environment given as a function (for tests).
    ///
    /// # Errors
    /// [`ConfigError`].
    pub fn from_url_with_env(
        url: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<CassandraConfig, ConfigError> {
        let err = |message: String| ConfigError {
            url: redact(url),
            message,
        };
        let rest = url
            .strip_prefix("cassandra://")
            .or_else(|| url.strip_prefix("scylla://"))
            .ok_or_else(|| err("write cassandra://host1[:port],host2[:port]/?options".into()))?;
        let (authority, query) = match rest.find(['/', '?']) {
            Some(i) => {
                let (a, q) = rest.split_at(i);
                (a, q.trim_start_matches('/').trim_start_matches('?'))
            }
            None => (rest, ""),
        };
        let (userinfo, hostlist) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let mut hosts = Vec::new();
        for h in hostlist.split(',') {
            let h = h.trim();
            if h.is_empty() {
                return Err(err(
                    "a contact point is empty; list them as host1[:port],host2[:port]".into(),
                ));
            }
            hosts.push(host_port(h).map_err(err)?);
        }
        let mut cfg = CassandraConfig::new(hosts);
        if let Some(ui) = userinfo {
            let (user, pass) = match ui.split_once(':') {
                Some((u, p)) => (decode(u), Some(decode(p))),
                None => (decode(ui), None),
            };
            if user.is_empty() {
                return Err(err("the user name before '@' is empty".into()));
            }
            cfg.password = pass.or_else(|| env(PASSWORD_ENV));
            if cfg.password.is_none() {
                return Err(err(format!(
                    "user '{user}' has no password: write user:password@ or set {PASSWORD_ENV}"
                )));
            }
            cfg.user = Some(user);
        }
        let mut tls = TlsOptions {
            ca: None,
            cert: None,
            key: None,
            verify: true,
        };
        let mut tls_on = false;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = v.trim().to_string();
            match k.as_ref() {
                "replication" => cfg.replication = replication_map(&v).map_err(err)?,
                "consistency" => cfg.consistency = consistency(&v).map_err(err)?,
                "serial_consistency" => {
                    cfg.serial_consistency = match v.to_ascii_lowercase().as_str() {
                        "serial" => SerialConsistency::Serial,
                        "local_serial" => SerialConsistency::LocalSerial,
                        _ => {
                            return Err(err(format!(
                                "serial_consistency={v}: write serial or local_serial"
                            )));
                        }
                    }
                }
                "request_timeout" => cfg.request_timeout = duration(&k, &v).map_err(err)?,
                "connect_timeout" => cfg.connect_timeout = duration(&k, &v).map_err(err)?,
                "write_concurrency" => {
                    cfg.write_concurrency = match v.parse::<usize>() {
                        Ok(n) if (1..=4096).contains(&n) => n,
                        _ => {
                            return Err(err(format!(
                                "write_concurrency={v}: write a number from 1 to 4096"
                            )));
                        }
                    }
                }
                "local_dc" if !v.is_empty() => cfg.local_dc = Some(v),
                "tls" => tls_on = boolean(&k, &v).map_err(err)?,
                "tls_ca" => (tls.ca, tls_on) = (Some(PathBuf::from(v)), true),
                "tls_cert" => (tls.cert, tls_on) = (Some(PathBuf::from(v)), true),
                "tls_key" => (tls.key, tls_on) = (Some(PathBuf::from(v)), true),
                "tls_verify" => tls.verify = boolean(&k, &v).map_err(err)?,
                other => {
                    let hint = OPTIONS
                        .iter()
                        .map(|o| (strsim::jaro_winkler(o, other), *o))
                        .filter(|(s, _)| *s > 0.8)
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                        .map(|(_, o)| format!(" (did you mean '{o}'?)"))
                        .unwrap_or_default();
                    return Err(err(format!(
                        "unknown option '{other}'{hint}; the options are {}",
                        OPTIONS.join(", ")
                    )));
                }
            }
        }
        if tls.cert.is_some() != tls.key.is_some() {
            return Err(err(
                "tls_cert and tls_key go together: give both or neither".into(),
            ));
        }
        if tls_on {
            cfg.tls = Some(tls);
        }
        Ok(cfg)
    }

    /// The settings as a URL without the password, for logs and messages.
    pub fn display(&self) -> String {
        let user = self
            .user
            .as_ref()
            .map(|u| format!("{u}:***@"))
            .unwrap_or_default();
        format!("cassandra://{user}{}/", self.hosts.join(","))
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → `host:port`.
fn host_port(h: &str) -> Result<String, String> {
    let bad_port = |p: &str| format!("port '{p}' of contact point '{h}' is not a number");
    if let Some(rest) = h.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("contact point '{h}' lacks the closing ']'"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().map_err(|_| bad_port(p))?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err(format!("contact point '{h}' is not [address]:port")),
        };
        return Ok(format!("[{addr}]:{port}"));
    }
    match h.rsplit_once(':') {
        Some((host, p)) => {
            let port = p.parse::<u16>().map_err(|_| bad_port(p))?;
            Ok(format!("{host}:{port}"))
        }
        None => Ok(format!("{h}:{DEFAULT_PORT}")),
    }
}

/// The CQL replication map of a `replication` option: `simple:N`, `dc1:N,dc2:M` or a CQL map.
///
/// # Errors
/// A message naming the form that is wrong.
pub fn replication_map(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.starts_with('{') {
        if !v.ends_with('}') || v.contains(';') {
            return Err(format!(
                "replication={v}: a CQL map is one {{...}} without ';'"
            ));
        }
        return Ok(v.to_string());
    }
    let factor = |s: &str| match s.trim().parse::<u32>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err(format!(
            "replication={v}: '{s}' is not a replication factor (1 to 100)"
        )),
    };
    if let Some(n) = v.strip_prefix("simple:") {
        return Ok(format!(
            "{{'class': 'SimpleStrategy', 'replication_factor': {}}}",
            factor(n)?
        ));
    }
    let mut parts = vec!["'class': 'NetworkTopologyStrategy'".to_string()];
    for dc in v.split(',') {
        let (name, n) = dc.split_once(':').ok_or_else(|| {
            format!(
                "replication={v}: write simple:N, dc1:N,dc2:M (NetworkTopologyStrategy) or a CQL map"
            )
        })?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "replication={v}: '{name}' is not a datacenter name"
            ));
        }
        parts.push(format!("'{name}': {}", factor(n)?));
    }
    Ok(format!("{{{}}}", parts.join(", ")))
}

fn consistency(v: &str) -> Result<Consistency, String> {
    Ok(match v.to_ascii_lowercase().as_str() {
        "any" => Consistency::Any,
        "one" => Consistency::One,
        "two" => Consistency::Two,
        "three" => Consistency::Three,
        "quorum" => Consistency::Quorum,
        "all" => Consistency::All,
        "local_quorum" => Consistency::LocalQuorum,
        "each_quorum" => Consistency::EachQuorum,
        "local_one" => Consistency::LocalOne,
        _ => {
            return Err(format!(
                "consistency={v}: write one of one, two, three, quorum, all, local_quorum, \
                 each_quorum, local_one, any"
            ));
        }
    })
}

/// `250ms`, `10s`, `2m`, or a bare number of seconds.
fn duration(key: &str, v: &str) -> Result<Duration, String> {
    let bad = || format!("{key}={v}: write a duration such as 500ms, 10s or 2m");
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    if !(0.001..=3600.0).contains(&secs) {
        return Err(format!("{key}={v}: use a duration from 1ms to 1h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn boolean(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{key}={v}: write true or false")),
    }
}

/// The URL with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}{}", &rest[at..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<CassandraConfig, String> {
        CassandraConfig::from_url_with_env(url, |k| {
            (k == PASSWORD_ENV).then(|| "from-env".to_string())
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn contact_points_take_the_default_port() {
        let c = parse("cassandra://a,b:9043,[::1],[::1]:7000").unwrap();
        assert_eq!(c.hosts, ["a:9042", "b:9043", "[::1]:9042", "[::1]:7000"]);
        assert_eq!(c.consistency, Consistency::LocalQuorum);
        assert_eq!(c.write_concurrency, 32);
        assert!(c.tls.is_none());
        assert_eq!(
            c.replication,
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        );
    }

    #[test]
    fn every_option_is_read() {
        let c = parse(
            "scylla://bob:s%40cret@h1/?replication=dc1:3,dc2:2&consistency=QUORUM&serial_consistency=serial\
             &request_timeout=1500ms&connect_timeout=2&write_concurrency=64&local_dc=dc1\
             &tls_ca=/etc/ca.pem&tls_cert=c.pem&tls_key=k.pem&tls_verify=false",
        )
        .unwrap();
        assert_eq!(c.user.as_deref(), Some("bob"));
        assert_eq!(c.password.as_deref(), Some("s@cret"));
        assert_eq!(
            c.replication,
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}"
        );
        assert_eq!(c.consistency, Consistency::Quorum);
        assert_eq!(c.serial_consistency, SerialConsistency::Serial);
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
        assert_eq!(c.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.write_concurrency, 64);
        assert_eq!(c.local_dc.as_deref(), Some("dc1"));
        let tls = c.tls.unwrap();
        assert_eq!(tls.ca, Some(PathBuf::from("/etc/ca.pem")));
        assert!(!tls.verify);
        assert!(!format!("{:?}", parse("cassandra://u:pw@h").unwrap()).contains("pw"));
    }

    #[test]
    fn a_user_without_password_reads_the_environment() {
        let c = parse("cassandra://alice@h").unwrap();
        assert_eq!(c.password.as_deref(), Some("from-env"));
        let e = CassandraConfig::from_url_with_env("cassandra://alice@h", |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(PASSWORD_ENV), "{e}");
    }

    #[test]
    fn mistakes_are_named() {
        for (url, words) in [
            (
                "cassandra://h/?consistancy=one",
                "did you mean 'consistency'",
            ),
            ("cassandra://h/?consistency=most", "consistency=most"),
            ("cassandra://h/?replication=simple:0", "replication factor"),
            ("cassandra://h/?replication=dc1", "NetworkTopologyStrategy"),
            ("cassandra://h/?replication={'a':1};DROP", "without ';'"),
            (
                "cassandra://h/?request_timeout=fast",
                "request_timeout=fast",
            ),
            ("cassandra://h/?write_concurrency=0", "1 to 4096"),
            ("cassandra://h/?tls_cert=c.pem", "go together"),
            ("cassandra://h,,g", "contact point is empty"),
            ("cassandra://h:port", "not a number"),
            ("http://h", "cassandra://"),
        ] {
            let e = parse(url).unwrap_err();
            assert!(e.contains(words), "{url}: {e}");
        }
        let e = parse("cassandra://u:secret@h/?bad=1").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn redaction_hides_only_the_password() {
        assert_eq!(
            redact("cassandra://u:p@h:1/?x=y"),
            "cassandra://u:***@h:1/?x=y"
        );
        assert_eq!(redact("cassandra://h/?a=b@c"), "cassandra://h/?a=b@c");
        let c = parse("cassandra://u:p@h").unwrap();
        assert_eq!(c.display(), "cassandra://u:***@h:9042/");
    }
}
