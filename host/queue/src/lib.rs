//! Queue traits of Vessel, the batch message, and the in-process queue.
//!
//! Every batch of a run travels as one [`BatchMessage`]. A worker takes a [`Delivery`] from a
//! [`Consumer`], processes the batch, and settles it: [`Delivery::ack`] when done (success or
//! a recorded failure), [`Delivery::retry_later`] to see it again after a delay. A delivery
//! dropped without being settled is redelivered, which is what a broker does when a worker
//! dies. The RabbitMQ backend (`vessel-queue-amqp`) keeps the same contract with a dead-letter
//! exchange and a TTL queue for the delay.
//!
//! Both backends pass the shared suite in `contract`, written once against a factory of fresh
//! queues (with the `test-support` feature, which keeps test-only code out of the binaries).
//!
//! ```
//! # tokio_test_main();
//! # fn tokio_test_main() {
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! # rt.block_on(async {
//! use vessel_queue::{BatchMessage, MemoryQueue, Queue};
//! let q = MemoryQueue::new();
//! q.publish(vec![BatchMessage::new("ks", 1, "read_orders", 0, 1, 0, 0)]).await.unwrap();
//! let mut consumer = q.consumer().await.unwrap();
//! let d = consumer.next().await.unwrap().unwrap();
//! assert_eq!(d.message().target_node, "read_orders");
//! d.ack().await.unwrap();
//! # });
//! # }
//! ```

#[cfg(any(test, feature = "test-support"))]
pub mod contract;
mod memory;
mod message;

pub use memory::MemoryQueue;
pub use message::BatchMessage;

use async_trait::async_trait;
use std::time::Duration;

/// Errors of queue operations.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The broker is unreachable or the connection broke; retry later.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The queue was closed.
    #[error("queue closed")]
    Closed,
    /// A message body could not be encoded or decoded.
    #[error("bad message: {0}")]
    BadMessage(String),
    /// The queue is configured wrongly (a malformed broker URL, an unusable name, a topology
    /// the broker refuses); retrying does not help.
    #[error("queue configuration: {0}")]
    Config(String),
}

/// Result of a queue operation.
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// A queue of batch messages.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Short backend name (`memory`, `amqp`).
    fn backend(&self) -> &'static str;

    /// Publishes messages (in order, best effort).
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the broker cannot take them.
    async fn publish(&self, messages: Vec<BatchMessage>) -> Result<()>;

    /// Opens a consumer. Each consumer receives a share of the messages.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the broker cannot be reached.
    async fn consumer(&self) -> Result<Box<dyn Consumer>>;
}

/// Receives deliveries.
#[async_trait]
pub trait Consumer: Send {
    /// Waits for the next delivery; `None` once the queue is closed and drained.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the connection broke.
    async fn next(&mut self) -> Result<Option<Delivery>>;
}

/// Settles one delivery; implemented by each backend.
#[async_trait]
pub trait Settle: Send + Sync {
    /// Removes the message for good.
    async fn ack(self: Box<Self>) -> Result<()>;
    /// Returns the message to the queue, to be delivered again after `delay`.
    async fn retry_later(self: Box<Self>, delay: Duration) -> Result<()>;
}

/// A message taken from a queue, to be settled exactly once. Dropping it unsettled makes the
/// backend deliver it again at once, flagged as redelivered, as a broker does when the worker
/// holding a message dies.
pub struct Delivery {
    message: BatchMessage,
    settle: Box<dyn Settle>,
    redelivered: bool,
}

impl Delivery {
    /// Builds a delivery (used by backends).
    pub fn new(message: BatchMessage, redelivered: bool, settle: Box<dyn Settle>) -> Delivery {
        Delivery {
            message,
            settle,
            redelivered,
        }
    }

    /// The message.
    pub fn message(&self) -> &BatchMessage {
        &self.message
    }

    /// True when the message was delivered before.
    pub fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// Acknowledges: the message is done.
    ///
    /// # Errors
    /// Backend failures (the message may then be redelivered; processing is idempotent).
    pub async fn ack(self) -> Result<()> {
        self.settle.ack().await
    }

    /// Asks for redelivery after `delay`.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn retry_later(self, delay: Duration) -> Result<()> {
        self.settle.retry_later(delay).await
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
            .field("redelivered", &self.redelivered)
            .finish()
    }
}
