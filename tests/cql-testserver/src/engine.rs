//! The in-memory CQL engine: keyspaces, tables and the statements of the subset.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::{Bound, RangeBounds};

use crate::error::CqlError;
use crate::frame::BoundValue;
use crate::murmur;
use crate::parser::{
    Condition, Lhs, Op, Relation, Selection, Selector, Statement, TableName, Term,
};
use crate::types::CqlType;

/// Where a column sits in the primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Part of the partition key, at this position.
    Partition(usize),
    /// A clustering column, at this position.
    Clustering(usize),
    /// Not part of the key.
    Regular,
}

/// A column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: CqlType,
    /// Role in the key.
    pub kind: Kind,
}

type Cell = Option<Vec<u8>>;
type Row = Vec<Cell>;
/// A partition's position in the ring: its token, then its serialized key.
type PartitionKey = (i64, Vec<u8>);
/// The rows of one partition, by clustering order key.
type Partition = BTreeMap<Vec<u8>, Row>;
/// A row's place: its partition, then its clustering key.
type Location = (PartitionKey, Vec<u8>);
/// Named, typed columns.
type Columns = Vec<(String, CqlType)>;
/// Columns reported with a lightweight-transaction result.
type Extra = Vec<(String, CqlType, Cell)>;

/// A table and its rows.
#[derive(Debug)]
pub struct Table {
    /// Columns in `SELECT *` order: partition key, clustering, then the rest by name.
    pub columns: Vec<Column>,
    /// Indexes (into `columns`) of the partition key.
    pub pk: Vec<usize>,
    /// Indexes of the clustering columns.
    pub ck: Vec<usize>,
    partitions: BTreeMap<PartitionKey, Partition>,
}

impl Table {
    fn new(
        columns: Vec<(String, CqlType)>,
        pk: &[String],
        ck: &[String],
    ) -> Result<Table, CqlError> {
        let mut seen = std::collections::HashSet::new();
        for (c, _) in &columns {
            if !seen.insert(c.clone()) {
                return Err(CqlError::invalid(format!(
                    "multiple definition of column {c}"
                )));
            }
        }
        let find = |name: &String| {
            columns
                .iter()
                .find(|(c, _)| c == name)
                .cloned()
                .ok_or_else(|| CqlError::invalid(format!("unknown key column {name}")))
        };
        let mut ordered = Vec::new();
        for (i, name) in pk.iter().enumerate() {
            let (n, ty) = find(name)?;
            ordered.push(Column {
                name: n,
                ty,
                kind: Kind::Partition(i),
            });
        }
        for (i, name) in ck.iter().enumerate() {
            let (n, ty) = find(name)?;
            if pk.contains(name) {
                return Err(CqlError::invalid(format!(
                    "column {name} appears twice in the PRIMARY KEY"
                )));
            }
            ordered.push(Column {
                name: n,
                ty,
                kind: Kind::Clustering(i),
            });
        }
        if ordered
            .iter()
            .map(|c| &c.name)
            .collect::<std::collections::HashSet<_>>()
            .len()
            != ordered.len()
        {
            return Err(CqlError::invalid(
                "a column appears twice in the PRIMARY KEY",
            ));
        }
        for c in &ordered {
            if !c.ty.orderable() {
                return Err(CqlError::invalid(format!(
                    "key column {} of type {} is not supported by this test server",
                    c.name,
                    c.ty.name()
                )));
            }
        }
        let mut regular: Vec<_> = columns
            .into_iter()
            .filter(|(c, _)| !pk.contains(c) && !ck.contains(c))
            .map(|(name, ty)| Column {
                name,
                ty,
                kind: Kind::Regular,
            })
            .collect();
        regular.sort_by(|a, b| a.name.cmp(&b.name));
        ordered.extend(regular);
        Ok(Table {
            pk: (0..pk.len()).collect(),
            ck: (pk.len()..pk.len() + ck.len()).collect(),
            columns: ordered,
            partitions: BTreeMap::new(),
        })
    }

    fn column(&self, name: &str) -> Result<usize, CqlError> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| CqlError::invalid(format!("Undefined column name {name}")))
    }

    /// The serialized partition key (Cassandra's composite form when it has several parts).
    fn partition_key(&self, parts: &[&[u8]]) -> PartitionKey {
        let bytes = if parts.len() == 1 {
            parts[0].to_vec()
        } else {
            let mut b = Vec::new();
            for p in parts {
                b.extend_from_slice(&(p.len() as u16).to_be_bytes());
                b.extend_from_slice(p);
                b.push(0);
            }
            b
        };
        (murmur::token(&bytes), bytes)
    }

    fn clustering_key(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut k = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            self.columns[self.ck[i]].ty.order_key(p, &mut k);
        }
        k
    }

    /// Locates a row from its full key cells.
    fn row_location(&self, row: &Row) -> Result<(PartitionKey, Vec<u8>), CqlError> {
        let part = |idx: &[usize]| -> Result<Vec<&[u8]>, CqlError> {
            idx.iter()
                .map(|&i| {
                    row[i].as_deref().ok_or_else(|| {
                        CqlError::invalid(format!(
                            "Invalid null value for key column {}",
                            self.columns[i].name
                        ))
                    })
                })
                .collect()
        };
        let pk = part(&self.pk)?;
        let ck = part(&self.ck)?;
        let location = (self.partition_key(&pk), self.clustering_key(&ck));
        // Cassandra refuses to store a partition whose serialized key is empty (an empty text
        // in a one-column partition key); clients must learn that here too.
        if location.0.1.is_empty() {
            return Err(CqlError::invalid("Key may not be empty"));
        }
        Ok(location)
    }

    fn get(&self, loc: &(PartitionKey, Vec<u8>)) -> Option<&Row> {
        self.partitions.get(&loc.0)?.get(&loc.1)
    }
}

/// A keyspace.
#[derive(Debug)]
pub struct Keyspace {
    /// Replication options as written.
    pub replication: Vec<(String, String)>,
    /// Tables by name.
    pub tables: BTreeMap<String, Table>,
}

/// The rows of a result, before paging.
#[derive(Debug)]
pub struct Rows {
    /// Keyspace of the table read.
    pub keyspace: String,
    /// Table read.
    pub table: String,
    /// Result columns.
    pub columns: Vec<(String, CqlType)>,
    /// Rows.
    pub rows: Vec<Row>,
}

/// What a statement returns.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing.
    Void,
    /// Rows.
    Rows(Rows),
    /// The session's keyspace changed.
    SetKeyspace(String),
    /// Schema changed: change type, target, keyspace, table.
    SchemaChange(&'static str, &'static str, String, Option<String>),
}

/// The bind markers of a prepared statement and its result columns.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Keyspace named in column specs.
    pub keyspace: String,
    /// Table named in column specs.
    pub table: String,
    /// Name and type of each marker.
    pub markers: Vec<(String, CqlType)>,
    /// Marker indexes of the partition key columns, when they are all bound by markers.
    pub pk_indexes: Vec<u16>,
    /// Result columns, when known in advance (plain SELECT).
    pub result: Option<Vec<(String, CqlType)>>,
}

/// The in-memory database.
#[derive(Debug)]
pub struct Engine {
    keyspaces: BTreeMap<String, Keyspace>,
}

const HOST_ID: [u8; 16] = *b"vessel-cql-test!";
const SCHEMA_VERSION: [u8; 16] = *b"cql-schema-ver-1";
/// Name of the single datacenter.
pub const DATACENTER: &str = "datacenter1";

fn is_system(ks: &str) -> bool {
    ks == "system" || ks == "system_schema"
}

fn text(s: &str) -> Cell {
    Some(s.as_bytes().to_vec())
}

fn collection(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = (items.len() as i32).to_be_bytes().to_vec();
    for i in items {
        out.extend_from_slice(&(i.len() as i32).to_be_bytes());
        out.extend_from_slice(i);
    }
    out
}

