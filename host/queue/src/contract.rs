//! The queue contract suite, written once and run against every backend.
//!
//! Each check asks a [`QueueFactory`] for fresh queues that hold nothing and that no other
//! check (or test running at the same time) can see, publishes its own messages, and panics
//! with a message naming the check and what differed, as test helpers do. A backend's tests
//! call each check on its own, so that every check shows up as a separate test, or
//! [`run_all`].
//!
//! The checks wait on real time (a backend such as RabbitMQ keeps its own clock), with delays
//! of a few hundred milliseconds. Only lower bounds on time are asserted (a retried message
//! must not come back early); everything else is checked on outcomes, with generous timeouts,
//! so that a busy machine makes the suite slower but not red.
//!
//! A factory can be a closure returning a future:
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use vessel_queue::{MemoryQueue, Queue};
//! let factory = || async { Arc::new(MemoryQueue::new()) as Arc<dyn Queue> };
//! vessel_queue::contract::run_all(&factory).await;
//! # }
//! ```

use crate::{BatchMessage, Consumer, Delivery, Queue, Result};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, timeout};

/// Makes fresh, isolated queues for the checks.
#[async_trait]
pub trait QueueFactory: Send + Sync {
    /// A queue that holds no message and shares none with any queue returned before.
    async fn fresh(&self) -> Arc<dyn Queue>;
}

#[async_trait]
impl<F, Fut> QueueFactory for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Arc<dyn Queue>> + Send,
{
    async fn fresh(&self) -> Arc<dyn Queue> {
        self().await
    }
}

/// How long a check waits to be sure that nothing more arrives.
const QUIET: Duration = Duration::from_millis(300);
/// How long a check waits for a message that must arrive; only a broken backend needs it all.
const PATIENCE: Duration = Duration::from_secs(20);
/// Clock slack allowed when checking that a retried message did not come back early.
const EARLY_SLACK: Duration = Duration::from_millis(15);

/// Runs every check, one after the other.
///
/// # Panics
/// When a check fails; the message names the check and the difference.
pub async fn run_all(factory: &dyn QueueFactory) {
    publish_consume_ack(factory).await;
    fifo_for_one_consumer(factory).await;
    retry_later_waits_for_the_delay(factory).await;
    retry_without_delay(factory).await;
    waiting_retries_do_not_block(factory).await;
    dropped_delivery_is_redelivered(factory).await;
    crashed_consumer_loses_nothing(factory).await;
    consumers_share_the_work(factory).await;
    queues_are_isolated(factory).await;
}

/// A published message comes back equal in every field, not flagged as redelivered; an
/// acknowledged message never comes back, to the same consumer or to a new one. Publishing
/// nothing succeeds.
///
/// # Panics
/// When the check fails.
pub async fn publish_consume_ack(factory: &dyn QueueFactory) {
    let check = "publish_consume_ack";
    let q = factory.fresh().await;
    ok(q.publish(Vec::new()).await, check, "publishing no message");
    let sent = full_message();
    ok(q.publish(vec![sent.clone()]).await, check, "publish");
    let mut c = ok(q.consumer().await, check, "consumer");
    let d = next_within(c.as_mut(), PATIENCE, check, "the published message").await;
    assert_eq!(
        d.message(),
        &sent,
        "{check}: the message changed on its way"
    );
    assert!(
        !d.redelivered(),
        "{check}: a first delivery is flagged as redelivered"
    );
    ok(d.ack().await, check, "ack");
    nothing_within(c.as_mut(), QUIET, check, "after the ack").await;
    drop(c);
    let mut other = ok(q.consumer().await, check, "second consumer");
    nothing_within(
        other.as_mut(),
        QUIET,
        check,
        "on a new consumer after the ack",
    )
    .await;
}

