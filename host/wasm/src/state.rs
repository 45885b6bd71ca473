//! The per-store sandbox: WASI context that grants nothing, memory limiter, host imports, guarded calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{
    Engine, ResourceLimiter, Store, StoreContextMut, StoreLimits, StoreLimitsBuilder, Trap,
};
use wasmtime_wasi::p2::{DynPollable, Pollable};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use crate::Limits;
use crate::bindings::{processor_world, wit_host, wit_types};
use crate::capture::{self, Capture, CapturePipe, Drained, Level, LogContext};
use crate::error::{Phase, Site, WasmError};

/// Period of the epoch ticker; deadlines are counted in these ticks.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Core instances, tables and memories one store may create. A Rust component needs a handful
/// of each (main module, WASI adapter, shims); interpreters bundled as components a few more.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;
/// Elements of one table (function pointers, mostly).
const MAX_TABLE_ELEMENTS: usize = 200_000;

/// Distinct counter names kept per call, and the longest name; beyond that counters are
/// merged into one `other` counter rather than growing host memory at the guest's will.
const MAX_COUNTERS: usize = 256;
const MAX_COUNTER_NAME: usize = 128;

/// The data of every store: the WASI context, the limiter, and what the guest said.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    capture: Arc<Mutex<Capture>>,
    clock: VirtualClock,
    /// When the current call's deadline passes; sleeps in the guest end no later than this.
    deadline: Instant,
    /// Set when a guest sleep was cut short at the deadline: the call then counts as timed out
    /// even if the guest manages to return before the next epoch check.
    sleep_cut: Arc<AtomicBool>,
    /// Counters added during the current call.
    pub(crate) counters: BTreeMap<String, u64>,
    /// Fields of the events that forward guest output.
    pub(crate) log_ctx: LogContext,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit_types::Host for StoreState {}

impl wit_host::Host for StoreState {
    fn log(&mut self, level: wit_types::LogLevel, message: String) {
        capture::lock(&self.capture).log(level_of(level), message);
    }

    fn log_enabled(&mut self, level: wit_types::LogLevel) -> bool {
        capture::level_enabled(level_of(level))
    }

    fn counter_add(&mut self, name: String, delta: u64) {
        let key = if name.len() > MAX_COUNTER_NAME
            || (self.counters.len() >= MAX_COUNTERS && !self.counters.contains_key(&name))
        {
            "other".to_string()
        } else {
            name
        };
        let c = self.counters.entry(key).or_insert(0);
        *c = c.saturating_add(delta);
    }
}

fn level_of(level: wit_types::LogLevel) -> Level {
    match level {
        wit_types::LogLevel::Trace => Level::Trace,
        wit_types::LogLevel::Debug => Level::Debug,
        wit_types::LogLevel::Info => Level::Info,
        wit_types::LogLevel::Warn => Level::Warn,
        wit_types::LogLevel::Error => Level::Error,
    }
}

/// `StoreLimits` plus two things it lacks: the cap applies to the sum of all memories of the
/// store (a component may have several), and a denied growth is remembered so that the trap
/// it causes is reported as out-of-memory rather than as a crash.
struct Limiter {
    inner: StoreLimits,
    memory_limit: usize,
    memory_total: usize,
    hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_total
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.memory_limit {
            self.hit = true;
            wasmtime::bail!(
                "memory limit of {} bytes per instance reached (growing to {total} bytes)",
                self.memory_limit
            );
        }
        let allowed = self.inner.memory_growing(current, desired, maximum);
        if matches!(allowed, Ok(true)) {
            self.memory_total = total;
        } else {
            self.hit = true;
        }
        allowed
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.hit = true;
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Nanoseconds the guest's monotonic clock advances on every read, so that a guest that
/// waits for time to pass (a busy loop on `Instant::now()`) sees it pass.
const CLOCK_STEP_NANOS: u64 = 1_000;

/// The guest's monotonic clock. It never reads the host's time: it starts at 0 with each store
/// and advances by [`CLOCK_STEP_NANOS`] per read and by the length of every sleep, so a plugin
/// sees the same durations whenever and wherever it runs. Shared with the store's data so that
/// sleeps can move it and `subscribe-instant` can turn the guest's instants into durations.
#[derive(Clone, Default)]
struct VirtualClock {
    nanos: Arc<AtomicU64>,
}

impl VirtualClock {
    /// The current reading, without advancing.
    fn peek(&self) -> u64 {
        self.nanos.load(Ordering::Relaxed)
    }

