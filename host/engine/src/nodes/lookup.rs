//! `table_lookup_table`: left rows joined with right rows found through an index.

use super::{BatchCtx, BatchStats, TableSink, table_reader, zero_row};
use crate::{EngineError, Result};
use std::collections::HashMap;
use vessel_core::{RowSet, Value};
use vessel_script::keys::build_key;
use vessel_script::{ALIAS_L, JoinType, Lookup};
use vessel_store::{IndexRef, TableRef};

pub(crate) async fn run(ctx: &BatchCtx<'_>) -> Result<BatchStats> {
    let reader = table_reader(ctx.node)?;
    let lookup = ctx.node.lookup.as_ref().ok_or_else(|| {
        EngineError::Invalid(format!("node '{}' has no lookup section", ctx.node.name))
    })?;
    let right_run = ctx.lookup_run.ok_or_else(|| {
        EngineError::Invalid(format!(
            "node '{}': no run produced table '{}'",
            ctx.node.name, lookup.right_table
        ))
    })?;
    let index = IndexRef {
        name: lookup.index_name.clone(),
        run_id: right_run,
        unique: lookup.index.unique,
    };
    let right = TableRef {
        name: lookup.right_table.clone(),
        run_id: right_run,
    };
    let mut sink = TableSink::new(ctx)?;
    let l_zero = zero_row(&lookup.right_fields);
    let mut pages = ctx.pages(reader)?;
    let filled = async {
        while let Some(left) = pages.next(ctx).await? {
            let (left_key, by_key) = find_matches(ctx, lookup, &index, &right, &left).await?;
            for (i, &k) in left_key.iter().enumerate() {
                let r = left.row(i);
                let found = &by_key[k];
                if lookup.group {
                    emit_grouped(ctx, lookup, &mut sink, &r, found, &l_zero).await?;
                } else {
                    emit_plain(ctx, lookup, &mut sink, &r, found, &l_zero).await?;
                }
            }
        }
        Ok(pages.rows)
    }
    .await;
    let (rows_in, rows_out) = sink.close(filled).await?;
    Ok(BatchStats { rows_in, rows_out })
}

/// For each left row the position of its key, and for each key the right rows that match it
/// and pass the filter (left rows sharing a key share the matches).
async fn find_matches(
    ctx: &BatchCtx<'_>,
    lookup: &Lookup,
    index: &IndexRef,
    right: &TableRef,
    left: &RowSet,
) -> Result<(Vec<usize>, Vec<Vec<Vec<Value>>>)> {
    let mut key_pos: HashMap<String, usize> = HashMap::new();
    let mut keys: Vec<String> = Vec::new();
    let mut left_key: Vec<usize> = Vec::with_capacity(left.len());
    for i in 0..left.len() {
        let vals: Vec<Value> = lookup.join_on.iter().map(|&c| left.get(i, c)).collect();
        let refs: Vec<&Value> = vals.iter().collect();
        let key = build_key(&lookup.index.components, &refs);
        let pos = *key_pos.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            keys.len() - 1
        });
        left_key.push(pos);
    }
    let mut by_key: Vec<Vec<Vec<Value>>> = vec![Vec::new(); keys.len()];
    let keep = |row: &[Value]| -> Result<bool> {
        let Some(filter) = &lookup.filter else {
            return Ok(true);
        };
        let empty: &[Value] = &[];
        let mut env: [&[Value]; 4] = [empty; 4];
        env[ALIAS_L] = row;
        let keep = filter.eval(&env).map_err(|e| ctx.eval_err("l.filter", e))?;
        Ok(keep.as_bool() == Some(true))
    };
    let cached = ctx
        .engine
        .lookup_cache
        .get(ctx.ks, right, &lookup.right_fields, &lookup.index)
        .await?;
    if let Some(table) = cached {
        for (k, key) in keys.iter().enumerate() {
            for row in table.matches(key) {
                if keep(&row)? {
                    by_key[k].push(row);
                }
            }
        }
        return Ok((left_key, by_key));
    }
    let chunk = lookup.idx_read_batch_size.max(1);
    for (c, part) in keys.chunks(chunk).enumerate() {
        let found = ctx
            .ks
            .lookup(index, right, part, &lookup.right_fields)
            .await?;
        for (j, &kp) in found.key_pos.iter().enumerate() {
            let row = found.rows.row(j);
            if keep(&row)? {
                by_key[c * chunk + kp].push(row);
            }
        }
    }
    Ok((left_key, by_key))
}