fn decode_collection(b: &[u8], column: &str) -> Result<Vec<Vec<u8>>, CqlError> {
    let bad = || CqlError::invalid(format!("malformed list value bound for {column}"));
    let mut r = crate::frame::Reader::new(b);
    let n = r.int().map_err(|_| bad())?;
    let mut out = Vec::new();
    for _ in 0..n.max(0) {
        out.push(r.bytes().map_err(|_| bad())?.ok_or_else(bad)?);
    }
    Ok(out)
}

/// A value from a term: set, null or unset.
enum Val {
    Set(Vec<u8>),
    Null,
    Unset,
}

struct Binder<'a> {
    values: &'a [BoundValue],
}

impl Binder<'_> {
    fn value(&self, term: &Term, ty: &CqlType, column: &str) -> Result<Val, CqlError> {
        match term {
            Term::Now => {
                if *ty != CqlType::Timestamp {
                    return Err(CqlError::invalid(format!(
                        "toTimestamp(now()) is a timestamp but column {column} is {}",
                        ty.name()
                    )));
                }
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                Ok(Val::Set(ms.to_be_bytes().to_vec()))
            }
            Term::Literal(l) => Ok(match l.encode(ty, column)? {
                Some(b) => Val::Set(b),
                None => Val::Null,
            }),
            Term::Marker(i) => match self.values.get(*i) {
                None => Err(CqlError::invalid(format!(
                    "no value bound for marker {i} ({column})"
                ))),
                Some(BoundValue::Null) => Ok(Val::Null),
                Some(BoundValue::Unset) => Ok(Val::Unset),
                Some(BoundValue::Set(b)) => {
                    ty.validate(column, b)?;
                    Ok(Val::Set(b.clone()))
                }
            },
            Term::List(_) => Err(CqlError::invalid(format!(
                "a list is not a valid value for {column}"
            ))),
        }
    }

    /// A non-null value (keys, token bounds, limits).
    fn required(&self, term: &Term, ty: &CqlType, column: &str) -> Result<Vec<u8>, CqlError> {
        match self.value(term, ty, column)? {
            Val::Set(b) => Ok(b),
            Val::Null => Err(CqlError::invalid(format!(
                "Invalid null value for {column}"
            ))),
            Val::Unset => Err(CqlError::invalid(format!(
                "Invalid unset value for {column}"
            ))),
        }
    }

    /// The values of an `IN`: a parenthesised list or one marker bound to a list.
    fn list(&self, term: &Term, ty: &CqlType, column: &str) -> Result<Vec<Vec<u8>>, CqlError> {
        match term {
            Term::List(items) => items.iter().map(|t| self.required(t, ty, column)).collect(),
            Term::Marker(i) => match self.values.get(*i) {
                Some(BoundValue::Set(b)) => {
                    let items = decode_collection(b, column)?;
                    for it in &items {
                        ty.validate(column, it)?;
                    }
                    Ok(items)
                }
                _ => Err(CqlError::invalid(format!(
                    "Invalid null or unset list for IN on {column}"
                ))),
            },
            Term::Literal(_) | Term::Now => {
                Err(CqlError::invalid(format!("IN on {column} needs a list")))
            }
        }
    }
}

fn int_value(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[8 - n..].copy_from_slice(&b[..n]);
    let v = i64::from_be_bytes(a);
    let shift = 64 - 8 * n as u32;
    if shift >= 64 {
        0
    } else {
        (v << shift) >> shift
    }
}

fn compare_op(ty: &CqlType, op: Op, have: &[u8], want: &[u8]) -> Result<bool, CqlError> {
    if matches!(op, Op::Eq | Op::Ne) {
        let eq = ty.values_equal(have, want);
        return Ok(if op == Op::Eq { eq } else { !eq });
    }
    if !ty.orderable() {
        return Err(CqlError::invalid(format!(
            "ordering comparisons on {} are not supported",
            ty.name()
        )));
    }
    let ord = ty.compare(have, want);
    Ok(match op {
        Op::Lt => ord.is_lt(),
        Op::Le => ord.is_le(),
        Op::Gt => ord.is_gt(),
        Op::Ge => ord.is_ge(),
        _ => false,
    })
}

/// Restrictions of a WHERE clause, bound to values.
struct Restrictions {
    /// Allowed values per partition key column (None: unrestricted).
    pk_values: Vec<Option<Vec<Vec<u8>>>>,
    token_low: Bound<i64>,
    token_high: Bound<i64>,
    /// Per-column filters (clustering and regular): column, op, values (one, or several for IN).
    filters: Vec<(usize, Op, Vec<Vec<u8>>)>,
}

impl Restrictions {
    fn new(
        table: &Table,
        rels: &[Relation],
        binder: &Binder<'_>,
    ) -> Result<Restrictions, CqlError> {
        let mut r = Restrictions {
            pk_values: vec![None; table.pk.len()],
            token_low: Bound::Unbounded,
            token_high: Bound::Unbounded,
            filters: Vec::new(),
        };
        for rel in rels {
            match &rel.lhs {
                Lhs::Token(cols) => {
                    let pk_names: Vec<&str> = table
                        .pk
                        .iter()
                        .map(|&i| table.columns[i].name.as_str())
                        .collect();
                    if cols.iter().map(String::as_str).collect::<Vec<_>>() != pk_names {
                        return Err(CqlError::invalid(format!(
                            "token() must name the partition key columns ({}) in order",
                            pk_names.join(", ")
                        )));
                    }
                    let b = binder.required(&rel.rhs, &CqlType::BigInt, "partition key token")?;
                    let t = int_value(&b);
                    match rel.op {
                        Op::Gt => r.token_low = Bound::Excluded(t),
                        Op::Ge => r.token_low = Bound::Included(t),
                        Op::Lt => r.token_high = Bound::Excluded(t),
                        Op::Le => r.token_high = Bound::Included(t),
                        Op::Eq => {
                            r.token_low = Bound::Included(t);
                            r.token_high = Bound::Included(t);
                        }
                        _ => {
                            return Err(CqlError::invalid("token() supports =, <, <=, >, >= only"));
                        }
                    }
                }
                Lhs::Column(name) => {
                    let ci = table.column(name)?;
                    let col = &table.columns[ci];
                    let values = if rel.op == Op::In {
                        binder.list(&rel.rhs, &col.ty, name)?
                    } else {
                        vec![binder.required(&rel.rhs, &col.ty, name)?]
                    };
                    match col.kind {
                        Kind::Partition(p) => {
                            if !matches!(rel.op, Op::Eq | Op::In) {
                                return Err(CqlError::invalid(format!(
                                    "only = and IN are supported on partition key column {name} (use token() for ranges)"
                                )));
                            }
                            if r.pk_values[p].replace(values).is_some() {
                                return Err(CqlError::invalid(format!(
                                    "{name} cannot be restricted by more than one relation"
                                )));
                            }
                        }
                        _ => r.filters.push((ci, rel.op, values)),
                    }
                }
            }
        }
        Ok(r)
    }

    fn pk_complete(&self) -> bool {
        self.pk_values.iter().all(Option::is_some)
    }

    fn pk_partial(&self) -> bool {
        self.pk_values.iter().any(Option::is_some) && !self.pk_complete()
    }

    /// Whether the clustering restrictions select a slice without filtering: equalities (or IN)
    /// on a prefix, then at most one column with a range.
    fn clustering_is_slice(&self, table: &Table) -> bool {
        let mut open = true;
        let mut range_seen = false;
        for &ci in &table.ck {
            let ops: Vec<Op> = self
                .filters
                .iter()
                .filter(|f| f.0 == ci)
                .map(|f| f.1)
                .collect();
            if ops.is_empty() {
                open = false;
                continue;
            }
            if !open || range_seen {
                return false;
            }
            if ops.iter().any(|o| matches!(o, Op::Eq | Op::In)) {
                if ops.len() > 1 {
                    return false;
                }
            } else {
                range_seen = true;
            }
        }
        true
    }

