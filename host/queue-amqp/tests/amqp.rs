//! The shared queue contract and RabbitMQ-specific checks, against the broker on
//! 127.0.0.1:5672 (guest/guest). Every test works under a prefix of its own and deletes its
//! exchange and queues at the end, so tests running at once (here or elsewhere on the same
//! broker) never see each other's messages. Without a broker the tests fail and say how to
//! start one.

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::{Proxy, fresh_prefix, raw_channel, scoped};
use tokio::time::{Instant, timeout};
use vessel_queue::{BatchMessage, Consumer, Delivery, Queue, QueueError};
use vessel_queue_amqp::{AmqpOptions, AmqpQueue};

/// How long to wait for something that must happen.
const PATIENCE: Duration = Duration::from_secs(20);
/// How long to wait to be sure that nothing happens.
const QUIET: Duration = Duration::from_millis(500);

macro_rules! contract_tests {
    ($($check:ident),* $(,)?) => {
        mod contract_suite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::scoped(|scope| async move {
                        vessel_queue::contract::$check(&*scope).await;
                    })
                    .await;
                }
            )*
        }
    };
}

contract_tests!(
    publish_consume_ack,
    fifo_for_one_consumer,
    retry_later_waits_for_the_delay,
    retry_without_delay,
    waiting_retries_do_not_block,
    dropped_delivery_is_redelivered,
    crashed_consumer_loses_nothing,
    consumers_share_the_work,
    queues_are_isolated,
);

// ---- helpers -------------------------------------------------------------------------------

fn message(i: i32) -> BatchMessage {
    BatchMessage::new("amqp_ks", 1, "node", i, 100, i64::from(i), i64::from(i))
}

async fn next(c: &mut dyn Consumer, what: &str) -> Delivery {
    match timeout(PATIENCE, c.next()).await {
        Ok(Ok(Some(d))) => d,
        Ok(Ok(None)) => panic!("the queue ended while waiting for {what}"),
        Ok(Err(e)) => panic!("next failed while waiting for {what}: {e}"),
        Err(_) => panic!("{what} did not arrive within {PATIENCE:?}"),
    }
}

/// The next delivery, allowing the errors that report a broken channel before the consumer
/// reconnects.
async fn next_after_reconnect(c: &mut dyn Consumer, what: &str) -> Delivery {
    let deadline = Instant::now() + PATIENCE;
    let mut errors = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, c.next()).await {
            Ok(Ok(Some(d))) => return d,
            Ok(Ok(None)) => panic!("the queue ended while waiting for {what}"),
            Ok(Err(e)) => {
                assert!(
                    matches!(e, QueueError::Unavailable(_)),
                    "unexpected error kind: {e:?}"
                );
                errors.push(e.to_string());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => panic!("{what} did not arrive in time; errors on the way: {errors:#?}"),
        }
    }
}

async fn nothing_within(c: &mut dyn Consumer, wait: Duration, when: &str) {
    if let Ok(Ok(Some(d))) = timeout(wait, c.next()).await {
        panic!("unexpected delivery {when}: {:?}", d.message());
    }
}

/// Waits until the consumer reports its broken channel.
async fn wait_for_consumer_error(c: &mut dyn Consumer, what: &str) -> QueueError {
    match timeout(PATIENCE, c.next()).await {
        Ok(Err(e)) => e,
        Ok(Ok(Some(d))) => panic!("{what}: a delivery instead of an error: {:?}", d.message()),
        Ok(Ok(None)) => panic!("{what}: the queue ended instead of failing"),
        Err(_) => panic!("{what}: the consumer did not notice within {PATIENCE:?}"),
    }
}