async fn emit_plain(
    ctx: &BatchCtx<'_>,
    lookup: &Lookup,
    sink: &mut TableSink<'_>,
    r: &[Value],
    found: &[Vec<Value>],
    l_zero: &[Value],
) -> Result<()> {
    if found.is_empty() {
        if lookup.join_type == JoinType::Inner {
            return Ok(());
        }
        if sink.calls_functions() {
            return sink.add_unmatched(r.to_vec(), l_zero).await;
        }
        let w = unmatched_fields(ctx, sink.writer(), r, l_zero, &[])?;
        return sink.push(w).await;
    }
    if sink.calls_functions() {
        for l in found {
            sink.add(r.to_vec(), l, Vec::new()).await?;
        }
        return Ok(());
    }
    for l in found {
        let w = sink.eval_fields(r, l, &[])?;
        sink.push(w).await?;
    }
    Ok(())
}

/// Writer fields of a left row without a match (left join): fields that read `l.*` get their
/// default value, the others are evaluated with a zero right row. `x[f]` holds field `f`'s
/// plugin function results for this row (empty without calls).
pub(crate) fn unmatched_fields(
    ctx: &BatchCtx<'_>,
    writer: &vessel_script::TableWriter,
    r: &[Value],
    l_zero: &[Value],
    x: &[&[Value]],
) -> Result<Vec<Value>> {
    let mut w = Vec::with_capacity(writer.fields.len());
    for (i, f) in writer.fields.iter().enumerate() {
        if f.uses_lookup {
            w.push(
                f.default_value
                    .clone()
                    .unwrap_or_else(|| Value::zero(f.field_type)),
            );
        } else {
            let env: [&[Value]; 5] = [r, l_zero, &[], &[], x.get(i).copied().unwrap_or(&[])];
            w.push(
                f.expr
                    .eval(&env)
                    .map_err(|e| ctx.eval_err(&format!("w.fields.{}", f.name), e))?,
            );
        }
    }
    Ok(w)
}

async fn emit_grouped(
    ctx: &BatchCtx<'_>,
    lookup: &Lookup,
    sink: &mut TableSink<'_>,
    r: &[Value],
    found: &[Vec<Value>],
    l_zero: &[Value],
) -> Result<()> {
    let writer = sink.writer();
    if found.is_empty() && lookup.join_type == JoinType::Inner {
        return Ok(());
    }
    let mut w = Vec::with_capacity(writer.fields.len());
    for f in &writer.fields {
        let field = || format!("w.fields.{}", f.name);
        if let Some(mut state) = f.expr.new_agg_state() {
            if found.is_empty() {
                w.push(
                    f.default_value
                        .clone()
                        .unwrap_or_else(|| Value::zero(f.field_type)),
                );
                continue;
            }
            for l in found {
                let env: [&[Value]; 4] = [r, l, &[], &[]];
                state
                    .update(&f.expr, &env)
                    .map_err(|e| ctx.eval_err(&field(), e))?;
            }
            w.push(
                state
                    .finish(&f.expr)
                    .map_err(|e| ctx.eval_err(&field(), e))?,
            );
        } else {
            // Non-aggregate fields of a grouped node see the last matching right row.
            let l = found.last().map_or(l_zero, Vec::as_slice);
            let env: [&[Value]; 4] = [r, l, &[], &[]];
            w.push(f.expr.eval(&env).map_err(|e| ctx.eval_err(&field(), e))?);
        }
    }
    sink.push(w).await
}