/// One consumer receives messages in the order they were published, across publish calls.
///
/// # Panics
/// When the check fails.
pub async fn fifo_for_one_consumer(factory: &dyn QueueFactory) {
    let check = "fifo_for_one_consumer";
    let q = factory.fresh().await;
    let first: Vec<_> = (0..10).map(|i| message(check, i)).collect();
    let second: Vec<_> = (10..15).map(|i| message(check, i)).collect();
    ok(q.publish(first.clone()).await, check, "first publish");
    ok(q.publish(second.clone()).await, check, "second publish");
    let mut c = ok(q.consumer().await, check, "consumer");
    let mut got = Vec::new();
    for _ in 0..15 {
        let d = next_within(c.as_mut(), PATIENCE, check, "the next message in order").await;
        got.push(d.message().id.clone());
        ok(d.ack().await, check, "ack");
    }
    let sent: Vec<_> = first.iter().chain(&second).map(|m| m.id.clone()).collect();
    assert_eq!(got, sent, "{check}: messages came out of order");
    nothing_within(c.as_mut(), QUIET, check, "after all messages").await;
}

/// `retry_later(d)` brings the message back no earlier than `d`, flagged as redelivered, and a
/// message retried twice still comes back once each time.
///
/// # Panics
/// When the check fails.
pub async fn retry_later_waits_for_the_delay(factory: &dyn QueueFactory) {
    let check = "retry_later_waits_for_the_delay";
    let delay = Duration::from_millis(400);
    let q = factory.fresh().await;
    let sent = message(check, 0);
    ok(q.publish(vec![sent.clone()]).await, check, "publish");
    let mut c = ok(q.consumer().await, check, "consumer");
    let mut d = next_within(c.as_mut(), PATIENCE, check, "the published message").await;
    for round in 1..=2 {
        let asked = Instant::now();
        ok(d.retry_later(delay).await, check, "retry_later");
        d = next_within(c.as_mut(), delay + PATIENCE, check, "the retried message").await;
        let waited = asked.elapsed();
        assert!(
            waited + EARLY_SLACK >= delay,
            "{check}: retry {round} came back after {waited:?}, before the {delay:?} asked for"
        );
        assert_eq!(
            d.message(),
            &sent,
            "{check}: retry {round} changed the message"
        );
        assert!(
            d.redelivered(),
            "{check}: retry {round} is not flagged as redelivered"
        );
    }
    ok(d.ack().await, check, "ack");
    nothing_within(
        c.as_mut(),
        QUIET,
        check,
        "after the ack of a retried message",
    )
    .await;
}

/// `retry_later(Duration::ZERO)` gives the message back at once, flagged as redelivered.
///
/// # Panics
/// When the check fails.
pub async fn retry_without_delay(factory: &dyn QueueFactory) {
    let check = "retry_without_delay";
    let q = factory.fresh().await;
    let sent = message(check, 0);
    ok(q.publish(vec![sent.clone()]).await, check, "publish");
    let mut c = ok(q.consumer().await, check, "consumer");
    let d = next_within(c.as_mut(), PATIENCE, check, "the published message").await;
    ok(d.retry_later(Duration::ZERO).await, check, "retry_later(0)");
    let d = next_within(c.as_mut(), PATIENCE, check, "the message retried at once").await;
    assert_eq!(d.message(), &sent, "{check}: the retry changed the message");
    assert!(
        d.redelivered(),
        "{check}: the retry is not flagged as redelivered"
    );
    ok(d.ack().await, check, "ack");
    nothing_within(c.as_mut(), QUIET, check, "after the ack").await;
}

