//! `tag_and_denormalize`, the built-in Vessel plugin behind Capillaries' custom processor of
//! the same name: it tags each input row with every tag whose criterion holds, emitting one
//! output row per matching tag.
//!
//! Node parameters (`p`):
//!
//! * `tag_field_name`: name of the produced string field, `p.<tag_field_name>`;
//! * exactly one of
//!   * `tag_criteria`: an object mapping each tag to a boolean expression over the input
//!     row (`r.*`, Capillaries expression language), or
//!   * `tag_criteria_url`: a JSON file holding such an object. Plugins read no files: the host
//!     passes the file's text as `tag_criteria_url_content`.
//!
//! Criteria are compiled and type-checked when the node is opened; a criterion that does not
//! parse, names an unknown field or is not of type bool rejects the node, naming the tag.
//! For each input row the criteria are evaluated in ascending tag order (Capillaries leaves
//! the order unspecified; a fixed order makes runs reproducible) and each true one emits a
//! row with `p.<tag_field_name>` = the tag. No match drops the row; an evaluation error is a
//! row error naming the tag.
//!
//! ```
//! use vessel_plugin::testing::Harness;
//! use vessel_plugin::{Field, FieldType, Schema, Value};
//! use vessel_tag_and_denormalize::TagAndDenormalize;
//!
//! let input = Schema::new(vec![
//!     Field::new("name", FieldType::String),
//!     Field::new("price", FieldType::Decimal2),
//! ]);
//! let params = r#"{
//!     "tag_field_name": "tag",
//!     "tag_criteria": {
//!         "cheap": "r.price < 10",
//!         "tea": "re.MatchString(`(?i)tea`, r.name)"
//!     }
//! }"#;
//! let h = Harness::<TagAndDenormalize>::open(params, input)?;
//! let out = h.process(&[
//!     vec![Value::Str("Green tea"), Value::Decimal2("3.50".parse()?)],
//!     vec![Value::Str("Kettle"), Value::Decimal2("25.00".parse()?)],
//! ])?;
//! let tags: Vec<&str> = out.batch.rows().map(|r| r.str("tag")).collect::<Result<_, _>>()?;
//! assert_eq!(tags, ["cheap", "tea"]);
//! assert_eq!(out.parents.unwrap(), [0, 0]); // both rows come from "Green tea"
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::Value as Json;
use std::cell::RefCell;
use vessel_core::{FieldType as CoreType, Value as CoreValue, decimal, time};
use vessel_expr::{CompileOptions, Compiled, Resolved, Scope, VarSlot};
use vessel_plugin::{
    Binding, Emit, Error, FieldType, OpenContext, Processor, Row, RowError, Schema, Value, log,
};

/// Environment slot of `r.*` in compiled expressions (the engine's `ALIAS_R`).
const ALIAS_R: usize = 0;

/// Tags rows by criteria expressions: one output row per matching tag.
#[vessel_plugin::processor(name = "tag_and_denormalize", version = "0.1.0", kind = "flat-map")]
pub struct TagAndDenormalize {
    /// `p.<field>` receives the tag.
    field: String,
    /// In ascending tag order.
    criteria: Vec<Criterion>,
    /// Position in `env` of each column of the batches (the binding's reads).
    read_slots: Vec<usize>,
    /// The row environment, one value per input field; only read fields are refreshed per row
    /// (the others are never looked at), and their buffers are reused.
    env: Vec<CoreValue>,
    /// Rows emitted per criterion in the current batch.
    counts: Vec<u64>,
}

/// One tag and its compiled criterion.
#[derive(Debug)]
struct Criterion {
    tag: String,
    expr: Compiled,
}

