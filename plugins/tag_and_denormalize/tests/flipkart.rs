//! The plugin over the Capillaries `tag_and_denormalize` test data (conformance-tests §2),
//! driven as the engine drives it: the `products` table in pages of 1000 rows, the criteria
//! file's text in `tag_criteria_url_content`. The tagged rows must be the operator review
//! baseline once byte-sorted.
//!
//! The data lives in `../shared/testdata/capillaries` beside the project root; without it
//! the test says so and passes.

use std::path::{Path, PathBuf};
use vessel_plugin::testing::Harness;
use vessel_plugin::{Decimal2, Field, FieldType, Schema, Value};
use vessel_tag_and_denormalize::TagAndDenormalize;

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!("skipped: cannot read {}: {e}", path.display());
            None
        }
    }
}

#[test]
fn tags_the_flipkart_products_like_the_baseline() {
    let data = project_root().join("../shared/testdata/capillaries");
    let Some(tsv) = read(&data.join("in/tag_and_denormalize/flipcart_products.tsv")) else {
        return;
    };
    let Some(baseline) = read(
        &data.join("out/tag_and_denormalize/tagged_products_for_operator_review_baseline.csv"),
    ) else {
        return;
    };
    let Some(criteria) =
        read(&project_root().join("tests/conformance/tag_and_denormalize/tag_criteria.json"))
    else {
        return;
    };

    let products = Schema::new(vec![
        Field::new("product_id", FieldType::Int),
        Field::new("name", FieldType::String),
        Field::new("category_tree", FieldType::String),
        Field::new("price", FieldType::Decimal2),
        Field::new("product_spec", FieldType::String),
    ]);
    let params = serde_json::json!({
        "tag_field_name": "tag",
        "tag_criteria_url": "{dir_cfg}/tag_criteria.json",
        "tag_criteria_url_content": criteria,
    });
    let h = Harness::<TagAndDenormalize>::open(&params.to_string(), products).unwrap();

    // Every line has exactly five TAB-separated cells and no cell starts with a quote, so a
    // plain split reads the file as Capillaries' lazy-quote reader does.
    let mut rows: Vec<(i64, &str, &str, Decimal2, &str)> = Vec::new();
    for line in tsv.lines().skip(1) {
        let cells: Vec<&str> = line.split('\t').collect();
        assert_eq!(cells.len(), 5, "{line}");
        rows.push((
            cells[0].parse().unwrap(),
            cells[1],
            cells[2],
            cells[3].parse().unwrap(),
            cells[4],
        ));
    }
    assert_eq!(rows.len(), 11362);

    let mut lines = Vec::new();
    let mut tags_per_product = std::collections::HashMap::<i64, usize>::new();
    for page in rows.chunks(1000) {
        let batch: Vec<Vec<Value<'_>>> = page
            .iter()
            .map(|&(id, name, category, price, spec)| {
                vec![
                    Value::Int(id),
                    Value::Str(name),
                    Value::Str(category),
                    Value::Decimal2(price),
                    Value::Str(spec),
                ]
            })
            .collect();
        let out = h.process(&batch).unwrap();
        assert!(out.row_errors.is_empty(), "{:?}", out.row_errors);
        let parents = out.parents.unwrap();
        for row in out.batch.rows() {
            let (id, _, _, price, _) = page[parents[row.index()] as usize];
            lines.push(format!("{}\t{id}\t{price}", row.str("tag").unwrap()));
            *tags_per_product.entry(id).or_default() += 1;
        }
    }
    assert_eq!(lines.len(), 1493);
    assert_eq!(tags_per_product.values().filter(|&&n| n == 2).count(), 22);
    lines.sort_unstable();
    let mut want: Vec<&str> = baseline.lines().collect();
    // The header sorts last in the baseline (`lines` drops its CRLF).
    assert_eq!(want.pop(), Some("tag\tproduct_id\tprice"));
    assert_eq!(lines, want);
}