    fn needs_filtering(&self, table: &Table) -> Option<String> {
        if self.pk_partial() {
            return Some("the partition key is only partly restricted".into());
        }
        for (ci, _, _) in &self.filters {
            if table.columns[*ci].kind == Kind::Regular {
                return Some(format!(
                    "non-key column {} is restricted",
                    table.columns[*ci].name
                ));
            }
        }
        if self.filters.is_empty() {
            return None;
        }
        if !self.pk_complete() {
            return Some("clustering columns are restricted without the partition key".into());
        }
        if !self.clustering_is_slice(table) {
            return Some("clustering restrictions skip a preceding clustering column".into());
        }
        None
    }

    fn row_matches(&self, table: &Table, pk: &PartitionKey, row: &Row) -> Result<bool, CqlError> {
        if !(self.token_low, self.token_high).contains(&pk.0) {
            return Ok(false);
        }
        for (p, allowed) in self.pk_values.iter().enumerate() {
            if let Some(allowed) = allowed {
                let have = row[table.pk[p]].as_deref().unwrap_or_default();
                if !allowed.iter().any(|a| a.as_slice() == have) {
                    return Ok(false);
                }
            }
        }
        for (ci, op, values) in &self.filters {
            let ty = &table.columns[*ci].ty;
            let Some(have) = row[*ci].as_deref() else {
                return Ok(false);
            };
            let ok = if *op == Op::In {
                values.iter().any(|v| ty.values_equal(have, v))
            } else {
                compare_op(ty, *op, have, &values[0])?
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The partitions to visit, in ring order.
    fn partitions(&self, table: &Table) -> Vec<PartitionKey> {
        self.partition_iter(table).map(|(k, _)| k.clone()).collect()
    }

    /// The partitions to visit with their rows, in ring order, visited lazily.
    fn partition_iter<'t>(
        &self,
        table: &'t Table,
    ) -> Box<dyn Iterator<Item = (&'t PartitionKey, &'t Partition)> + 't> {
        if self.pk_complete() {
            let mut keys: Vec<Vec<&[u8]>> = vec![Vec::new()];
            for vals in self.pk_values.iter().flatten() {
                keys = keys
                    .into_iter()
                    .flat_map(|prefix| {
                        vals.iter().map(move |v| {
                            let mut k = prefix.clone();
                            k.push(v.as_slice());
                            k
                        })
                    })
                    .collect();
            }
            let mut out: Vec<PartitionKey> = keys.iter().map(|k| table.partition_key(k)).collect();
            out.sort();
            out.dedup();
            Box::new(
                out.into_iter()
                    .filter_map(move |k| table.partitions.get_key_value(&k)),
            )
        } else {
            let low = match self.token_low {
                Bound::Included(t) => Bound::Included((t, Vec::new())),
                Bound::Excluded(t) if t == i64::MAX => return Box::new(std::iter::empty()),
                Bound::Excluded(t) => Bound::Included((t + 1, Vec::new())),
                Bound::Unbounded => Bound::Unbounded,
            };
            let high = self.token_high;
            Box::new(
                table.partitions.range((low, Bound::Unbounded)).take_while(
                    move |(k, _)| match high {
                        Bound::Included(t) => k.0 <= t,
                        Bound::Excluded(t) => k.0 < t,
                        Bound::Unbounded => true,
                    },
                ),
            )
        }
    }
}

/// The result of a lightweight transaction.
fn lwt_result(
    ks: &str,
    table: &str,
    applied: bool,
    extra: Vec<(String, CqlType, Cell)>,
) -> Outcome {
    let mut columns = vec![("[applied]".to_string(), CqlType::Boolean)];
    let mut row = vec![Some(vec![u8::from(applied)])];
    for (n, t, v) in extra {
        columns.push((n, t));
        row.push(v);
    }
    Outcome::Rows(Rows {
        keyspace: ks.into(),
        table: table.into(),
        columns,
        rows: vec![row],
    })
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// An engine with only the system keyspaces.
    pub fn new() -> Engine {
        let mut e = Engine {
            keyspaces: BTreeMap::new(),
        };
        let t = |cols: &[(&str, CqlType)], pk: &[&str], ck: &[&str]| {
            let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            Table::new(
                cols.iter()
                    .map(|(n, t)| (n.to_string(), t.clone()))
                    .collect(),
                &own(pk),
                &own(ck),
            )
        };
        use CqlType::*;
        let set_text = Set(Box::new(Text));
        let list_text = List(Box::new(Text));
        let system: Vec<(&str, Result<Table, CqlError>)> = vec![
            (
                "local",
                t(
                    &[
                        ("key", Text),
                        ("bootstrapped", Text),
                        ("broadcast_address", Inet),
                        ("cluster_name", Text),
                        ("cql_version", Text),
                        ("data_center", Text),
                        ("host_id", Uuid),
                        ("listen_address", Inet),
                        ("native_protocol_version", Text),
                        ("partitioner", Text),
                        ("rack", Text),
                        ("release_version", Text),
                        ("rpc_address", Inet),
                        ("rpc_port", Int),
                        ("schema_version", Uuid),
                        ("tokens", set_text.clone()),
                    ],
                    &["key"],
                    &[],
                ),
            ),
            (
                "peers",
                t(
                    &[
                        ("peer", Inet),
                        ("data_center", Text),
                        ("host_id", Uuid),
                        ("preferred_ip", Inet),
                        ("rack", Text),
                        ("release_version", Text),
                        ("rpc_address", Inet),
                        ("schema_version", Uuid),
                        ("tokens", set_text.clone()),
                    ],
                    &["peer"],
                    &[],
                ),
            ),
            (
                "peers_v2",
                t(
                    &[
                        ("peer", Inet),
                        ("peer_port", Int),
                        ("data_center", Text),
                        ("host_id", Uuid),
                        ("native_address", Inet),
                        ("native_port", Int),
                        ("preferred_ip", Inet),
                        ("preferred_port", Int),
                        ("rack", Text),
                        ("release_version", Text),
                        ("schema_version", Uuid),
                        ("tokens", set_text),
                    ],
                    &["peer"],
                    &["peer_port"],
                ),
            ),
        ];
        let schema: Vec<(&str, Result<Table, CqlError>)> = vec![
            (
                "keyspaces",
                t(
                    &[
                        ("keyspace_name", Text),
                        ("durable_writes", Boolean),
                        ("replication", Map(Box::new(Text), Box::new(Text))),
                    ],
                    &["keyspace_name"],
                    &[],
                ),
            ),
            (
                "tables",
                t(
                    &[
                        ("keyspace_name", Text),
                        ("table_name", Text),
                        ("comment", Text),
                        ("id", Uuid),
                    ],
                    &["keyspace_name"],
                    &["table_name"],
                ),
            ),
            (
                "columns",
                t(
                    &[
                        ("keyspace_name", Text),
                        ("table_name", Text),
                        ("column_name", Text),
                        ("clustering_order", Text),
                        ("column_name_bytes", Blob),
                        ("kind", Text),
                        ("position", Int),
                        ("type", Text),
                    ],
                    &["keyspace_name"],
                    &["table_name", "column_name"],
                ),
            ),
            (
                "types",
                t(
                    &[
                        ("keyspace_name", Text),
                        ("type_name", Text),
                        ("field_names", list_text.clone()),
                        ("field_types", list_text),
                    ],
                    &["keyspace_name"],
                    &["type_name"],
                ),
            ),
            (
                "views",
                t(
                    &[
                        ("keyspace_name", Text),
                        ("view_name", Text),
                        ("base_table_name", Text),
                        ("id", Uuid),
                    ],
                    &["keyspace_name"],
                    &["view_name"],
                ),
            ),
        ];
        for (ks, tables) in [("system", system), ("system_schema", schema)] {
            let mut k = Keyspace {
                replication: vec![("class".into(), "LocalStrategy".into())],
                tables: BTreeMap::new(),
            };
            for (name, table) in tables {
                // The definitions above are fixed; a failure would be a bug caught by every test.
                if let Ok(table) = table {
                    k.tables.insert(name.into(), table);
                }
            }
            e.keyspaces.insert(ks.into(), k);
        }
        e.refresh_schema_tables();
        e
    }

    fn put_row(&mut self, ks: &str, table: &str, row: Row) {
        if let Some(t) = self
            .keyspaces
            .get_mut(ks)
            .and_then(|k| k.tables.get_mut(table))
            && let Ok(loc) = t.row_location(&row)
        {
            t.partitions.entry(loc.0).or_default().insert(loc.1, row);
        }
    }

    fn clear(&mut self, ks: &str, table: &str) {
        if let Some(t) = self
            .keyspaces
            .get_mut(ks)
            .and_then(|k| k.tables.get_mut(table))
        {
            t.partitions.clear();
        }
    }

    /// Rewrites `system.local` for a connection that reached the server at `ip`.
    fn refresh_local(&mut self, ip: IpAddr) {
        let inet = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        self.clear("system", "local");
        let row = vec![
            text("local"),
            text("COMPLETED"),
            Some(inet.clone()),
            text("Vessel CQL test server"),
            text("3.4.5"),
            text(DATACENTER),
            Some(HOST_ID.to_vec()),
            Some(inet.clone()),
            text("4"),
            text("org.apache.cassandra.dht.Murmur3Partitioner"),
            text("rack1"),
            text("4.0.0"),
            Some(inet),
            Some(9042i32.to_be_bytes().to_vec()),
            Some(SCHEMA_VERSION.to_vec()),
            // One node owns the whole ring; any single token says so.
            Some(collection(&[b"0".to_vec()])),
        ];
        self.put_row("system", "local", row);
    }

    /// Rebuilds `system_schema` from the catalog.
    fn refresh_schema_tables(&mut self) {
        for t in ["keyspaces", "tables", "columns"] {
            self.clear("system_schema", t);
        }
        let mut rows: Vec<(&str, Row)> = Vec::new();
        for (ks, k) in &self.keyspaces {
            let mut map = (k.replication.len() as i32).to_be_bytes().to_vec();
            for (key, v) in &k.replication {
                for s in [key, v] {
                    map.extend_from_slice(&(s.len() as i32).to_be_bytes());
                    map.extend_from_slice(s.as_bytes());
                }
            }
            rows.push(("keyspaces", vec![text(ks), Some(vec![1]), Some(map)]));
            for (tn, t) in &k.tables {
                let id = murmur::hash3_x64_128(format!("{ks}.{tn}").as_bytes());
                let mut uuid = id.0.to_be_bytes().to_vec();
                uuid.extend_from_slice(&id.1.to_be_bytes());
                rows.push(("tables", vec![text(ks), text(tn), text(""), Some(uuid)]));
                for c in &t.columns {
                    let (kind, pos, order) = match c.kind {
                        Kind::Partition(p) => ("partition_key", p as i32, "none"),
                        Kind::Clustering(p) => ("clustering", p as i32, "asc"),
                        Kind::Regular => ("regular", -1, "none"),
                    };
                    rows.push((
                        "columns",
                        vec![
                            text(ks),
                            text(tn),
                            text(&c.name),
                            text(order),
                            Some(c.name.as_bytes().to_vec()),
                            text(kind),
                            Some(pos.to_be_bytes().to_vec()),
                            text(&c.ty.name()),
                        ],
                    ));
                }
            }
        }
        for (t, row) in rows {
            // Reorder from declaration order to the table's column order.
            let Some(table) = self
                .keyspaces
                .get("system_schema")
                .and_then(|k| k.tables.get(t))
            else {
                continue;
            };
            let decl: &[&str] = match t {
                "keyspaces" => &["keyspace_name", "durable_writes", "replication"],
                "tables" => &["keyspace_name", "table_name", "comment", "id"],
                _ => &[
                    "keyspace_name",
                    "table_name",
                    "column_name",
                    "clustering_order",
                    "column_name_bytes",
                    "kind",
                    "position",
                    "type",
                ],
            };
            let mut ordered = vec![None; table.columns.len()];
            for (name, cell) in decl.iter().zip(row) {
                if let Ok(i) = table.column(name) {
                    ordered[i] = cell;
                }
            }
            self.put_row("system_schema", t, ordered);
        }
    }

    fn resolve<'a>(
        &self,
        name: &'a TableName,
        session: &'a Option<String>,
    ) -> Result<(&'a str, &'a str), CqlError> {
        let ks = name.keyspace.as_deref().or(session.as_deref()).ok_or_else(|| {
            CqlError::invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
        })?;
        Ok((ks, name.table.as_str()))
    }