impl Processor for TagAndDenormalize {
    fn open(ctx: &OpenContext) -> Result<(Self, Binding), Error> {
        let params = ctx.params_value();
        let field = tag_field_name(params)?;
        let sources = criteria_sources(params)?;
        let input = ctx.input_schema();
        let scope = InputScope::new(input);
        let mut criteria = Vec::with_capacity(sources.len());
        let mut used = vec![false; input.len()];
        for (tag, src) in sources {
            let expr = scope.compile(&tag, &src)?;
            for v in expr.vars() {
                used[v.index] = true;
            }
            criteria.push(Criterion { tag, expr });
        }
        // Reads in name order, as the binding promises; each maps to its slot in `env`.
        let mut reads: Vec<(&str, usize)> = input
            .fields()
            .iter()
            .enumerate()
            .filter(|&(i, _)| used[i])
            .map(|(i, f)| (f.name.as_str(), i))
            .collect();
        reads.sort_unstable();
        let binding = Binding::new()
            .read_all(reads.iter().map(|(name, _)| *name))
            .output(field.as_str(), FieldType::String);
        log::debug!(
            "{} tag criteria over {} input fields",
            criteria.len(),
            reads.len()
        );
        let plugin = TagAndDenormalize {
            counts: vec![0; criteria.len()],
            read_slots: reads.iter().map(|&(_, i)| i).collect(),
            env: input
                .fields()
                .iter()
                .map(|f| CoreValue::zero(core_type(f.ty)))
                .collect(),
            field,
            criteria,
        };
        Ok((plugin, binding))
    }

    fn process_row(&mut self, row: &Row<'_>, out: &mut Emit<'_>) -> Result<(), RowError> {
        for (col, &slot) in self.read_slots.iter().enumerate() {
            let v = row.value_at(col)?;
            let target = self
                .env
                .get_mut(slot)
                .ok_or_else(|| RowError::new("internal: read slot out of range"))?;
            store(target, v)
                .map_err(|m| RowError::for_field(&row.schema().fields()[col].name, m))?;
        }
        let env: [&[CoreValue]; 1] = [&self.env];
        for (i, c) in self.criteria.iter().enumerate() {
            let hit = match c.expr.eval(&env) {
                Ok(CoreValue::Bool(b)) => b,
                Ok(other) => {
                    return Err(RowError::new(format!(
                        "tag `{}`: criterion gave {} {other}, not a bool",
                        c.tag,
                        other.field_type()
                    )));
                }
                Err(e) => return Err(RowError::new(format!("tag `{}`: {e}", c.tag))),
            };
            if hit {
                out.push().set_str(&self.field, &c.tag);
                self.counts[i] += 1;
            }
        }
        Ok(())
    }

    fn end_batch(&mut self) {
        for (c, n) in self.criteria.iter().zip(&mut self.counts) {
            if *n > 0 {
                vessel_plugin::counter_add(&format!("tagged.{}", c.tag), *n);
                *n = 0;
            }
        }
    }
}

/// `tag_field_name`: required, a name usable as `p.<name>` in the node's writer.
fn tag_field_name(params: &Json) -> Result<String, Error> {
    let name = match params.get("tag_field_name") {
        Some(Json::String(s)) => s.as_str(),
        Some(other) => {
            return Err(Error::invalid_params(format!(
                "tag_field_name must be a string, not {other}"
            )));
        }
        None => {
            return Err(Error::invalid_params(
                "tag_field_name is required: the name of the produced field, e.g. \"tag\" for p.tag",
            ));
        }
    };
    let mut bytes = name.bytes();
    let starts_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !starts_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::invalid_params(format!(
            "tag_field_name {name:?} is not a field name: use letters, digits and `_`, \
             not starting with a digit"
        )));
    }
    Ok(name.to_string())
}

