//! The TCP side: connections, frames, and the results written back.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::engine::{Analysis, Engine, Outcome, Rows};
use crate::error::CqlError;
use crate::frame::{self, BoundValue, Header, QueryParams, Reader, opcode};
use crate::murmur;
use crate::parser::{self, Statement};

/// A statement prepared by some client, shared by every connection.
struct Prepared {
    statement: Statement,
    keyspace: Option<String>,
    analysis: Analysis,
}

struct Shared {
    accepted: AtomicU64,
    /// `SCHEMA_CHANGE` event bodies for connections that registered for them.
    events: broadcast::Sender<Vec<u8>>,
    engine: Mutex<Engine>,
    prepared: Mutex<HashMap<Vec<u8>, Arc<Prepared>>>,
}

impl Shared {
    fn engine(&self) -> MutexGuard<'_, Engine> {
        // A panic while holding the lock cannot leave the maps half-written in a way that
        // matters to a test server; keep serving.
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn prepared(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Arc<Prepared>>> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running CQL test server; it stops when dropped.
///
/// Everything lives in memory and disappears with the server. It is a test tool, not a
/// database: one node, no persistence, no authentication, no compression.
pub struct TestServer {
    addr: SocketAddr,
    drops: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
    shared: Arc<Shared>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1 with a port chosen by the OS, on the current tokio runtime.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub async fn start() -> std::io::Result<TestServer> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a server listening on `addr`, on the current tokio runtime.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            accepted: AtomicU64::new(0),
            events: broadcast::channel(256).0,
            engine: Mutex::new(Engine::new()),
            prepared: Mutex::new(HashMap::new()),
        });
        let (drops, _) = watch::channel(0u64);
        let (shutdown, _) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            drops.clone(),
            shutdown.subscribe(),
        ));
        info!(%addr, "CQL test server listening");
        Ok(TestServer {
            addr,
            drops,
            shutdown,
            accept,
            shared,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections the server has accepted since it started (reconnections included).
    pub fn connections_accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Forgets every prepared statement, as a restarted node would: the next EXECUTE of each
    /// gets an "unprepared" error (0x2500) and the driver must prepare it again.
    pub fn forget_prepared_statements(&self) {
        info!(addr = %self.addr, "forgetting every prepared statement");
        self.shared.prepared().clear();
    }

    /// Closes every connection open right now, once; the server keeps accepting new ones and
    /// keeps its data. Used to test that clients reconnect.
    pub fn drop_connections(&self) {
        info!(addr = %self.addr, "dropping every open connection");
        self.drops.send_modify(|n| *n += 1);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    drops: watch::Sender<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    debug!(%peer, "connection accepted");
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                    let conn = Connection {
                        shared: shared.clone(),
                        keyspace: None,
                        schema_events: false,
                        pending_event: None,
                        local_ip: stream
                            .local_addr()
                            .map(|a| a.ip())
                            .unwrap_or(IpAddr::from([127, 0, 0, 1])),
                    };
                    tokio::spawn(conn.run(stream, peer, drops.subscribe(), shutdown.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
}

struct Connection {
    shared: Arc<Shared>,
    keyspace: Option<String>,
    local_ip: IpAddr,
    /// The client registered for `SCHEMA_CHANGE` events.
    schema_events: bool,
    /// The `SCHEMA_CHANGE` event body of the statement just run, sent to every registered
    /// connection once the response is written.
    pending_event: Option<Vec<u8>>,
}

/// Takes one whole frame off the front of `buf`, if it holds one.
fn next_frame(buf: &mut Vec<u8>) -> Result<Option<(Header, Vec<u8>)>, CqlError> {
    let Some(head) = buf.get(..frame::HEADER_LEN) else {
        return Ok(None);
    };
    let mut h = [0u8; frame::HEADER_LEN];
    h.copy_from_slice(head);
    let header = Header::parse(&h)?;
    let total = frame::HEADER_LEN + header.length;
    if buf.len() < total {
        return Ok(None);
    }
    let body = buf[frame::HEADER_LEN..total].to_vec();
    buf.drain(..total);
    Ok(Some((header, body)))
}

impl Connection {
    async fn run(
        mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        mut drops: watch::Receiver<u64>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut events = self.shared.events.subscribe();
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        loop {
            let (header, body) = match next_frame(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    // Every branch is cancel-safe: bytes read stay in `buf`.
                    tokio::select! {
                        _ = drops.changed() => {
                            info!(%peer, "connection dropped on request");
                            return;
                        }
                        _ = shutdown.changed() => return,
                        event = events.recv() => {
                            if let Ok(event) = event
                                && self.schema_events
                            {
                                let out = frame::response(-1, opcode::EVENT, &event);
                                if stream.write_all(&out).await.is_err() {
                                    return;
                                }
                            }
                        }
                        read = stream.read_buf(&mut buf) => match read {
                            Ok(0) => {
                                debug!(%peer, "connection closed by client");
                                return;
                            }
                            Ok(_) => {}
                            Err(e) => {
                                debug!(%peer, error = %e, "read failed; closing the connection");
                                return;
                            }
                        },
                    }
                    continue;
                }
                Err(e) => {
                    warn!(%peer, error = %e, "bad frame; closing the connection");
                    let out = frame::response(0, opcode::ERROR, &frame::error_body(&e));
                    let _ = stream.write_all(&out).await;
                    return;
                }
            };
            if header.version != frame::REQUEST_VERSION {
                let e = CqlError::protocol(format!(
                    "protocol version {:#04x} is not supported; this server speaks only v4",
                    header.version
                ));
                warn!(%peer, version = header.version, "unsupported protocol version");
                let out = frame::response(header.stream, opcode::ERROR, &frame::error_body(&e));
                let _ = stream.write_all(&out).await;
                // Let the client retry with v4 on this connection.
                continue;
            }
            let (op, body, fatal) = match self.handle(&header, &body) {
                Ok((op, body)) => (op, body, false),
                Err(e) => {
                    debug!(%peer, code = e.code, message = %e.message, "request failed");
                    let fatal = e.code == crate::error::PROTOCOL_ERROR;
                    (opcode::ERROR, frame::error_body(&e), fatal)
                }
            };
            let out = frame::response(header.stream, op, &body);
            if let Err(e) = stream.write_all(&out).await {
                debug!(%peer, error = %e, "write failed; closing the connection");
                return;
            }
            if fatal {
                warn!(%peer, "protocol error; closing the connection");
                return;
            }
            if let Some(event) = self.pending_event.take() {
                // No receivers is fine: nobody registered for events.
                let _ = self.shared.events.send(event);
            }
        }
    }

    fn handle(&mut self, header: &Header, body: &[u8]) -> Result<(u8, Vec<u8>), CqlError> {
        if header.flags & 0x01 != 0 {
            return Err(CqlError::protocol("compressed frames are not supported"));
        }
        let mut r = Reader::new(body);
        if header.flags & 0x04 != 0 {
            // A custom payload precedes the body: skip it.
            let n = r.short()?;
            for _ in 0..n {
                r.string()?;
                r.bytes()?;
            }
        }
        match header.opcode {
            opcode::OPTIONS => {
                let mut out = Vec::new();
                let options: [(&str, &[&str]); 3] = [
                    ("CQL_VERSION", &["3.4.5"]),
                    ("COMPRESSION", &[]),
                    ("PROTOCOL_VERSIONS", &["4/v4"]),
                ];
                out.extend_from_slice(&(options.len() as u16).to_be_bytes());
                for (k, vs) in options {
                    frame::put_string(&mut out, k);
                    out.extend_from_slice(&(vs.len() as u16).to_be_bytes());
                    for v in vs {
                        frame::put_string(&mut out, v);
                    }
                }
                Ok((opcode::SUPPORTED, out))
            }
            opcode::STARTUP => {
                let options = r.string_map()?;
                if let Some((_, c)) = options.iter().find(|(k, _)| k == "COMPRESSION") {
                    return Err(CqlError::protocol(format!(
                        "compression {c} is not supported"
                    )));
                }
                Ok((opcode::READY, Vec::new()))
            }
            opcode::REGISTER => {
                // Only schema changes ever happen here: one node, always up.
                let events = r.string_list()?;
                self.schema_events |= events.iter().any(|e| e == "SCHEMA_CHANGE");
                Ok((opcode::READY, Vec::new()))
            }
            opcode::QUERY => {
                let query = r.long_string()?;
                let params = frame::read_query_params(&mut r)?;
                debug!(query = %query, "QUERY");
                let (statement, markers) = parser::parse(&query)?;
                check_values(markers, &params)?;
                let keyspace = self.keyspace.clone();
                self.run_statement(&statement, &params, keyspace)
            }
            opcode::PREPARE => {
                let query = r.long_string()?;
                debug!(query = %query, "PREPARE");
                let (statement, markers) = parser::parse(&query)?;
                let analysis = self
                    .shared
                    .engine()
                    .analyze(&statement, markers, &self.keyspace)?;
                let (a, b) = murmur::hash3_x64_128(
                    format!("{}\u{0}{query}", self.keyspace.as_deref().unwrap_or("")).as_bytes(),
                );
                let mut id = a.to_be_bytes().to_vec();
                id.extend_from_slice(&b.to_be_bytes());
                let body = prepared_body(&id, &analysis);
                self.shared.prepared().insert(
                    id,
                    Arc::new(Prepared {
                        statement,
                        keyspace: self.keyspace.clone(),
                        analysis,
                    }),
                );
                Ok((opcode::RESULT, body))
            }
            opcode::EXECUTE => {
                let id = r.short_bytes()?;
                let params = frame::read_query_params(&mut r)?;
                let prepared = self
                    .shared
                    .prepared()
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| CqlError::unprepared(&id))?;
                check_values(prepared.analysis.markers.len(), &params)?;
                let keyspace = prepared.keyspace.clone().or_else(|| self.keyspace.clone());
                self.run_statement(&prepared.statement, &params, keyspace)
            }
            opcode::BATCH => self.batch(&mut r),
            other => Err(CqlError::protocol(format!(
                "opcode {other:#04x} is not supported"
            ))),
        }
    }

    fn run_statement(
        &mut self,
        statement: &Statement,
        params: &QueryParams,
        mut keyspace: Option<String>,
    ) -> Result<(u8, Vec<u8>), CqlError> {
        let budget = match params.page_size {
            Some(n) => page_offset(params)?.saturating_add(n).saturating_add(1),
            None => usize::MAX,
        };
        let outcome = self.shared.engine().execute_with_budget(
            statement,
            &params.values,
            &mut keyspace,
            self.local_ip,
            budget,
        )?;
        match &outcome {
            Outcome::SetKeyspace(ks) => self.keyspace = Some(ks.clone()),
            Outcome::SchemaChange(change, target, ks, table) => {
                let mut event = Vec::new();
                frame::put_string(&mut event, "SCHEMA_CHANGE");
                frame::put_string(&mut event, change);
                frame::put_string(&mut event, target);
                frame::put_string(&mut event, ks);
                if let Some(t) = table {
                    frame::put_string(&mut event, t);
                }
                self.pending_event = Some(event);
            }
            _ => {}
        }
        Ok((opcode::RESULT, result_body(outcome, params)?))
    }

    fn batch(&mut self, r: &mut Reader<'_>) -> Result<(u8, Vec<u8>), CqlError> {
        let kind = r.byte()?;
        if kind == 2 {
            return Err(CqlError::invalid("counter batches are not supported"));
        }
        let n = r.short()?;
        let mut items: Vec<(Statement, Option<String>, Vec<BoundValue>)> = Vec::new();
        for _ in 0..n {
            let (statement, markers, keyspace) = match r.byte()? {
                0 => {
                    let query = r.long_string()?;
                    let (st, m) = parser::parse(&query)?;
                    (st, m, self.keyspace.clone())
                }
                1 => {
                    let id = r.short_bytes()?;
                    let p = self
                        .shared
                        .prepared()
                        .get(&id)
                        .cloned()
                        .ok_or_else(|| CqlError::unprepared(&id))?;
                    (
                        p.statement.clone(),
                        p.analysis.markers.len(),
                        p.keyspace.clone().or_else(|| self.keyspace.clone()),
                    )
                }
                k => return Err(CqlError::protocol(format!("unknown batch item kind {k}"))),
            };
            let count = r.short()?;
            let values = (0..count)
                .map(|_| r.value())
                .collect::<Result<Vec<_>, _>>()?;
            if values.len() != markers {
                return Err(CqlError::invalid(format!(
                    "there were {markers} markers(?) in a batch statement but {} bound values",
                    values.len()
                )));
            }
            if !matches!(
                statement,
                Statement::Insert { .. } | Statement::Update { .. } | Statement::Delete { .. }
            ) {
                return Err(CqlError::invalid(
                    "a batch may only hold INSERT, UPDATE and DELETE",
                ));
            }
            items.push((statement, keyspace, values));
        }
        let _consistency = r.short()?;
        let flags = r.byte()?;
        if flags & 0x40 != 0 {
            return Err(CqlError::invalid("named values are not supported"));
        }
        // Checked whole, then run under one lock: other clients see all of the batch or none.
        let mut engine = self.shared.engine();
        engine.check_batch(items.iter().map(|(st, ks, v)| (st, v.as_slice(), ks)))?;
        for (statement, mut keyspace, values) in items {
            engine.execute(&statement, &values, &mut keyspace, self.local_ip)?;
        }
        Ok((opcode::RESULT, 1i32.to_be_bytes().to_vec()))
    }
}

fn check_values(markers: usize, params: &QueryParams) -> Result<(), CqlError> {
    if params.names.is_some() {
        return Err(CqlError::invalid(
            "values sent with names are not supported; bind by position",
        ));
    }
    if params.values.len() != markers {
        return Err(CqlError::invalid(format!(
            "there were {markers} markers(?) in CQL but {} bound values",
            params.values.len()
        )));
    }
    Ok(())
}

fn col_specs(out: &mut Vec<u8>, cols: &[(String, crate::types::CqlType)]) {
    for (name, ty) in cols {
        frame::put_string(out, name);
        ty.write_option(out);
    }
}

fn prepared_body(id: &[u8], a: &Analysis) -> Vec<u8> {
    let mut out = Vec::new();
    frame::put_int(&mut out, 4);
    frame::put_short_bytes(&mut out, id);
    // Bind marker metadata.
    frame::put_int(&mut out, 0x0001);
    frame::put_int(&mut out, a.markers.len() as i32);
    frame::put_int(&mut out, a.pk_indexes.len() as i32);
    for i in &a.pk_indexes {
        out.extend_from_slice(&i.to_be_bytes());
    }
    frame::put_string(&mut out, &a.keyspace);
    frame::put_string(&mut out, &a.table);
    col_specs(&mut out, &a.markers);
    // Result metadata.
    match &a.result {
        Some(cols) => {
            frame::put_int(&mut out, 0x0001);
            frame::put_int(&mut out, cols.len() as i32);
            frame::put_string(&mut out, &a.keyspace);
            frame::put_string(&mut out, &a.table);
            col_specs(&mut out, cols);
        }
        None => {
            frame::put_int(&mut out, 0x0004);
            frame::put_int(&mut out, 0);
        }
    }
    out
}

fn result_body(outcome: Outcome, params: &QueryParams) -> Result<Vec<u8>, CqlError> {
    let mut out = Vec::new();
    match outcome {
        Outcome::Void => frame::put_int(&mut out, 1),
        Outcome::SetKeyspace(ks) => {
            frame::put_int(&mut out, 3);
            frame::put_string(&mut out, &ks);
        }
        Outcome::SchemaChange(change, target, ks, table) => {
            frame::put_int(&mut out, 5);
            frame::put_string(&mut out, change);
            frame::put_string(&mut out, target);
            frame::put_string(&mut out, &ks);
            if let Some(t) = table {
                frame::put_string(&mut out, &t);
            }
        }
        Outcome::Rows(rows) => rows_body(&mut out, rows, params)?,
    }
    Ok(out)
}

/// How many rows earlier pages returned, from the paging state.
fn page_offset(params: &QueryParams) -> Result<usize, CqlError> {
    match &params.paging_state {
        Some(state) => {
            let b: [u8; 8] = state
                .as_slice()
                .try_into()
                .map_err(|_| CqlError::invalid("paging state not issued by this server"))?;
            Ok(usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX))
        }
        None => Ok(0),
    }
}

/// Writes a Rows result, one page of it when the client asked for paging.
///
/// The paging state is the number of rows already returned: pages are cut from the result the
/// statement has at the time of each request.
fn rows_body(out: &mut Vec<u8>, rows: Rows, params: &QueryParams) -> Result<(), CqlError> {
    let offset = page_offset(params)?;
    let start = offset.min(rows.rows.len());
    let end = match params.page_size {
        Some(n) => start.saturating_add(n).min(rows.rows.len()),
        None => rows.rows.len(),
    };
    let more = end < rows.rows.len();
    frame::put_int(out, 2);
    let mut flags = 0x0001;
    if more {
        flags |= 0x0002;
    }
    if params.skip_metadata {
        flags = (flags & 0x0002) | 0x0004;
    }
    frame::put_int(out, flags);
    frame::put_int(out, rows.columns.len() as i32);
    if more {
        frame::put_bytes(out, Some(&(end as u64).to_be_bytes()));
    }
    if !params.skip_metadata {
        frame::put_string(out, &rows.keyspace);
        frame::put_string(out, &rows.table);
        col_specs(out, &rows.columns);
    }
    frame::put_int(out, (end - start) as i32);
    for row in &rows.rows[start..end] {
        for cell in row {
            frame::put_bytes(out, cell.as_deref());
        }
    }
    Ok(())
}
