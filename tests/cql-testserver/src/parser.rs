//! A parser for the CQL subset the server understands.
//!
//! Anything outside the subset is a syntax error that names what was not understood.

use crate::error::CqlError;
use crate::types::{CqlType, Literal};

/// A table name, optionally qualified by its keyspace.
#[derive(Debug, Clone, PartialEq)]
pub struct TableName {
    /// The keyspace, when written.
    pub keyspace: Option<String>,
    /// The table.
    pub table: String,
}

/// A value in a statement: a literal, a bind marker, or a parenthesised list (for `IN`).
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A constant.
    Literal(Literal),
    /// The n-th `?` of the statement (0-based).
    Marker(usize),
    /// `( t1, t2, ... )`
    List(Vec<Term>),
    /// `toTimestamp(now())`: the server's clock when the statement runs.
    Now,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `IN`
    In,
}

/// The left side of a `WHERE` relation.
#[derive(Debug, Clone, PartialEq)]
pub enum Lhs {
    /// A column.
    Column(String),
    /// `token(c1, c2, ...)`
    Token(Vec<String>),
}

/// One `WHERE` relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// Left side.
    pub lhs: Lhs,
    /// Operator.
    pub op: Op,
    /// Right side.
    pub rhs: Term,
}

/// A lightweight-transaction condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No condition.
    None,
    /// `IF NOT EXISTS`
    NotExists,
    /// `IF EXISTS`
    Exists,
    /// `IF col op term AND ...`
    Columns(Vec<(String, Op, Term)>),
}

/// One selected item.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// A column.
    Column(String),
    /// `token(c1, ...)`
    Token(Vec<String>),
}

/// What a `SELECT` returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// `*`
    Star,
    /// `COUNT(*)` / `COUNT(1)`
    Count,
    /// A list of selectors, each with its output name.
    Items(Vec<(Selector, String)>),
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `CREATE KEYSPACE`
    CreateKeyspace {
        /// Name.
        name: String,
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// Replication options.
        replication: Vec<(String, String)>,
    },
    /// `DROP KEYSPACE`
    DropKeyspace {
        /// Name.
        name: String,
        /// `IF EXISTS`
        if_exists: bool,
    },
    /// `USE`
    Use(String),
    /// `CREATE TABLE`
    CreateTable {
        /// Name.
        name: TableName,
        /// `IF NOT EXISTS`
        if_not_exists: bool,
        /// Columns in declaration order.
        columns: Vec<(String, CqlType)>,
        /// Partition key columns.
        partition_key: Vec<String>,
        /// Clustering columns.
        clustering: Vec<String>,
    },
    /// `DROP TABLE`
    DropTable {
        /// Name.
        name: TableName,
        /// `IF EXISTS`
        if_exists: bool,
    },
    /// `INSERT`
    Insert {
        /// Table.
        table: TableName,
        /// Columns.
        columns: Vec<String>,
        /// Values, one per column.
        values: Vec<Term>,
        /// `IF NOT EXISTS`
        if_not_exists: bool,
    },
    /// `UPDATE`
    Update {
        /// Table.
        table: TableName,
        /// `SET` assignments.
        assignments: Vec<(String, Term)>,
        /// `WHERE`
        relations: Vec<Relation>,
        /// `IF ...`
        condition: Condition,
    },
    /// `DELETE FROM`
    Delete {
        /// Table.
        table: TableName,
        /// `WHERE`
        relations: Vec<Relation>,
        /// `IF EXISTS` or column conditions.
        condition: Condition,
    },
    /// `SELECT`
    Select {
        /// Table.
        table: TableName,
        /// What to return.
        selection: Selection,
        /// `WHERE`
        relations: Vec<Relation>,
        /// `LIMIT`
        limit: Option<Term>,
        /// `ALLOW FILTERING`
        allow_filtering: bool,
    },
    /// `BEGIN [UNLOGGED] BATCH ... APPLY BATCH`
    Batch(Vec<Statement>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Str(String),
    Int(String),
    Float(String),
    Hex(Vec<u8>),
    Uuid([u8; 16]),
    Sym(&'static str),
}

fn is_uuid_at(s: &[u8]) -> Option<[u8; 16]> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    if s.len() < 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut nibbles = Vec::with_capacity(32);
    let mut pos = 0;
    for (g, &len) in GROUPS.iter().enumerate() {
        for _ in 0..len {
            let c = *s.get(pos)?;
            nibbles.push((c as char).to_digit(16)? as u8);
            pos += 1;
        }
        if g < 4 {
            if s.get(pos) != Some(&b'-') {
                return None;
            }
            pos += 1;
        }
    }
    if s.get(pos)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibbles[2 * i] << 4) | nibbles[2 * i + 1];
    }
    Some(out)
}

