//! RabbitMQ backend of Vessel's queue, on lapin (AMQP 0.9.1).
//!
//! [`AmqpQueue`] implements [`vessel_queue::Queue`] with the same contract as the in-process
//! queue: a delivery is acknowledged when its batch is done, retried after a delay, or given
//! back when it is dropped unsettled. It passes the same contract suite. Only `amqp://` URLs
//! are supported (no TLS).
//!
//! # Topology
//!
//! Every name starts with the prefix ([`AmqpOptions::prefix`], `vessel` by default), so several
//! installations share one broker without seeing each other's messages:
//!
//! | name | what | role |
//! |---|---|---|
//! | `<prefix>` | durable direct exchange | routes key `batches` to the main queue and `dead` to the dead-letter queue |
//! | `<prefix>.batches` | durable queue, dead-letters to `<prefix>` with key `dead` | batches waiting for a worker |
//! | `<prefix>.dead` | durable queue | bodies that are not batch messages, kept for an operator |
//! | `<prefix>.wait.<ms>` | durable queue, `x-message-ttl` = ms, dead-letters to `<prefix>` with key `batches`, `x-expires` | retries waiting for their delay |
//!
//! The exchange and the two fixed queues are declared on every (re)connection; a wait queue is
//! declared by each retry that uses it. There is one wait queue per delay rather than a TTL per
//! message, because RabbitMQ only expires the message at the head of a queue: a short retry
//! queued behind a long one would wait for it. Delays are rounded up to one significant digit
//! of milliseconds (250 ms waits 300 ms, 1.2 s waits 2 s), between 100 ms and one hour, so a
//! prefix has at most 40 wait queues; an unused one expires by itself. [`AmqpQueue::delete_all`]
//! and [`AmqpQueue::delete_prefix`] remove all of a prefix's exchange and queues.
//!
//! # Publishing
//!
//! Messages are persistent (delivery mode 2) and published on a channel with publisher
//! confirms. [`Queue::publish`] returns `Ok` only once the broker has confirmed every message;
//! a message the broker refuses (nack) or cannot route, or a connection lost before the
//! confirmation, makes it fail with [`QueueError::Unavailable`], and the caller publishes again
//! (at-least-once: a batch may then be queued twice, which processing tolerates).
//!
//! # Consuming and settling
//!
//! Each [`Queue::consumer`] opens its own channel with prefetch 1 and manual acknowledgement,
//! so a process running N worker slots (N consumers) holds at most N unacknowledged messages:
//! the prefetch equals the worker slots. A consumer that holds a delivery receives nothing more
//! until it is settled, while other consumers keep receiving. A broker's queue never ends, so
//! `next` never returns `None`: workers stop on a signal of their own.
//!
//! - [`Delivery::ack`](vessel_queue::Delivery::ack) acknowledges the message: it is gone.
//! - [`Delivery::retry_later`](vessel_queue::Delivery::retry_later) publishes a copy to the
//!   wait queue for the delay, waits for the broker's confirmation, then acknowledges the
//!   original; the consumer is free for other messages at once. When the delay is over the
//!   broker dead-letters the copy back to `<prefix>.batches`. A zero delay requeues the
//!   message directly.
//! - A delivery dropped unsettled is given back at once (`basic.nack` with requeue), so it is
//!   delivered again, as the in-process queue does. A consumer dropped with its deliveries
//!   closes its channel, and the broker requeues whatever it held.
//!
//! [`Delivery::redelivered`](vessel_queue::Delivery::redelivered) is true for a message the
//! broker delivered before, and for a retry's copy, which carries a `vessel-redelivered` header
//! (to the broker it is a new message).
//!
//! A body that is not a batch message is rejected without requeue, so the broker moves it to
//! `<prefix>.dead`; an error is logged with the queue, the delivery tag and the start of the
//! body, and the consumer goes on with the next message.
//!
//! # Connection loss
//!
//! One connection serves the publisher and all consumers of an [`AmqpQueue`]; it proposes a
//! short heartbeat ([`AmqpOptions::heartbeat`], 10 s) so that a broker that died silently is
//! noticed. When the connection or the broker goes away:
//!
//! - the next call that needs the broker (publish, a consumer's `next`, opening a consumer)
//!   reconnects, pausing [`AmqpOptions::reconnect_min`] after the first failed attempt and
//!   doubling up to [`AmqpOptions::reconnect_max`]; a call gives up with
//!   [`QueueError::Unavailable`] after [`AmqpOptions::reconnect_for`], so no caller waits
//!   forever, and the next call starts again; a broker that answers but refuses the login,
//!   the vhost or the topology fails the call at once with a `Config` error;
//! - a consumer waiting in `next` when its channel dies returns
//!   [`QueueError::Unavailable`], and its next call subscribes again on a new connection;
//! - settling a delivery that came from a dead channel fails with an `Unavailable` error
//!   and never panics; the broker has already requeued the message, which comes back
//!   flagged as redelivered.
//!
//! Errors name the broker by its URL without the password. Nothing here panics on a broker
//! error.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), vessel_queue::QueueError> {
//! use vessel_queue::{BatchMessage, Queue};
//! use vessel_queue_amqp::{AmqpOptions, AmqpQueue};
//!
//! let queue = AmqpQueue::connect(
//!     "amqp://guest:guest@127.0.0.1:5672/%2f",
//!     AmqpOptions::with_prefix("vessel"),
//! )
//! .await?;
//! queue.publish(vec![BatchMessage::new("ks", 1, "read_orders", 0, 1, 0, 0)]).await?;
//! let mut consumer = queue.consumer().await?;
//! if let Some(delivery) = consumer.next().await? {
//!     delivery.ack().await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The queue must be created inside a tokio runtime: each connection runs lapin's I/O loop on
//! a thread of its own, with its sockets and timers (the heartbeat) on that runtime, which is
//! handed to lapin explicitly, so later reconnections use it too.
//!
//! [`QueueError::Unavailable`]: vessel_queue::QueueError::Unavailable