    /// Moves the clock forward by `nanos` (a sleep).
    fn advance(&self, nanos: u64) {
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(nanos))
            });
    }
}

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        CLOCK_STEP_NANOS
    }

    fn now(&self) -> u64 {
        self.advance(CLOCK_STEP_NANOS);
        self.peek()
    }
}

/// The guest's wall clock: always the Unix epoch, 1970-01-01T00:00:00Z. Output must not depend
/// on when a batch ran (a rerun, a resumed run or another worker must write the same rows), so
/// a plugin that needs a date gets it as a parameter.
struct EpochWallClock;

impl HostWallClock for EpochWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(CLOCK_STEP_NANOS)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// A guest sleep. It ends at the requested time or at the call's deadline, whichever comes
/// first: epoch interruption cannot stop a guest blocked inside a host call, so a sleep that
/// outlived the deadline would hold the worker.
struct Sleep {
    until: tokio::time::Instant,
    /// The flag to raise once the sleep ends, if it was shortened to the deadline.
    cut: Option<Arc<AtomicBool>>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for Sleep {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.until).await;
        if let Some(cut) = &self.cut {
            cut.store(true, Ordering::Relaxed);
        }
    }
}

fn subscribe_sleep(
    mut cx: StoreContextMut<'_, StoreState>,
    wanted: Duration,
) -> wasmtime::Result<Resource<DynPollable>> {
    let data = cx.data_mut();
    // The guest sees the whole sleep pass on its clock even when the host cuts it short.
    data.clock
        .advance(u64::try_from(wanted.as_nanos()).unwrap_or(u64::MAX));
    let now = Instant::now();
    let left = data.deadline.saturating_duration_since(now);
    let until = tokio::time::Instant::from_std(now + wanted.min(left));
    let cut = (wanted > left).then(|| data.sleep_cut.clone());
    let sleep = data.table.push(Sleep { until, cut })?;
    wasmtime_wasi::p2::subscribe(&mut data.table, sleep)
}

