//! The connection to the broker: opened on demand, reopened with backoff after it broke.

use crate::AmqpOptions;
use crate::topology::{self, Names};
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use vessel_queue::{QueueError, Result};

/// One connection, shared by the publisher and every consumer of an `AmqpQueue` (each on its
/// own channel), replaced when it breaks.
pub(crate) struct Link {
    uri: AMQPUri,
    /// The broker's URL without the password, for messages and logs.
    pub(crate) broker: String,
    pub(crate) names: Names,
    pub(crate) options: AmqpOptions,
    connection_name: String,
    /// The tokio runtime the queue was created on, where lapin keeps its sockets and timers
    /// whichever thread a later reconnection happens on.
    pub(crate) runtime: tokio::runtime::Handle,
    /// False for a link that only deletes the topology, which must work even where declaring
    /// it would fail.
    declare: bool,
    conn: Mutex<Option<Connection>>,
}

/// Why one connection attempt failed.
enum Failure {
    /// Worth another attempt: the broker is unreachable or the connection broke.
    Transient(String),
    /// Another attempt would fail the same way.
    Fatal(QueueError),
}

impl Link {
    /// Checks the URL and the prefix; connects nothing yet. With `declare`, every new
    /// connection declares the prefix's exchange and queues.
    pub(crate) fn new(url: &str, options: AmqpOptions, declare: bool) -> Result<Link> {
        check_prefix(&options.prefix)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            QueueError::Config("the RabbitMQ queue must be created inside a tokio runtime".into())
        })?;
        let (uri, broker) = parse_url(url, &options)?;
        let connection_name = format!("vessel {} (pid {})", options.prefix, std::process::id());
        Ok(Link {
            uri,
            broker,
            names: Names::new(&options.prefix),
            options,
            connection_name,
            runtime,
            declare,
            conn: Mutex::new(None),
        })
    }

    /// The time by which a call that starts now must give up reconnecting.
    pub(crate) fn deadline(&self) -> Instant {
        after(self.options.reconnect_for)
    }

    /// A new channel on a live connection, connecting first when there is none or it broke.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when no connection could be made by `deadline`;
    /// [`QueueError::Config`] when the broker refuses the login or the vhost, or to declare
    /// the topology.
    pub(crate) async fn channel(&self, deadline: Instant) -> Result<Channel> {
        let mut slot = tokio::time::timeout_at(deadline, self.conn.lock())
            .await
            .map_err(|_| {
                self.unavailable(
                    "wait for the connection",
                    "another call was still reconnecting",
                )
            })?;
        if let Some(conn) = slot.as_ref()
            && conn.status().connected()
        {
            match conn.create_channel().await {
                Ok(channel) => return Ok(channel),
                Err(e) => tracing::warn!(
                    broker = %self.broker,
                    error = %e,
                    "cannot open a channel on the RabbitMQ connection; reconnecting"
                ),
            }
        }
        *slot = None;
        let conn = self.reconnect(deadline).await?;
        let channel = conn
            .create_channel()
            .await
            .map_err(|e| self.unavailable("open a channel", e))?;
        *slot = Some(conn);
        Ok(channel)
    }

    /// Connects and declares the topology, retrying with exponential backoff until `deadline`.
    async fn reconnect(&self, deadline: Instant) -> Result<Connection> {
        // A zero pause would turn the backoff into a busy loop.
        let mut pause = self.options.reconnect_min.max(Duration::from_millis(1));
        let mut attempts = 0u32;
        let started = Instant::now();
        loop {
            attempts += 1;
            let error = match tokio::time::timeout_at(deadline, self.open()).await {
                Ok(Ok(conn)) => {
                    if attempts > 1 {
                        tracing::info!(broker = %self.broker, attempts, "reconnected to RabbitMQ");
                    }
                    return Ok(conn);
                }
                Ok(Err(Failure::Fatal(e))) => return Err(e),
                Ok(Err(Failure::Transient(e))) => e,
                Err(_) => "the attempt timed out".to_string(),
            };
            if after(pause) >= deadline {
                return Err(QueueError::Unavailable(format!(
                    "cannot reach RabbitMQ at {}: {error} (gave up after {attempts} attempts in \
                     {:.1} s; is the broker running and the URL right?)",
                    self.broker,
                    started.elapsed().as_secs_f64()
                )));
            }
            tracing::warn!(
                broker = %self.broker,
                attempts,
                error = %error,
                retry_in_ms = duration_ms(pause),
                "cannot reach RabbitMQ; retrying"
            );
            tokio::time::sleep(pause).await;
            pause = pause.saturating_mul(2).min(self.options.reconnect_max);
        }
    }

    /// One attempt: a connection with the topology declared on it.
    async fn open(&self) -> std::result::Result<Connection, Failure> {
        let props = ConnectionProperties::default()
            .with_connection_name(self.connection_name.as_str().into());
        let runtime = async_rs::Runtime::tokio_with_handle(self.runtime.clone());
        let conn = Connection::connect_uri_with_runtime(self.uri.clone(), props, runtime)
            .await
            .map_err(|e| {
                // The broker answered and refused the login or the vhost: retrying within
                // this call would only repeat it (the next call tries again).
                if e.is_amqp_soft_error() {
                    Failure::Fatal(QueueError::Config(format!(
                        "RabbitMQ at {} refused the connection: {e}; check the user, password \
                         and vhost",
                        self.broker
                    )))
                } else {
                    Failure::Transient(e.to_string())
                }
            })?;
        if !self.declare {
            return Ok(conn);
        }
        let channel = conn
            .create_channel()
            .await
            .map_err(|e| Failure::Transient(e.to_string()))?;
        if let Err(e) = topology::declare(&channel, &self.names).await {
            // The broker answered and refused on the channel (existing queues with other
            // arguments, missing permissions): that will not change by retrying.
            if e.is_amqp_soft_error() {
                return Err(Failure::Fatal(QueueError::Config(format!(
                    "RabbitMQ at {} refused to declare the exchange and queues of prefix \
                     `{}`: {e}",
                    self.broker, self.options.prefix
                ))));
            }
            return Err(Failure::Transient(e.to_string()));
        }
        // Only this declaration used the channel; closing it is tidy, failing to is harmless.
        let _ = channel.close(200, "topology declared".into()).await;
        Ok(conn)
    }

    /// An `Unavailable` error that names the broker, what was being done and why it failed.
    pub(crate) fn unavailable(&self, doing: &str, why: impl std::fmt::Display) -> QueueError {
        QueueError::Unavailable(format!(
            "RabbitMQ at {}: cannot {doing}: {why}",
            self.broker
        ))
    }
}