    fn table(&self, ks: &str, name: &str) -> Result<&Table, CqlError> {
        let k = self
            .keyspaces
            .get(ks)
            .ok_or_else(|| CqlError::invalid(format!("Keyspace {ks} does not exist")))?;
        k.tables
            .get(name)
            .ok_or_else(|| CqlError::invalid(format!("unconfigured table {name}")))
    }

    fn table_mut(&mut self, ks: &str, name: &str) -> Result<&mut Table, CqlError> {
        if is_system(ks) {
            return Err(CqlError::invalid(format!(
                "system keyspace {ks} is read-only"
            )));
        }
        self.table(ks, name)?;
        self.keyspaces
            .get_mut(ks)
            .and_then(|k| k.tables.get_mut(name))
            .ok_or_else(|| CqlError::invalid(format!("unconfigured table {name}")))
    }

    /// Names and types of a statement's markers, for PREPARE.
    ///
    /// # Errors
    /// The errors executing the statement would give for unknown tables or columns.
    pub fn analyze(
        &self,
        st: &Statement,
        markers: usize,
        session: &Option<String>,
    ) -> Result<Analysis, CqlError> {
        let (analysis, known) = self.analyze_markers(st, markers, session)?;
        if let Some(i) = known.iter().position(|k| !k) {
            return Err(CqlError::invalid(format!(
                "bind marker {i} is in an unsupported position"
            )));
        }
        Ok(analysis)
    }

    /// Checks a statement of a batch before any of the batch runs: its table and columns
    /// exist and every value bound to its markers has the type the column needs.
    fn check_batch_statement(
        &self,
        st: &Statement,
        values: &[BoundValue],
        session: &Option<String>,
    ) -> Result<(), CqlError> {
        if let Statement::Insert {
            if_not_exists: true,
            ..
        }
        | Statement::Update {
            condition: Condition::Exists | Condition::Columns(_),
            ..
        }
        | Statement::Delete {
            condition: Condition::Exists | Condition::Columns(_),
            ..
        } = st
        {
            return Err(CqlError::invalid(
                "conditional statements in a batch are not supported",
            ));
        }
        let (analysis, known) = self.analyze_markers(st, values.len(), session)?;
        for (i, (name, ty)) in analysis.markers.iter().enumerate() {
            let (true, Some(BoundValue::Set(b))) = (known[i], values.get(i)) else {
                continue;
            };
            match ty {
                CqlType::List(inner) if name.starts_with("in(") => {
                    for item in decode_collection(b, name)? {
                        inner.validate(name, &item)?;
                    }
                }
                _ => ty.validate(name, b)?,
            }
        }
        Ok(())
    }

    /// Checks every statement of a batch before any runs, so that a batch with an unknown
    /// table or column, or a value of the wrong type, changes nothing. (A failure only found
    /// while running, such as a null key, still stops the batch after the statements before.)
    ///
    /// # Errors
    /// The first statement's error.
    pub fn check_batch<'a>(
        &self,
        items: impl Iterator<Item = (&'a Statement, &'a [BoundValue], &'a Option<String>)>,
    ) -> Result<(), CqlError> {
        for (st, values, session) in items {
            self.check_batch_statement(st, values, session)?;
        }
        Ok(())
    }