fn tokenize(src: &str) -> Result<Vec<Tok>, CqlError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') || c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if let Some(u) = is_uuid_at(&b[i..]) {
            out.push(Tok::Uuid(u));
            i += 36;
            continue;
        }
        if c == b'\'' || c == b'"' {
            let mut s = Vec::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(CqlError::syntax("unterminated quoted text")),
                    Some(&q) if q == c => {
                        if b.get(i + 1) == Some(&c) {
                            s.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&x) => {
                        s.push(x);
                        i += 1;
                    }
                }
            }
            let s = String::from_utf8(s).map_err(|_| CqlError::syntax("text is not UTF-8"))?;
            out.push(if c == b'\'' {
                Tok::Str(s)
            } else {
                Tok::Quoted(s)
            });
            continue;
        }
        if c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
            let start = i + 2;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_hexdigit() {
                j += 1;
            }
            let hex = &src[start..j];
            if !hex.len().is_multiple_of(2) {
                return Err(CqlError::syntax(format!(
                    "odd-length blob constant 0x{hex}"
                )));
            }
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|k| u8::from_str_radix(&hex[k..k + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| CqlError::syntax("invalid blob constant"))?;
            out.push(Tok::Hex(bytes));
            i = j;
            continue;
        }
        let negative_number = c == b'-' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit());
        if c.is_ascii_digit() || negative_number {
            let start = i;
            i += 1;
            let mut float = false;
            while i < b.len() {
                let d = b[i];
                if d.is_ascii_digit() {
                    i += 1;
                } else if d == b'.' && !float {
                    float = true;
                    i += 1;
                } else if (d == b'e' || d == b'E')
                    && b.get(i + 1)
                        .is_some_and(|n| n.is_ascii_digit() || *n == b'-' || *n == b'+')
                {
                    float = true;
                    i += 2;
                } else {
                    break;
                }
            }
            let text = src[start..i].to_string();
            out.push(if float {
                Tok::Float(text)
            } else {
                Tok::Int(text)
            });
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(src[start..i].to_string()));
            continue;
        }
        let two = src.get(i..i + 2).unwrap_or("");
        let sym2 = ["<=", ">=", "!="].into_iter().find(|s| *s == two);
        if let Some(s) = sym2 {
            out.push(Tok::Sym(s));
            i += 2;
            continue;
        }
        let one = [
            "(", ")", ",", ";", "=", "<", ">", "?", "*", ".", "{", "}", ":", "[", "]",
        ]
        .into_iter()
        .find(|s| s.as_bytes()[0] == c);
        match one {
            Some(s) => {
                out.push(Tok::Sym(s));
                i += 1;
            }
            None => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(CqlError::syntax(format!("unexpected character '{ch}'")));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    markers: usize,
}