/// Names become `<prefix>`, `<prefix>.batches`, `<prefix>.wait.3600000`: they must fit the
/// broker's 255-byte limit and stay clear of the reserved `amq.` names.
fn check_prefix(prefix: &str) -> Result<()> {
    let problem = if prefix.is_empty() {
        Some("is empty")
    } else if prefix.len() > 200 {
        Some("is longer than 200 bytes")
    } else if prefix.starts_with("amq.") {
        Some("starts with `amq.`, which RabbitMQ reserves")
    } else if prefix.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("contains white space or control characters")
    } else {
        None
    };
    match problem {
        Some(p) => Err(QueueError::Config(format!(
            "queue prefix `{prefix}` {p}; use a short name such as `vessel`"
        ))),
        None => Ok(()),
    }
}

/// Parses an `amqp://user:password@host:port/vhost` URL into what lapin connects to, and the
/// same URL without its password (and query) for messages.
fn parse_url(url: &str, options: &AmqpOptions) -> Result<(AMQPUri, String)> {
    let bad = |why: String| {
        QueueError::Config(format!(
            "bad RabbitMQ URL: {}; expected amqp://user:password@host:5672/vhost (with the \
             vhost `/` written %2f)",
            why.replace(url, "<the URL>")
        ))
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    let mut shown = parsed.clone();
    // Both only fail for URLs that cannot have credentials or a query, which are shown as is.
    let _ = shown.set_password(None);
    shown.set_query(None);
    let shown = shown.to_string();
    if parsed.scheme() != "amqp" {
        let why = if parsed.scheme() == "amqps" {
            "amqps:// (TLS) is not built into this backend".to_string()
        } else {
            format!("the scheme is `{}`, not amqp", parsed.scheme())
        };
        return Err(bad(format!("{why} ({shown})")));
    }
    let mut uri: AMQPUri = url.parse().map_err(bad)?;
    // lapin's parser keeps only domain names and connects to `localhost` for an IP address:
    // take the host from the URL itself.
    match parsed.host() {
        Some(url::Host::Domain(d)) => uri.authority.host = d.to_string(),
        Some(url::Host::Ipv4(ip)) => uri.authority.host = ip.to_string(),
        Some(url::Host::Ipv6(ip)) => uri.authority.host = ip.to_string(),
        None => return Err(bad(format!("no host in {shown}"))),
    }
    let heartbeat = options.heartbeat.as_secs().clamp(1, u64::from(u16::MAX));
    uri.query
        .heartbeat
        .get_or_insert(u16::try_from(heartbeat).unwrap_or(u16::MAX));
    uri.query
        .connection_timeout
        .get_or_insert(duration_ms(options.reconnect_for.min(CONNECT_TIMEOUT)));
    Ok((uri, shown))
}

/// The longest one TCP connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The instant `d` from now; options far too large to add mean a year.
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_ip_hosts_and_never_show_the_password() {
        let options = AmqpOptions::default();
        let (uri, shown) = parse_url("amqp://guest:s3cret@127.0.0.1:5672/%2f", &options).unwrap();
        assert_eq!(uri.authority.host, "127.0.0.1");
        assert_eq!(uri.authority.port, 5672);
        assert_eq!(uri.vhost, "/");
        assert_eq!(uri.query.heartbeat, Some(10));
        assert_eq!(shown, "amqp://guest@127.0.0.1:5672/%2f");

        let (uri, _) = parse_url("amqp://u:p@[::1]:5673/v?heartbeat=3", &options).unwrap();
        assert_eq!(uri.authority.host, "::1");
        assert_eq!(uri.query.heartbeat, Some(3));

        for bad in [
            "amqps://guest:s3cret@host/%2f",
            "http://guest:s3cret@host/%2f",
            "amqp://guest:s3cret@host:notaport/%2f",
            "amqp://guest:s3cret@host/%2f?heartbeat=x",
            "not a url s3cret",
        ] {
            let e = parse_url(bad, &options).unwrap_err().to_string();
            assert!(!e.contains("s3cret"), "{e}");
            assert!(e.contains("bad RabbitMQ URL"), "{e}");
        }
    }

    #[test]
    fn outside_a_tokio_runtime_is_a_configuration_error() {
        let made = Link::new(
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            AmqpOptions::default(),
            true,
        );
        assert!(matches!(made, Err(QueueError::Config(_))));
    }

    #[test]
    fn prefixes_must_make_valid_names() {
        assert!(check_prefix("vessel").is_ok());
        assert!(check_prefix("vessel-test-1234").is_ok());
        for bad in ["", "amq.x", "with space", &"x".repeat(201)] {
            assert!(
                matches!(check_prefix(bad), Err(QueueError::Config(_))),
                "{bad:?}"
            );
        }
    }
}