    /// Names and types of the markers a statement places, and which markers it places at all
    /// (a statement of a text batch sees only its own).
    fn analyze_markers(
        &self,
        st: &Statement,
        markers: usize,
        session: &Option<String>,
    ) -> Result<(Analysis, Vec<bool>), CqlError> {
        let mut specs: Vec<Option<(String, CqlType)>> = vec![None; markers];
        let mut pk_markers: HashMap<usize, usize> = HashMap::new();
        let set = |specs: &mut Vec<Option<(String, CqlType)>>,
                   term: &Term,
                   name: &str,
                   ty: &CqlType,
                   in_list: bool| {
            match term {
                Term::Marker(i) => {
                    if let Some(s) = specs.get_mut(*i) {
                        *s = Some(if in_list {
                            (format!("in({name})"), CqlType::List(Box::new(ty.clone())))
                        } else {
                            (name.to_string(), ty.clone())
                        });
                    }
                }
                Term::List(items) => {
                    for it in items {
                        if let Term::Marker(i) = it
                            && let Some(s) = specs.get_mut(*i)
                        {
                            *s = Some((name.to_string(), ty.clone()));
                        }
                    }
                }
                Term::Literal(_) | Term::Now => {}
            }
        };
        let empty = |result| Analysis {
            keyspace: String::new(),
            table: String::new(),
            markers: Vec::new(),
            pk_indexes: Vec::new(),
            result,
        };
        let (tn, rels, result): (&TableName, &[Relation], Option<Columns>) = match st {
            Statement::Insert {
                table,
                columns,
                values,
                ..
            } => {
                let (ks, name) = self.resolve(table, session)?;
                let t = self.table(ks, name)?;
                for (c, v) in columns.iter().zip(values) {
                    let ci = t.column(c)?;
                    set(&mut specs, v, c, &t.columns[ci].ty, false);
                    if let (Kind::Partition(p), Term::Marker(m)) = (t.columns[ci].kind, v) {
                        pk_markers.insert(p, *m);
                    }
                }
                (table, &[], None)
            }
            Statement::Update {
                table,
                assignments,
                relations,
                condition,
            } => {
                let (ks, name) = self.resolve(table, session)?;
                let t = self.table(ks, name)?;
                for (c, v) in assignments {
                    let ci = t.column(c)?;
                    set(&mut specs, v, c, &t.columns[ci].ty, false);
                }
                if let Condition::Columns(conds) = condition {
                    for (c, op, v) in conds {
                        let ci = t.column(c)?;
                        set(&mut specs, v, c, &t.columns[ci].ty, *op == Op::In);
                    }
                }
                (table, relations.as_slice(), None)
            }
            Statement::Delete {
                table,
                relations,
                condition,
            } => {
                let (ks, name) = self.resolve(table, session)?;
                let t = self.table(ks, name)?;
                if let Condition::Columns(conds) = condition {
                    for (c, op, v) in conds {
                        let ci = t.column(c)?;
                        set(&mut specs, v, c, &t.columns[ci].ty, *op == Op::In);
                    }
                }
                (table, relations.as_slice(), None)
            }
            Statement::Select {
                table,
                relations,
                limit,
                selection,
                ..
            } => {
                if let Some(l) = limit {
                    set(&mut specs, l, "[limit]", &CqlType::Int, false);
                }
                let (ks, name) = self.resolve(table, session)?;
                let t = self.table(ks, name)?;
                (
                    table,
                    relations.as_slice(),
                    Some(result_columns(t, selection)?),
                )
            }
            _ => {
                if markers > 0 {
                    return Err(CqlError::invalid(
                        "bind markers are only supported in DML and SELECT",
                    ));
                }
                return Ok((empty(None), vec![true; markers]));
            }
        };
        let (ks, name) = self.resolve(tn, session)?;
        let t = self.table(ks, name)?;
        for rel in rels {
            match &rel.lhs {
                Lhs::Token(_) => set(
                    &mut specs,
                    &rel.rhs,
                    "partition key token",
                    &CqlType::BigInt,
                    false,
                ),
                Lhs::Column(c) => {
                    let ci = t.column(c)?;
                    set(&mut specs, &rel.rhs, c, &t.columns[ci].ty, rel.op == Op::In);
                    if let (Kind::Partition(p), Op::Eq, Term::Marker(m)) =
                        (t.columns[ci].kind, rel.op, &rel.rhs)
                    {
                        pk_markers.insert(p, *m);
                    }
                }
            }
        }
        let known: Vec<bool> = specs.iter().map(Option::is_some).collect();
        let markers = specs
            .into_iter()
            .map(|s| s.unwrap_or_else(|| (String::new(), CqlType::Blob)))
            .collect();
        let pk_indexes = if (0..t.pk.len()).all(|p| pk_markers.contains_key(&p)) {
            (0..t.pk.len()).map(|p| pk_markers[&p] as u16).collect()
        } else {
            Vec::new()
        };
        Ok((
            Analysis {
                keyspace: ks.into(),
                table: name.into(),
                markers,
                pk_indexes,
                result,
            },
            known,
        ))
    }

    /// Executes a statement with its bound values.
    ///
    /// # Errors
    /// A CQL error for anything invalid or outside the supported subset.
    pub fn execute(
        &mut self,
        st: &Statement,
        values: &[BoundValue],
        session: &mut Option<String>,
        local_ip: IpAddr,
    ) -> Result<Outcome, CqlError> {
        self.execute_with_budget(st, values, session, local_ip, usize::MAX)
    }

