//! Writers of a node: table creator (fields, having, indexes) and file creator (columns, top).

use super::*;

impl Loader<'_> {
    pub(super) fn table_writer(
        &mut self,
        pre: &Pre,
        tw: &RawTableCreator,
        ctx: &ExprCtx<'_>,
        indexes: &BTreeMap<String, IndexDef>,
    ) -> Option<TableWriter> {
        let name = pre.name.as_str();
        let schema = pre.table_schema.clone()?;
        let mut ok = true;
        let mut fields = Vec::new();
        let scope = ctx.writer_scope();
        for (fname, f) in &tw.fields {
            let Some(i) = schema.index_of(fname) else {
                ok = false; // bad name or type, reported in pass 1
                continue;
            };
            let declared = schema.field_type(i);
            let path = format!("w.fields.{fname}");
            let default_value = match f.default_value.as_deref() {
                Some(dv) if !(dv.is_empty() && declared != FieldType::String) => {
                    match parse_default_value(declared, dv) {
                        Ok(v) => Some(v),
                        Err(m) => {
                            self.err(name, Some(&format!("{path}.default_value")), m);
                            ok = false;
                            None
                        }
                    }
                }
                _ => None,
            };
            if !ctx.available() {
                ok = false;
                continue;
            }
            let opts = CompileOptions {
                allow_aggregates: ctx.group,
            };
            match scope.compile(&f.expression, opts) {
                Ok(expr) => {
                    if expr.field_type() != Some(declared) {
                        self.err(
                            name,
                            Some(&format!("{path}.expression")),
                            format!(
                                "the expression is {} but the field is declared {declared}; \
                                 change its type or convert the value (e.g. {declared}(...))",
                                type_name(expr.field_type())
                            ),
                        );
                        ok = false;
                        continue;
                    }
                    let uses_lookup =
                        expr.is_aggregate() || expr.vars().iter().any(|v| v.alias == ALIAS_L);
                    if default_value.is_some() && !(ctx.left_join && uses_lookup) {
                        self.warnings.push(ScriptError::node(
                            self.file,
                            name,
                            Some(&format!("{path}.default_value")),
                            "never used: default values apply only to fields that read l.* \
                             in a left-join lookup",
                        ));
                    }
                    fields.push(WriterField {
                        name: fname.clone(),
                        field_type: declared,
                        expr,
                        default_value,
                        uses_lookup,
                    });
                }
                Err(m) => {
                    self.err(name, Some(&format!("{path}.expression")), m);
                    ok = false;
                }
            }
        }
        let having = match tw.having.as_deref().filter(|h| !h.trim().is_empty()) {
            None => None,
            Some(_) if pre.node_type == NodeType::DistinctTable => {
                self.err(
                    name,
                    Some("w.having"),
                    "distinct_table nodes cannot have 'having'; filter in an earlier node",
                );
                ok = false;
                None
            }
            Some(src) => self.having(name, src, &schema, "the writer", &mut ok),
        };
        let mut specs: Vec<IndexSpec> = indexes
            .values()
            .filter(|d| d.node == pre.name)
            .map(|d| d.spec.clone())
            .collect();
        if specs.len() != tw.indexes.len() {
            ok = false; // index errors reported in pass 1
        }
        if pre.node_type == NodeType::DistinctTable {
            let uniques: Vec<&str> = specs
                .iter()
                .filter(|s| s.unique)
                .map(|s| s.name.as_str())
                .collect();
            if uniques.len() != 1 {
                self.err(
                    name,
                    Some("w.indexes"),
                    format!(
                        "a distinct_table node needs exactly one unique index (the distinct key), \
                         found {}{}",
                        uniques.len(),
                        if uniques.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", uniques.join(", "))
                        }
                    ),
                );
                ok = false;
            }
            specs.sort_by_key(|s| !s.unique);
        }
        if check_table_name(&tw.name).is_err() {
            ok = false; // reported in pass 1
        }
        ok.then(|| TableWriter {
            name: tw.name.clone(),
            fields,
            schema,
            having,
            indexes: specs,
            table_options: tw.table_options.clone(),
        })
    }

    fn having(
        &mut self,
        name: &str,
        src: &str,
        w: &Schema,
        what: &str,
        ok: &mut bool,
    ) -> Option<Compiled> {
        let functions = self.functions.clone();
        let scope = FieldScope::new(
            "w.having",
            vec![Binding {
                alias: "w",
                slot: ALIAS_W,
                schema: w,
                what: what.to_string(),
            }],
        )
        .with_functions(
            &functions,
            Some(
                "plugin functions cannot be called in w.having; compute the value in a writer \
                 field and test that field",
            ),
        );
        match scope.compile(src, CompileOptions::default()) {
            Ok(c) if c.field_type() == Some(FieldType::Bool) => Some(c),
            Ok(c) => {
                self.err(
                    name,
                    Some("w.having"),
                    format!(
                        "'having' must be a bool expression, this one is {}",
                        type_name(c.field_type())
                    ),
                );
                *ok = false;
                None
            }
            Err(m) => {
                self.err(name, Some("w.having"), m);
                *ok = false;
                None
            }
        }
    }

    pub(super) fn file_writer(
        &mut self,
        pre: &Pre,
        fw: &RawFileCreator,
        ctx: &ExprCtx<'_>,
    ) -> Option<FileWriter> {
        let name = pre.name.as_str();
        let mut ok = true;
        self.unknown_keys(Some(name), unknown_paths("w", &fw.unknown));
        if fw.url_template.trim().is_empty() {
            self.err(
                name,
                Some("w.url_template"),
                "url_template is empty; give the output file path",
            );
            ok = false;
        }
        let url_template = fw
            .url_template
            .replace("{batch_idx|string}", "{batch_idx}")
            .replace("{run_id|string}", "{run_id}");
        if fw.columns.is_empty() {
            self.err(
                name,
                Some("w.columns"),
                "a file writer needs at least one column",
            );
            return None;
        }
        let first = &fw.columns[0];
        let format = if first
            .parquet
            .as_ref()
            .and_then(|p| p.column_name.as_deref())
            .is_some_and(|n| !n.is_empty())
        {
            FileFormat::Parquet
        } else if first.csv.as_ref().and_then(|c| c.header.as_ref()).is_some() {
            FileFormat::Csv
        } else {
            self.err(
                name,
                Some("w.columns"),
                "cannot tell the output format from the first column: give it csv.header (CSV) \
                 or parquet.column_name (Parquet)",
            );
            return None;
        };
        let mut names = BTreeSet::new();
        let mut schema_fields = Vec::new();
        let mut raw_cols = Vec::new();
        for c in &fw.columns {
            let path = format!("w.columns.{}", c.name);
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
            if c.name.is_empty() || !names.insert(c.name.clone()) {
                self.err(
                    name,
                    Some("w.columns"),
                    format!(
                        "column name '{}' is empty or used twice; names must be unique",
                        c.name
                    ),
                );
                ok = false;
                continue;
            }
            let t = match parse_type(&c.field_type) {
                Ok(t) => t,
                Err(m) => {
                    self.err(name, Some(&format!("{path}.type")), m);
                    ok = false;
                    continue;
                }
            };
            let parquet_column = c
                .parquet
                .as_ref()
                .and_then(|p| p.column_name.clone())
                .filter(|n| !n.is_empty());
            if format == FileFormat::Parquet && parquet_column.is_none() {
                self.err(
                    name,
                    Some(&format!("{path}.parquet.column_name")),
                    "this writer writes Parquet (the first column has parquet.column_name); \
                     give every column a parquet.column_name",
                );
                ok = false;
            }
            schema_fields.push((c.name.clone(), t));
            raw_cols.push((c, t, parquet_column));
        }
        let schema = Arc::new(Schema::new(schema_fields));
        let mut columns = Vec::new();
        if ctx.r.is_some() {
            let scope = ctx.writer_scope();
            for (c, t, parquet_column) in raw_cols {
                let path = format!("w.columns.{}.expression", c.name);
                match scope.compile(&c.expression, CompileOptions::default()) {
                    Ok(expr) if expr.field_type() == Some(t) => {
                        let csv = c.csv.clone().unwrap_or_default();
                        columns.push(FileColumn {
                            name: c.name.clone(),
                            field_type: t,
                            expr,
                            header: csv.header.unwrap_or_default(),
                            format: csv.format.unwrap_or_default(),
                            parquet_column,
                        });
                    }
                    Ok(expr) => {
                        self.err(
                            name,
                            Some(&path),
                            format!(
                                "the expression is {} but the column is declared {t}; change \
                                 its type or convert the value (e.g. {t}(...))",
                                type_name(expr.field_type())
                            ),
                        );
                        ok = false;
                    }
                    Err(m) => {
                        self.err(name, Some(&path), m);
                        ok = false;
                    }
                }
            }
        } else {
            ok = false;
        }
        let having = match fw.having.as_deref().filter(|h| !h.trim().is_empty()) {
            None => None,
            Some(src) => self.having(name, src, &schema, "the file writer", &mut ok),
        };
        let top = match &fw.top {
            None => None,
            Some(t) => {
                self.unknown_keys(Some(name), unknown_paths("w.top", &t.unknown));
                let order = match t.order.as_deref().filter(|o| !o.trim().is_empty()) {
                    None => {
                        self.err(
                            name,
                            Some("w.top.order"),
                            "top needs an order, e.g. \"total(desc),id\"",
                        );
                        ok = false;
                        Vec::new()
                    }
                    Some(o) => match parse_order(o, &schema) {
                        Ok(c) => c,
                        Err(m) => {
                            self.err(
                                name,
                                Some("w.top.order"),
                                format!("{m} (columns of this writer)"),
                            );
                            ok = false;
                            Vec::new()
                        }
                    },
                };
                let limit = match t.limit {
                    None | Some(0) => MAX_TOP_LIMIT,
                    Some(n) if n > 0 && n as usize <= MAX_TOP_LIMIT => n as usize,
                    Some(n) => {
                        self.err(
                            name,
                            Some("w.top.limit"),
                            format!("limit {n} is out of range; use 1 to {MAX_TOP_LIMIT}"),
                        );
                        ok = false;
                        MAX_TOP_LIMIT
                    }
                };
                Some(Top { order, limit })
            }
        };
        let separator = match separator_byte(fw.csv.as_ref().and_then(|c| c.separator.as_deref())) {
            Ok(b) => b,
            Err(m) => {
                self.err(name, Some("w.csv.separator"), m);
                ok = false;
                b','
            }
        };
        if let Some(c) = &fw.csv {
            self.unknown_keys(Some(name), unknown_paths("w.csv", &c.unknown));
        }
        if let Some(p) = &fw.parquet {
            self.unknown_keys(Some(name), unknown_paths("w.parquet", &p.unknown));
        }
        let parquet_codec = match fw.parquet.as_ref().and_then(|p| p.codec.as_deref()) {
            None | Some("") => "gzip".to_string(),
            Some(c @ ("gzip" | "snappy" | "uncompressed")) => c.to_string(),
            Some(c) => {
                self.err(
                    name,
                    Some("w.parquet.codec"),
                    format!("unknown codec '{c}'; use gzip, snappy or uncompressed"),
                );
                ok = false;
                String::new()
            }
        };
        let batches = pre
            .table_reader
            .as_ref()
            .and_then(|r| r.expected_batches_total)
            .unwrap_or(1);
        if batches > 1 && !url_template.contains("{batch_idx}") {
            self.warnings.push(ScriptError::node(
                self.file,
                name,
                Some("w.url_template"),
                format!(
                    "{batches} batches write to the same file; put {{batch_idx}} in the \
                     url_template to get one file per batch"
                ),
            ));
        }
        ok.then(|| FileWriter {
            url_template,
            format,
            columns,
            schema,
            having,
            top,
            separator,
            parquet_codec,
        })
    }
}

