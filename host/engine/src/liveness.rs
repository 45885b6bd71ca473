//! Worker leases: how a worker tells a batch left "started" by a dead process from one that
//! another process is still working on, wherever that process runs.
//!
//! While a process holds batches of a keyspace it renews a lease in that keyspace
//! ([`vessel_store::Keyspace::heartbeat`]) from a thread of its own, every fifth of the lease
//! time, so a busy async runtime cannot delay it. A process that meets a batch "started" by
//! another instance reads that instance's lease:
//!
//! - no lease: the instance left cleanly (or never renewed one), so it is not working on it;
//! - a lease this process has seen unchanged for the whole lease time: the instance stopped
//!   renewing it, it is dead (or cut off from storage, which makes its work void anyway);
//! - a lease far older than the lease time by this machine's clock: dead, without waiting;
//! - otherwise it is alive, and the batch is retried later.
//!
//! Only changes of the lease are compared with this machine's clock, so clocks of different
//! machines need not agree, and nothing depends on process ids, host names or `/proc`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use vessel_core::DateTime;
use vessel_store::{Keyspace, Storage};

/// Default lease time ([`crate::Settings::lease`]).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// A lease older than this many lease times by the reader's clock is dead without a second
/// look (a generous bound, so that clocks a little apart do not matter).
const STALE_FACTOR: u32 = 6;

#[derive(Default)]
struct State {
    /// Keyspaces where this process holds batches now, with how many.
    holding: HashMap<String, usize>,
    /// Keyspaces where this process renewed a lease, to give them up on leaving.
    touched: HashSet<String>,
    /// Leases of other instances as this process saw them: value and when it first saw it.
    seen: HashMap<(String, String), (DateTime, Instant)>,
    /// Whether the renewal thread runs.
    renewing: bool,
}

pub(crate) struct Shared {
    storage: Arc<dyn Storage>,
    instance: String,
    lease: Duration,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The leases of one engine.
pub(crate) struct Liveness {
    shared: Arc<Shared>,
}

/// Held while this process works on a batch of a keyspace; gives the hold up when dropped.
pub(crate) struct Hold {
    shared: Arc<Shared>,
    keyspace: String,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        if let Some(n) = s.holding.get_mut(&self.keyspace) {
            *n -= 1;
            if *n == 0 {
                s.holding.remove(&self.keyspace);
            }
        }
    }
}