// ---- topology ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_is_durable_named_by_the_prefix_and_deleted_whole() {
    scoped(|scope| async move {
        let q = scope.queue().await;
        let prefix = q.prefix().to_string();
        assert_eq!(q.backend(), "amqp");
        // A retry creates the wait queue of its delay.
        q.publish(vec![message(0)]).await.unwrap();
        let mut c = q.consumer().await.unwrap();
        let d = next(c.as_mut(), "the message").await;
        d.retry_later(Duration::from_millis(250)).await.unwrap();
        let d = next(c.as_mut(), "the retried message").await;
        d.ack().await.unwrap();
        drop(c);

        let listing = support::rabbitmqctl(&[
            "-q",
            "list_queues",
            "--no-table-headers",
            "name",
            "durable",
            "arguments",
        ]);
        let mine: Vec<&str> = listing.lines().filter(|l| l.contains(&prefix)).collect();
        let line_of = |name: &str| {
            mine.iter()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no queue {name} in {mine:#?}"))
                .to_string()
        };
        let main = line_of(&format!("{prefix}.batches"));
        assert!(main.contains("true"), "main queue not durable: {main}");
        assert!(main.contains("x-dead-letter-exchange"), "{main}");
        let dead = line_of(&format!("{prefix}.dead"));
        assert!(
            dead.contains("true"),
            "dead-letter queue not durable: {dead}"
        );
        let wait = line_of(&format!("{prefix}.wait.300"));
        assert!(wait.contains("true"), "wait queue not durable: {wait}");
        assert!(
            wait.contains("x-message-ttl") && wait.contains("300"),
            "{wait}"
        );
        assert!(wait.contains("x-expires"), "{wait}");
        assert_eq!(mine.len(), 3, "unexpected queues: {mine:#?}");

        q.delete_all().await.unwrap();
        let listing = support::rabbitmqctl(&["-q", "list_queues", "--no-table-headers", "name"]);
        let left: Vec<&str> = listing.lines().filter(|l| l.contains(&prefix)).collect();
        assert!(left.is_empty(), "queues left after delete_all: {left:?}");
        let exchanges =
            support::rabbitmqctl(&["-q", "list_exchanges", "--no-table-headers", "name"]);
        assert!(
            !exchanges.lines().any(|l| l.trim() == prefix),
            "exchange {prefix} left after delete_all"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_topology_is_a_configuration_error() {
    scoped(|scope| async move {
        let prefix = fresh_prefix();
        scope.track(&prefix);
        // Someone declared the main queue with other arguments (no dead-letter exchange).
        let (_conn, raw) = raw_channel().await;
        raw.queue_declare(
            format!("{prefix}.batches").as_str().into(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .unwrap();
        let started = Instant::now();
        let e = AmqpQueue::connect(support::URL, AmqpOptions::with_prefix(&prefix))
            .await
            .expect_err("connecting over a conflicting queue must fail");
        assert!(matches!(e, QueueError::Config(_)), "{e:?}");
        assert!(e.to_string().contains(&prefix), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a refused declaration is not worth retrying: took {:?}",
            started.elapsed()
        );
        // An operator can still remove it all, without declaring anything first.
        AmqpQueue::delete_prefix(support::URL, AmqpOptions::with_prefix(&prefix))
            .await
            .unwrap();
        let gone = raw
            .queue_declare(
                format!("{prefix}.batches").as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await;
        assert!(gone.is_err(), "{prefix}.batches still exists");
    })
    .await;
}

// ---- bad messages --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_message_goes_to_the_dead_letter_queue() {
    let logs = support::captured_logs();
    scoped(|scope| async move {
        let q = scope.queue().await;
        let prefix = q.prefix().to_string();
        let mut c = q.consumer().await.unwrap();
        let garbage = b"this is not a batch message {".to_vec();
        let (_conn, raw) = raw_channel().await;
        raw.basic_publish(
            prefix.as_str().into(),
            "batches".into(),
            Default::default(),
            &garbage,
            Default::default(),
        )
        .await
        .unwrap();
        let good = message(1);
        q.publish(vec![good.clone()]).await.unwrap();

        // The consumer skips the bad body without failing and goes on with the next message.
        let d = next(c.as_mut(), "the good message after the bad one").await;
        assert_eq!(d.message(), &good);
        d.ack().await.unwrap();

        let dead = format!("{prefix}.dead");
        let deadline = Instant::now() + PATIENCE;
        let kept = loop {
            let got = raw
                .basic_get(
                    dead.as_str().into(),
                    lapin::options::BasicGetOptions { no_ack: true },
                )
                .await
                .unwrap();
            if let Some(m) = got {
                break m;
            }
            assert!(Instant::now() < deadline, "nothing arrived in {dead}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(kept.delivery.data, garbage);

        let text = String::from_utf8_lossy(&support::captured_logs().lock().unwrap()).into_owned();
        let line = text
            .lines()
            .find(|l| l.contains(&format!("{prefix}.batches")) && l.contains("ERROR"))
            .unwrap_or_else(|| panic!("no error logged for {prefix}.batches in:\n{text}"));
        assert!(line.contains("delivery_tag="), "{line}");
        assert!(line.contains("this is not a batch message {"), "{line}");
        assert!(line.contains(&dead), "{line}");
    })
    .await;
    drop(logs);
}

// ---- publisher confirms --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_refused_by_the_broker_is_an_error() {
    scoped(|scope| async move {
        let q = scope.queue().await;
        let prefix = q.prefix().to_string();
        // A policy on this test's main queue only: one message at most, refuse the rest.
        scope.track_policy(&prefix);
        support::rabbitmqctl(&[
            "set_policy",
            "--apply-to",
            "queues",
            "--priority",
            "100",
            &prefix,
            &format!("^{}\\.batches$", regex_escape(&prefix)),
            r#"{"max-length":1,"overflow":"reject-publish"}"#,
        ]);
        // The policy reaches the queue asynchronously: publish until it bites.
        let deadline = Instant::now() + PATIENCE;
        let e = loop {
            match q.publish(vec![message(0), message(1)]).await {
                Err(e) => break e,
                Ok(()) => {
                    assert!(
                        Instant::now() < deadline,
                        "the broker never refused a message"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        assert!(matches!(e, QueueError::Unavailable(_)), "{e:?}");
        assert!(e.to_string().contains("refused"), "{e}");
        // A refusal is not a broken channel: publishing goes on working once there is room.
        support::rabbitmqctl(&["clear_policy", &prefix]);
        let deadline = Instant::now() + PATIENCE;
        while let Err(e) = q.publish(vec![message(2)]).await {
            assert!(
                Instant::now() < deadline,
                "publishing never worked again: {e}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_that_no_queue_takes_is_an_error() {
    scoped(|scope| async move {
        let q = scope.queue().await;
        let (_conn, raw) = raw_channel().await;
        raw.queue_delete(
            format!("{}.batches", q.prefix()).as_str().into(),
            Default::default(),
        )
        .await
        .unwrap();
        let e = q
            .publish(vec![message(0)])
            .await
            .expect_err("a message no queue takes must not be reported as published");
        assert!(e.to_string().contains("could not route 1 of 1"), "{e}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_is_named_without_the_password() {
    // A port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = AmqpOptions {
        reconnect_for: Duration::from_millis(600),
        ..AmqpOptions::with_prefix(fresh_prefix())
    };
    let started = Instant::now();
    let e = AmqpQueue::connect(
        &format!("amqp://guest:s3cret@127.0.0.1:{port}/%2f"),
        options,
    )
    .await
    .expect_err("nothing listens there");
    assert!(matches!(e, QueueError::Unavailable(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("amqp://guest@127.0.0.1:{port}/")),
        "{text}"
    );
    assert!(text.contains("cannot reach RabbitMQ"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the call is bounded by reconnect_for: took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_reported_without_it() {
    support::require_broker();
    let options = AmqpOptions {
        reconnect_for: Duration::from_millis(600),
        ..AmqpOptions::with_prefix(fresh_prefix())
    };
    let e = AmqpQueue::connect("amqp://guest:wr0ng-s3cret@127.0.0.1:5672/%2f", options)
        .await
        .expect_err("the broker must refuse a wrong password");
    assert!(matches!(e, QueueError::Config(_)), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("amqp://guest@127.0.0.1:5672/"), "{text}");
    assert!(text.contains("ACCESS_REFUSED"), "{text}");
    assert!(!text.contains("wr0ng-s3cret"), "{text}");
}

// ---- connection loss -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_closed_by_the_broker_is_reopened() {
    scoped(|scope| async move {
        let q = scope.queue().await;
        let mut c = q.consumer().await.unwrap();
        let first = message(0);
        q.publish(vec![first.clone()]).await.unwrap();
        let held = next(c.as_mut(), "the first message").await;
        assert!(!held.redelivered());

        let closed = support::close_connections_of(q.prefix());
        assert!(closed >= 1, "no connection named after {}", q.prefix());
        wait_for_consumer_error(c.as_mut(), "after the broker closed the connection").await;
        // The delivery's channel is gone: acking it fails, without panicking, and the broker
        // has requeued the message.
        let acked = held.ack().await;
        assert!(
            matches!(acked, Err(QueueError::Unavailable(_))),
            "{acked:?}"
        );

        let second = message(1);
        q.publish(vec![second.clone()]).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            let d = next_after_reconnect(c.as_mut(), "a message after the reconnection").await;
            got.push((d.message().clone(), d.redelivered()));
            d.ack().await.unwrap();
        }
        got.sort_by_key(|(m, _)| m.batch_idx);
        assert_eq!(got, vec![(first, true), (second, false)]);
        nothing_within(c.as_mut(), QUIET, "after both messages").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connection_fails_calls_until_the_broker_is_back() {
    scoped(|scope| async move {
        let mut proxy = Proxy::start().await;
        let options = AmqpOptions {
            reconnect_for: Duration::from_millis(800),
            reconnect_min: Duration::from_millis(50),
            ..AmqpOptions::with_prefix(fresh_prefix())
        };
        let q = scope.queue_with(&proxy.url(), options).await;
        let mut c = q.consumer().await.unwrap();
        let first = message(0);
        q.publish(vec![first.clone()]).await.unwrap();
        let held = next(c.as_mut(), "the first message").await;

        proxy.cut();
        let e = wait_for_consumer_error(c.as_mut(), "after the connection was cut").await;
        assert!(matches!(e, QueueError::Unavailable(_)), "{e:?}");
        assert!(
            held.ack().await.is_err(),
            "ack on a dead connection succeeded"
        );

        // The broker cannot be reached: publishing fails, within the call's bound, and says
        // where it tried.
        let started = Instant::now();
        let e = timeout(PATIENCE, q.publish(vec![message(1)]))
            .await
            .expect("publish must give up by itself")
            .expect_err("nothing can confirm the message");
        assert!(
            e.to_string()
                .contains(&format!("guest@127.0.0.1:{}", proxy.port())),
            "{e}"
        );
        assert!(!e.to_string().contains("guest:guest"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let e = timeout(PATIENCE, c.next())
            .await
            .expect("next must give up by itself");
        assert!(
            matches!(e, Err(QueueError::Unavailable(_))),
            "{:?}",
            e.map(|d| d.map(|d| d.message().clone()))
        );

        proxy.restore().await;
        let second = message(1);
        q.publish(vec![second.clone()]).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            let d = next_after_reconnect(c.as_mut(), "a message after the broker is back").await;
            got.push((d.message().clone(), d.redelivered()));
            d.ack().await.unwrap();
        }
        got.sort_by_key(|(m, _)| m.batch_idx);
        assert_eq!(got, vec![(first, true), (second, false)]);
        nothing_within(c.as_mut(), QUIET, "after both messages").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_broker_is_noticed_by_the_heartbeat() {
    scoped(|scope| async move {
        let proxy = Proxy::start().await;
        let options = AmqpOptions {
            heartbeat: Duration::from_secs(1),
            reconnect_for: Duration::from_millis(500),
            ..AmqpOptions::with_prefix(fresh_prefix())
        };
        let q = scope.queue_with(&proxy.url(), options).await;
        let mut c = q.consumer().await.unwrap();
        // The connection stays open but nothing comes through, as with a hung broker or a
        // dropped network: only missing heartbeats can tell.
        proxy.freeze();
        let e = wait_for_consumer_error(c.as_mut(), "after the broker went silent").await;
        assert!(matches!(e, QueueError::Unavailable(_)), "{e:?}");
        drop(proxy);
    })
    .await;
}

// ---- settling ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_abandoned_half_way_gives_the_message_back() {
    scoped(|scope| async move {
        let q = scope.queue().await;
        let mut c = q.consumer().await.unwrap();
        let sent = message(0);
        q.publish(vec![sent.clone()]).await.unwrap();
        let d = next(c.as_mut(), "the message").await;
        // Dropped while it talks to the broker, as when a worker's task is cancelled: the
        // message must not stay unacknowledged on the channel, which would stall the
        // consumer (prefetch 1).
        let abandoned = timeout(
            Duration::from_micros(1),
            d.retry_later(Duration::from_secs(3600)),
        )
        .await;
        assert!(abandoned.is_err(), "the retry finished in a microsecond");
        let again = next(c.as_mut(), "the message of the abandoned retry").await;
        assert_eq!(again.message(), &sent);
        assert!(again.redelivered());
        again.ack().await.unwrap();
    })
    .await;
}

// ---- prefetch ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_holding_a_delivery_gets_no_second_one() {
    scoped(|scope| async move {
        let q = scope.queue().await;
        let mut busy = q.consumer().await.unwrap();
        q.publish(vec![message(0), message(1)]).await.unwrap();
        let held = next(busy.as_mut(), "the first message").await;
        assert_eq!(held.message().batch_idx, 0);
        // Prefetch 1: the broker sends this consumer nothing more while it holds one...
        nothing_within(
            busy.as_mut(),
            QUIET,
            "to a consumer holding an unacked delivery",
        )
        .await;
        // ...and gives the next message to another consumer.
        let mut idle = q.consumer().await.unwrap();
        let other = next(idle.as_mut(), "the second message, on the idle consumer").await;
        assert_eq!(other.message().batch_idx, 1);
        other.ack().await.unwrap();
        held.ack().await.unwrap();
        nothing_within(busy.as_mut(), QUIET, "after both acks").await;
        nothing_within(idle.as_mut(), Duration::from_millis(100), "after both acks").await;
    })
    .await;
}

/// Clones of a queue share its connection and its messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_one_queue() {
    scoped(|scope| async move {
        let q = scope.queue().await;
        let shared: Arc<dyn Queue> = Arc::new(q.clone());
        shared.publish(vec![message(5)]).await.unwrap();
        let mut c = q.consumer().await.unwrap();
        let d = next(c.as_mut(), "the message published through a clone").await;
        assert_eq!(d.message().batch_idx, 5);
        d.ack().await.unwrap();
    })
    .await;
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$-".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