/// The tag → expression pairs, in ascending tag order, from `tag_criteria` or from the
/// content of `tag_criteria_url` (exactly one of them).
fn criteria_sources(params: &Json) -> Result<Vec<(String, String)>, Error> {
    let inline = params.get("tag_criteria");
    let url = params.get("tag_criteria_url");
    let map = match (inline, url) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_params(
                "give either tag_criteria or tag_criteria_url, not both",
            ));
        }
        (None, None) => {
            return Err(Error::invalid_params(
                "tag_criteria (an object of tag → criterion) or tag_criteria_url (a JSON file \
                 holding one) is required",
            ));
        }
        (Some(Json::Object(m)), None) => m.clone(),
        (Some(other), None) => {
            return Err(Error::invalid_params(format!(
                "tag_criteria must be an object of tag → criterion expression, not {}",
                json_kind(other)
            )));
        }
        (None, Some(url)) => {
            let Json::String(url) = url else {
                return Err(Error::invalid_params(format!(
                    "tag_criteria_url must be a string, not {}",
                    json_kind(url)
                )));
            };
            let text = match params.get("tag_criteria_url_content") {
                Some(Json::String(t)) => t,
                _ => {
                    return Err(Error::invalid_params(format!(
                        "the content of tag_criteria_url {url:?} was not supplied \
                         (tag_criteria_url_content): the host reads the file for the plugin"
                    )));
                }
            };
            // Editors may leave a byte-order mark; JSON parsers reject it.
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            if text.trim().is_empty() {
                return Err(Error::invalid_params(format!(
                    "tag_criteria_url {url:?} is empty"
                )));
            }
            match serde_json::from_str::<Json>(text) {
                Ok(Json::Object(m)) => m,
                Ok(other) => {
                    return Err(Error::invalid_params(format!(
                        "tag_criteria_url {url:?} holds {}, expected an object of tag → \
                         criterion expression",
                        json_kind(&other)
                    )));
                }
                Err(e) => {
                    return Err(Error::invalid_params(format!(
                        "tag_criteria_url {url:?} is not valid JSON: {e}"
                    )));
                }
            }
        }
    };
    if map.is_empty() {
        return Err(Error::invalid_params(
            "tag_criteria is empty: give at least one tag and its criterion",
        ));
    }
    let mut pairs = Vec::with_capacity(map.len());
    for (tag, expr) in map {
        match expr {
            Json::String(src) => pairs.push((tag, src)),
            other => {
                return Err(Error::invalid_params(format!(
                    "tag `{tag}`: the criterion must be an expression in a string, not {}",
                    json_kind(&other)
                )));
            }
        }
    }
    // Byte order of the tags, whatever order the JSON object had.
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(pairs)
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// `r.*` over the input schema; any other alias is unknown. Remembers misses for hints.
struct InputScope<'a> {
    input: &'a Schema,
    misses: RefCell<Vec<(String, String)>>,
}

impl<'a> InputScope<'a> {
    fn new(input: &'a Schema) -> Self {
        InputScope {
            input,
            misses: RefCell::new(Vec::new()),
        }
    }

    /// Compiles one criterion; it must be of type bool.
    fn compile(&self, tag: &str, src: &str) -> Result<Compiled, Error> {
        self.misses.borrow_mut().clear();
        let expr = Compiled::compile(src, self, CompileOptions::default()).map_err(|e| {
            let mut msg = format!("tag `{tag}`: criterion {src:?}: {e}");
            if let Some(hint) = self.hint(&e.message) {
                msg.push_str("; ");
                msg.push_str(&hint);
            }
            Error::invalid_params(msg)
        })?;
        match expr.field_type() {
            Some(CoreType::Bool) => Ok(expr),
            _ => Err(Error::invalid_params(format!(
                "tag `{tag}`: criterion {src:?} is of type {}, but a criterion must be a bool \
                 (a comparison, re.MatchString(...), && or ||)",
                expr.expr_type()
            ))),
        }
    }

    fn hint(&self, message: &str) -> Option<String> {
        let misses = self.misses.borrow();
        let (alias, _) = misses
            .iter()
            .find(|(a, f)| message.contains(&format!("{a}.{f}")))?;
        Some(if alias == "r" {
            format!("the input has {}", self.input.names())
        } else {
            format!("criteria use the input row's fields only (r.*), not {alias}.*")
        })
    }
}

impl Scope for InputScope<'_> {
    fn resolve(&self, alias: &str, field: &str) -> Option<Resolved> {
        if alias == "r"
            && let Some(index) = self.input.index_of(field)
        {
            let ty = core_type(self.input.fields()[index].ty);
            return Some(Resolved::Var(
                VarSlot {
                    alias: ALIAS_R,
                    index,
                },
                ty,
            ));
        }
        self.misses
            .borrow_mut()
            .push((alias.to_string(), field.to_string()));
        None
    }
}

fn core_type(t: FieldType) -> CoreType {
    match t {
        FieldType::Int => CoreType::Int,
        FieldType::Float => CoreType::Float,
        FieldType::Decimal2 => CoreType::Decimal2,
        FieldType::String => CoreType::String,
        FieldType::Bool => CoreType::Bool,
        FieldType::Datetime => CoreType::DateTime,
    }
}

