//! Pictures of a script's DAG: SVG (laid out here, no Graphviz needed), Graphviz dot and
//! Mermaid, optionally coloured by node status (`success`, `fail`, `start`, `stopreceived`).

use crate::model::{NodeType, Reader, Script, StartPolicy};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Node name → status name, for colouring.
pub type Statuses = BTreeMap<String, String>;

/// An edge of the DAG: a table read (solid) or a lookup (dashed).
struct Edge<'a> {
    from: &'a str,
    to: &'a str,
    label: String,
    lookup: bool,
}

fn edges(script: &Script) -> Vec<Edge<'_>> {
    let mut out = Vec::new();
    for (name, n) in &script.nodes {
        if let Reader::Table(t) = &n.reader
            && let Some(c) = script.table_creators.get(&t.table)
        {
            out.push(Edge {
                from: c,
                to: name,
                label: t.table.clone(),
                lookup: false,
            });
        }
        if let Some(l) = &n.lookup
            && let Some(o) = script.index_owners.get(&l.index_name)
        {
            out.push(Edge {
                from: o,
                to: name,
                label: l.index_name.clone(),
                lookup: true,
            });
        }
    }
    out
}

/// Fill and stroke of a status.
fn colours(status: Option<&str>) -> (&'static str, &'static str) {
    match status {
        Some("success") => ("#c8e6c9", "#2e7d32"),
        Some("fail") => ("#ffcdd2", "#c62828"),
        Some("start") => ("#fff59d", "#f9a825"),
        Some("stopreceived") => ("#e0e0e0", "#616161"),
        _ => ("#ffffff", "#455a64"),
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Layers (longest path from a node without inputs) and the order inside each layer.
fn layout(script: &Script) -> Vec<Vec<&str>> {
    let order = crate::dag::topological_order(script);
    let es = edges(script);
    let mut layer: BTreeMap<&str, usize> = BTreeMap::new();
    for name in &order {
        let l = es
            .iter()
            .filter(|e| e.to == name.as_str())
            .filter_map(|e| layer.get(e.from).map(|l| l + 1))
            .max()
            .unwrap_or(0);
        if let Some((k, _)) = script.nodes.get_key_value(name.as_str()) {
            layer.insert(k.as_str(), l);
        }
    }
    let depth = layer.values().copied().max().map_or(0, |d| d + 1);
    let mut rows: Vec<Vec<&str>> = vec![Vec::new(); depth];
    for name in &order {
        if let Some((k, l)) = layer.get_key_value(name.as_str()) {
            rows[*l].push(k);
        }
    }
    // Order each layer by the mean position of its inputs, twice, to untangle edges.
    for _ in 0..2 {
        for i in 1..rows.len() {
            let pos: BTreeMap<&str, usize> = rows[i - 1]
                .iter()
                .enumerate()
                .map(|(p, n)| (*n, p))
                .collect();
            let key = |n: &str| {
                let ps: Vec<usize> = es
                    .iter()
                    .filter(|e| e.to == n)
                    .filter_map(|e| pos.get(e.from).copied())
                    .collect();
                if ps.is_empty() {
                    f64::MAX
                } else {
                    ps.iter().sum::<usize>() as f64 / ps.len() as f64
                }
            };
            rows[i].sort_by(|a, b| key(a).total_cmp(&key(b)));
        }
    }
    rows
}

const BOX_H: f64 = 46.0;
const GAP_X: f64 = 28.0;
const GAP_Y: f64 = 64.0;
const MARGIN: f64 = 20.0;

fn box_width(name: &str, kind: &str) -> f64 {
    let chars = name.chars().count().max(kind.chars().count()) as f64;
    (chars * 7.2 + 24.0).max(120.0)
}

/// The DAG as a standalone SVG picture: a box per node (name and type; file nodes with a
/// folded corner, manual-start nodes dashed), an arrow per table read (dashed for lookups,
/// labelled with the table), and, with `statuses`, boxes coloured by status and a legend.
pub fn to_svg(script: &Script, statuses: Option<&Statuses>) -> String {
    let rows = layout(script);
    let widths: BTreeMap<&str, f64> = script
        .nodes
        .iter()
        .map(|(n, node)| (n.as_str(), box_width(n, node.node_type.name())))
        .collect();
    let row_width = |r: &Vec<&str>| {
        r.iter().map(|n| widths[n]).sum::<f64>() + GAP_X * r.len().saturating_sub(1) as f64
    };
    let width = rows.iter().map(row_width).fold(300.0, f64::max) + 2.0 * MARGIN;
    let legend = if statuses.is_some() { 30.0 } else { 0.0 };
    let height = rows.len() as f64 * (BOX_H + GAP_Y) - GAP_Y + 2.0 * MARGIN + legend;
    let mut pos: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        let mut x = (width - row_width(r)) / 2.0;
        let y = MARGIN + legend + i as f64 * (BOX_H + GAP_Y);
        for n in r {
            pos.insert(n, (x, y));
            x += widths[n] + GAP_X;
        }
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\">"
    );
    s.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#546e7a\"/></marker></defs>\n",
    );
    s.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>\n");
    if statuses.is_some() {
        let mut x = MARGIN;
        for st in ["success", "start", "fail", "stopreceived", "none"] {
            let (fill, stroke) = colours(Some(st));
            let _ = writeln!(
                s,
                "<rect x=\"{x:.0}\" y=\"{MARGIN:.0}\" width=\"14\" height=\"14\" rx=\"3\" \
                 fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{:.0}\" y=\"{:.0}\" \
                 font-size=\"12\" fill=\"#37474f\">{st}</text>",
                x + 19.0,
                MARGIN + 12.0
            );
            x += 30.0 + st.len() as f64 * 7.0;
        }
    }
    for e in edges(script) {
        let (Some(&(fx, fy)), Some(&(tx, ty))) = (pos.get(e.from), pos.get(e.to)) else {
            continue;
        };
        let (x1, y1) = (fx + widths[e.from] / 2.0, fy + BOX_H);
        let (x2, y2) = (tx + widths[e.to] / 2.0, ty);
        let mid = (y1 + y2) / 2.0;
        let dash = if e.lookup {
            " stroke-dasharray=\"5 4\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<path class=\"edge\" d=\"M {x1:.1} {y1:.1} C {x1:.1} {mid:.1}, {x2:.1} {mid:.1}, \
             {x2:.1} {y2:.1}\" fill=\"none\" stroke=\"#546e7a\" stroke-width=\"1.3\"{dash} \
             marker-end=\"url(#arrow)\"><title>{} → {}: {}</title></path>",
            xml(e.from),
            xml(e.to),
            xml(&e.label)
        );
        // The label sits on the curve two thirds of the way down, where edges into different
        // nodes have parted, on a halo so that crossing lines do not hide it.
        let t: f64 = if e.lookup { 0.84 } else { 0.6 };
        let (a, b) = (
            (1.0 - t).powi(3) + 3.0 * (1.0 - t).powi(2) * t,
            3.0 * (1.0 - t) * t * t + t.powi(3),
        );
        let (lx, ly) = (
            a * x1 + b * x2,
            (1.0 - t).powi(3) * y1
                + 3.0 * (1.0 - t).powi(2) * t * mid
                + 3.0 * (1.0 - t) * t * t * mid
                + t.powi(3) * y2,
        );
        let _ = writeln!(
            s,
            "<text x=\"{lx:.1}\" y=\"{ly:.1}\" font-size=\"10\" fill=\"#607d8b\" \
             stroke=\"#fafafa\" stroke-width=\"3\" paint-order=\"stroke\" \
             text-anchor=\"middle\">{}</text>",
            xml(&e.label)
        );
    }
    for (name, node) in &script.nodes {
        let Some(&(x, y)) = pos.get(name.as_str()) else {
            continue;
        };
        let w = widths[name.as_str()];
        let status = statuses.map(|st| st.get(name).map_or("none", String::as_str));
        let (fill, stroke) = colours(status);
        let dash = if node.start_policy == StartPolicy::Manual {
            " stroke-dasharray=\"6 3\""
        } else {
            ""
        };
        let title = match status {
            Some(st) => format!("{name} ({}): {st}", node.node_type.name()),
            None => format!("{name} ({})", node.node_type.name()),
        };
        let _ = writeln!(
            s,
            "<g class=\"node\" data-node=\"{}\" data-status=\"{}\"><title>{}</title>",
            xml(name),
            status.unwrap_or(""),
            xml(&title)
        );
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BOX_H:.0}\" rx=\"8\" \
             fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.6\"{dash}/>"
        );
        if matches!(node.node_type, NodeType::FileTable | NodeType::TableFile) {
            // A folded corner marks nodes that read or write files.
            let _ = writeln!(
                s,
                "<path d=\"M {:.1} {y:.1} l 12 0 l 0 12 z\" fill=\"{stroke}\" opacity=\"0.5\"/>",
                x + w - 12.0
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" font-weight=\"bold\" fill=\"#263238\" \
             text-anchor=\"middle\">{}</text>",
            x + w / 2.0,
            y + 19.0,
            xml(name)
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#607d8b\" \
             text-anchor=\"middle\">{}</text></g>",
            x + w / 2.0,
            y + 36.0,
            node.node_type.name()
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The DAG as a Mermaid flowchart (for Markdown renderers), with status classes when given.
pub fn to_mermaid(script: &Script, statuses: Option<&Statuses>) -> String {
    let ids: BTreeMap<&str, String> = script
        .nodes
        .keys()
        .enumerate()
        .map(|(i, n)| (n.as_str(), format!("n{i}")))
        .collect();
    let quote = |t: &str| t.replace('"', "#quot;");
    let mut s = String::from("flowchart TD\n");
    for (name, node) in &script.nodes {
        let label = quote(&format!(
            "{name}<br/><small>{}</small>",
            node.node_type.name()
        ));
        let (open, close) = if matches!(node.node_type, NodeType::FileTable | NodeType::TableFile) {
            ("[/", "/]")
        } else {
            ("(", ")")
        };
        let _ = writeln!(s, "    {}{open}\"{label}\"{close}", ids[name.as_str()]);
    }
    for e in edges(script) {
        let arrow = if e.lookup { "-.->" } else { "-->" };
        let _ = writeln!(
            s,
            "    {} {arrow}|\"{}\"| {}",
            ids[e.from],
            quote(&e.label),
            ids[e.to]
        );
    }
    if let Some(st) = statuses {
        for status in ["success", "fail", "start", "stopreceived"] {
            let (fill, stroke) = colours(Some(status));
            let _ = writeln!(s, "    classDef {status} fill:{fill},stroke:{stroke}");
        }
        for (name, status) in st {
            if let Some(id) = ids.get(name.as_str())
                && status != "none"
            {
                let _ = writeln!(s, "    class {id} {status}");
            }
        }
    }
    s
}

/// Graphviz dot with boxes filled by status.
pub fn to_dot(script: &Script, statuses: Option<&Statuses>) -> String {
    let plain = crate::dag::to_dot(script);
    let Some(st) = statuses else {
        return plain;
    };
    // Attributes given again at the end are merged into each node's.
    let body = plain.trim_end().trim_end_matches('}');
    let mut s = body.to_string();
    for (name, status) in st {
        let (fill, stroke) = colours(Some(status));
        let _ = writeln!(
            s,
            "  {} [style=\"rounded,filled\", fillcolor=\"{fill}\", color=\"{stroke}\"];",
            crate::dag::dot_id(name)
        );
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> Script {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop");
        crate::load_script_with(
            &dir.join("script.yaml"),
            Some(&dir.join("params.yaml")),
            &crate::LoadOptions::default(),
        )
        .expect("the example loads")
    }

    #[test]
    fn svg_has_a_box_per_node_an_arrow_per_read_and_status_colours() {
        let sc = script();
        let plain = to_svg(&sc, None);
        assert!(plain.starts_with("<svg "));
        assert_eq!(plain.matches("<g class=\"node\"").count(), sc.nodes.len());
        assert_eq!(plain.matches("class=\"edge\"").count(), edges(&sc).len());
        assert!(
            !plain.contains("stopreceived"),
            "no legend without statuses"
        );
        // Every box lies inside the picture and boxes do not overlap.
        let mut st = Statuses::new();
        st.insert("load_orders".into(), "success".into());
        st.insert("order_details".into(), "fail".into());
        let coloured = to_svg(&sc, Some(&st));
        assert!(coloured.contains("data-node=\"load_orders\" data-status=\"success\""));
        assert!(coloured.contains("data-node=\"order_details\" data-status=\"fail\""));
        assert!(coloured.contains("data-node=\"countries\" data-status=\"none\""));
        assert!(coloured.contains("#ffcdd2"));
        // Inputs are drawn above the nodes that read them.
        let rows = layout(&sc);
        let layer = |n: &str| rows.iter().position(|r| r.contains(&n)).unwrap();
        for e in edges(&sc) {
            assert!(layer(e.from) < layer(e.to), "{} -> {}", e.from, e.to);
        }
    }

    #[test]
    fn mermaid_and_dot_name_every_node_and_status() {
        let sc = script();
        let mut st = Statuses::new();
        st.insert("load_orders".into(), "success".into());
        let m = to_mermaid(&sc, Some(&st));
        assert!(m.starts_with("flowchart TD"));
        for name in sc.nodes.keys() {
            assert!(m.contains(name.as_str()), "{name}");
        }
        assert!(
            m.contains("classDef success") && m.contains(" success\n"),
            "{m}"
        );
        assert_eq!(
            m.matches("-->").count() + m.matches("-.->").count(),
            edges(&sc).len()
        );
        let d = to_dot(&sc, Some(&st));
        assert!(
            d.contains("\"load_orders\" [style=\"rounded,filled\", fillcolor=\"#c8e6c9\""),
            "{d}"
        );
        assert!(d.trim_end().ends_with('}'));
        assert_eq!(to_dot(&sc, None), crate::dag::to_dot(&sc));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(xml("a<b>&\"c"), "a&lt;b&gt;&amp;&quot;c");
    }
}