/// Messages waiting for a retry block neither the messages behind them nor each other: the
/// next ready message is delivered at once, and a short retry comes back before a long one
/// asked for earlier.
///
/// # Panics
/// When the check fails.
pub async fn waiting_retries_do_not_block(factory: &dyn QueueFactory) {
    let check = "waiting_retries_do_not_block";
    let long = Duration::from_millis(1000);
    let short = Duration::from_millis(300);
    let q = factory.fresh().await;
    let sent: Vec<_> = (0..3).map(|i| message(check, i)).collect();
    ok(q.publish(sent.clone()).await, check, "publish");
    let mut c = ok(q.consumer().await, check, "consumer");

    let a = next_within(c.as_mut(), PATIENCE, check, "the first message").await;
    assert_eq!(a.message().id, sent[0].id, "{check}: wrong first message");
    let long_asked = Instant::now();
    ok(a.retry_later(long).await, check, "retry_later(long)");
    let b = next_within(c.as_mut(), PATIENCE, check, "the second message").await;
    assert_eq!(
        b.message().id,
        sent[1].id,
        "{check}: the message after one waiting for a retry did not come next"
    );
    let short_asked = Instant::now();
    ok(b.retry_later(short).await, check, "retry_later(short)");

    let third = next_within(c.as_mut(), PATIENCE, check, "the third message").await;
    assert_eq!(
        third.message().id,
        sent[2].id,
        "{check}: a message behind two waiting retries did not come next"
    );
    assert!(
        !third.redelivered(),
        "{check}: the third message is flagged as redelivered"
    );
    ok(third.ack().await, check, "ack of the third message");

    let b = next_within(c.as_mut(), short + PATIENCE, check, "the short retry").await;
    assert_eq!(
        b.message().id,
        sent[1].id,
        "{check}: the short retry did not come back before the long one"
    );
    assert!(
        short_asked.elapsed() + EARLY_SLACK >= short,
        "{check}: short retry came back early"
    );
    assert!(
        b.redelivered(),
        "{check}: the short retry is not flagged as redelivered"
    );
    ok(b.ack().await, check, "ack of the short retry");

    let a = next_within(c.as_mut(), long + PATIENCE, check, "the long retry").await;
    assert_eq!(
        a.message().id,
        sent[0].id,
        "{check}: wrong message after the short retry"
    );
    assert!(
        long_asked.elapsed() + EARLY_SLACK >= long,
        "{check}: long retry came back early"
    );
    assert!(
        a.redelivered(),
        "{check}: the long retry is not flagged as redelivered"
    );
    ok(a.ack().await, check, "ack of the long retry");
    nothing_within(
        c.as_mut(),
        QUIET,
        check,
        "after every message was acknowledged",
    )
    .await;
}

/// A delivery dropped without being settled is delivered again, flagged as redelivered.
///
/// # Panics
/// When the check fails.
pub async fn dropped_delivery_is_redelivered(factory: &dyn QueueFactory) {
    let check = "dropped_delivery_is_redelivered";
    let q = factory.fresh().await;
    let sent = message(check, 0);
    ok(q.publish(vec![sent.clone()]).await, check, "publish");
    let mut c = ok(q.consumer().await, check, "consumer");
    let d = next_within(c.as_mut(), PATIENCE, check, "the published message").await;
    drop(d);
    let d = next_within(c.as_mut(), PATIENCE, check, "the dropped message again").await;
    assert_eq!(
        d.message(),
        &sent,
        "{check}: the redelivery changed the message"
    );
    assert!(
        d.redelivered(),
        "{check}: the redelivery is not flagged as redelivered"
    );
    ok(d.ack().await, check, "ack");
    nothing_within(c.as_mut(), QUIET, check, "after the ack").await;
}