/// Writes a batch value into its environment slot, reusing the slot's string buffer.
fn store(target: &mut CoreValue, v: Value<'_>) -> Result<(), String> {
    match (target, v) {
        (CoreValue::Str(s), Value::Str(x)) => {
            s.clear();
            s.push_str(x);
        }
        (t, Value::Int(x)) => *t = CoreValue::Int(x),
        (t, Value::Float(x)) => *t = CoreValue::Float(x),
        (t, Value::Decimal2(x)) => *t = CoreValue::Decimal(decimal::from_cents(x.hundredths())),
        (t, Value::Bool(x)) => *t = CoreValue::Bool(x),
        (t, Value::Datetime(x)) => {
            let utc = vessel_core::chrono::DateTime::from_timestamp_micros(x.as_micros())
                .ok_or_else(|| format!("datetime {x} is out of range"))?;
            *t = CoreValue::DateTime(utc.with_timezone(&time::utc()));
        }
        (t, Value::Str(x)) => *t = CoreValue::Str(x.to_string()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vessel_plugin::testing::{Harness, Output};
    use vessel_plugin::{Datetime, Decimal2, Field};

    /// `tag_criteria.json` of the Capillaries test (conformance-tests §2.4), byte for byte
    /// once joined: CRLF line ends, 4-space indent, no final newline.
    const CONFORMANCE_LINES: [&str; 6] = [
        "{",
        r#"    "boys":"re.MatchString(`\"k\":\"Ideal For\",\"v\":\"[\\w ,]*Boys[\\w ,]*\"`, r.product_spec)","#,
        r#"    "diving":"re.MatchString(`\"k\":\"Water Resistance Depth\",\"v\":\"(100|200) m\"`, r.product_spec)","#,
        r#"    "casualfootwear":"re.MatchString(`Footwear >>[\\w ,]*`, r.category_tree) && re.MatchString(`\"k\":\"Occasion\",\"v\":\"[\\w ,]*(Casual|Festive)[\\w ,]*\"`, r.product_spec)","#,
        r#"    "engagement":"re.MatchString(`\"k\":\"Occasion\",\"v\":\"[\\w ,]*Engagement[\\w ,]*\"`, r.product_spec) && re.MatchString(`\"k\":\"Gemstone\",\"v\":\"Diamond\"`, r.product_spec) && r.price > 5000""#,
        "}",
    ];

    fn conformance_criteria() -> String {
        CONFORMANCE_LINES.join("\r\n")
    }

    /// The `products` table of the conformance test.
    fn products() -> Schema {
        Schema::new(vec![
            Field::new("product_id", FieldType::Int),
            Field::new("name", FieldType::String),
            Field::new("category_tree", FieldType::String),
            Field::new("price", FieldType::Decimal2),
            Field::new("product_spec", FieldType::String),
        ])
    }

    fn product<'a>(id: i64, category: &'a str, price: &str, spec: &'a str) -> Vec<Value<'a>> {
        vec![
            Value::Int(id),
            Value::Str("a product"),
            Value::Str(category),
            Value::Decimal2(price.parse::<Decimal2>().unwrap()),
            Value::Str(spec),
        ]
    }

    fn url_params(content: &str) -> String {
        serde_json::json!({
            "tag_field_name": "tag",
            "tag_criteria_url": "{dir_cfg}/tag_criteria.json",
            "tag_criteria_url_content": content,
        })
        .to_string()
    }

    /// (parent row, tag) of each output row.
    fn tagged(out: &Output) -> Vec<(u32, String)> {
        let parents = out.parents.clone().unwrap();
        out.batch
            .rows()
            .map(|r| (parents[r.index()], r.str("tag").unwrap().to_string()))
            .collect()
    }

    #[test]
    fn the_file_is_the_conformance_one() {
        let text = conformance_criteria();
        assert_eq!(text.len(), 591);
        assert!(!text.ends_with('\n'));
        let m: serde_json::Map<String, Json> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            m["boys"],
            "re.MatchString(`\"k\":\"Ideal For\",\"v\":\"[\\w ,]*Boys[\\w ,]*\"`, r.product_spec)"
        );
    }

    #[test]
    fn conformance_criteria_tag_products() {
        let h =
            Harness::<TagAndDenormalize>::open(&url_params(&conformance_criteria()), products())
                .unwrap();
        assert_eq!(h.reads().names(), "category_tree, price, product_spec");
        assert_eq!(h.outputs().names(), "tag");
        let watch = r#"{"k":"Occasion","v":"Formal, Casual"}, {"k":"Ideal For","v":"Boys, Men"}, 100 m{"k":"Water Resistance Depth","v":"200 m"}"#;
        let shoes = r#"{"k":"Ideal For","v":"Men"}, {"k":"Occasion","v":"Casual"}"#;
        let ring = r#"{"k":"Ideal For","v":"Women"}, {"k":"Occasion","v":"Wedding, and, Engagement"}, {"k":"Gemstone","v":"Diamond"}"#;
        // `\w` is ASCII, as in Go: "Garçons" breaks `[\w ,]*` before "Boys".
        let unicode =
            r#"{"k":"Ideal For","v":"Garçons, Boys"}, {"k":"Water Resistance Depth","v":"500 m"}"#;
        let rows = vec![
            product(1, "Watches >> Wrist Watches", "571230", watch),
            product(
                2,
                "Footwear >> Men's Footwear >> Casual Shoes",
                "999",
                shoes,
            ),
            product(3, "Clothing >> Shirts", "499", shoes),
            product(4, "Jewellery >> Rings", "49999", ring),
            product(5, "Jewellery >> Rings", "5000", ring),
            product(6, "Watches", "5000.01", unicode),
            product(7, "Footwear >> Women's Footwear", "5000.01", ring),
        ];
        let out = h.process(&rows).unwrap();
        assert!(out.row_errors.is_empty());
        let want = [
            (0, "boys"),
            (0, "diving"),
            (1, "casualfootwear"),
            (3, "engagement"),
            (6, "engagement"),
        ];
        let got = tagged(&out);
        let got: Vec<(u32, &str)> = got.iter().map(|(p, t)| (*p, t.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn inline_criteria_and_lf_files_give_the_same_tags() {
        let lf = conformance_criteria().replace("\r\n", "\n");
        let inline: Json = serde_json::from_str(&lf).unwrap();
        let inline =
            serde_json::json!({"tag_field_name": "tag", "tag_criteria": inline}).to_string();
        let rows = vec![product(
            1,
            "Footwear >> x",
            "1",
            r#"{"k":"Ideal For","v":"Boys"}, {"k":"Occasion","v":"Festive"}"#,
        )];
        for params in [
            url_params(&lf),
            url_params(&format!("\u{feff}{lf}\n")),
            inline,
        ] {
            let h = Harness::<TagAndDenormalize>::open(&params, products()).unwrap();
            let out = h.process(&rows).unwrap();
            let tags: Vec<String> = tagged(&out).into_iter().map(|(_, t)| t).collect();
            assert_eq!(tags, ["boys", "casualfootwear"], "{params}");
        }
    }

    fn open_err(params: Json) -> String {
        match Harness::<TagAndDenormalize>::open(&params.to_string(), products()) {
            Err(Error::InvalidParams(m)) => m,
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("{params} was accepted"),
        }
    }

    #[test]
    fn bad_params_are_rejected_with_the_tag_and_expression() {
        use serde_json::json;
        let crit = |c: Json| json!({"tag_field_name": "tag", "tag_criteria": c});
        assert_eq!(
            open_err(crit(json!({"big": "r.price + 1"}))),
            "tag `big`: criterion \"r.price + 1\" is of type decimal2, but a criterion must be \
             a bool (a comparison, re.MatchString(...), && or ||)"
        );
        assert_eq!(
            open_err(crit(json!({"x": "r.cost > 1"}))),
            "tag `x`: criterion \"r.cost > 1\": column 1: unknown field 'r.cost': no field 'cost' \
             is available under alias 'r' in this expression; the input has product_id, name, \
             category_tree, price, product_spec"
        );
        assert!(
            open_err(crit(json!({"x": "p.tag == \"a\""})))
                .ends_with("criteria use the input row's fields only (r.*), not p.*")
        );
        assert!(
            open_err(crit(json!({"x": "r.price >"})))
                .starts_with("tag `x`: criterion \"r.price >\": column 10:")
        );
        assert!(
            open_err(crit(json!({"x": 1})))
                .contains("tag `x`: the criterion must be an expression in a string, not a number")
        );
        assert!(open_err(crit(json!({}))).contains("tag_criteria is empty"));
        assert!(open_err(crit(json!(["a"]))).contains("not an array"));
        assert!(open_err(json!({"tag_field_name": "tag"})).contains("is required"));
        assert!(
            open_err(json!({"tag_criteria": {"a": "true"}}))
                .starts_with("tag_field_name is required")
        );
        assert!(
            open_err(json!({"tag_field_name": "p.tag", "tag_criteria": {"a": "true"}}))
                .contains("not a field name")
        );
        assert!(
            open_err(json!({"tag_field_name": 3, "tag_criteria": {"a": "true"}}))
                .contains("must be a string")
        );
        assert!(
            open_err(json!({"tag_field_name": "t", "tag_criteria": {"a": "true"}, "tag_criteria_url": "f.json"}))
                .contains("not both")
        );
        let url = |content: Json| json!({"tag_field_name": "t", "tag_criteria_url": "c.json", "tag_criteria_url_content": content});
        assert!(
            open_err(json!({"tag_field_name": "t", "tag_criteria_url": "c.json"}))
                .contains("was not supplied")
        );
        assert!(open_err(url(json!(" \r\n"))).contains("\"c.json\" is empty"));
        assert!(open_err(url(json!("{\"a\": "))).contains("is not valid JSON"));
        assert!(open_err(url(json!("[1]"))).contains("holds an array"));
    }

    fn events() -> Schema {
        Schema::new(vec![
            Field::new("name", FieldType::String),
            Field::new("at", FieldType::Datetime),
            Field::new("n", FieldType::Int),
            Field::new("ok", FieldType::Bool),
            Field::new("x", FieldType::Float),
        ])
    }

    #[test]
    fn every_input_type_reaches_the_expressions() {
        let params = serde_json::json!({
            "tag_field_name": "kind",
            "tag_criteria": {
                "recent": "r.at > time.Parse(\"2006-01-02\", \"2020-01-01\")",
                "big": "r.n >= 10 && r.x > 0.5",
                "ok": "r.ok",
            }
        })
        .to_string();
        let h = Harness::<TagAndDenormalize>::open(&params, events()).unwrap();
        assert_eq!(h.reads().names(), "at, n, ok, x");
        let y2021 = Datetime::from_micros(1_609_459_200_000_000);
        let rows = vec![
            vec![
                Value::Str("a"),
                Value::Datetime(y2021),
                Value::Int(10),
                Value::Bool(true),
                Value::Float(0.75),
            ],
            vec![
                Value::Str("b"),
                Value::Datetime(Datetime::from_micros(0)),
                Value::Int(9),
                Value::Bool(false),
                Value::Float(1.0),
            ],
        ];
        let out = h.process(&rows).unwrap();
        let got: Vec<String> = out
            .batch
            .rows()
            .map(|r| r.str("kind").unwrap().to_string())
            .collect();
        assert_eq!(got, ["big", "ok", "recent"]);
        assert_eq!(out.parents.unwrap(), [0, 0, 0]);
    }

    #[test]
    fn evaluation_errors_are_row_errors_naming_the_tag() {
        let params = serde_json::json!({
            "tag_field_name": "tag",
            "tag_criteria": {"a_first": "r.n > 0", "b_parse": "int(r.name) > 0"}
        })
        .to_string();
        let h = Harness::<TagAndDenormalize>::open(&params, events()).unwrap();
        let t = Value::Datetime(Datetime::from_micros(0));
        let rows = vec![
            vec![
                Value::Str("12"),
                t,
                Value::Int(1),
                Value::Bool(true),
                Value::Float(0.0),
            ],
            vec![
                Value::Str("twelve"),
                t,
                Value::Int(1),
                Value::Bool(true),
                Value::Float(0.0),
            ],
            vec![
                Value::Str("3"),
                t,
                Value::Int(0),
                Value::Bool(true),
                Value::Float(0.0),
            ],
        ];
        let out = h.process(&rows).unwrap();
        // Row 1 matched `a_first` before `b_parse` failed: none of its rows remain.
        let got: Vec<(u32, String)> = tagged(&out);
        assert_eq!(
            got,
            [
                (0, "a_first".into()),
                (0, "b_parse".into()),
                (2, "b_parse".into())
            ]
        );
        assert_eq!(out.row_errors.len(), 1);
        let (row, e) = &out.row_errors[0];
        assert_eq!(*row, 1);
        assert!(e.message().starts_with("tag `b_parse`: "), "{e}");
    }
}
