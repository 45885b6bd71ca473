//! In-memory copies of lookup tables, shared by every batch and node of this process.
//!
//! A lookup reads a right table that no longer changes: the dependency policy only lets a node
//! run once the run that produced its lookup table has finished that node. When the table fits
//! the memory budget, one worker reads it once (page by page, in token order) and builds a hash
//! map from index key to rows; every later batch of every lookup node over the same index and
//! run probes the map instead of the store. Rows with the same key keep token order, as the
//! store's lookup returns them, so results are identical either way.
//!
//! A table over the budget is remembered as such and looked up in the store.

use crate::Result;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::OnceCell;
use vessel_core::{RowSet, Schema, Value};
use vessel_script::IndexSpec;
use vessel_script::keys::row_key;
use vessel_store::{Keyspace, TableRef, TokenRange};

/// Rows read per page while a table is copied.
const PAGE: usize = 10_000;

/// Estimated bytes of a cached row besides its strings: one value slot per field and the map
/// entry pointing at it.
const ROW_OVERHEAD: usize = 48;

/// A right table in memory, keyed like its index.
pub(crate) struct CachedTable {
    rows: RowSet,
    by_key: HashMap<String, Vec<u32>>,
    bytes: usize,
}

impl CachedTable {
    /// Rows whose index key is `key`, in token order.
    pub fn matches(&self, key: &str) -> impl Iterator<Item = Vec<Value>> + '_ {
        self.by_key
            .get(key)
            .into_iter()
            .flatten()
            .map(|&r| self.rows.row(r as usize))
    }
}

/// Identity of a cached table: keyspace, table, run and index.
type CacheKey = (String, String, i32, String);

struct Slot {
    cell: Arc<OnceCell<Option<Arc<CachedTable>>>>,
    last_used: Instant,
}

/// The process-wide cache, bounded in (estimated) bytes.
pub(crate) struct LookupCache {
    budget: usize,
    slots: Mutex<HashMap<CacheKey, Slot>>,
}

impl LookupCache {
    pub fn new(budget: usize) -> LookupCache {
        LookupCache {
            budget,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The cached copy of `table` keyed by `index`, building it on first use; `None` when the
    /// cache is off or the table is over the budget.
    pub async fn get(
        &self,
        ks: &dyn Keyspace,
        table: &TableRef,
        fields: &Arc<Schema>,
        index: &IndexSpec,
    ) -> Result<Option<Arc<CachedTable>>> {
        if self.budget == 0 {
            return Ok(None);
        }
        let key: CacheKey = (
            ks.name().to_string(),
            table.name.clone(),
            table.run_id,
            index.name.clone(),
        );
        let cell = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots.entry(key.clone()).or_insert_with(|| Slot {
                cell: Arc::new(OnceCell::new()),
                last_used: Instant::now(),
            });
            slot.last_used = Instant::now();
            slot.cell.clone()
        };
        let budget = self.budget;
        let built = cell
            .get_or_try_init(|| async {
                // Room for this table: drop the least recently used others until it fits.
                let room = budget.saturating_sub(self.used_except(&key));
                let t = build(ks, table, fields, index, room).await?;
                if let Some(t) = &t {
                    self.evict_for(&key, t.bytes);
                    tracing::debug!(
                        keyspace = %key.0, table = %table.full_name(), index = %index.name,
                        rows = t.rows.len(), mib = t.bytes >> 20, "lookup table cached"
                    );
                } else {
                    tracing::debug!(
                        keyspace = %key.0, table = %table.full_name(), index = %index.name,
                        budget_mib = budget >> 20, "lookup table over the cache budget; using the store"
                    );
                }
                Ok::<_, crate::EngineError>(t.map(Arc::new))
            })
            .await?;
        Ok(built.clone())
    }

    /// Bytes held by tables other than `key`.
    fn used_except(&self, key: &CacheKey) -> usize {
        used_by_others(&self.slots.lock().unwrap_or_else(|e| e.into_inner()), key)
    }

    /// Forgets least recently used tables until `bytes` more fit in the budget. A batch that
    /// still holds a forgotten table keeps its copy until it finishes.
    fn evict_for(&self, key: &CacheKey, bytes: usize) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if used_by_others(&slots, key) + bytes <= self.budget {
                return;
            }
            let oldest = slots
                .iter()
                .filter(|(k, s)| *k != key && s.cell.get().is_some())
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    slots.remove(&k);
                }
                None => return,
            }
        }
    }
}

/// Bytes of the built tables in `slots` other than `key`.
fn used_by_others(slots: &HashMap<CacheKey, Slot>, key: &CacheKey) -> usize {
    slots
        .iter()
        .filter(|(k, _)| *k != key)
        .filter_map(|(_, s)| s.cell.get().cloned().flatten())
        .map(|t| t.bytes)
        .sum()
}

/// Reads the whole table and keys its rows; `None` as soon as it outgrows `room` bytes.
async fn build(
    ks: &dyn Keyspace,
    table: &TableRef,
    fields: &Arc<Schema>,
    index: &IndexSpec,
    room: usize,
) -> Result<Option<CachedTable>> {
    let range = TokenRange::split(1)[0];
    let mut rows = RowSet::with_capacity(fields.clone(), PAGE);
    let mut by_key: HashMap<String, Vec<u32>> = HashMap::new();
    let mut bytes = 0usize;
    let mut cursor = None;
    loop {
        let page = ks.read_page(table, fields, range, cursor, PAGE).await?;
        for i in 0..page.rows.len() {
            let row = page.rows.row(i);
            let Ok(n) = u32::try_from(rows.len()) else {
                return Ok(None);
            };
            bytes += ROW_OVERHEAD * (fields.len() + 1) + strings_len(&row);
            let key = row_key(&index.components, &row);
            bytes += key.len();
            by_key.entry(key).or_default().push(n);
            rows.push_row(row);
        }
        if bytes > room {
            return Ok(None);
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(Some(CachedTable {
        rows,
        by_key,
        bytes,
    }))
}

fn strings_len(row: &[Value]) -> usize {
    row.iter()
        .map(|v| match v {
            Value::Str(s) => s.len(),
            _ => 0,
        })
        .sum()
}