    /// Executes a statement; a SELECT stops after `budget` rows (the server asks for what the
    /// requested page needs, plus one to know whether more follow).
    ///
    /// # Errors
    /// A CQL error for anything invalid or outside the supported subset.
    pub fn execute_with_budget(
        &mut self,
        st: &Statement,
        values: &[BoundValue],
        session: &mut Option<String>,
        local_ip: IpAddr,
        budget: usize,
    ) -> Result<Outcome, CqlError> {
        let binder = Binder { values };
        match st {
            Statement::CreateKeyspace {
                name,
                if_not_exists,
                replication,
            } => {
                if name.starts_with("system") {
                    return Err(CqlError::invalid(format!(
                        "keyspace name {name} is reserved"
                    )));
                }
                valid_name(name)?;
                if self.keyspaces.contains_key(name) {
                    return if *if_not_exists {
                        Ok(Outcome::Void)
                    } else {
                        Err(CqlError::already_exists(name, ""))
                    };
                }
                self.keyspaces.insert(
                    name.clone(),
                    Keyspace {
                        replication: replication.clone(),
                        tables: BTreeMap::new(),
                    },
                );
                self.refresh_schema_tables();
                Ok(Outcome::SchemaChange(
                    "CREATED",
                    "KEYSPACE",
                    name.clone(),
                    None,
                ))
            }
            Statement::DropKeyspace { name, if_exists } => {
                if is_system(name) {
                    return Err(CqlError::invalid(format!(
                        "system keyspace {name} cannot be dropped"
                    )));
                }
                if self.keyspaces.remove(name).is_none() {
                    return if *if_exists {
                        Ok(Outcome::Void)
                    } else {
                        Err(CqlError::invalid(format!("Keyspace {name} does not exist")))
                    };
                }
                self.refresh_schema_tables();
                Ok(Outcome::SchemaChange(
                    "DROPPED",
                    "KEYSPACE",
                    name.clone(),
                    None,
                ))
            }
            Statement::Use(name) => {
                if !self.keyspaces.contains_key(name) {
                    return Err(CqlError::invalid(format!(
                        "Keyspace '{name}' does not exist"
                    )));
                }
                *session = Some(name.clone());
                Ok(Outcome::SetKeyspace(name.clone()))
            }
            Statement::CreateTable {
                name,
                if_not_exists,
                columns,
                partition_key,
                clustering,
            } => {
                let (ks, tn) = self.resolve(name, session)?;
                let (ks, tn) = (ks.to_string(), tn.to_string());
                if is_system(&ks) {
                    return Err(CqlError::invalid(format!(
                        "system keyspace {ks} is read-only"
                    )));
                }
                valid_name(&tn)?;
                let table = Table::new(columns.clone(), partition_key, clustering)?;
                let k = self
                    .keyspaces
                    .get_mut(&ks)
                    .ok_or_else(|| CqlError::invalid(format!("Keyspace {ks} does not exist")))?;
                if k.tables.contains_key(&tn) {
                    return if *if_not_exists {
                        Ok(Outcome::Void)
                    } else {
                        Err(CqlError::already_exists(&ks, &tn))
                    };
                }
                k.tables.insert(tn.clone(), table);
                self.refresh_schema_tables();
                Ok(Outcome::SchemaChange("CREATED", "TABLE", ks, Some(tn)))
            }
            Statement::DropTable { name, if_exists } => {
                let (ks, tn) = self.resolve(name, session)?;
                let (ks, tn) = (ks.to_string(), tn.to_string());
                if is_system(&ks) {
                    return Err(CqlError::invalid(format!(
                        "system keyspace {ks} is read-only"
                    )));
                }
                let k = self
                    .keyspaces
                    .get_mut(&ks)
                    .ok_or_else(|| CqlError::invalid(format!("Keyspace {ks} does not exist")))?;
                if k.tables.remove(&tn).is_none() {
                    return if *if_exists {
                        Ok(Outcome::Void)
                    } else {
                        Err(CqlError::invalid(format!(
                            "Table '{ks}.{tn}' doesn't exist"
                        )))
                    };
                }
                self.refresh_schema_tables();
                Ok(Outcome::SchemaChange("DROPPED", "TABLE", ks, Some(tn)))
            }
            Statement::Insert {
                table,
                columns,
                values: terms,
                if_not_exists,
            } => {
                let (ks, tn) = self.resolve(table, session)?;
                let (ks, tn) = (ks.to_string(), tn.to_string());
                let t = self.table_mut(&ks, &tn)?;
                let mut row: Vec<Option<Val>> = (0..t.columns.len()).map(|_| None).collect();
                for (c, term) in columns.iter().zip(terms) {
                    let ci = t.column(c)?;
                    if row[ci].is_some() {
                        return Err(CqlError::invalid(format!(
                            "multiple definitions found for column {c}"
                        )));
                    }
                    row[ci] = Some(binder.value(term, &t.columns[ci].ty, c)?);
                }
                for &ki in t.pk.iter().chain(&t.ck) {
                    if !matches!(row[ki], Some(Val::Set(_))) {
                        return Err(CqlError::invalid(format!(
                            "Some primary key parts are missing or null: {}",
                            t.columns[ki].name
                        )));
                    }
                }
                let key_row: Row = row
                    .iter()
                    .map(|v| match v {
                        Some(Val::Set(b)) => Some(b.clone()),
                        _ => None,
                    })
                    .collect();
                let loc = t.row_location(&key_row)?;
                if *if_not_exists && let Some(existing) = t.get(&loc) {
                    let extra = t
                        .columns
                        .iter()
                        .zip(existing)
                        .map(|(c, v)| (c.name.clone(), c.ty.clone(), v.clone()))
                        .collect();
                    return Ok(lwt_result(&ks, &tn, false, extra));
                }
                let existing = t.get(&loc).cloned();
                let new_row: Row = row
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Some(Val::Set(b)) => Some(b),
                        Some(Val::Null) => None,
                        // Unset or absent: keep what the row had.
                        _ => existing.as_ref().and_then(|e| e[i].clone()),
                    })
                    .collect();
                t.partitions
                    .entry(loc.0)
                    .or_default()
                    .insert(loc.1, new_row);
                Ok(if *if_not_exists {
                    lwt_result(&ks, &tn, true, Vec::new())
                } else {
                    Outcome::Void
                })
            }
            Statement::Update {
                table,
                assignments,
                relations,
                condition,
            } => {
                let (ks, tn) = self.resolve(table, session)?;
                let (ks, tn) = (ks.to_string(), tn.to_string());
                let t = self.table_mut(&ks, &tn)?;
                let mut sets = Vec::new();
                for (c, term) in assignments {
                    let ci = t.column(c)?;
                    if t.columns[ci].kind != Kind::Regular {
                        return Err(CqlError::invalid(format!(
                            "PRIMARY KEY part {c} found in SET part"
                        )));
                    }
                    sets.push((ci, binder.value(term, &t.columns[ci].ty, c)?));
                }
                let locations = full_keys(t, relations, &binder, "UPDATE")?;
                if *condition != Condition::None {
                    let [(loc, key_row)] = locations.as_slice() else {
                        return Err(CqlError::invalid(
                            "conditional UPDATE must name exactly one row",
                        ));
                    };
                    let (applied, extra) = check_condition(t, loc, condition, &binder)?;
                    if !applied {
                        return Ok(lwt_result(&ks, &tn, false, extra));
                    }
                    apply_update(t, loc, key_row, &sets);
                    return Ok(lwt_result(&ks, &tn, true, Vec::new()));
                }
                for (loc, key_row) in &locations {
                    apply_update(t, loc, key_row, &sets);
                }
                Ok(Outcome::Void)
            }
            Statement::Delete {
                table,
                relations,
                condition,
            } => {
                let (ks, tn) = self.resolve(table, session)?;
                let (ks, tn) = (ks.to_string(), tn.to_string());
                let t = self.table_mut(&ks, &tn)?;
                if *condition != Condition::None {
                    let locations = full_keys(t, relations, &binder, "conditional DELETE")?;
                    let [(loc, _)] = locations.as_slice() else {
                        return Err(CqlError::invalid(
                            "conditional DELETE must name exactly one row",
                        ));
                    };
                    let (applied, extra) = check_condition(t, loc, condition, &binder)?;
                    if !applied {
                        return Ok(lwt_result(&ks, &tn, false, extra));
                    }
                    if let Some(p) = t.partitions.get_mut(&loc.0) {
                        p.remove(&loc.1);
                        if p.is_empty() {
                            t.partitions.remove(&loc.0);
                        }
                    }
                    return Ok(lwt_result(&ks, &tn, true, Vec::new()));
                }
                let r = Restrictions::new(t, relations, &binder)?;
                if !r.pk_complete()
                    || !matches!(r.token_low, Bound::Unbounded)
                    || !matches!(r.token_high, Bound::Unbounded)
                {
                    return Err(CqlError::invalid(
                        "DELETE needs every partition key column restricted by = or IN",
                    ));
                }
                if r.filters
                    .iter()
                    .any(|f| t.columns[f.0].kind == Kind::Regular)
                    || !r.clustering_is_slice(t)
                {
                    return Err(CqlError::invalid(
                        "DELETE may restrict only a prefix of the clustering columns (then one range)",
                    ));
                }
                for pk in r.partitions(t) {
                    let Some(part) = t.partitions.get(&pk) else {
                        continue;
                    };
                    let mut doomed = Vec::new();
                    for (ck, row) in part {
                        if r.row_matches(t, &pk, row)? {
                            doomed.push(ck.clone());
                        }
                    }
                    if let Some(part) = t.partitions.get_mut(&pk) {
                        for ck in doomed {
                            part.remove(&ck);
                        }
                        if part.is_empty() {
                            t.partitions.remove(&pk);
                        }
                    }
                }
                Ok(Outcome::Void)
            }
            Statement::Select {
                table,
                selection,
                relations,
                limit,
                allow_filtering,
            } => {
                let (ks, tn) = self.resolve(table, session)?;
                let (ks, tn) = (ks.to_string(), tn.to_string());
                if ks == "system" && tn == "local" {
                    self.refresh_local(local_ip);
                }
                let t = self.table(&ks, &tn)?;
                let columns = result_columns(t, selection)?;
                let r = Restrictions::new(t, relations, &binder)?;
                if !allow_filtering && let Some(why) = r.needs_filtering(t) {
                    return Err(CqlError::invalid(format!(
                        "Cannot execute this query as it might involve data filtering ({why}); add ALLOW FILTERING"
                    )));
                }
                let limit = match limit {
                    Some(l) => {
                        let n = int_value(&binder.required(l, &CqlType::Int, "[limit]")?);
                        if n <= 0 {
                            return Err(CqlError::invalid("LIMIT must be strictly positive"));
                        }
                        n as usize
                    }
                    None => usize::MAX,
                };
                let mut rows = Vec::new();
                let mut count: i64 = 0;
                let limit = limit.min(budget);
                'outer: for (pk, part) in r.partition_iter(t) {
                    for row in part.values() {
                        if !r.row_matches(t, pk, row)? {
                            continue;
                        }
                        if *selection == Selection::Count {
                            count += 1;
                            continue;
                        }
                        if rows.len() >= limit {
                            break 'outer;
                        }
                        rows.push(project(t, selection, pk, row)?);
                    }
                }
                if *selection == Selection::Count {
                    rows.push(vec![Some(count.to_be_bytes().to_vec())]);
                }
                Ok(Outcome::Rows(Rows {
                    keyspace: ks,
                    table: tn,
                    columns,
                    rows,
                }))
            }
            Statement::Batch(list) => {
                self.check_batch(list.iter().map(|s| (s, values, &*session)))?;
                for s in list {
                    self.execute(s, values, session, local_ip)?;
                }
                Ok(Outcome::Void)
            }
        }
    }
}