/// What writer expressions of one node may read.
pub(super) struct ExprCtx<'s> {
    pub(super) r: Option<&'s Schema>,
    /// `Some(None)`: the node has a lookup but it did not resolve.
    pub(super) l: Option<Option<&'s Schema>>,
    /// `Some(None)`: the node has a processor but it did not resolve.
    pub(super) p: Option<Option<&'s Schema>>,
    /// Plugin function namespaces of the script.
    pub(super) functions: Arc<BTreeMap<String, FunctionNamespace>>,
    /// Why the node's writer expressions cannot call plugin functions (`None`: they can).
    pub(super) deny_functions: Option<&'static str>,
    pub(super) group: bool,
    pub(super) left_join: bool,
}

impl<'s> ExprCtx<'s> {
    /// True when every schema the expressions may read is known (otherwise compiling them would
    /// only repeat an error already reported).
    fn available(&self) -> bool {
        self.r.is_some() && !matches!(self.l, Some(None)) && !matches!(self.p, Some(None))
    }

    fn writer_scope(&self) -> FieldScope<'_> {
        let mut b = Vec::new();
        if let Some(r) = self.r {
            b.push(Binding {
                alias: "r",
                slot: ALIAS_R,
                schema: r,
                what: "the reader".into(),
            });
        }
        if let Some(Some(l)) = self.l {
            b.push(Binding {
                alias: "l",
                slot: ALIAS_L,
                schema: l,
                what: "the lookup table".into(),
            });
        }
        if let Some(Some(p)) = self.p {
            b.push(Binding {
                alias: "p",
                slot: ALIAS_P,
                schema: p,
                what: "the custom processor".into(),
            });
        }
        FieldScope::new("writer expressions", b)
            .with_functions(&self.functions, self.deny_functions)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn scoping_of_aliases() {
        let m = error_at(
            |v| v["nodes"]["read"]["w"]["fields"]["id"]["expression"] = json!("w.id"),
            "read",
            "w.fields.id.expression",
        );
        assert!(
            m.contains("writer expressions cannot use w.*, only r.*"),
            "{m}"
        );
        let m = error_at(
            |v| v["nodes"]["read"]["w"]["having"] = json!("r.n > 0"),
            "read",
            "w.having",
        );
        assert!(m.contains("w.having cannot use r.*, only w.*"), "{m}");
        let m = error_at(
            |v| v["nodes"]["dist"]["w"]["fields"]["id"]["expression"] = json!("l.id"),
            "dist",
            "w.fields.id.expression",
        );
        assert!(m.contains("cannot use l.*"), "{m}");
        let m = error_at(
            |v| v["nodes"]["look"]["l"]["filter"] = json!("r.n > 1"),
            "look",
            "l.filter",
        );
        assert!(m.contains("l.filter cannot use r.*, only l.*"), "{m}");
        let m = error_at(
            |v| v["nodes"]["dump"]["w"]["having"] = json!("w.nope == 1"),
            "dump",
            "w.having",
        );
        assert!(
            m.contains("the file writer has id (string), total (decimal2)"),
            "{m}"
        );
    }

