//! Shared by the engine's integration tests: an engine over SQLite and the in-process queue.

use std::path::Path;
use std::sync::Arc;
use vessel_engine::{Engine, worker};
use vessel_queue::{MemoryQueue, Queue};
use vessel_store_sqlite::SqliteStorage;

/// An engine storing in `data`, with two workers consuming its queue; must be called inside a
/// multi-threaded runtime. Dropping the returned sender does not stop the workers: close the
/// queue.
pub async fn engine_with_workers(
    data: &Path,
) -> (Arc<Engine>, MemoryQueue, tokio::sync::watch::Sender<bool>) {
    let storage = Arc::new(SqliteStorage::open(data).unwrap());
    let queue = MemoryQueue::new();
    let engine = Arc::new(Engine::new(
        storage,
        Arc::new(queue.clone()) as Arc<dyn Queue>,
    ));
    let (tx, rx) = tokio::sync::watch::channel(false);
    for slot in 0..2 {
        let c = queue.consumer().await.unwrap();
        tokio::spawn(worker::run_worker(engine.clone(), slot, c, rx.clone()));
    }
    (engine, queue, tx)
}
