//! The in-process queue: the RabbitMQ contract (ack, delayed retry, redelivery of unsettled
//! messages) inside one process, for `vessel run` on the embedded default.
//!
//! It keeps nothing on disk on purpose: what a killed `vessel run` must resume is derived from
//! the workflow state in storage (batches not yet terminal), so a second copy of that state in
//! a queue file could only disagree with it.

use crate::{BatchMessage, Consumer, Delivery, Queue, Result, Settle};
use async_trait::async_trait;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Default)]
struct State {
    ready: VecDeque<(BatchMessage, bool)>,
    delayed: BinaryHeap<Delayed>,
    in_flight: usize,
    seq: u64,
    closed: bool,
}

struct Delayed {
    due: Instant,
    seq: u64,
    message: BatchMessage,
}

impl PartialEq for Delayed {
    fn eq(&self, o: &Self) -> bool {
        self.due == o.due && self.seq == o.seq
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Delayed {
    // BinaryHeap is a max-heap: the earliest due time must compare greatest.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.due.cmp(&self.due).then(o.seq.cmp(&self.seq))
    }
}

struct Shared {
    state: Mutex<State>,
    notify: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue half-updated: every
        // critical section is a few container operations, so the data is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// In-process queue with the same settle contract as the RabbitMQ backend.
#[derive(Clone)]
pub struct MemoryQueue {
    shared: Arc<Shared>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        MemoryQueue::new()
    }
}

impl MemoryQueue {
    /// An empty, open queue.
    pub fn new() -> MemoryQueue {
        MemoryQueue {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                notify: Notify::new(),
            }),
        }
    }

    /// Closes the queue: consumers get `None` once nothing is ready, delayed or in flight.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.notify.notify_waiters();
    }

    /// Messages waiting (ready or delayed), and deliveries not yet settled.
    pub fn counts(&self) -> (usize, usize) {
        let s = self.shared.lock();
        (s.ready.len() + s.delayed.len(), s.in_flight)
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn publish(&self, messages: Vec<BatchMessage>) -> Result<()> {
        {
            let mut s = self.shared.lock();
            if s.closed {
                return Err(crate::QueueError::Closed);
            }
            s.ready.extend(messages.into_iter().map(|m| (m, false)));
        }
        self.shared.notify.notify_waiters();
        Ok(())
    }

    async fn consumer(&self) -> Result<Box<dyn Consumer>> {
        Ok(Box::new(MemoryConsumer {
            shared: self.shared.clone(),
        }))
    }
}

struct MemoryConsumer {
    shared: Arc<Shared>,
}

#[async_trait]
impl Consumer for MemoryConsumer {
    async fn next(&mut self) -> Result<Option<Delivery>> {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait_until = {
                let mut s = self.shared.lock();
                let now = Instant::now();
                while s.delayed.peek().is_some_and(|d| d.due <= now) {
                    let d = s.delayed.pop().expect("peeked");
                    s.ready.push_back((d.message, true));
                }
                if let Some((message, redelivered)) = s.ready.pop_front() {
                    s.in_flight += 1;
                    let settle = MemorySettle {
                        shared: self.shared.clone(),
                        message: Some(message.clone()),
                    };
                    return Ok(Some(Delivery::new(message, redelivered, Box::new(settle))));
                }
                if s.closed && s.delayed.is_empty() && s.in_flight == 0 {
                    return Ok(None);
                }
                s.delayed.peek().map(|d| d.due)
            };
            match wait_until {
                Some(due) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(due) => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

struct MemorySettle {
    shared: Arc<Shared>,
    message: Option<BatchMessage>,
}

impl MemorySettle {
    fn finish(&mut self, requeue: Option<Duration>) {
        let Some(message) = self.message.take() else {
            return;
        };
        {
            let mut s = self.shared.lock();
            s.in_flight -= 1;
            match requeue {
                None => {}
                Some(d) if d.is_zero() => s.ready.push_front((message, true)),
                Some(d) => {
                    s.seq += 1;
                    let seq = s.seq;
                    s.delayed.push(Delayed {
                        due: Instant::now() + d,
                        seq,
                        message,
                    });
                }
            }
        }
        self.shared.notify.notify_waiters();
    }
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(mut self: Box<Self>) -> Result<()> {
        self.finish(None);
        Ok(())
    }

    async fn retry_later(mut self: Box<Self>, delay: Duration) -> Result<()> {
        self.finish(Some(delay));
        Ok(())
    }
}

impl Drop for MemorySettle {
    fn drop(&mut self) {
        // Unsettled: the worker died or gave up on the message; deliver it again at once.
        self.finish(Some(Duration::ZERO));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: i32) -> BatchMessage {
        BatchMessage::new("ks", 1, "n", i, 3, i as i64, i as i64)
    }

    #[tokio::test]
    async fn ack_removes_and_close_ends_consumers() {
        let q = MemoryQueue::new();
        q.publish(vec![msg(0), msg(1)]).await.unwrap();
        let mut c = q.consumer().await.unwrap();
        let a = c.next().await.unwrap().unwrap();
        assert_eq!(a.message().batch_idx, 0);
        assert!(!a.redelivered());
        a.ack().await.unwrap();
        let b = c.next().await.unwrap().unwrap();
        b.ack().await.unwrap();
        q.close();
        assert!(c.next().await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_later_waits_for_the_delay() {
        let q = MemoryQueue::new();
        q.publish(vec![msg(0)]).await.unwrap();
        let mut c = q.consumer().await.unwrap();
        let start = Instant::now();
        c.next()
            .await
            .unwrap()
            .unwrap()
            .retry_later(Duration::from_millis(500))
            .await
            .unwrap();
        let again = c.next().await.unwrap().unwrap();
        assert!(again.redelivered());
        assert!(start.elapsed() >= Duration::from_millis(500));
        again.ack().await.unwrap();
    }

    #[tokio::test]
    async fn dropped_delivery_is_redelivered() {
        let q = MemoryQueue::new();
        q.publish(vec![msg(0)]).await.unwrap();
        let mut c = q.consumer().await.unwrap();
        drop(c.next().await.unwrap().unwrap());
        let again = c.next().await.unwrap().unwrap();
        assert!(again.redelivered());
        assert_eq!(again.message().batch_idx, 0);
        q.close();
        // Still in flight: a closed queue waits for it before ending.
        assert_eq!(q.counts(), (0, 1));
        again.ack().await.unwrap();
        assert!(c.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn several_consumers_share_messages() {
        let q = MemoryQueue::new();
        q.publish((0..10).map(msg).collect()).await.unwrap();
        q.close();
        let mut handles = Vec::new();
        for _ in 0..3 {
            let mut c = q.consumer().await.unwrap();
            handles.push(tokio::spawn(async move {
                let mut n = 0;
                while let Some(d) = c.next().await.unwrap() {
                    d.ack().await.unwrap();
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        assert_eq!(total, 10);
    }

    /// The shared queue contract, one test per check, each on fresh in-process queues.
    mod contract_suite {
        use crate::contract::{self, QueueFactory};
        use crate::{MemoryQueue, Queue};
        use std::sync::Arc;

        fn factory() -> impl QueueFactory {
            || async { Arc::new(MemoryQueue::new()) as Arc<dyn Queue> }
        }

        macro_rules! contract_tests {
            ($($check:ident),* $(,)?) => {
                $(
                    #[tokio::test]
                    async fn $check() {
                        contract::$check(&factory()).await;
                    }
                )*
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

        #[tokio::test]
        async fn run_all_in_order() {
            contract::run_all(&factory()).await;
        }
    }
}