/// Parses one statement (a trailing `;` is allowed).
///
/// # Errors
/// A syntax error naming what is not understood or not supported.
pub fn parse(src: &str) -> Result<(Statement, usize), CqlError> {
    let mut p = Parser {
        toks: tokenize(src)?,
        pos: 0,
        markers: 0,
    };
    let st = p.statement()?;
    p.eat_sym(";");
    if p.pos < p.toks.len() {
        return Err(p.unexpected("end of statement"));
    }
    Ok((st, p.markers))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn describe(t: Option<&Tok>) -> String {
        match t {
            None => "end of statement".into(),
            Some(Tok::Ident(s)) => s.clone(),
            Some(Tok::Quoted(s)) => format!("\"{s}\""),
            Some(Tok::Str(s)) => format!("'{s}'"),
            Some(Tok::Int(s) | Tok::Float(s)) => s.clone(),
            Some(Tok::Hex(_)) => "blob constant".into(),
            Some(Tok::Uuid(_)) => "uuid constant".into(),
            Some(Tok::Sym(s)) => (*s).into(),
        }
    }

    fn unexpected(&self, expected: &str) -> CqlError {
        CqlError::syntax(format!(
            "expected {expected}, found {} (this test server supports only a subset of CQL)",
            Self::describe(self.peek())
        ))
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn kw(&mut self, kw: &str) -> Result<(), CqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&kw.to_ascii_uppercase()))
        }
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(x)) if *x == s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn sym(&mut self, s: &str) -> Result<(), CqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("'{s}'")))
        }
    }

    fn ident(&mut self) -> Result<String, CqlError> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.to_ascii_lowercase();
                self.pos += 1;
                Ok(s)
            }
            Some(Tok::Quoted(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected("a name")),
        }
    }

    fn table_name(&mut self) -> Result<TableName, CqlError> {
        let first = self.ident()?;
        if self.eat_sym(".") {
            Ok(TableName {
                keyspace: Some(first),
                table: self.ident()?,
            })
        } else {
            Ok(TableName {
                keyspace: None,
                table: first,
            })
        }
    }

    fn if_not_exists(&mut self) -> Result<bool, CqlError> {
        if self.eat_kw("if") {
            self.kw("not")?;
            self.kw("exists")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn if_exists(&mut self) -> Result<bool, CqlError> {
        if self.eat_kw("if") {
            self.kw("exists")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn statement(&mut self) -> Result<Statement, CqlError> {
        if self.eat_kw("create") {
            if self.eat_kw("keyspace") {
                return self.create_keyspace();
            }
            if self.eat_kw("table") || self.eat_kw("columnfamily") {
                return self.create_table();
            }
            return Err(self.unexpected("KEYSPACE or TABLE after CREATE"));
        }
        if self.eat_kw("drop") {
            if self.eat_kw("keyspace") {
                let if_exists = self.if_exists()?;
                return Ok(Statement::DropKeyspace {
                    if_exists,
                    name: self.ident()?,
                });
            }
            if self.eat_kw("table") || self.eat_kw("columnfamily") {
                let if_exists = self.if_exists()?;
                return Ok(Statement::DropTable {
                    if_exists,
                    name: self.table_name()?,
                });
            }
            return Err(self.unexpected("KEYSPACE or TABLE after DROP"));
        }
        if self.eat_kw("use") {
            return Ok(Statement::Use(self.ident()?));
        }
        if self.eat_kw("insert") {
            return self.insert();
        }
        if self.eat_kw("update") {
            return self.update();
        }
        if self.eat_kw("delete") {
            return self.delete();
        }
        if self.eat_kw("select") {
            return self.select();
        }
        if self.eat_kw("begin") {
            if !self.eat_kw("unlogged") {
                self.eat_kw("logged");
            }
            self.kw("batch")?;
            let mut list = Vec::new();
            loop {
                if self.eat_kw("apply") {
                    self.kw("batch")?;
                    return Ok(Statement::Batch(list));
                }
                let st = self.statement()?;
                if !matches!(
                    st,
                    Statement::Insert { .. } | Statement::Update { .. } | Statement::Delete { .. }
                ) {
                    return Err(CqlError::syntax(
                        "a batch may only hold INSERT, UPDATE and DELETE",
                    ));
                }
                list.push(st);
                self.eat_sym(";");
            }
        }
        Err(self.unexpected("CREATE, DROP, USE, INSERT, UPDATE, DELETE, SELECT or BEGIN BATCH"))
    }

    fn create_keyspace(&mut self) -> Result<Statement, CqlError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.ident()?;
        self.kw("with")?;
        let mut replication = Vec::new();
        loop {
            let option = self.ident()?;
            self.sym("=")?;
            match option.as_str() {
                "replication" => {
                    let Literal::Map(entries) = self.literal()? else {
                        return Err(CqlError::syntax(
                            "replication must be a map { 'class': ... }",
                        ));
                    };
                    replication = entries
                        .into_iter()
                        .map(|(k, v)| (k.as_text(), v.as_text()))
                        .collect();
                }
                "durable_writes" => {
                    self.literal()?;
                }
                other => {
                    return Err(CqlError::syntax(format!(
                        "keyspace option {other} is not supported"
                    )));
                }
            }
            if !self.eat_kw("and") {
                break;
            }
        }
        if !replication.iter().any(|(k, _)| k == "class") {
            return Err(CqlError::syntax("replication needs a 'class'"));
        }
        Ok(Statement::CreateKeyspace {
            name,
            if_not_exists,
            replication,
        })
    }

    fn cql_type(&mut self) -> Result<CqlType, CqlError> {
        let name = self.ident()?;
        let collection = |p: &mut Parser, n: usize| -> Result<Vec<CqlType>, CqlError> {
            p.sym("<")?;
            let mut v = vec![p.cql_type()?];
            for _ in 1..n {
                p.sym(",")?;
                v.push(p.cql_type()?);
            }
            p.sym(">")?;
            Ok(v)
        };
        match name.as_str() {
            "list" => Ok(CqlType::List(Box::new(collection(self, 1)?.remove(0)))),
            "set" => Ok(CqlType::Set(Box::new(collection(self, 1)?.remove(0)))),
            "map" => {
                let mut kv = collection(self, 2)?;
                let v = kv.remove(1);
                Ok(CqlType::Map(Box::new(kv.remove(0)), Box::new(v)))
            }
            _ => CqlType::from_name(&name)
                .ok_or_else(|| CqlError::syntax(format!("column type {name} is not supported"))),
        }
    }

    fn ident_list(&mut self) -> Result<Vec<String>, CqlError> {
        self.sym("(")?;
        let mut v = vec![self.ident()?];
        while self.eat_sym(",") {
            v.push(self.ident()?);
        }
        self.sym(")")?;
        Ok(v)
    }

    fn create_table(&mut self) -> Result<Statement, CqlError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.table_name()?;
        self.sym("(")?;
        let mut columns = Vec::new();
        let mut key: Option<(Vec<String>, Vec<String>)> = None;
        loop {
            if self.eat_kw("primary") {
                self.kw("key")?;
                self.sym("(")?;
                let partition = if matches!(self.peek(), Some(Tok::Sym("("))) {
                    self.ident_list()?
                } else {
                    vec![self.ident()?]
                };
                let mut clustering = Vec::new();
                while self.eat_sym(",") {
                    clustering.push(self.ident()?);
                }
                self.sym(")")?;
                if key.replace((partition, clustering)).is_some() {
                    return Err(CqlError::invalid("more than one PRIMARY KEY"));
                }
            } else {
                let col = self.ident()?;
                let ty = self.cql_type()?;
                if self.eat_kw("primary") {
                    self.kw("key")?;
                    if key.replace((vec![col.clone()], Vec::new())).is_some() {
                        return Err(CqlError::invalid("more than one PRIMARY KEY"));
                    }
                }
                columns.push((col, ty));
            }
            if !self.eat_sym(",") {
                break;
            }
            if matches!(self.peek(), Some(Tok::Sym(")"))) {
                break;
            }
        }
        self.sym(")")?;
        if self.eat_kw("with") {
            self.table_options()?;
        }
        let (partition_key, clustering) =
            key.ok_or_else(|| CqlError::invalid("a table needs a PRIMARY KEY"))?;
        Ok(Statement::CreateTable {
            name,
            if_not_exists,
            columns,
            partition_key,
            clustering,
        })
    }

    /// Table options: those that only tune storage on a real cluster are accepted and have no
    /// effect here; those that would change what reads return are refused.
    fn table_options(&mut self) -> Result<(), CqlError> {
        const STORAGE_ONLY: [&str; 14] = [
            "comment",
            "compaction",
            "compression",
            "caching",
            "gc_grace_seconds",
            "bloom_filter_fp_chance",
            "speculative_retry",
            "additional_write_policy",
            "read_repair",
            "crc_check_chance",
            "memtable_flush_period_in_ms",
            "min_index_interval",
            "max_index_interval",
            "default_time_to_live",
        ];
        loop {
            if self.eat_kw("clustering") {
                self.kw("order")?;
                self.kw("by")?;
                self.sym("(")?;
                loop {
                    self.ident()?;
                    if self.eat_kw("desc") {
                        return Err(CqlError::syntax(
                            "CLUSTERING ORDER ... DESC is not supported by this test server",
                        ));
                    }
                    self.eat_kw("asc");
                    if !self.eat_sym(",") {
                        break;
                    }
                }
                self.sym(")")?;
            } else {
                let name = self.ident()?;
                self.sym("=")?;
                let value = self.literal()?;
                if !STORAGE_ONLY.contains(&name.as_str()) {
                    return Err(CqlError::syntax(format!(
                        "table option {name} is not supported by this test server"
                    )));
                }
                if name == "default_time_to_live" && value != Literal::Integer("0".into()) {
                    return Err(CqlError::syntax(
                        "a non-zero default_time_to_live is not supported (no TTLs here)",
                    ));
                }
            }
            if !self.eat_kw("and") {
                return Ok(());
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, CqlError> {
        let lit = match self.peek().cloned() {
            Some(Tok::Int(s)) => Literal::Integer(s),
            Some(Tok::Float(s)) => Literal::Float(s),
            Some(Tok::Str(s)) => Literal::Str(s),
            Some(Tok::Hex(b)) => Literal::Hex(b),
            Some(Tok::Uuid(u)) => Literal::Uuid(u),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("null") => Literal::Null,
            Some(Tok::Sym("{")) => {
                self.pos += 1;
                let mut entries = Vec::new();
                if !self.eat_sym("}") {
                    loop {
                        let k = self.literal()?;
                        self.sym(":")?;
                        let v = self.literal()?;
                        entries.push((k, v));
                        if self.eat_sym("}") {
                            break;
                        }
                        self.sym(",")?;
                    }
                }
                return Ok(Literal::Map(entries));
            }
            Some(Tok::Ident(s)) => {
                return Err(CqlError::syntax(format!(
                    "function or name {s} is not supported where a constant is expected"
                )));
            }
            _ => return Err(self.unexpected("a constant")),
        };
        self.pos += 1;
        Ok(lit)
    }

    fn term(&mut self) -> Result<Term, CqlError> {
        if self.eat_sym("?") {
            self.markers += 1;
            return Ok(Term::Marker(self.markers - 1));
        }
        if matches!(self.peek(), Some(Tok::Sym(":"))) {
            return Err(CqlError::syntax(
                "named bind markers are not supported; use ?",
            ));
        }
        if self.is_kw("totimestamp") && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("("))) {
            self.pos += 2;
            if !self.eat_kw("now") {
                return Err(self.unexpected("now() inside toTimestamp()"));
            }
            self.sym("(")?;
            self.sym(")")?;
            self.sym(")")?;
            return Ok(Term::Now);
        }
        let lit = self.literal()?;
        if matches!(lit, Literal::Map(_)) {
            return Err(CqlError::syntax("map constants are not supported here"));
        }
        Ok(Term::Literal(lit))
    }

    fn insert(&mut self) -> Result<Statement, CqlError> {
        self.kw("into")?;
        let table = self.table_name()?;
        let columns = self.ident_list()?;
        if self.is_kw("json") {
            return Err(CqlError::syntax("INSERT JSON is not supported"));
        }
        self.kw("values")?;
        self.sym("(")?;
        let mut values = vec![self.term()?];
        while self.eat_sym(",") {
            values.push(self.term()?);
        }
        self.sym(")")?;
        let if_not_exists = self.if_not_exists()?;
        if self.is_kw("using") {
            return Err(CqlError::syntax("USING TTL / TIMESTAMP is not supported"));
        }
        if columns.len() != values.len() {
            return Err(CqlError::invalid(format!(
                "{} columns but {} values",
                columns.len(),
                values.len()
            )));
        }
        Ok(Statement::Insert {
            table,
            columns,
            values,
            if_not_exists,
        })
    }

    fn op(&mut self) -> Result<Op, CqlError> {
        let op = match self.peek() {
            Some(Tok::Sym("=")) => Op::Eq,
            Some(Tok::Sym("!=")) => Op::Ne,
            Some(Tok::Sym("<")) => Op::Lt,
            Some(Tok::Sym("<=")) => Op::Le,
            Some(Tok::Sym(">")) => Op::Gt,
            Some(Tok::Sym(">=")) => Op::Ge,
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("in") => Op::In,
            _ => return Err(self.unexpected("an operator (=, <, <=, >, >=, IN)")),
        };
        self.pos += 1;
        Ok(op)
    }

    fn in_values(&mut self) -> Result<Term, CqlError> {
        if self.eat_sym("?") {
            self.markers += 1;
            return Ok(Term::Marker(self.markers - 1));
        }
        self.sym("(")?;
        let mut v = Vec::new();
        if !self.eat_sym(")") {
            v.push(self.term()?);
            while self.eat_sym(",") {
                v.push(self.term()?);
            }
            self.sym(")")?;
        }
        Ok(Term::List(v))
    }

    fn where_clause(&mut self) -> Result<Vec<Relation>, CqlError> {
        let mut rels = Vec::new();
        if !self.eat_kw("where") {
            return Ok(rels);
        }
        loop {
            let lhs = if self.is_kw("token")
                && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("(")))
            {
                self.pos += 1;
                Lhs::Token(self.ident_list()?)
            } else if matches!(self.peek(), Some(Tok::Sym("("))) {
                return Err(CqlError::syntax("multi-column relations are not supported"));
            } else {
                Lhs::Column(self.ident()?)
            };
            let op = self.op()?;
            let rhs = if op == Op::In {
                self.in_values()?
            } else {
                self.term()?
            };
            if op == Op::Ne {
                return Err(CqlError::invalid("!= is not supported in WHERE"));
            }
            rels.push(Relation { lhs, op, rhs });
            if !self.eat_kw("and") {
                break;
            }
        }
        Ok(rels)
    }

    fn condition(&mut self) -> Result<Condition, CqlError> {
        if !self.eat_kw("if") {
            return Ok(Condition::None);
        }
        if self.eat_kw("exists") {
            return Ok(Condition::Exists);
        }
        if self.eat_kw("not") {
            self.kw("exists")?;
            return Ok(Condition::NotExists);
        }
        let mut conds = Vec::new();
        loop {
            let col = self.ident()?;
            let op = self.op()?;
            let rhs = if op == Op::In {
                self.in_values()?
            } else {
                self.term()?
            };
            conds.push((col, op, rhs));
            if !self.eat_kw("and") {
                break;
            }
        }
        Ok(Condition::Columns(conds))
    }

    fn update(&mut self) -> Result<Statement, CqlError> {
        let table = self.table_name()?;
        if self.is_kw("using") {
            return Err(CqlError::syntax("USING TTL / TIMESTAMP is not supported"));
        }
        self.kw("set")?;
        let mut assignments = Vec::new();
        loop {
            let col = self.ident()?;
            self.sym("=")?;
            if matches!(self.peek(), Some(Tok::Ident(s)) if !["true", "false", "null"].contains(&s.to_ascii_lowercase().as_str()))
            {
                return Err(CqlError::syntax(
                    "only SET column = constant or ? is supported (no counters or collection updates)",
                ));
            }
            assignments.push((col, self.term()?));
            if !self.eat_sym(",") {
                break;
            }
        }
        let relations = self.where_clause()?;
        let condition = self.condition()?;
        if condition == Condition::NotExists {
            return Err(CqlError::syntax(
                "UPDATE ... IF NOT EXISTS is not valid CQL",
            ));
        }
        Ok(Statement::Update {
            table,
            assignments,
            relations,
            condition,
        })
    }

    fn delete(&mut self) -> Result<Statement, CqlError> {
        if !self.eat_kw("from") {
            return Err(CqlError::syntax(
                "only whole-row DELETE FROM is supported (no column deletes)",
            ));
        }
        let table = self.table_name()?;
        if self.is_kw("using") {
            return Err(CqlError::syntax("USING TIMESTAMP is not supported"));
        }
        let relations = self.where_clause()?;
        if relations.is_empty() {
            return Err(CqlError::syntax("DELETE needs a WHERE clause"));
        }
        let condition = self.condition()?;
        Ok(Statement::Delete {
            table,
            relations,
            condition,
        })
    }

    fn select(&mut self) -> Result<Statement, CqlError> {
        if self.is_kw("json") || self.is_kw("distinct") {
            return Err(CqlError::syntax("SELECT JSON / DISTINCT is not supported"));
        }
        let selection = if self.eat_sym("*") {
            Selection::Star
        } else if self.is_kw("count") && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("(")))
        {
            self.pos += 2;
            if !self.eat_sym("*") && !matches!(self.peek(), Some(Tok::Int(s)) if s == "1") {
                return Err(self.unexpected("COUNT(*) or COUNT(1)"));
            }
            if !matches!(self.peek(), Some(Tok::Sym(")"))) {
                self.pos += 1;
            }
            self.sym(")")?;
            if self.eat_kw("as") {
                return Err(CqlError::syntax("aliases on COUNT are not supported"));
            }
            Selection::Count
        } else {
            let mut items = Vec::new();
            loop {
                let (sel, default_name) = if self.is_kw("token")
                    && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("(")))
                {
                    self.pos += 1;
                    let cols = self.ident_list()?;
                    let name = format!("system.token({})", cols.join(", "));
                    (Selector::Token(cols), name)
                } else {
                    let col = self.ident()?;
                    if matches!(self.peek(), Some(Tok::Sym("("))) {
                        return Err(CqlError::syntax(format!(
                            "function {col}() is not supported in SELECT"
                        )));
                    }
                    (Selector::Column(col.clone()), col)
                };
                let name = if self.eat_kw("as") {
                    self.ident()?
                } else {
                    default_name
                };
                items.push((sel, name));
                if !self.eat_sym(",") {
                    break;
                }
            }
            Selection::Items(items)
        };
        self.kw("from")?;
        let table = self.table_name()?;
        let relations = self.where_clause()?;
        if self.is_kw("group") || self.is_kw("order") {
            return Err(CqlError::syntax("GROUP BY / ORDER BY are not supported"));
        }
        if self.is_kw("per") {
            return Err(CqlError::syntax("PER PARTITION LIMIT is not supported"));
        }
        let limit = if self.eat_kw("limit") {
            Some(self.term()?)
        } else {
            None
        };
        let allow_filtering = if self.eat_kw("allow") {
            self.kw("filtering")?;
            true
        } else {
            false
        };
        Ok(Statement::Select {
            table,
            selection,
            relations,
            limit,
            allow_filtering,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_token_range_read() {
        let (st, markers) =
            parse("SELECT a, rowid, token(rowid) FROM t_00001 WHERE token(rowid) >= ? AND token(rowid) <= ? LIMIT 100")
                .unwrap();
        assert_eq!(markers, 2);
        let Statement::Select {
            selection: Selection::Items(items),
            relations,
            limit,
            ..
        } = st
        else {
            panic!("not a select");
        };
        assert_eq!(items[2].1, "system.token(rowid)");
        assert_eq!(relations[0].lhs, Lhs::Token(vec!["rowid".into()]));
        assert_eq!(relations[1].op, Op::Le);
        assert_eq!(limit, Some(Term::Literal(Literal::Integer("100".into()))));
    }

    #[test]
    fn parses_keyspace_and_table_creation() {
        let (st, _) = parse(
            "CREATE KEYSPACE IF NOT EXISTS Ks1 WITH REPLICATION = { 'class' : 'NetworkTopologyStrategy', 'datacenter1' : 1 };",
        )
        .unwrap();
        assert_eq!(
            st,
            Statement::CreateKeyspace {
                name: "ks1".into(),
                if_not_exists: true,
                replication: vec![
                    ("class".into(), "NetworkTopologyStrategy".into()),
                    ("datacenter1".into(), "1".into())
                ],
            }
        );
        let (st, _) = parse(
            "create table if not exists ks.\"T\" (key text, rowid bigint, primary key ((key), rowid))",
        )
        .unwrap();
        let Statement::CreateTable {
            name,
            partition_key,
            clustering,
            columns,
            ..
        } = st
        else {
            panic!("not a create table");
        };
        assert_eq!(name.table, "T");
        assert_eq!(partition_key, vec!["key".to_string()]);
        assert_eq!(clustering, vec!["rowid".to_string()]);
        assert_eq!(columns[1].1, CqlType::BigInt);
    }

    #[test]
    fn parses_conditional_update_and_in() {
        let (st, m) =
            parse("UPDATE wf_run_counter SET last_run = 2 WHERE ks = 'x' IF last_run = 1").unwrap();
        assert_eq!(m, 0);
        assert!(
            matches!(st, Statement::Update { condition: Condition::Columns(ref c), .. } if c.len() == 1)
        );
        let (st, m) = parse("DELETE FROM t WHERE rowid IN (1, ?, 3)").unwrap();
        assert_eq!(m, 1);
        let Statement::Delete { relations, .. } = st else {
            panic!("not a delete");
        };
        assert!(matches!(relations[0].rhs, Term::List(ref v) if v.len() == 3));
    }

    #[test]
    fn literals_of_every_kind() {
        let (st, _) = parse(
            "INSERT INTO t (a,b,c,d,e,f,g) VALUES (-5, 1.5e3, 'it''s', true, 0xCAFE, null, 123e4567-e89b-12d3-a456-426614174000) IF NOT EXISTS",
        )
        .unwrap();
        let Statement::Insert {
            values,
            if_not_exists,
            ..
        } = st
        else {
            panic!("not an insert");
        };
        assert!(if_not_exists);
        assert_eq!(values[0], Term::Literal(Literal::Integer("-5".into())));
        assert_eq!(values[1], Term::Literal(Literal::Float("1.5e3".into())));
        assert_eq!(values[2], Term::Literal(Literal::Str("it's".into())));
        assert_eq!(values[4], Term::Literal(Literal::Hex(vec![0xCA, 0xFE])));
        assert!(matches!(values[6], Term::Literal(Literal::Uuid(u)) if u[0] == 0x12));
    }

    #[test]
    fn storage_only_table_options_are_accepted() {
        parse(
            "CREATE TABLE t (a int, b int, PRIMARY KEY ((a), b)) WITH comment = 'x' AND compaction = {'class': 'SizeTieredCompactionStrategy'} AND CLUSTERING ORDER BY (b ASC)",
        )
        .unwrap();
    }

    #[test]
    fn server_side_timestamps() {
        let (st, _) =
            parse("INSERT INTO wf_run_history (ts, run_id) VALUES (toTimestamp(now()), 1)")
                .unwrap();
        let Statement::Insert { values, .. } = st else {
            panic!("not an insert");
        };
        assert_eq!(values[0], Term::Now);
        assert!(parse("INSERT INTO t (ts) VALUES (now())").is_err());
    }

    #[test]
    fn unsupported_statements_are_syntax_errors_never_panics() {
        for q in [
            "TRUNCATE t",
            "SELECT max(a) FROM t",
            "UPDATE t SET c = c + 1 WHERE k = 1",
            "INSERT INTO t (a) VALUES (1) USING TTL 10",
            "CREATE TABLE t (a int PRIMARY KEY) WITH default_time_to_live = 5",
            "CREATE TABLE t (a int, b int, PRIMARY KEY (a, b)) WITH CLUSTERING ORDER BY (b DESC)",
            "CREATE TABLE t (a int PRIMARY KEY) WITH cdc = {'enabled': true}",
            "SELECT * FROM t ORDER BY a",
            "SELECT * FROM t WHERE a = :name",
            "'unterminated",
            "SELECT",
            "",
            "0x1",
            "((((",
            "SELECT * FROM t WHERE token(",
            "ÿ",
        ] {
            let err = parse(q).unwrap_err();
            assert!(err.code == 0x2000 || err.code == 0x2200, "{q}: {err}");
        }
    }
}
