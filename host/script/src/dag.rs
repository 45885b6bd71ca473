//! The node graph: dependencies, affected nodes, topological order, Graphviz picture.
//!
//! Affected nodes follow spec §6.2.
//! Edges are implicit in the script: node B depends on node A when B reads the table A writes
//! (`r.table`), or when B's lookup index is defined on the table A writes.

use crate::model::{NodeType, Script, StartPolicy};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

/// Errors of graph queries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    /// Start nodes that the script does not have.
    #[error("unknown start node(s) {}; the script has: {}", .unknown.join(", "), .valid.join(", "))]
    UnknownStartNodes {
        /// The names that do not exist.
        unknown: Vec<String>,
        /// Every node of the script.
        valid: Vec<String>,
    },
    /// No start node given.
    #[error("no start nodes given; name at least one of: {}", .valid.join(", "))]
    NoStartNodes {
        /// Every node of the script.
        valid: Vec<String>,
    },
}

/// The nodes `node` depends on: the creator of its reader table, then the owner of its lookup
/// index (without duplicates; empty for file readers and unknown nodes).
pub fn dependencies(script: &Script, node: &str) -> Vec<String> {
    let Some(n) = script.nodes.get(node) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    if let crate::model::Reader::Table(t) = &n.reader
        && let Some(c) = script.table_creators.get(&t.table)
    {
        out.push(c.clone());
    }
    if let Some(l) = &n.lookup
        && let Some(o) = script.index_owners.get(&l.index_name)
        && !out.contains(o)
    {
        out.push(o.clone());
    }
    out
}

/// For every node, the nodes that depend on it (sorted by name).
pub fn children(script: &Script) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = script
        .nodes
        .keys()
        .map(|k| (k.clone(), Vec::new()))
        .collect();
    for name in script.nodes.keys() {
        for p in dependencies(script, name) {
            if let Some(v) = out.get_mut(&p) {
                v.push(name.clone());
            }
        }
    }
    out
}

/// Nodes a run started at `start_nodes` touches: the start nodes and their descendants,
/// except children with `start_policy: manual` (and everything reached only through them)
/// unless they are start nodes themselves. Returned in [`topological_order`].
///
/// # Errors
/// [`DagError::UnknownStartNodes`] listing the valid names; [`DagError::NoStartNodes`].
pub fn affected_nodes(script: &Script, start_nodes: &[String]) -> Result<Vec<String>, DagError> {
    let valid: Vec<String> = script.nodes.keys().cloned().collect();
    if start_nodes.is_empty() {
        return Err(DagError::NoStartNodes { valid });
    }
    let unknown: Vec<String> = start_nodes
        .iter()
        .filter(|s| !script.nodes.contains_key(s.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(DagError::UnknownStartNodes { unknown, valid });
    }
    let starts: BTreeSet<&str> = start_nodes.iter().map(String::as_str).collect();
    let kids = children(script);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = start_nodes.iter().cloned().collect();
    while let Some(n) = queue.pop_front() {
        if !seen.insert(n.clone()) {
            continue;
        }
        for c in kids.get(&n).into_iter().flatten() {
            let manual = script.nodes[c].start_policy == StartPolicy::Manual;
            if manual && !starts.contains(c.as_str()) {
                continue;
            }
            queue.push_back(c.clone());
        }
    }
    Ok(topological_order(script)
        .into_iter()
        .filter(|n| seen.contains(n))
        .collect())
}

/// Every node, parents before children; among nodes that are ready at the same time, by
/// name. A validated script has no cycles; nodes on a cycle (only possible for a script built
/// by hand) are appended by name.
pub fn topological_order(script: &Script) -> Vec<String> {
    let parents: BTreeMap<String, Vec<String>> = script
        .nodes
        .keys()
        .map(|n| (n.clone(), dependencies(script, n)))
        .collect();
    kahn(&parents).0
}

/// Kahn's algorithm over node → parents; returns the order and the nodes left on cycles.
fn kahn(parents: &BTreeMap<String, Vec<String>>) -> (Vec<String>, Vec<String>) {
    let mut indeg: BTreeMap<&str, usize> = BTreeMap::new();
    let mut kids: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (n, ps) in parents {
        let ps: BTreeSet<&str> = ps
            .iter()
            .map(String::as_str)
            .filter(|p| parents.contains_key(*p))
            .collect();
        indeg.insert(n, ps.len());
        for p in ps {
            kids.entry(p).or_default().push(n);
        }
    }
    let mut ready: BTreeSet<&str> = indeg
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut order = Vec::new();
    while let Some(n) = ready.pop_first() {
        order.push(n.to_string());
        for k in kids.get(n).into_iter().flatten() {
            let d = indeg.get_mut(k).expect("every child is a node");
            *d -= 1;
            if *d == 0 {
                ready.insert(k);
            }
        }
    }
    let rest: Vec<String> = indeg
        .iter()
        .filter(|(n, d)| **d > 0 && !order.iter().any(|o| o == *n))
        .map(|(n, _)| n.to_string())
        .collect();
    let mut all = order;
    let cyclic = rest.clone();
    all.extend(rest);
    (all, cyclic)
}

/// One cycle of a node → parents graph, as a path `a → b → ... → a`, if there is one.
pub(crate) fn find_cycle(parents: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    let (_, cyclic) = kahn(parents);
    let start = cyclic.first()?.clone();
    // Walk parents inside the cyclic set until a node repeats.
    let set: BTreeSet<&str> = cyclic.iter().map(String::as_str).collect();
    let mut path = vec![start.clone()];
    let mut cur = start;
    loop {
        let next = parents[&cur]
            .iter()
            .find(|p| set.contains(p.as_str()))?
            .clone();
        if let Some(pos) = path.iter().position(|p| *p == next) {
            let mut cycle: Vec<String> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0].clone());
            return Some(cycle);
        }
        path.push(next.clone());
        cur = next;
    }
}

