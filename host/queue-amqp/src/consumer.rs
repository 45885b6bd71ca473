//! Consumers (one channel each, prefetch 1) and the settling of their deliveries.

use crate::link::Link;
use crate::topology::{self, wait_ms};
use async_trait::async_trait;
use futures_core::Stream;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{Acker, Channel, Confirmation};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use vessel_queue::{BatchMessage, Consumer, Delivery, QueueError, Result, Settle};

/// How many bytes of an undecodable body the error log shows.
const BODY_PREVIEW: usize = 200;

static CONSUMER_SEQ: AtomicU64 = AtomicU64::new(0);

/// A consumer of `<prefix>.batches` on a channel of its own.
pub(crate) struct AmqpConsumer {
    link: Arc<Link>,
    tag: String,
    live: Option<Subscription>,
}

/// A channel with prefetch 1 and the stream of its deliveries.
struct Subscription {
    channel: Channel,
    deliveries: Pin<Box<lapin::Consumer>>,
}

impl AmqpConsumer {
    /// Opens the channel and subscribes at once, so that an unreachable broker shows now.
    pub(crate) async fn open(link: Arc<Link>) -> Result<AmqpConsumer> {
        let tag = format!(
            "vessel-{}-{}",
            std::process::id(),
            CONSUMER_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut consumer = AmqpConsumer {
            link,
            tag,
            live: None,
        };
        consumer.live = Some(consumer.subscribe().await?);
        Ok(consumer)
    }

    async fn subscribe(&self) -> Result<Subscription> {
        let link = &self.link;
        let channel = link.channel(link.deadline()).await?;
        // Prefetch 1 on a channel of its own: the broker hands this consumer one message and
        // waits for it to be settled, so N worker slots hold at most N unacked messages.
        channel
            .basic_qos(1, BasicQosOptions { global: false })
            .await
            .map_err(|e| link.unavailable("set the prefetch of a consumer", e))?;
        // Retries publish their copy on this channel and need the broker's confirmation.
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| link.unavailable("enable publisher confirms", e))?;
        let deliveries = channel
            .basic_consume(
                link.names.main.as_str().into(),
                self.tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| link.unavailable(&format!("consume from {}", link.names.main), e))?;
        Ok(Subscription {
            channel,
            deliveries: Box::pin(deliveries),
        })
    }
}

#[async_trait]
impl Consumer for AmqpConsumer {
    async fn next(&mut self) -> Result<Option<Delivery>> {
        loop {
            let live = match &mut self.live {
                Some(live) => live,
                None => self.live.insert(self.subscribe().await?),
            };
            let item = std::future::poll_fn(|cx| live.deliveries.as_mut().poll_next(cx)).await;
            let delivery = match item {
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    self.live = None;
                    return Err(self.link.unavailable(
                        &format!(
                            "keep consuming from {} (the next call reconnects)",
                            self.link.names.main
                        ),
                        e,
                    ));
                }
                None => {
                    self.live = None;
                    return Err(self.link.unavailable(
                        &format!(
                            "keep consuming from {} (the next call subscribes again)",
                            self.link.names.main
                        ),
                        "the broker cancelled the consumer; was the queue deleted?",
                    ));
                }
            };
            let message = match BatchMessage::from_json(&delivery.data) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(
                        queue = %self.link.names.main,
                        delivery_tag = delivery.delivery_tag,
                        body = %preview(&delivery.data),
                        error = %e,
                        dead_letter_queue = %self.link.names.dead,
                        "not a batch message; moving it to the dead-letter queue"
                    );
                    // Without requeue the broker dead-letters it to `<prefix>.dead`. lapin sends
                    // the frame on this very poll, so a `next` cancelled while waiting for the
                    // outcome cannot leave the message unsettled.
                    let rejected = delivery
                        .acker
                        .reject(BasicRejectOptions { requeue: false })
                        .await;
                    if let Err(e) = settled(&self.link, rejected, "reject an undecodable message") {
                        self.live = None;
                        return Err(e);
                    }
                    continue;
                }
            };
            let redelivered = delivery.redelivered || topology::is_redelivery(&delivery.properties);
            let settle = AmqpSettle {
                link: self.link.clone(),
                channel: live.channel.clone(),
                acker: Some(delivery.acker),
                body: delivery.data,
            };
            return Ok(Some(Delivery::new(message, redelivered, Box::new(settle))));
        }
    }
}

/// Settles one delivery on the channel it came from.
struct AmqpSettle {
    link: Arc<Link>,
    channel: Channel,
    /// Taken when the delivery is settled; still there when it is dropped unsettled.
    acker: Option<Acker>,
    body: Vec<u8>,
}