    #[test]
    fn types_of_expressions() {
        let m = error_at(
            |v| v["nodes"]["look"]["l"]["filter"] = json!("l.n + 1"),
            "look",
            "l.filter",
        );
        assert_eq!(m, "a filter must be a bool expression, this one is int");
        let m = error_at(
            |v| v["nodes"]["read"]["w"]["having"] = json!("w.n"),
            "read",
            "w.having",
        );
        assert_eq!(m, "'having' must be a bool expression, this one is int");
        let m = error_at(
            |v| v["nodes"]["dump"]["w"]["columns"][1]["type"] = json!("float"),
            "dump",
            "w.columns.total.expression",
        );
        assert!(
            m.contains("the expression is decimal2 but the column is declared float"),
            "{m}"
        );
    }

    #[test]
    fn aggregates_only_in_grouped_lookups() {
        let m = error_at(
            |v| v["nodes"]["look"]["l"]["group"] = json!(false),
            "look",
            "w.fields.total.expression",
        );
        assert!(m.to_lowercase().contains("aggregate"), "{m}");
        error_at(
            |v| v["nodes"]["dist"]["w"]["fields"]["id"]["expression"] = json!("min(r.id)"),
            "dist",
            "w.fields.id.expression",
        );
    }

    #[test]
    fn distinct_table_rules() {
        let m = error_at(
            |v| v["nodes"]["dist"]["rerun_policy"] = json!("rerun"),
            "dist",
            "rerun_policy",
        );
        assert!(m.contains("must have \"rerun_policy\": \"fail\""), "{m}");
        error_at(
            |v| v["nodes"]["dist"]["w"]["having"] = json!("w.id != \"\""),
            "dist",
            "w.having",
        );
        let m = error_at(
            |v| v["nodes"]["dist"]["w"]["indexes"]["idx_d_id2"] = json!("unique(id)"),
            "dist",
            "w.indexes",
        );
        assert!(m.contains("exactly one unique index"), "{m}");
        assert!(m.contains("found 2: idx_d_id, idx_d_id2"), "{m}");
    }