impl Liveness {
    pub(crate) fn new(storage: Arc<dyn Storage>, instance: String, lease: Duration) -> Liveness {
        Liveness {
            shared: Arc::new(Shared {
                storage,
                instance,
                lease: lease.max(Duration::from_millis(50)),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Starts holding a batch of `ks`: renews the lease now (so it exists before the batch is
    /// recorded as started) and keeps renewing it until every hold of `ks` is dropped.
    pub(crate) async fn hold(&self, ks: &dyn Keyspace) -> vessel_store::Result<Hold> {
        ks.heartbeat(&self.shared.instance, true).await?;
        let start_thread = {
            let mut s = self.shared.lock();
            *s.holding.entry(ks.name().to_string()).or_default() += 1;
            s.touched.insert(ks.name().to_string());
            !std::mem::replace(&mut s.renewing, true)
        };
        if start_thread {
            spawn_renewals(Arc::downgrade(&self.shared), self.shared.lease / 5);
        }
        Ok(Hold {
            shared: self.shared.clone(),
            keyspace: ks.name().to_string(),
        })
    }

    /// Whether `instance`, which recorded a batch of `ks` as started, is gone (see the module
    /// documentation).
    pub(crate) async fn is_dead(
        &self,
        ks: &dyn Keyspace,
        instance: &str,
    ) -> vessel_store::Result<bool> {
        let Some(lease) = ks.last_heartbeat(instance).await? else {
            return Ok(true);
        };
        let age = (vessel_core::time::now() - lease)
            .to_std()
            .unwrap_or_default();
        if age > self.shared.lease * STALE_FACTOR {
            return Ok(true);
        }
        let key = (ks.name().to_string(), instance.to_string());
        let mut s = self.shared.lock();
        match s.seen.get(&key) {
            Some((value, since)) if *value == lease => Ok(since.elapsed() >= self.shared.lease),
            _ => {
                s.seen.insert(key, (lease, Instant::now()));
                Ok(false)
            }
        }
    }

    /// Gives up the leases of keyspaces where this process holds no batch any more, so that
    /// others redo at once whatever it left unfinished. Called when the process leaves.
    pub(crate) async fn leave(&self) {
        let keyspaces: Vec<String> = {
            let s = self.shared.lock();
            s.touched
                .iter()
                .filter(|k| !s.holding.contains_key(*k))
                .cloned()
                .collect()
        };
        for name in keyspaces {
            let left = match self.shared.storage.open_keyspace(&name, false).await {
                Ok(ks) => ks.heartbeat(&self.shared.instance, false).await,
                Err(e) => Err(e),
            };
            if let Err(e) = left {
                tracing::warn!(keyspace = %name, error = %e, "cannot give up the worker lease; others wait for it to expire");
            }
        }
    }
}

/// Renews the leases of held keyspaces every `every` on a thread of its own until the engine
/// is gone.
fn spawn_renewals(shared: Weak<Shared>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("vessel-lease".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the lease renewal thread");
                    return;
                }
            };
            rt.block_on(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    let held: Vec<String> = shared.lock().holding.keys().cloned().collect();
                    for name in held {
                        let renewed = match shared.storage.open_keyspace(&name, false).await {
                            Ok(ks) => ks.heartbeat(&shared.instance, true).await,
                            Err(e) => Err(e),
                        };
                        if let Err(e) = renewed {
                            tracing::warn!(keyspace = %name, error = %e, "cannot renew the worker lease");
                        }
                    }
                }
            });
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the lease renewal thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(dir: &std::path::Path) -> Arc<dyn Storage> {
        Arc::new(vessel_store_sqlite::SqliteStorage::open(dir).unwrap())
    }

    #[tokio::test]
    async fn a_renewed_lease_is_alive_and_a_frozen_one_dies_after_the_lease_time() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        let ks = storage.open_keyspace("ks", true).await.unwrap();
        let lease = Duration::from_millis(300);
        let worker = Liveness::new(storage.clone(), "worker".into(), lease);
        let watcher = Liveness::new(storage.clone(), "watcher".into(), lease);
        assert!(
            watcher.is_dead(ks.as_ref(), "worker").await.unwrap(),
            "no lease yet"
        );
        let hold = worker.hold(ks.as_ref()).await.unwrap();
        let until = Instant::now() + lease * 3;
        while Instant::now() < until {
            assert!(
                !watcher.is_dead(ks.as_ref(), "worker").await.unwrap(),
                "a renewed lease must stay alive"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The worker stops renewing (as if it hung or died) but its lease stays behind.
        drop(hold);
        tokio::time::sleep(lease / 2).await;
        assert!(!watcher.is_dead(ks.as_ref(), "worker").await.unwrap());
        tokio::time::sleep(lease + Duration::from_millis(100)).await;
        assert!(watcher.is_dead(ks.as_ref(), "worker").await.unwrap());
    }

    #[tokio::test]
    async fn leaving_gives_up_idle_leases_at_once_but_not_held_ones() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        let a = storage.open_keyspace("a", true).await.unwrap();
        let b = storage.open_keyspace("b", true).await.unwrap();
        let worker = Liveness::new(storage.clone(), "worker".into(), DEFAULT_LEASE);
        let watcher = Liveness::new(storage.clone(), "watcher".into(), DEFAULT_LEASE);
        drop(worker.hold(a.as_ref()).await.unwrap());
        let _held = worker.hold(b.as_ref()).await.unwrap();
        worker.leave().await;
        assert!(watcher.is_dead(a.as_ref(), "worker").await.unwrap());
        assert!(!watcher.is_dead(b.as_ref(), "worker").await.unwrap());
    }
}
