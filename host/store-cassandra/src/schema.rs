//! The CQL schema of a Vessel keyspace: workflow tables, data tables and index tables.
//!
//! Every identifier is double-quoted, so names keep their case and cannot be read as keywords.

use vessel_core::FieldType;
use vessel_store::{StoreError, TableDef};

/// Names of the workflow tables, created with the keyspace.
pub const WORKFLOW_TABLES: [&str; 9] = [
    "wf_run_counter",
    "wf_run_properties",
    "wf_run_history",
    "wf_node_history",
    "wf_batch_history",
    "wf_batch_starts",
    "wf_markers",
    "wf_leases",
    "wf_batch_writes",
];

/// Columns every data table has besides the fields of its node.
pub const RESERVED_COLUMNS: [&str; 2] = ["rowid", "batch_idx"];

/// `"name"`, with inner quotes doubled.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The CQL type that holds a field type.
pub fn cql_type(t: FieldType) -> &'static str {
    match t {
        FieldType::Int => "bigint",
        FieldType::Float => "double",
        FieldType::Decimal2 => "decimal",
        FieldType::String => "text",
        FieldType::Bool => "boolean",
        FieldType::DateTime => "timestamp",
    }
}

/// `CREATE KEYSPACE IF NOT EXISTS` with the given replication map.
pub fn keyspace_cql(ks: &str, replication: &str) -> String {
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {replication}",
        quote(ks)
    )
}

/// The statements that create the workflow tables of keyspace `ks`.
///
/// History tables are append-only event logs; every event is a row of its own, clustered by
/// the writer's time and a per-process sequence, so no two events overwrite each other and
/// appending never needs a lightweight transaction. The partition of the run (and of the node
/// for batches) keeps every read a single-partition query.
pub fn workflow_cql(ks: &str) -> Vec<String> {
    let k = quote(ks);
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {k}.wf_run_counter (ks text, last_run int, \
             PRIMARY KEY ((ks)))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {k}.wf_run_properties (run_id int, start_nodes text, \
             affected_nodes text, script_url text, script_params_url text, run_description text, \
             PRIMARY KEY ((run_id)))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {k}.wf_run_history (run_id int, ts timestamp, seq bigint, \
             status tinyint, comment text, PRIMARY KEY ((run_id), ts, seq))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {k}.wf_node_history (run_id int, ts timestamp, seq bigint, \
             script_node text, written_by_batch_idx int, status tinyint, comment text, \
             PRIMARY KEY ((run_id), ts, seq))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {k}.wf_batch_history (run_id int, script_node text, \
             ts timestamp, seq bigint, batch_idx int, batches_total int, status tinyint, \
             first_token bigint, last_token bigint, instance text, thread bigint, comment text, \
             PRIMARY KEY ((run_id), script_node, ts, seq))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {k}.wf_batch_starts (run_id int, script_node text, \
             batch_idx int, attempt int, instance text, thread bigint, \
             PRIMARY KEY ((run_id, script_node, batch_idx), attempt))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {k}.wf_markers (marker text, claimed_at timestamp, \
             PRIMARY KEY ((marker)))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {k}.wf_leases (instance text, renewed timestamp, \
             PRIMARY KEY ((instance)))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {k}.wf_batch_writes (tbl text, batch_idx int, entry bigint, \
             first_rowid bigint, row_count int, keys blob, \
             PRIMARY KEY ((tbl, batch_idx), entry))"
        ),
    ]
}

/// The statements that create a run's data table and its index tables.
///
/// # Errors
/// [`StoreError::InvalidName`] for a field named like a column every data table has.
pub fn table_cql(ks: &str, def: &TableDef) -> Result<Vec<String>, StoreError> {
    let k = quote(ks);
    let mut cols = vec!["rowid bigint".to_string(), "batch_idx int".to_string()];
    for (name, t) in def.schema.fields() {
        if RESERVED_COLUMNS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(StoreError::InvalidName {
                name: name.clone(),
                reason: format!(
                    "table '{}' cannot have a field named '{name}': the Cassandra backend keeps \
                     its own column of that name; rename the field",
                    def.name
                ),
            });
        }
        cols.push(format!("{} {}", quote(name), cql_type(*t)));
    }
    let mut out = vec![format!(
        "CREATE TABLE IF NOT EXISTS {k}.{} ({}, PRIMARY KEY ((rowid)))",
        quote(&def.table_ref().full_name()),
        cols.join(", ")
    )];
    for idx in &def.indexes {
        let name = vessel_store::run_table_name(&idx.name, def.run_id);
        let key = if idx.unique {
            "PRIMARY KEY ((key))"
        } else {
            "PRIMARY KEY ((key), rowid)"
        };
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS {k}.{} (key text, rowid bigint, {key})",
            quote(&name)
        ));
    }
    Ok(out)
}

/// Whether a table name is a run's data or index table (`<name>_<5 digits>`).
pub fn is_run_table(name: &str) -> bool {
    !WORKFLOW_TABLES.contains(&name)
        && name.len() > 6
        && name.as_bytes()[name.len() - 6] == b'_'
        && name[name.len() - 5..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vessel_core::Schema;
    use vessel_store::IndexDef;

    #[test]
    fn data_and_index_tables() {
        let def = TableDef {
            name: "Orders".into(),
            run_id: 3,
            schema: Arc::new(Schema::new(vec![
                ("id".into(), FieldType::Int),
                ("price".into(), FieldType::Decimal2),
                ("when \"x\"".into(), FieldType::DateTime),
            ])),
            indexes: vec![
                IndexDef {
                    name: "idx_orders_id".into(),
                    unique: true,
                },
                IndexDef {
                    name: "idx_orders_when".into(),
                    unique: false,
                },
            ],
        };
        let cql = table_cql("ks", &def).unwrap();
        assert_eq!(
            cql[0],
            "CREATE TABLE IF NOT EXISTS \"ks\".\"Orders_00003\" (rowid bigint, batch_idx int, \
             \"id\" bigint, \"price\" decimal, \"when \"\"x\"\"\" timestamp, PRIMARY KEY ((rowid)))"
        );
        assert!(
            cql[1]
                .ends_with("\"idx_orders_id_00003\" (key text, rowid bigint, PRIMARY KEY ((key)))")
        );
        assert!(cql[2].ends_with("PRIMARY KEY ((key), rowid))"));
        let mut bad = def.clone();
        bad.schema = Arc::new(Schema::new(vec![("RowId".into(), FieldType::Int)]));
        let e = table_cql("ks", &bad).unwrap_err().to_string();
        assert!(e.contains("RowId") && e.contains("rename"), "{e}");
    }

    #[test]
    fn run_tables_are_told_from_workflow_tables() {
        assert!(is_run_table("orders_00003"));
        assert!(is_run_table("idx_orders_id_00012"));
        assert!(!is_run_table("wf_run_history"));
        assert!(!is_run_table("orders_0003"));
        assert!(!is_run_table("_00001"));
    }
}