pub(crate) fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A Graphviz `digraph` of the script: one box per node labelled with its name and type
/// (manual nodes dashed), one edge per dependency labelled with the table read (lookup edges
/// dashed, with the index name).
pub fn to_dot(script: &Script) -> String {
    let mut s = String::from(
        "digraph script {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for (name, n) in &script.nodes {
        let style = if n.start_policy == StartPolicy::Manual {
            ", style=\"rounded,dashed\""
        } else {
            ""
        };
        let shape = if matches!(n.node_type, NodeType::FileTable | NodeType::TableFile) {
            ", shape=note"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {} [label={}{shape}{style}];",
            dot_id(name),
            dot_id(&format!("{name}\n{}", n.node_type.name()))
        );
    }
    for (name, n) in &script.nodes {
        if let crate::model::Reader::Table(t) = &n.reader
            && let Some(c) = script.table_creators.get(&t.table)
        {
            let _ = writeln!(
                s,
                "  {} -> {} [label={}];",
                dot_id(c),
                dot_id(name),
                dot_id(&t.table)
            );
        }
        if let Some(l) = &n.lookup
            && let Some(o) = script.index_owners.get(&l.index_name)
        {
            let _ = writeln!(
                s,
                "  {} -> {} [label={}, style=dashed];",
                dot_id(o),
                dot_id(name),
                dot_id(&format!("{} ({})", l.right_table, l.index_name))
            );
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(n, ps)| (n.to_string(), ps.iter().map(|p| p.to_string()).collect()))
            .collect()
    }

    #[test]
    fn kahn_orders_parents_first_then_by_name() {
        let g = graph(&[("c", &["a", "b"]), ("b", &[]), ("a", &[]), ("d", &["c"])]);
        let (order, cyclic) = kahn(&g);
        assert_eq!(order, vec!["a", "b", "c", "d"]);
        assert!(cyclic.is_empty());
        assert_eq!(find_cycle(&g), None);
    }

    #[test]
    fn cycles_are_found() {
        let g = graph(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"]), ("x", &[])]);
        let (order, cyclic) = kahn(&g);
        assert_eq!(order, vec!["x", "a", "b", "c"]);
        assert_eq!(cyclic, vec!["a", "b", "c"]);
        let cycle = find_cycle(&g).unwrap();
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.first(), cycle.last());
        let self_loop = graph(&[("a", &["a"])]);
        assert_eq!(
            find_cycle(&self_loop),
            Some(vec!["a".to_string(), "a".to_string()])
        );
    }

    #[test]
    fn dot_ids_are_quoted() {
        assert_eq!(dot_id("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn dag_errors_list_valid_nodes() {
        let e = DagError::UnknownStartNodes {
            unknown: vec!["x".into()],
            valid: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            e.to_string(),
            "unknown start node(s) x; the script has: a, b"
        );
    }
}