fn valid_name(name: &str) -> Result<(), CqlError> {
    if name.is_empty()
        || name.len() > 48
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(CqlError::invalid(format!(
            "name \"{name}\" must be 1 to 48 letters, digits or underscores"
        )));
    }
    Ok(())
}

fn result_columns(t: &Table, selection: &Selection) -> Result<Vec<(String, CqlType)>, CqlError> {
    Ok(match selection {
        Selection::Star => t
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect(),
        Selection::Count => vec![("count".into(), CqlType::BigInt)],
        Selection::Items(items) => items
            .iter()
            .map(|(sel, out)| match sel {
                Selector::Column(c) => Ok((out.clone(), t.columns[t.column(c)?].ty.clone())),
                Selector::Token(cols) => {
                    let pk: Vec<&str> = t.pk.iter().map(|&i| t.columns[i].name.as_str()).collect();
                    if cols.iter().map(String::as_str).collect::<Vec<_>>() != pk {
                        return Err(CqlError::invalid(format!(
                            "token() must name the partition key columns ({}) in order",
                            pk.join(", ")
                        )));
                    }
                    Ok((out.clone(), CqlType::BigInt))
                }
            })
            .collect::<Result<_, _>>()?,
    })
}

fn project(
    t: &Table,
    selection: &Selection,
    pk: &PartitionKey,
    row: &Row,
) -> Result<Row, CqlError> {
    Ok(match selection {
        Selection::Items(items) => items
            .iter()
            .map(|(sel, _)| match sel {
                Selector::Column(c) => Ok(row[t.column(c)?].clone()),
                Selector::Token(_) => Ok(Some(pk.0.to_be_bytes().to_vec())),
            })
            .collect::<Result<_, CqlError>>()?,
        _ => row.clone(),
    })
}

/// The rows named by a WHERE that must give every key column by = (or IN).
fn full_keys(
    t: &Table,
    relations: &[Relation],
    binder: &Binder<'_>,
    what: &str,
) -> Result<Vec<(Location, Row)>, CqlError> {
    let mut per_col: Vec<Option<Vec<Vec<u8>>>> = vec![None; t.columns.len()];
    for rel in relations {
        let Lhs::Column(c) = &rel.lhs else {
            return Err(CqlError::invalid(format!(
                "token() is not supported in the WHERE of {what}"
            )));
        };
        let ci = t.column(c)?;
        if t.columns[ci].kind == Kind::Regular {
            return Err(CqlError::invalid(format!(
                "non-key column {c} cannot be restricted in {what}"
            )));
        }
        let vals = match rel.op {
            Op::Eq => vec![binder.required(&rel.rhs, &t.columns[ci].ty, c)?],
            Op::In => binder.list(&rel.rhs, &t.columns[ci].ty, c)?,
            _ => {
                return Err(CqlError::invalid(format!(
                    "only = and IN are supported on {c} in {what}"
                )));
            }
        };
        if per_col[ci].replace(vals).is_some() {
            return Err(CqlError::invalid(format!(
                "{c} cannot be restricted by more than one relation"
            )));
        }
    }
    let mut rows: Vec<Row> = vec![vec![None; t.columns.len()]];
    for &ki in t.pk.iter().chain(&t.ck) {
        let vals = per_col[ki].as_ref().ok_or_else(|| {
            CqlError::invalid(format!(
                "Some primary key parts are missing: {} (in {what})",
                t.columns[ki].name
            ))
        })?;
        rows = rows
            .into_iter()
            .flat_map(|r| {
                vals.iter().map(move |v| {
                    let mut r = r.clone();
                    r[ki] = Some(v.clone());
                    r
                })
            })
            .collect();
    }
    rows.into_iter()
        .map(|r| Ok((t.row_location(&r)?, r)))
        .collect()
}

fn apply_update(
    t: &mut Table,
    loc: &(PartitionKey, Vec<u8>),
    key_row: &Row,
    sets: &[(usize, Val)],
) {
    let part = t.partitions.entry(loc.0.clone()).or_default();
    let row = part.entry(loc.1.clone()).or_insert_with(|| key_row.clone());
    for (ci, v) in sets {
        match v {
            Val::Set(b) => row[*ci] = Some(b.clone()),
            Val::Null => row[*ci] = None,
            Val::Unset => {}
        }
    }
}