mod consumer;
mod link;
mod topology;

use async_trait::async_trait;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::{Channel, Confirmation};
use link::Link;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use vessel_queue::{BatchMessage, Consumer, Queue, Result};

/// Settings of an [`AmqpQueue`].
#[derive(Debug, Clone)]
pub struct AmqpOptions {
    /// Starts the name of every exchange and queue (`<prefix>`, `<prefix>.batches`, ...):
    /// installations sharing a broker use different prefixes. Default `vessel`.
    pub prefix: String,
    /// Heartbeat interval proposed to the broker (the shorter of the two wins), so that a
    /// broker gone silent is noticed after about twice this. Default 10 s. A `heartbeat=`
    /// parameter in the URL takes precedence.
    pub heartbeat: Duration,
    /// Pause after the first failed connection attempt; it doubles after each further one.
    /// Default 100 ms.
    pub reconnect_min: Duration,
    /// Longest pause between connection attempts. Default 5 s.
    pub reconnect_max: Duration,
    /// How long one call keeps trying to (re)connect before it fails with
    /// [`QueueError::Unavailable`]. Default 30 s.
    ///
    /// [`QueueError::Unavailable`]: vessel_queue::QueueError::Unavailable
    pub reconnect_for: Duration,
}

impl Default for AmqpOptions {
    fn default() -> Self {
        AmqpOptions {
            prefix: "vessel".to_string(),
            heartbeat: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            reconnect_for: Duration::from_secs(30),
        }
    }
}

impl AmqpOptions {
    /// The default options with another prefix.
    pub fn with_prefix(prefix: impl Into<String>) -> AmqpOptions {
        AmqpOptions {
            prefix: prefix.into(),
            ..AmqpOptions::default()
        }
    }
}

/// A queue of batch messages on a RabbitMQ broker; see the crate documentation for the
/// topology and the contract. Clones share the connection.
#[derive(Clone)]
pub struct AmqpQueue {
    link: Arc<Link>,
    /// The confirm-mode channel that [`Queue::publish`] uses; replaced when it breaks.
    publisher: Arc<Mutex<Option<Channel>>>,
}

impl std::fmt::Debug for AmqpQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpQueue")
            .field("broker", &self.link.broker)
            .field("prefix", &self.link.options.prefix)
            .finish()
    }
}

impl AmqpQueue {
    /// Connects to the broker at `url` (`amqp://user:password@host:port/vhost`, the vhost `/`
    /// written `%2f`) and declares the prefix's exchange and queues.
    ///
    /// # Errors
    /// [`QueueError::Config`] for a malformed URL or prefix, a login or vhost the broker
    /// refuses, or a topology it refuses (a queue of that name declared with other arguments); [`QueueError::Unavailable`] when
    /// the broker cannot be reached within [`AmqpOptions::reconnect_for`]. Messages name the
    /// broker without the password.
    ///
    /// [`QueueError::Config`]: vessel_queue::QueueError::Config
    /// [`QueueError::Unavailable`]: vessel_queue::QueueError::Unavailable
    pub async fn connect(url: &str, options: AmqpOptions) -> Result<AmqpQueue> {
        let link = Arc::new(Link::new(url, options, true)?);
        let channel = link.channel(link.deadline()).await?;
        let _ = channel.close(200, "connected".into()).await;
        Ok(AmqpQueue {
            link,
            publisher: Arc::new(Mutex::new(None)),
        })
    }

    /// The prefix of this queue's exchange and queues.
    pub fn prefix(&self) -> &str {
        &self.link.options.prefix
    }

    /// The broker's URL without the password.
    pub fn broker(&self) -> &str {
        &self.link.broker
    }