/// A consumer that goes away together with its unsettled delivery, as a crashed worker does,
/// loses nothing: another consumer receives every message, the one in flight flagged as
/// redelivered.
///
/// # Panics
/// When the check fails.
pub async fn crashed_consumer_loses_nothing(factory: &dyn QueueFactory) {
    let check = "crashed_consumer_loses_nothing";
    let q = factory.fresh().await;
    let sent: Vec<_> = (0..3).map(|i| message(check, i)).collect();
    ok(q.publish(sent.clone()).await, check, "publish");
    let mut crashing = ok(q.consumer().await, check, "first consumer");
    let in_flight = next_within(crashing.as_mut(), PATIENCE, check, "a first message").await;
    let in_flight_id = in_flight.message().id.clone();
    // The consumer goes first, its delivery right after: the order in which a dying task's
    // locals are dropped.
    drop(crashing);
    drop(in_flight);

    let mut survivor = ok(q.consumer().await, check, "second consumer");
    let mut got = BTreeMap::new();
    for _ in 0..sent.len() {
        let d = next_within(survivor.as_mut(), PATIENCE, check, "a message left behind").await;
        let id = d.message().id.clone();
        assert!(
            got.insert(id.clone(), d.redelivered()).is_none(),
            "{check}: {id} delivered twice"
        );
        ok(d.ack().await, check, "ack");
    }
    let expected: BTreeSet<_> = sent.iter().map(|m| m.id.clone()).collect();
    let received: BTreeSet<_> = got.keys().cloned().collect();
    assert_eq!(
        received, expected,
        "{check}: messages lost or foreign ones received"
    );
    assert_eq!(
        got.get(&in_flight_id),
        Some(&true),
        "{check}: the message in flight at the crash is not flagged as redelivered"
    );
    nothing_within(survivor.as_mut(), QUIET, check, "after every message").await;
}

/// Several consumers working at once share 240 messages: every message is processed exactly
/// once, and more than one consumer takes part.
///
/// # Panics
/// When the check fails.
pub async fn consumers_share_the_work(factory: &dyn QueueFactory) {
    let check = "consumers_share_the_work";
    const CONSUMERS: usize = 4;
    const MESSAGES: i32 = 240;
    let q = factory.fresh().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String)>();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..CONSUMERS {
        let mut c = ok(q.consumer().await, check, "consumer");
        let tx = tx.clone();
        workers.spawn(async move {
            loop {
                let d = match c.next().await {
                    Ok(Some(d)) => d,
                    Ok(None) => return Err("the queue ended".to_string()),
                    Err(e) => return Err(format!("next failed: {e}")),
                };
                let id = d.message().id.clone();
                // A little work, so that the other consumers get their turn.
                tokio::time::sleep(Duration::from_millis(1)).await;
                d.ack().await.map_err(|e| format!("ack failed: {e}"))?;
                if tx.send((worker, id)).is_err() {
                    return Ok(());
                }
            }
        });
    }
    drop(tx);
    let sent: Vec<_> = (0..MESSAGES).map(|i| message(check, i)).collect();
    // Two publish calls, so that consumers are already busy while the rest arrives.
    let (head, tail) = sent.split_at(sent.len() / 2);
    ok(q.publish(head.to_vec()).await, check, "first publish");
    ok(q.publish(tail.to_vec()).await, check, "second publish");

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_worker = [0usize; CONSUMERS];
    let deadline = Instant::now() + PATIENCE + PATIENCE;
    while seen.len() < sent.len() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((worker, id))) => {
                per_worker[worker] += 1;
                *seen.entry(id).or_default() += 1;
            }
            Ok(None) => {
                let failure = workers.join_next().await;
                panic!("{check}: every consumer stopped: {failure:?}");
            }
            Err(_) => panic!(
                "{check}: only {} of {} messages processed in time",
                seen.len(),
                sent.len()
            ),
        }
    }
    // Anything processed a second time would show up now.
    let quiet_end = Instant::now() + QUIET;
    while let Ok(Some((worker, id))) = tokio::time::timeout_at(quiet_end, rx.recv()).await {
        per_worker[worker] += 1;
        *seen.entry(id).or_default() += 1;
    }
    workers.abort_all();
    while let Some(joined) = workers.join_next().await {
        if let Ok(Err(e)) = joined {
            panic!("{check}: a consumer failed: {e}");
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{check}: processed more than once: {twice:?}"
    );
    let expected: BTreeSet<_> = sent.iter().map(|m| m.id.clone()).collect();
    let received: BTreeSet<_> = seen.keys().cloned().collect();
    assert_eq!(
        received, expected,
        "{check}: messages lost or foreign ones received"
    );
    let busy = per_worker.iter().filter(|n| **n > 0).count();
    assert!(
        busy > 1,
        "{check}: one consumer did all the work ({per_worker:?})"
    );
}