/// Evaluates an `IF` clause on one row: whether it applies, and the columns to report if not.
fn check_condition(
    t: &Table,
    loc: &(PartitionKey, Vec<u8>),
    condition: &Condition,
    binder: &Binder<'_>,
) -> Result<(bool, Extra), CqlError> {
    let existing = t.get(loc);
    match condition {
        Condition::None => Ok((true, Vec::new())),
        Condition::Exists => Ok((existing.is_some(), Vec::new())),
        Condition::NotExists => Ok((existing.is_none(), Vec::new())),
        Condition::Columns(conds) => {
            let mut applied = existing.is_some();
            let mut extra: Vec<(String, CqlType, Cell)> = Vec::new();
            for (c, op, term) in conds {
                let ci = t.column(c)?;
                let col = &t.columns[ci];
                if col.kind != Kind::Regular {
                    return Err(CqlError::invalid(format!(
                        "PRIMARY KEY column {c} cannot have IF conditions"
                    )));
                }
                let have = existing.and_then(|r| r[ci].as_deref());
                let ok = if *op == Op::In {
                    let wanted = binder.list(term, &col.ty, c)?;
                    have.is_some_and(|h| wanted.iter().any(|w| col.ty.values_equal(h, w)))
                } else {
                    match (binder.value(term, &col.ty, c)?, have) {
                        (Val::Unset, _) => {
                            return Err(CqlError::invalid(format!(
                                "Invalid unset value for condition on {c}"
                            )));
                        }
                        (Val::Null, h) => match op {
                            Op::Eq => h.is_none(),
                            Op::Ne => h.is_some(),
                            _ => {
                                return Err(CqlError::invalid(format!(
                                    "Invalid comparison with null for {c}"
                                )));
                            }
                        },
                        (Val::Set(w), Some(h)) => compare_op(&col.ty, *op, h, &w)?,
                        (Val::Set(_), None) => *op == Op::Ne,
                    }
                };
                applied &= ok;
                if existing.is_some() && !extra.iter().any(|(n, _, _)| n == c) {
                    extra.push((c.clone(), col.ty.clone(), have.map(<[u8]>::to_vec)));
                }
            }
            Ok((applied, extra))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn run(e: &mut Engine, ks: &mut Option<String>, q: &str) -> Result<Outcome, CqlError> {
        let (st, _) = parse(q)?;
        e.execute(&st, &[], ks, IpAddr::from([127, 0, 0, 1]))
    }

    fn select(e: &mut Engine, ks: &mut Option<String>, q: &str) -> Vec<Row> {
        match run(e, ks, q) {
            Ok(Outcome::Rows(r)) => r.rows,
            other => panic!("{q}: {other:?}"),
        }
    }

    fn setup() -> (Engine, Option<String>) {
        let mut e = Engine::new();
        let mut ks = None;
        run(&mut e, &mut ks, "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").unwrap();
        run(&mut e, &mut ks, "USE k").unwrap();
        run(
            &mut e,
            &mut ks,
            "CREATE TABLE h (run_id int, node text, batch int, status tinyint, c text, PRIMARY KEY ((run_id), node, batch, status))",
        )
        .unwrap();
        for (node, batch, status) in [
            ("b", 2, 1),
            ("a", 10, 2),
            ("b", 1, 1),
            ("a", 9, 1),
            ("a", 10, 1),
        ] {
            run(
                &mut e,
                &mut ks,
                &format!("INSERT INTO h (run_id, node, batch, status, c) VALUES (1, '{node}', {batch}, {status}, 'x')"),
            )
            .unwrap();
        }
        (e, ks)
    }

    fn int_col(row: &Row, i: usize) -> i64 {
        int_value(row[i].as_deref().unwrap())
    }

    #[test]
    fn rows_sort_by_each_clustering_column_in_turn() {
        let (mut e, mut ks) = setup();
        let rows = select(
            &mut e,
            &mut ks,
            "SELECT node, batch, status FROM h WHERE run_id = 1",
        );
        let got: Vec<(String, i64, i64)> = rows
            .iter()
            .map(|r| {
                (
                    String::from_utf8(r[0].clone().unwrap()).unwrap(),
                    int_col(r, 1),
                    int_col(r, 2),
                )
            })
            .collect();
        let want = [
            ("a", 9, 1),
            ("a", 10, 1),
            ("a", 10, 2),
            ("b", 1, 1),
            ("b", 2, 1),
        ];
        assert_eq!(
            got,
            want.iter()
                .map(|(n, b, s)| (n.to_string(), *b, *s))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn clustering_prefixes_and_slices_need_no_filtering_but_gaps_do() {
        let (mut e, mut ks) = setup();
        assert_eq!(
            select(
                &mut e,
                &mut ks,
                "SELECT * FROM h WHERE run_id = 1 AND node = 'a'"
            )
            .len(),
            3
        );
        assert_eq!(
            select(
                &mut e,
                &mut ks,
                "SELECT * FROM h WHERE run_id = 1 AND node = 'a' AND batch >= 10"
            )
            .len(),
            2
        );
        assert_eq!(
            select(
                &mut e,
                &mut ks,
                "SELECT * FROM h WHERE run_id = 1 AND node IN ('a', 'b') AND batch = 10"
            )
            .len(),
            2
        );
        let gap = run(
            &mut e,
            &mut ks,
            "SELECT * FROM h WHERE run_id = 1 AND batch = 10",
        );
        assert!(
            matches!(gap, Err(ref err) if err.code == crate::error::INVALID),
            "{gap:?}"
        );
        assert_eq!(
            select(
                &mut e,
                &mut ks,
                "SELECT * FROM h WHERE run_id = 1 AND batch = 10 ALLOW FILTERING"
            )
            .len(),
            2
        );
        let no_pk = run(&mut e, &mut ks, "SELECT * FROM h WHERE node = 'a'");
        assert!(no_pk.is_err());
    }

    #[test]
    fn deletes_remove_exact_rows_prefixes_and_slices() {
        let (mut e, mut ks) = setup();
        run(
            &mut e,
            &mut ks,
            "DELETE FROM h WHERE run_id = 1 AND node = 'a' AND batch = 10 AND status = 2",
        )
        .unwrap();
        assert_eq!(
            select(&mut e, &mut ks, "SELECT * FROM h WHERE run_id = 1").len(),
            4
        );
        run(
            &mut e,
            &mut ks,
            "DELETE FROM h WHERE run_id = 1 AND node = 'b' AND batch < 2",
        )
        .unwrap();
        assert_eq!(
            select(&mut e, &mut ks, "SELECT * FROM h WHERE run_id = 1").len(),
            3
        );
        run(
            &mut e,
            &mut ks,
            "DELETE FROM h WHERE run_id = 1 AND node = 'a'",
        )
        .unwrap();
        assert_eq!(
            select(&mut e, &mut ks, "SELECT * FROM h WHERE run_id = 1").len(),
            1
        );
        assert!(run(&mut e, &mut ks, "DELETE FROM h WHERE node = 'b'").is_err());
        run(&mut e, &mut ks, "DELETE FROM h WHERE run_id IN (1, 2)").unwrap();
        let count = select(&mut e, &mut ks, "SELECT COUNT(*) FROM h");
        assert_eq!(int_col(&count[0], 0), 0);
    }

    #[test]
    fn insert_needs_the_whole_key_and_system_keyspaces_are_read_only() {
        let (mut e, mut ks) = setup();
        assert!(
            run(
                &mut e,
                &mut ks,
                "INSERT INTO h (run_id, node) VALUES (1, 'a')"
            )
            .is_err()
        );
        assert!(
            run(
                &mut e,
                &mut ks,
                "INSERT INTO system.local (key) VALUES ('x')"
            )
            .is_err()
        );
        assert!(run(&mut e, &mut ks, "DROP KEYSPACE system").is_err());
        assert!(
            run(
                &mut e,
                &mut ks,
                "CREATE KEYSPACE system_x WITH replication = {'class': 'SimpleStrategy'}"
            )
            .is_err()
        );
        let dup = run(
            &mut e,
            &mut ks,
            "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy'}",
        );
        assert!(matches!(dup, Err(ref err) if err.code == crate::error::ALREADY_EXISTS));
    }

    #[test]
    fn a_batch_with_a_bad_statement_changes_nothing() {
        let (mut e, mut ks) = setup();
        let bad = run(
            &mut e,
            &mut ks,
            "BEGIN BATCH DELETE FROM h WHERE run_id = 1; INSERT INTO h (run_id, node, batch, status, nope) VALUES (1, 'a', 1, 1, 'x') APPLY BATCH",
        );
        assert!(bad.is_err());
        assert_eq!(
            select(&mut e, &mut ks, "SELECT * FROM h WHERE run_id = 1").len(),
            5
        );
        let conditional = run(
            &mut e,
            &mut ks,
            "BEGIN UNLOGGED BATCH DELETE FROM h WHERE run_id = 1; INSERT INTO h (run_id, node, batch, status) VALUES (2, 'a', 1, 1) IF NOT EXISTS APPLY BATCH",
        );
        assert!(conditional.is_err());
        assert_eq!(
            select(&mut e, &mut ks, "SELECT * FROM h WHERE run_id = 1").len(),
            5
        );
        run(
            &mut e,
            &mut ks,
            "BEGIN UNLOGGED BATCH DELETE FROM h WHERE run_id = 1 AND node = 'a'; DELETE FROM h WHERE run_id = 1 AND node = 'b' AND batch = 1 APPLY BATCH",
        )
        .unwrap();
        assert_eq!(
            select(&mut e, &mut ks, "SELECT * FROM h WHERE run_id = 1").len(),
            1
        );
    }

    #[test]
    fn conditional_delete_and_update_if_exists() {
        let (mut e, mut ks) = setup();
        let applied = |o: Outcome| match o {
            Outcome::Rows(r) => r.rows[0][0] == Some(vec![1]),
            other => panic!("{other:?}"),
        };
        let key = "run_id = 1 AND node = 'a' AND batch = 9 AND status = 1";
        assert!(applied(
            run(
                &mut e,
                &mut ks,
                &format!("UPDATE h SET c = 'y' WHERE {key} IF c = 'x'")
            )
            .unwrap()
        ));
        assert!(!applied(
            run(
                &mut e,
                &mut ks,
                &format!("UPDATE h SET c = 'z' WHERE {key} IF c = 'x'")
            )
            .unwrap()
        ));
        assert!(applied(
            run(
                &mut e,
                &mut ks,
                &format!("DELETE FROM h WHERE {key} IF EXISTS")
            )
            .unwrap()
        ));
        assert!(!applied(
            run(
                &mut e,
                &mut ks,
                &format!("DELETE FROM h WHERE {key} IF EXISTS")
            )
            .unwrap()
        ));
        assert!(!applied(
            run(
                &mut e,
                &mut ks,
                &format!("UPDATE h SET c = 'q' WHERE {key} IF EXISTS")
            )
            .unwrap()
        ));
    }
}