    /// Deletes the prefix's exchange and every one of its queues, with their messages: the
    /// main queue, the dead-letter queue and all possible wait queues. For operators retiring
    /// an installation and for tests cleaning up; consumers of the prefix, here or in other
    /// processes, are cancelled, and this queue must not be used afterwards.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the broker cannot be reached or refuses a deletion.
    ///
    /// [`QueueError::Unavailable`]: vessel_queue::QueueError::Unavailable
    pub async fn delete_all(&self) -> Result<()> {
        delete_topology(&self.link).await
    }

    /// Deletes the exchange and queues of `options.prefix` on the broker at `url`, as
    /// [`AmqpQueue::delete_all`] does, without declaring them first: this also works for a
    /// prefix whose queues were declared with other arguments, where
    /// [`AmqpQueue::connect`] fails.
    ///
    /// # Errors
    /// [`QueueError::Config`] for a malformed URL or prefix; [`QueueError::Unavailable`] when
    /// the broker cannot be reached or refuses a deletion.
    ///
    /// [`QueueError::Config`]: vessel_queue::QueueError::Config
    /// [`QueueError::Unavailable`]: vessel_queue::QueueError::Unavailable
    pub async fn delete_prefix(url: &str, options: AmqpOptions) -> Result<()> {
        delete_topology(&Link::new(url, options, false)?).await
    }

    /// The publishing channel, opened (with confirms) when there is none or it broke.
    async fn publisher(&self, slot: &mut Option<Channel>) -> Result<Channel> {
        if let Some(channel) = slot.as_ref()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        *slot = None;
        let link = &self.link;
        let channel = link.channel(link.deadline()).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| link.unavailable("enable publisher confirms", e))?;
        *slot = Some(channel.clone());
        Ok(channel)
    }
}

/// Deletes every queue a prefix can have, then its exchange. Deleting a queue or an exchange
/// that does not exist succeeds.
async fn delete_topology(link: &Link) -> Result<()> {
    let channel = link.channel(link.deadline()).await?;
    let names = &link.names;
    let queues = [names.main.clone(), names.dead.clone()]
        .into_iter()
        .chain(topology::all_wait_ms().map(|ms| names.wait(ms)));
    for queue in queues {
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .map_err(|e| link.unavailable(&format!("delete queue {queue}"), e))?;
    }
    channel
        .exchange_delete(
            names.exchange.as_str().into(),
            ExchangeDeleteOptions::default(),
        )
        .await
        .map_err(|e| link.unavailable(&format!("delete exchange {}", names.exchange), e))?;
    let _ = channel.close(200, "deleted".into()).await;
    Ok(())
}

#[async_trait]
impl Queue for AmqpQueue {
    fn backend(&self) -> &'static str {
        "amqp"
    }

    async fn publish(&self, messages: Vec<BatchMessage>) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let link = &self.link;
        let names = &link.names;
        // One publish at a time on the channel: its confirmations then belong to this call.
        let mut slot = self.publisher.lock().await;
        let channel = self.publisher(&mut slot).await?;
        let total = messages.len();
        let mut confirms = Vec::with_capacity(total);
        for m in &messages {
            let sent = channel
                .basic_publish(
                    names.exchange.as_str().into(),
                    topology::MAIN_KEY.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &m.to_json(),
                    topology::properties(false),
                )
                .await;
            match sent {
                Ok(confirm) => confirms.push(confirm),
                Err(e) => {
                    *slot = None;
                    return Err(link.unavailable(
                        &format!(
                            "publish to {} (sent {} of {total} before the failure, none \
                             confirmed)",
                            names.main,
                            confirms.len()
                        ),
                        e,
                    ));
                }
            }
        }
        let (mut refused, mut unrouted, mut lost) = (0, 0, 0);
        let mut lost_why = None;
        for confirm in confirms {
            match confirm.await {
                Ok(Confirmation::Ack(None)) => {}
                Ok(Confirmation::Ack(Some(_))) => unrouted += 1,
                Ok(Confirmation::Nack(_) | Confirmation::NotRequested) => refused += 1,
                Err(e) => {
                    lost += 1;
                    lost_why.get_or_insert_with(|| e.to_string());
                }
            }
        }
        if let Some(why) = lost_why {
            *slot = None;
            return Err(link.unavailable(
                &format!("publish to {}", names.main),
                format!(
                    "{lost} of {total} messages were not confirmed before the channel broke \
                     ({why}); publish them again"
                ),
            ));
        }
        if refused + unrouted > 0 {
            return Err(link.unavailable(
                &format!("publish to {}", names.main),
                format!(
                    "the broker refused {refused} and could not route {unrouted} of {total} \
                     messages"
                ),
            ));
        }
        Ok(())
    }

    async fn consumer(&self) -> Result<Box<dyn Consumer>> {
        Ok(Box::new(
            consumer::AmqpConsumer::open(self.link.clone()).await?,
        ))
    }
}