impl AmqpSettle {
    /// Publishes a copy of the message to the wait queue for `delay` and waits for the
    /// broker's confirmation.
    async fn park(&self, delay: Duration) -> Result<()> {
        let link = &self.link;
        let ms = wait_ms(delay);
        // Declaring renews the wait queue's `x-expires` lease, which publishing does not.
        let queue = topology::declare_wait(&self.channel, &link.names, ms)
            .await
            .map_err(|e| link.unavailable(&format!("declare the wait queue for {ms} ms"), e))?;
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &self.body,
                topology::properties(true),
            )
            .await
            .map_err(|e| link.unavailable(&format!("publish a retry to {queue}"), e))?;
        match confirm.await {
            Ok(Confirmation::Ack(None)) => Ok(()),
            Ok(Confirmation::Ack(Some(_))) => Err(link.unavailable(
                &format!("publish a retry to {queue}"),
                "the broker found no such queue",
            )),
            Ok(Confirmation::Nack(_) | Confirmation::NotRequested) => Err(link.unavailable(
                &format!("publish a retry to {queue}"),
                "the broker did not confirm it",
            )),
            Err(e) => Err(link.unavailable(&format!("publish a retry to {queue}"), e)),
        }
    }
}

#[async_trait]
impl Settle for AmqpSettle {
    async fn ack(mut self: Box<Self>) -> Result<()> {
        self.finish(Finish::Ack, "ack").await
    }

    async fn retry_later(mut self: Box<Self>, delay: Duration) -> Result<()> {
        if delay.is_zero() {
            return self.finish(Finish::Requeue, "requeue a message").await;
        }
        // The acker stays in place while the copy is parked: should this future be dropped
        // half-way, `Drop` still gives the message back.
        match self.park(delay).await {
            // The copy is safe in its wait queue: the original can go.
            Ok(()) => {
                self.finish(Finish::Ack, "ack a message parked for a retry")
                    .await
            }
            Err(e) => {
                // Better delivered again too soon than lost; on a dead channel the broker has
                // requeued it already.
                let _ = self.finish(Finish::Requeue, "requeue a message").await;
                Err(e)
            }
        }
    }
}

/// The last word on a delivery.
enum Finish {
    Ack,
    Requeue,
}

impl AmqpSettle {
    /// Acks or requeues the delivery. lapin sends the frame when the future is first polled,
    /// so once this started the delivery counts as settled even if the future is dropped.
    async fn finish(&mut self, how: Finish, doing: &str) -> Result<()> {
        let Some(acker) = self.acker.take() else {
            return Ok(());
        };
        let outcome = match how {
            Finish::Ack => acker.ack(BasicAckOptions::default()).await,
            Finish::Requeue => acker.nack(requeue()).await,
        };
        settled(&self.link, outcome, doing)
    }
}

impl Drop for AmqpSettle {
    fn drop(&mut self) {
        // Dropped unsettled: hand the message back now rather than when the channel closes.
        // On a dead channel the broker has requeued it already, so there is nothing to do.
        let Some(acker) = self.acker.take() else {
            return;
        };
        if !acker.usable() {
            return;
        }
        let broker = self.link.broker.clone();
        self.link.runtime.spawn(async move {
            if let Err(e) = acker.nack(requeue()).await {
                tracing::debug!(%broker, error = %e, "could not requeue a dropped delivery; the broker requeues it when the channel closes");
            }
        });
    }
}

fn requeue() -> BasicNackOptions {
    BasicNackOptions {
        multiple: false,
        requeue: true,
    }
}

/// Turns the outcome of an ack, nack or reject into the queue's result. lapin answers
/// `Ok(false)` when the delivery's channel is gone, in which case the broker has already put
/// the message back.
fn settled(link: &Link, outcome: lapin::Result<bool>, doing: &str) -> Result<()> {
    match outcome {
        Ok(true) => Ok(()),
        Ok(false) => Err(QueueError::Unavailable(format!(
            "RabbitMQ at {}: cannot {doing}: the delivery's channel is closed, so the broker \
             delivers the message again",
            link.broker
        ))),
        Err(e) => Err(link.unavailable(doing, e)),
    }
}

/// The start of a body, as text, for logs.
fn preview(body: &[u8]) -> String {
    let end = body.len().min(BODY_PREVIEW);
    let mut text = String::from_utf8_lossy(&body[..end]).into_owned();
    if body.len() > end {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_short_and_lossy() {
        assert_eq!(preview(b"not json"), "not json");
        let long = vec![b'x'; 1000];
        assert_eq!(preview(&long).chars().count(), BODY_PREVIEW + 1);
        assert_eq!(preview(&[0xff, b'a']), "\u{fffd}a");
    }
}