/// WASI `monotonic-clock` as linked by `wasmtime-wasi` (the version its WIT declares; older
/// 0.2 imports resolve to it by semver).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// The linker shared by every store of a host: WASI 0.2 (sync), the `host` interface, and
/// sleeps bounded by the call deadline.
pub(crate) fn build_linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    processor_world::ProcessorPlugin::add_to_linker::<StoreState, HasSelf<StoreState>>(
        &mut linker,
        |s| s,
    )?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |cx: StoreContextMut<'_, StoreState>, (nanos,): (u64,)| {
            Ok((subscribe_sleep(cx, Duration::from_nanos(nanos))?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |cx: StoreContextMut<'_, StoreState>, (when,): (u64,)| {
            let now = cx.data().clock.peek();
            Ok((subscribe_sleep(
                cx,
                Duration::from_nanos(when.saturating_sub(now)),
            )?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(linker)
}

/// Interfaces a component may import: ours, and the WASI 0.2 interfaces the linker provides,
/// whose context grants nothing (no files, environment, arguments or network).
const ALLOWED_IMPORTS: &[&str] = &[
    "vessel:plugin/host@0.1.",
    "vessel:plugin/types@0.1.",
    "wasi:cli/",
    "wasi:clocks/monotonic-clock@0.2.",
    "wasi:clocks/wall-clock@0.2.",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// Whether an import name is one the sandbox offers.
pub(crate) fn import_allowed(name: &str) -> bool {
    ALLOWED_IMPORTS.iter().any(|p| {
        name.starts_with(p)
            && (p.contains('@')
                || name
                    .split_once('@')
                    .is_some_and(|(_, v)| v.starts_with("0.2.")))
    })
}

/// A fresh store with the sandbox of `limits`.
pub(crate) fn new_store(
    engine: &Engine,
    limits: &Limits,
    log_ctx: LogContext,
) -> Store<StoreState> {
    let capture = Arc::new(Mutex::new(Capture::new(limits.log_bytes_per_batch)));
    let clock = VirtualClock::default();
    // A default builder has no preopened directories, environment or arguments and reads an
    // empty stdin; networking is switched off explicitly and every address is denied.
    let wasi = WasiCtxBuilder::new()
        .stdout(CapturePipe::stdout(capture.clone()))
        .stderr(CapturePipe::stderr(capture.clone()))
        .monotonic_clock(clock.clone())
        .wall_clock(EpochWallClock)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build();
    let limiter = Limiter {
        inner: StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .trap_on_grow_failure(true)
            .instances(MAX_INSTANCES)
            .tables(MAX_TABLES)
            .memories(MAX_MEMORIES)
            .table_elements(MAX_TABLE_ELEMENTS)
            .build(),
        memory_limit: limits.memory_bytes,
        memory_total: 0,
        hit: false,
    };
    let state = StoreState {
        wasi,
        table: ResourceTable::new(),
        limiter,
        capture,
        clock,
        deadline: Instant::now() + limits.open_timeout,
        sleep_cut: Arc::new(AtomicBool::new(false)),
        counters: BTreeMap::new(),
        log_ctx,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.epoch_deadline_trap();
    store.set_epoch_deadline(ticks(limits.open_timeout));
    store
}

/// Epoch ticks for a timeout. One more than the timeout holds, because the call starts
/// somewhere within the current tick: the deadline then never fires early, at most a tick late.
fn ticks(timeout: Duration) -> u64 {
    let t = TICK.as_nanos();
    u64::try_from(timeout.as_nanos().div_ceil(t))
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// Runs one guest call under the deadline `limits` sets for `phase`, forwards what the guest
/// logged, and turns a trap into the matching [`WasmError`]. Counters of the call are left in
/// the store.
pub(crate) fn guarded_call<R>(
    store: &mut Store<StoreState>,
    limits: &Limits,
    phase: Phase,
    site: &Site,
    call: impl FnOnce(&mut Store<StoreState>) -> wasmtime::Result<R>,
) -> Result<R, WasmError> {
    let timeout = match phase {
        Phase::Start => limits.open_timeout,
        Phase::Call => limits.timeout,
    };
    {
        let data = store.data_mut();
        data.deadline = Instant::now() + timeout;
        data.limiter.hit = false;
        data.sleep_cut.store(false, Ordering::Relaxed);
        data.counters.clear();
        capture::lock(&data.capture).drain();
    }
    store.set_epoch_deadline(ticks(timeout));
    let result = call(store);
    let drained = capture::lock(&store.data().capture).drain();
    capture::forward(&drained, &store.data().log_ctx, site.batch);
    let result =
        result.map_err(|err| classify(&err, store.data(), &drained, limits, timeout, phase, site));
    if result.is_ok() && store.data().sleep_cut.load(Ordering::Relaxed) {
        return Err(WasmError::Timeout {
            site: site.clone(),
            timeout,
            phase,
        });
    }
    result
}

fn classify(
    err: &wasmtime::Error,
    data: &StoreState,
    drained: &Drained,
    limits: &Limits,
    timeout: Duration,
    phase: Phase,
    site: &Site,
) -> WasmError {
    let site = site.clone();
    if data.limiter.hit {
        return WasmError::OutOfMemory {
            site,
            limit: limits.memory_bytes,
        };
    }
    let trap = err.downcast_ref::<Trap>();
    if trap == Some(&Trap::Interrupt) {
        return WasmError::Timeout {
            site,
            timeout,
            phase,
        };
    }
    let mut message = match trap {
        Some(t) => t.to_string(),
        None => err.root_cause().to_string(),
    };
    let printed = String::from_utf8_lossy(&drained.stderr_tail);
    let printed: Vec<&str> = printed.lines().filter(|l| !l.trim().is_empty()).collect();
    if !printed.is_empty() {
        let last = &printed[printed.len().saturating_sub(5)..];
        message.push_str(" (it printed: ");
        message.push_str(&last.join(" / "));
        message.push(')');
    }
    WasmError::Trap { site, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_imports() {
        assert!(import_allowed("vessel:plugin/host@0.1.0"));
        assert!(import_allowed("wasi:cli/stdout@0.2.3"));
        assert!(import_allowed("wasi:sockets/tcp@0.2.0"));
        assert!(!import_allowed("wasi:http/outgoing-handler@0.2.0"));
        assert!(!import_allowed("wasi:cli/stdout@0.3.0"));
        assert!(!import_allowed("wasi:clocks/timezone@0.2.3"));
        assert!(!import_allowed("vessel:plugin/host@1.0.0"));
        assert!(!import_allowed("evil:net/connect"));
    }

    #[test]
    fn ticks_round_up() {
        assert_eq!(ticks(Duration::from_millis(300)), 31);
        assert_eq!(ticks(Duration::from_millis(301)), 32);
        assert_eq!(ticks(Duration::ZERO), 1);
    }
}