/// Two queues from the factory never see each other's messages.
///
/// # Panics
/// When the check fails.
pub async fn queues_are_isolated(factory: &dyn QueueFactory) {
    let check = "queues_are_isolated";
    let one = factory.fresh().await;
    let two = factory.fresh().await;
    let mut c_one = ok(one.consumer().await, check, "consumer of the first queue");
    let mut c_two = ok(two.consumer().await, check, "consumer of the second queue");
    let m_one = message(check, 1);
    let m_two = message(check, 2);
    ok(
        one.publish(vec![m_one.clone()]).await,
        check,
        "publish to the first queue",
    );
    let d = next_within(c_one.as_mut(), PATIENCE, check, "the first queue's message").await;
    assert_eq!(
        d.message(),
        &m_one,
        "{check}: the first queue delivered another message"
    );
    nothing_within(
        c_two.as_mut(),
        QUIET,
        check,
        "on the second queue after publishing to the first",
    )
    .await;
    ok(d.ack().await, check, "ack on the first queue");
    ok(
        two.publish(vec![m_two.clone()]).await,
        check,
        "publish to the second queue",
    );
    let d = next_within(
        c_two.as_mut(),
        PATIENCE,
        check,
        "the second queue's message",
    )
    .await;
    assert_eq!(
        d.message(),
        &m_two,
        "{check}: the second queue delivered another message"
    );
    ok(d.ack().await, check, "ack on the second queue");
    nothing_within(
        c_one.as_mut(),
        QUIET,
        check,
        "on the first queue after publishing to the second",
    )
    .await;
}

// ---- helpers -------------------------------------------------------------------------------

/// A message whose every field differs from the defaults, with text that needs escaping.
fn full_message() -> BatchMessage {
    BatchMessage {
        ts: 1_700_000_000_123,
        id: format!("000007-{}", uuid::Uuid::new_v4()),
        script_url: "file:///scripts/ünïcode script.yaml".into(),
        script_params_url: "https://example.com/params.json?run=\"3\"&x=1".into(),
        ks: "contract_ks".into(),
        run_id: i32::MAX,
        target_node: "node with \"quotes\",\nnew lines\tand tabs".into(),
        first_token: i64::MIN,
        last_token: i64::MAX,
        batch_idx: 7,
        batches_total: 9,
    }
}

fn message(check: &str, i: i32) -> BatchMessage {
    BatchMessage::new("contract_ks", 1, check, i, 1000, i64::from(i), i64::from(i))
}

#[track_caller]
fn ok<T>(r: Result<T>, check: &str, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{check}: {what} failed: {e} ({e:?})"),
    }
}

async fn next_within(c: &mut dyn Consumer, wait: Duration, check: &str, what: &str) -> Delivery {
    match timeout(wait, c.next()).await {
        Ok(Ok(Some(d))) => d,
        Ok(Ok(None)) => panic!("{check}: the queue ended while waiting for {what}"),
        Ok(Err(e)) => panic!("{check}: next failed while waiting for {what}: {e} ({e:?})"),
        Err(_) => panic!("{check}: {what} did not arrive within {wait:?}"),
    }
}

async fn nothing_within(c: &mut dyn Consumer, wait: Duration, check: &str, when: &str) {
    match timeout(wait, c.next()).await {
        Err(_) => {}
        Ok(Ok(Some(d))) => panic!(
            "{check}: unexpected delivery {when}: {:?} (redelivered: {})",
            d.message(),
            d.redelivered()
        ),
        Ok(Ok(None)) => {}
        Ok(Err(e)) => panic!("{check}: next failed {when}: {e} ({e:?})"),
    }
}
