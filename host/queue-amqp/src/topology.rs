//! Names, arguments and declarations of the exchange and queues of one prefix.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use std::time::Duration;

/// Routing key of the main queue on the prefix's exchange.
pub(crate) const MAIN_KEY: &str = "batches";
/// Routing key of the dead-letter queue on the prefix's exchange.
pub(crate) const DEAD_KEY: &str = "dead";
/// Header set on a copy re-published for a delayed retry: the broker's own `redelivered` flag
/// is false on such a copy, since to the broker it is a new message.
pub(crate) const REDELIVERED_HEADER: &str = "vessel-redelivered";

/// Shortest wait queue; shorter delays wait this long.
const MIN_WAIT_MS: u64 = 100;
/// Longest wait queue; longer delays wait this long. Retries are a safety net for batches
/// whose inputs are not ready yet, so an hour is already far more than any needs.
pub(crate) const MAX_WAIT_MS: u64 = 3_600_000;
/// How much longer than its TTL an unused wait queue lives. Publishing does not count as use
/// for `x-expires`, so every retry re-declares its wait queue, and the lease must outlast the
/// message just published with a wide margin.
const WAIT_EXPIRY_MARGIN_MS: u64 = 60_000;

/// The names of one prefix's exchange and queues.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// The direct exchange; also the prefix itself.
    pub(crate) exchange: String,
    /// `<prefix>.batches`, where workers consume.
    pub(crate) main: String,
    /// `<prefix>.dead`, where undecodable messages end up.
    pub(crate) dead: String,
}

impl Names {
    pub(crate) fn new(prefix: &str) -> Names {
        Names {
            exchange: prefix.to_string(),
            main: format!("{prefix}.batches"),
            dead: format!("{prefix}.dead"),
        }
    }

    /// `<prefix>.wait.<ms>`, the wait queue for one delay.
    pub(crate) fn wait(&self, ms: u64) -> String {
        format!("{}.wait.{ms}", self.exchange)
    }
}

/// The delay a retry actually waits: `delay` rounded up to one significant digit of
/// milliseconds (250 ms waits 300 ms, 1.2 s waits 2 s, 45 s waits 50 s), at least 100 ms and
/// at most an hour, so that a few dozen wait queues serve every delay.
pub(crate) fn wait_ms(delay: Duration) -> u64 {
    let ms = u64::try_from(delay.as_nanos().div_ceil(1_000_000)).unwrap_or(MAX_WAIT_MS);
    let ms = ms.clamp(MIN_WAIT_MS, MAX_WAIT_MS);
    let mut unit = 1;
    while ms / unit >= 10 {
        unit *= 10;
    }
    (ms.div_ceil(unit) * unit).min(MAX_WAIT_MS)
}

/// Every delay [`wait_ms`] can return, that is every wait queue a prefix can have.
pub(crate) fn all_wait_ms() -> impl Iterator<Item = u64> {
    let mut unit = 1;
    while unit * 10 <= MIN_WAIT_MS {
        unit *= 10;
    }
    std::iter::successors(Some(unit), |u| Some(u * 10))
        .take_while(|u| *u < MAX_WAIT_MS)
        .flat_map(|u| (1..10).map(move |d| d * u))
        .filter(|ms| (MIN_WAIT_MS..MAX_WAIT_MS).contains(ms))
        .chain(std::iter::once(MAX_WAIT_MS))
}

/// Properties of every published message: persistent (delivery mode 2), JSON, and flagged as
/// a redelivery when it is a retry's copy.
pub(crate) fn properties(redelivery: bool) -> BasicProperties {
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    if redelivery {
        let mut headers = FieldTable::default();
        headers.insert(REDELIVERED_HEADER.into(), AMQPValue::Boolean(true));
        props.with_headers(headers)
    } else {
        props
    }
}

/// True when a delivery carries the header of a retry's copy.
pub(crate) fn is_redelivery(props: &BasicProperties) -> bool {
    props.headers().as_ref().is_some_and(|h| {
        matches!(
            h.inner().get(REDELIVERED_HEADER),
            Some(AMQPValue::Boolean(true))
        )
    })
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn dead_letter_to(exchange: &str, routing_key: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(exchange.into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(routing_key.into()),
    );
    args
}

/// Declares the exchange, the main queue and the dead-letter queue, and binds them. Every
/// declaration is idempotent while the arguments stay the same.
pub(crate) async fn declare(channel: &Channel, names: &Names) -> lapin::Result<()> {
    channel
        .exchange_declare(
            names.exchange.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            names.dead.as_str().into(),
            durable_queue(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            names.dead.as_str().into(),
            names.exchange.as_str().into(),
            DEAD_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            names.main.as_str().into(),
            durable_queue(),
            dead_letter_to(&names.exchange, DEAD_KEY),
        )
        .await?;
    channel
        .queue_bind(
            names.main.as_str().into(),
            names.exchange.as_str().into(),
            MAIN_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Declares (or renews the lease of) the wait queue for `ms` and returns its name. Its
/// messages expire after `ms` and are dead-lettered to the main queue.
pub(crate) async fn declare_wait(
    channel: &Channel,
    names: &Names,
    ms: u64,
) -> lapin::Result<String> {
    let name = names.wait(ms);
    let mut args = dead_letter_to(&names.exchange, MAIN_KEY);
    let ttl = i64::try_from(ms).unwrap_or(i64::MAX);
    args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
    let expires = ms.saturating_mul(2).saturating_add(WAIT_EXPIRY_MARGIN_MS);
    args.insert(
        "x-expires".into(),
        AMQPValue::LongLongInt(i64::try_from(expires).unwrap_or(i64::MAX)),
    );
    channel
        .queue_declare(name.as_str().into(), durable_queue(), args)
        .await?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_to_one_significant_digit() {
        let ms = |m: u64| wait_ms(Duration::from_millis(m));
        assert_eq!(ms(0), 100);
        assert_eq!(ms(1), 100);
        assert_eq!(ms(100), 100);
        assert_eq!(ms(101), 200);
        assert_eq!(ms(250), 300);
        assert_eq!(ms(999), 1000);
        assert_eq!(ms(1000), 1000);
        assert_eq!(ms(1200), 2000);
        assert_eq!(ms(45_000), 50_000);
        assert_eq!(ms(3_000_001), MAX_WAIT_MS);
        assert_eq!(wait_ms(Duration::from_secs(86_400 * 365)), MAX_WAIT_MS);
        // A fraction of a millisecond still rounds up: a retry never comes back early.
        assert_eq!(wait_ms(Duration::from_micros(300_001)), 400);
    }

    #[test]
    fn every_rounded_delay_has_a_known_wait_queue() {
        let all: Vec<u64> = all_wait_ms().collect();
        assert_eq!(all.first(), Some(&100));
        assert_eq!(all.last(), Some(&MAX_WAIT_MS));
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
        assert_eq!(all.len(), 40, "{all:?}");
        let mut m = 0;
        while m <= MAX_WAIT_MS + 10 {
            let w = wait_ms(Duration::from_millis(m));
            assert!(w >= m.min(MAX_WAIT_MS), "{m} ms waits only {w} ms");
            assert!(
                all.contains(&w),
                "{m} ms waits {w} ms, not a known wait queue"
            );
            m = m * 11 / 10 + 7;
        }
    }

    #[test]
    fn retry_copies_are_flagged() {
        assert!(is_redelivery(&properties(true)));
        assert!(!is_redelivery(&properties(false)));
        assert_eq!(properties(false).delivery_mode(), &Some(2));
    }
}
