//! Readers of a node (table or file), its lookup and its custom processor.

use super::*;

impl Loader<'_> {
    pub(super) fn reader(
        &mut self,
        pre: &Pre,
        tables: &BTreeMap<String, TableDef>,
    ) -> Option<Reader> {
        let name = pre.name.as_str();
        if let Some(fr) = &pre.file_reader {
            return self.file_reader(name, fr).map(Reader::File);
        }
        let tr = pre.table_reader.as_ref()?;
        let mut ok = true;
        let expected = match tr.expected_batches_total {
            None | Some(0) => 1,
            Some(n) if (1..=MAX_BATCHES).contains(&n) => n as usize,
            Some(n) => {
                self.err(
                    name,
                    Some("r.expected_batches_total"),
                    format!("{n} batches is out of range; use 1 to {MAX_BATCHES}"),
                );
                ok = false;
                1
            }
        };
        let rowset_size = match tr.rowset_size {
            None | Some(0) => DEFAULT_ROWSET_SIZE,
            Some(n) if (1..=MAX_ROWSET_SIZE).contains(&n) => n as usize,
            Some(n) => {
                self.err(
                    name,
                    Some("r.rowset_size"),
                    format!(
                        "rowset_size {n} is out of range; use 1 to {MAX_ROWSET_SIZE} (0 means \
                         {DEFAULT_ROWSET_SIZE})"
                    ),
                );
                ok = false;
                DEFAULT_ROWSET_SIZE
            }
        };
        let Some(t) = tables.get(&tr.table) else {
            self.err(
                name,
                Some("r.table"),
                format!(
                    "table '{}' is not written by any node; the script's tables are: {}",
                    tr.table,
                    tables.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
            return None;
        };
        if t.node == pre.name {
            // Reported as a cycle.
            return None;
        }
        ok.then(|| {
            Reader::Table(TableReader {
                table: tr.table.clone(),
                expected_batches_total: expected,
                rowset_size,
                fields: t.schema.clone(),
            })
        })
    }

    fn file_reader(&mut self, name: &str, fr: &RawFileReader) -> Option<FileReader> {
        let mut ok = true;
        self.unknown_keys(Some(name), unknown_paths("r", &fr.unknown));
        if let Some(csv) = &fr.csv {
            self.unknown_keys(Some(name), unknown_paths("r.csv", &csv.unknown));
        }
        if fr.urls.is_empty() {
            self.err(
                name,
                Some("r.urls"),
                "no input files; list at least one URL (one file = one batch)",
            );
            ok = false;
        }
        if fr.urls.len() as i64 > MAX_BATCHES {
            self.err(
                name,
                Some("r.urls"),
                format!(
                    "{} files is more than the {MAX_BATCHES} batches a node can have",
                    fr.urls.len()
                ),
            );
            ok = false;
        }
        if fr.columns.is_empty() {
            self.err(
                name,
                Some("r.columns"),
                "a file reader needs at least one column",
            );
            return None;
        }
        let is_parquet = fr.columns.values().any(|c| {
            c.parquet
                .as_ref()
                .and_then(|p| p.col_name.as_ref())
                .is_some()
        });
        let is_csv = !is_parquet
            && (fr.columns.len() == 1
                || fr.columns.values().any(|c| {
                    c.csv.as_ref().is_some_and(|csv| {
                        csv.col_hdr.as_deref().is_some_and(|h| !h.is_empty())
                            || csv.col_idx.is_some_and(|i| i > 0)
                    })
                }));
        if !is_parquet && !is_csv {
            self.err(
                name,
                Some("r.columns"),
                "cannot tell the file format: Parquet columns need parquet.col_name, CSV columns \
                 need csv.col_hdr or csv.col_idx",
            );
            return None;
        }
        let format = if is_parquet {
            FileFormat::Parquet
        } else {
            FileFormat::Csv
        };
        let by_header = fr.columns.values().filter(|c| {
            c.csv
                .as_ref()
                .and_then(|c| c.col_hdr.as_deref())
                .is_some_and(|h| !h.is_empty())
        });
        let header_mode = format == FileFormat::Csv && by_header.count() > 0;
        let mut columns = Vec::new();
        let mut mixed = Vec::new();
        for (cname, c) in &fr.columns {
            let path = format!("r.columns.{cname}");
            self.unknown_keys(Some(name), unknown_paths(&path, &c.unknown));
            if let Some(csv) = &c.csv {
                self.unknown_keys(
                    Some(name),
                    unknown_paths(&format!("{path}.csv"), &csv.unknown),
                );
            }
            if let Some(pq) = &c.parquet {
                self.unknown_keys(
                    Some(name),
                    unknown_paths(&format!("{path}.parquet"), &pq.unknown),
                );
            }
            if !FIELD_NAME.is_match(cname) {
                self.err(
                    name,
                    Some(&path),
                    format!(
                        "column name '{cname}' must be a letter or '_' followed by letters, \
                         digits or '_' (it is used as r.{cname})"
                    ),
                );
                ok = false;
                continue;
            }
            let col_type = match parse_type(&c.col_type) {
                Ok(t) => t,
                Err(m) => {
                    self.err(name, Some(&format!("{path}.col_type")), m);
                    ok = false;
                    continue;
                }
            };
            let csv = c.csv.clone().unwrap_or_default();
            let fmt = csv.col_format.clone().filter(|f| !f.is_empty());
            let source = match format {
                FileFormat::Parquet => match c.parquet.as_ref().and_then(|p| p.col_name.clone()) {
                    Some(n) if !n.is_empty() => ColumnSource::Parquet(n),
                    _ => {
                        self.err(
                            name,
                            Some(&format!("{path}.parquet.col_name")),
                            "this reader reads Parquet (another column has \
                                 parquet.col_name); give every column a parquet.col_name",
                        );
                        ok = false;
                        continue;
                    }
                },
                FileFormat::Csv => match csv.col_hdr.as_deref().filter(|h| !h.is_empty()) {
                    Some(h) => ColumnSource::Header(h.to_string()),
                    None => {
                        let idx = csv.col_idx.unwrap_or(0);
                        if idx < 0 {
                            self.err(
                                name,
                                Some(&format!("{path}.csv.col_idx")),
                                format!("column index {idx} is negative; indexes start at 0"),
                            );
                            ok = false;
                            continue;
                        }
                        if header_mode {
                            mixed.push(cname.clone());
                        }
                        ColumnSource::Index(idx as usize)
                    }
                },
            };
            if format == FileFormat::Csv {
                match (col_type, &fmt) {
                    (FieldType::String | FieldType::Bool, Some(f)) => {
                        self.err(
                            name,
                            Some(&format!("{path}.csv.col_format")),
                            format!(
                                "{col_type} columns take no col_format ('{f}' given); remove it"
                            ),
                        );
                        ok = false;
                    }
                    (FieldType::DateTime, None) => {
                        self.err(
                            name,
                            Some(&format!("{path}.csv.col_format")),
                            "datetime columns need a Go layout in col_format, e.g. \
                             \"2006-01-02 15:04:05\" or \"2006-01-02T15:04:05.000-07:00\"",
                        );
                        ok = false;
                    }
                    _ => {}
                }
            }
            if let Some(dv) = c
                .col_default_value
                .as_deref()
                .filter(|d| !d.trim().is_empty())
                && let Err(m) = check_reader_default(col_type, dv, fmt.as_deref())
            {
                self.err(name, Some(&format!("{path}.col_default_value")), m);
                ok = false;
            }
            columns.push(ReaderColumn {
                name: cname.clone(),
                col_type,
                default_value: c.col_default_value.clone(),
                source,
                format: fmt,
            });
        }
        if !mixed.is_empty() {
            self.err(
                name,
                Some("r.columns"),
                format!(
                    "columns are addressed both by header (col_hdr) and by index (col_idx: {}); \
                     pick one style for all columns",
                    mixed.join(", ")
                ),
            );
            ok = false;
        }
        let csv = fr.csv.clone().unwrap_or_default();
        let hdr_line_idx = match csv.hdr_line_idx {
            Some(i) => i,
            None if header_mode => 0,
            None => -1,
        };
        if header_mode && hdr_line_idx < 0 {
            self.err(
                name,
                Some("r.csv.hdr_line_idx"),
                "columns are addressed by col_hdr, so the file needs a header line; set \
                 hdr_line_idx to its 0-based line number",
            );
            ok = false;
        }
        let first_data = csv.first_data_line_idx.unwrap_or(0);
        if first_data < 0 {
            self.err(
                name,
                Some("r.csv.first_data_line_idx"),
                format!("{first_data} is negative; lines are numbered from 0"),
            );
            ok = false;
        } else if header_mode && first_data <= hdr_line_idx {
            self.warnings.push(ScriptError::node(
                self.file,
                name,
                Some("r.csv.first_data_line_idx"),
                format!(
                    "first_data_line_idx {first_data} is not after hdr_line_idx \
                     {hdr_line_idx}: the header line will be read as data"
                ),
            ));
        }
        let separator = match separator_byte(csv.separator.as_deref()) {
            Ok(b) => b,
            Err(m) => {
                self.err(name, Some("r.csv.separator"), m);
                ok = false;
                b','
            }
        };
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| (c.name.clone(), c.col_type))
                .collect(),
        ));
        ok.then(|| FileReader {
            urls: fr.urls.clone(),
            format,
            hdr_line_idx,
            first_data_line_idx: first_data.max(0) as usize,
            separator,
            columns,
            schema,
        })
    }

    pub(super) fn lookup(
        &mut self,
        name: &str,
        l: &RawLookup,
        r_schema: Option<&Schema>,
        indexes: &BTreeMap<String, IndexDef>,
        tables: &BTreeMap<String, TableDef>,
    ) -> Option<Lookup> {
        let mut ok = true;
        let join_type = match l.join_type.as_str() {
            "inner" => Some(JoinType::Inner),
            "left" => Some(JoinType::Left),
            o => {
                self.err(
                    name,
                    Some("l.join_type"),
                    format!("unknown join_type '{o}'; use inner or left"),
                );
                None
            }
        };
        let mut batch = |field: &str, v: Option<i64>, this: &mut Self| match v {
            None | Some(0) => DEFAULT_LOOKUP_BATCH,
            Some(n) if (1..=MAX_LOOKUP_BATCH).contains(&n) => n as usize,
            Some(n) => {
                this.err(
                    name,
                    Some(&format!("l.{field}")),
                    format!("{n} is out of range; use 1 to {MAX_LOOKUP_BATCH} (0 means {DEFAULT_LOOKUP_BATCH})"),
                );
                ok = false;
                DEFAULT_LOOKUP_BATCH
            }
        };
        let idx_read_batch_size = batch("idx_read_batch_size", l.idx_read_batch_size, self);
        let right_lookup_read_batch_size = batch(
            "right_lookup_read_batch_size",
            l.right_lookup_read_batch_size,
            self,
        );
        let Some(idx) = indexes.get(&l.index_name) else {
            self.err(
                name,
                Some("l.index_name"),
                format!(
                    "index '{}' is not defined by any node; the script's indexes are: {}",
                    l.index_name,
                    indexes.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
            return None;
        };
        let right_fields = tables.get(&idx.table)?.schema.clone();
        // join_on
        let mut join_on = Vec::new();
        if let Some(r) = r_schema {
            let parts: Vec<&str> = l.join_on.split(',').map(str::trim).collect();
            for p in &parts {
                let Some(f) = p.strip_prefix("r.") else {
                    self.err(
                        name,
                        Some("l.join_on"),
                        format!("'{p}' is not a reader field; write r.<field>, e.g. r.order_id"),
                    );
                    ok = false;
                    continue;
                };
                match r.index_of(f) {
                    Some(i) => join_on.push(i),
                    None => {
                        self.err(
                            name,
                            Some("l.join_on"),
                            format!("unknown field r.{f}; the reader has {}", field_list(r)),
                        );
                        ok = false;
                    }
                }
            }
            let comps = &idx.spec.components;
            if ok && join_on.len() != comps.len() {
                self.err(
                    name,
                    Some("l.join_on"),
                    format!(
                        "join_on lists {} field(s) but index '{}' has {} component(s) ({}); \
                         list one reader field per component, in order",
                        join_on.len(),
                        l.index_name,
                        comps.len(),
                        comps
                            .iter()
                            .map(|c| c.field.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                ok = false;
            } else if ok {
                for (i, c) in join_on.iter().zip(comps) {
                    if r.field_type(*i) != c.field_type {
                        self.err(
                            name,
                            Some("l.join_on"),
                            format!(
                                "r.{} is {} but index component '{}' of '{}' is {}; the types \
                                 must match",
                                r.name(*i),
                                r.field_type(*i),
                                c.field,
                                l.index_name,
                                c.field_type
                            ),
                        );
                        ok = false;
                    }
                }
            }
        } else {
            ok = false;
        }
        let filter = match l.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            None => None,
            Some(src) => {
                let functions = self.functions.clone();
                let scope = FieldScope::new(
                    "l.filter",
                    vec![Binding {
                        alias: "l",
                        slot: ALIAS_L,
                        schema: &right_fields,
                        what: format!("the lookup table '{}'", idx.table),
                    }],
                )
                .with_functions(
                    &functions,
                    Some(
                        "plugin functions cannot be called in l.filter; call them in the node \
                         that writes the lookup table",
                    ),
                );
                match scope.compile(src, CompileOptions::default()) {
                    Ok(c) if c.field_type() == Some(FieldType::Bool) => Some(c),
                    Ok(c) => {
                        self.err(
                            name,
                            Some("l.filter"),
                            format!(
                                "a filter must be a bool expression, this one is {}",
                                type_name(c.field_type())
                            ),
                        );
                        ok = false;
                        None
                    }
                    Err(m) => {
                        self.err(name, Some("l.filter"), m);
                        ok = false;
                        None
                    }
                }
            }
        };
        if !ok {
            return None;
        }
        Some(Lookup {
            index_name: l.index_name.clone(),
            right_table: idx.table.clone(),
            index: idx.spec.clone(),
            join_on,
            join_type: join_type?,
            group: l.group,
            filter,
            idx_read_batch_size,
            right_lookup_read_batch_size,
            right_fields,
        })
    }

    pub(super) fn processor(
        &mut self,
        name: &str,
        raw: &RawNode,
        input: Option<&Schema>,
    ) -> Option<CustomProcessor> {
        let Some(proc_type) = raw.custom_proc_type.as_deref().filter(|t| !t.is_empty()) else {
            self.err(
                name,
                Some("custom_proc_type"),
                "a table_custom_tfm_table node needs custom_proc_type (e.g. py_calc, \
                 tag_and_denormalize)",
            );
            return None;
        };
        let limits = raw.limits.clone().unwrap_or_default();
        self.unknown_keys(
            Some(name),
            crate::raw::unknown_paths("limits", &limits.unknown),
        );
        let limits = match super::functions::check_limits(&limits) {
            Ok(l) => Some(l),
            Err(list) => {
                for (f, m) in list {
                    self.err(name, Some(f), m);
                }
                None
            }
        };
        let params = raw.p.clone().unwrap_or(serde_json::Value::Null);
        let fields = match &self.opts.catalog {
            Some(cat) => cat.fields(&super::ProcessorRequest {
                node: name,
                proc_type,
                params: &params,
                input,
                base_dir: self.opts.base_dir.as_deref(),
                limits: limits.unwrap_or_default(),
            }),
            None => match params.get("fields") {
                Some(serde_json::Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| {
                        let t = v.as_str().and_then(FieldType::parse).ok_or_else(|| {
                            format!("p.fields.{k}: type must be one of int, float, decimal2, string, bool, datetime")
                        })?;
                        Ok((k.clone(), t))
                    })
                    .collect(),
                _ => Err(format!(
                    "custom processor '{proc_type}' is not available in this build"
                )),
            },
        };
        match fields {
            Ok(f) => Some(CustomProcessor {
                proc_type: proc_type.to_string(),
                params,
                fields: Arc::new(Schema::new(f)),
                timeout: limits?.timeout,
                open_timeout: limits?.open_timeout,
                memory_bytes: limits?.memory_bytes,
            }),
            Err(m) => {
                self.err(name, Some("p"), m);
                None
            }
        }
    }
}

/// Checks a reader column's `col_default_value` the way the CSV reader will parse it.
fn check_reader_default(t: FieldType, s: &str, layout: Option<&str>) -> Result<(), String> {
    let s = s.trim();
    if t == FieldType::Decimal2
        && let Err(e @ decimal::DecimalError::OutOfRange { .. }) = decimal::parse_via_float(s)
    {
        return Err(format!("'{s}' cannot be read as decimal2: {e}"));
    }
    let ok = match t {
        FieldType::Int => s.parse::<i64>().is_ok(),
        FieldType::Float => s.parse::<f64>().is_ok(),
        FieldType::Decimal2 => decimal::parse_via_float(s).is_ok(),
        FieldType::String => true,
        FieldType::Bool => parse_go_bool(s).is_some(),
        FieldType::DateTime => match layout {
            Some(l) => gotime::parse(l, s).is_ok(),
            None => true, // the missing col_format is reported on its own
        },
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{s}' cannot be read as {t}{}",
            match (t, layout) {
                (FieldType::DateTime, Some(l)) => format!(" with layout '{l}'"),
                (FieldType::Bool, _) => " (use true, false, T, F, 1 or 0)".to_string(),
                _ => String::new(),
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn lookup_checks() {
        let m = error_at(
            |v| v["nodes"]["look"]["l"]["join_on"] = json!("r.n"),
            "look",
            "l.join_on",
        );
        assert!(
            m.contains("r.n is int but index component 'id' of 'idx_t_id' is string"),
            "{m}"
        );
        let m = error_at(
            |v| v["nodes"]["look"]["l"]["join_on"] = json!("r.id, r.n"),
            "look",
            "l.join_on",
        );
        assert!(
            m.contains("join_on lists 2 field(s) but index 'idx_t_id' has 1"),
            "{m}"
        );
        let m = error_at(
            |v| v["nodes"]["look"]["l"]["join_on"] = json!("id"),
            "look",
            "l.join_on",
        );
        assert!(m.contains("write r.<field>"), "{m}");
        let m = error_at(
            |v| v["nodes"]["look"]["l"]["index_name"] = json!("idx_nope"),
            "look",
            "l.index_name",
        );
        assert!(m.contains("the script's indexes are: idx_d_id"), "{m}");
        error_at(
            |v| v["nodes"]["look"]["l"]["join_type"] = json!("outer"),
            "look",
            "l.join_type",
        );
        error_at(
            |v| v["nodes"]["look"]["l"]["idx_read_batch_size"] = json!(30000),
            "look",
            "l.idx_read_batch_size",
        );
    }

    #[test]
    fn csv_reader_rules() {
        let m = error_at(
            |v| {
                v["nodes"]["read"]["r"]["columns"]["n"]["csv"] =
                    json!({"col_idx": 1, "col_format": "%d"})
            },
            "read",
            "r.columns",
        );
        assert!(
            m.contains("both by header (col_hdr) and by index (col_idx: n)"),
            "{m}"
        );
        let m = error_at(
            |v| v["nodes"]["read"]["r"]["columns"]["id"]["csv"]["col_format"] = json!("%s"),
            "read",
            "r.columns.id.csv.col_format",
        );
        assert!(m.contains("string columns take no col_format"), "{m}");
        let m = error_at(
            |v| v["nodes"]["read"]["r"]["columns"]["ts"]["csv"] = json!({"col_hdr": "ts"}),
            "read",
            "r.columns.ts.csv.col_format",
        );
        assert!(m.contains("need a Go layout"), "{m}");
        error_at(
            |v| v["nodes"]["read"]["r"]["columns"]["n"]["col_default_value"] = json!("x"),
            "read",
            "r.columns.n.col_default_value",
        );
        error_at(
            |v| v["nodes"]["read"]["r"]["urls"] = json!([]),
            "read",
            "r.urls",
        );
        let m = error_at(
            |v| {
                v["nodes"]["read"]["r"]["columns"]["id"]["parquet"] = json!({"col_name": "id"});
            },
            "read",
            "r.columns.n.parquet.col_name",
        );
        assert!(m.contains("give every column a parquet.col_name"), "{m}");
    }

    #[test]
    fn reader_limits() {
        error_at(
            |v| v["nodes"]["look"]["r"]["expected_batches_total"] = json!(40000),
            "look",
            "r.expected_batches_total",
        );
        error_at(
            |v| v["nodes"]["look"]["r"]["rowset_size"] = json!(200_000),
            "look",
            "r.rowset_size",
        );
        let mut v = base();
        v["nodes"]["look"]["r"]["expected_batches_total"] = json!(0);
        v["nodes"]["look"]["r"]["rowset_size"] = json!(0);
        let s = load(&v).unwrap();
        assert_eq!(s.nodes["look"].batches_total(), 1);
        let Reader::Table(r) = &s.nodes["look"].reader else {
            panic!()
        };
        assert_eq!(r.rowset_size, 1000);
    }

    #[test]
    fn custom_processors_need_a_type() {
        let m = error_at(
            |v| {
                v["nodes"]["dist"]["type"] = json!("table_custom_tfm_table");
            },
            "dist",
            "custom_proc_type",
        );
        assert!(m.contains("needs custom_proc_type"), "{m}");
        let mut v = base();
        v["nodes"]["dist"]["type"] = json!("table_custom_tfm_table");
        v["nodes"]["dist"]["custom_proc_type"] = json!("mine");
        v["nodes"]["dist"]["p"] = json!({"fields": {"x": "int"}});
        v["nodes"]["dist"]["w"]["fields"]["x"] = json!({"expression": "p.x * 2", "type": "int"});
        v["nodes"]["dist"]["w"]["indexes"] = json!({});
        let s = load(&v).unwrap_or_else(|e| panic!("{e}"));
        let p = s.nodes["dist"].processor.as_ref().unwrap();
        assert_eq!(p.fields.fields(), &[("x".to_string(), FieldType::Int)]);
    }

    #[test]
    fn reader_defaults_are_checked() {
        assert!(check_reader_default(FieldType::Int, "12", None).is_ok());
        assert!(check_reader_default(FieldType::Decimal2, "1e3", None).is_ok());
        let e = check_reader_default(FieldType::Decimal2, "-1e18", None).unwrap_err();
        assert!(e.contains("outside the decimal2 range"), "{e}");
        assert!(
            check_reader_default(FieldType::Bool, "maybe", None)
                .unwrap_err()
                .contains("use true")
        );
        assert!(
            check_reader_default(FieldType::DateTime, "2020-01-02", Some("2006-01-02")).is_ok()
        );
        assert!(
            check_reader_default(FieldType::DateTime, "x", Some("2006-01-02"))
                .unwrap_err()
                .contains("layout '2006-01-02'")
        );
    }
}