    #[test]
    fn file_writer_rules() {
        let m = error_at(
            |v| v["nodes"]["dump"]["w"]["top"]["order"] = json!("totl(desc)"),
            "dump",
            "w.top.order",
        );
        assert!(m.contains("unknown field 'totl'"), "{m}");
        error_at(
            |v| v["nodes"]["dump"]["w"]["top"]["limit"] = json!(6_000_000),
            "dump",
            "w.top.limit",
        );
        let m = error_at(
            |v| v["nodes"]["dump"]["w"]["columns"][0]["csv"] = json!(null),
            "dump",
            "w.columns",
        );
        assert!(m.contains("cannot tell the output format"), "{m}");
        error_at(
            |v| v["nodes"]["dump"]["w"]["parquet"] = json!({"codec": "zip"}),
            "dump",
            "w.parquet.codec",
        );
        let mut v = base();
        v["nodes"]["dump"]["w"]["columns"][0]["parquet"] = json!({"column_name": "id"});
        v["nodes"]["dump"]["w"]["columns"][1]["parquet"] = json!({"column_name": "total"});
        let s = load(&v).unwrap();
        let Writer::File(fw) = &s.nodes["dump"].writer else {
            panic!()
        };
        assert_eq!(fw.format, FileFormat::Parquet);
        assert_eq!(fw.columns[1].parquet_column.as_deref(), Some("total"));
    }

    #[test]
    fn default_values_are_checked() {
        let m = error_at(
            |v| v["nodes"]["look"]["w"]["fields"]["cnt"]["default_value"] = json!("many"),
            "look",
            "w.fields.cnt.default_value",
        );
        assert!(m.contains("'many' is not a valid int default"), "{m}");
    }
}
