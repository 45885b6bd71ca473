//! `compare_rows` must order rows exactly as their keys do.

use proptest::prelude::*;
use vessel_core::chrono::{FixedOffset, TimeZone};
use vessel_core::{Decimal, FieldType, Value};
use vessel_script::KeyComponent;
use vessel_script::keys::{compare_rows, row_key};

/// Values of one type, with the awkward ones (negative zero, NaN, huge and tiny floats,
/// non-ASCII and over-long strings, dates before year 1) well represented.
fn value_of(t: FieldType) -> BoxedStrategy<Value> {
    match t {
        FieldType::Int => prop_oneof![any::<i64>(), -3i64..3, Just(i64::MIN), Just(i64::MAX)]
            .prop_map(Value::Int)
            .boxed(),
        FieldType::Float => prop_oneof![
            any::<f64>(),
            -1e3f64..1e3,
            Just(0.0),
            Just(-0.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(1e-20),
            Just(-1e-20),
            Just(1e40),
            Just(2e39),
            Just(1e-15),
            Just(1e32),
        ]
        .prop_map(Value::Float)
        .boxed(),
        FieldType::Decimal2 => prop_oneof![
            (any::<i64>(), 0u32..4),
            (-1000i64..1000, 0u32..3),
            (any::<i64>(), 0u32..28),
        ]
        .prop_map(|(m, s)| Value::Decimal(Decimal::new(m, s)))
        .boxed(),
        FieldType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        FieldType::DateTime => prop_oneof![
            -70_000_000_000_000i64..70_000_000_000_000,
            -62_135_596_800_000i64..-62_135_596_700_000,
        ]
        .prop_map(|ms| {
            Value::DateTime(
                FixedOffset::east_opt(3600)
                    .unwrap()
                    .timestamp_millis_opt(ms)
                    .unwrap(),
            )
        })
        .boxed(),
        FieldType::String => prop_oneof![
            "[a-cA-C ]{0,20}",
            "[a-z]{14,20}",
            "[aé жß]{0,20}",
            "\\PC{0,8}",
        ]
        .prop_map(Value::Str)
        .boxed(),
    }
}

const TYPES: [FieldType; 6] = [
    FieldType::Int,
    FieldType::Float,
    FieldType::Decimal2,
    FieldType::Bool,
    FieldType::DateTime,
    FieldType::String,
];

/// Components over fields 0.., with random modifiers, and two rows for them.
fn case() -> impl Strategy<Value = (Vec<KeyComponent>, Vec<Value>, Vec<Value>)> {
    prop::collection::vec(
        (
            0usize..TYPES.len(),
            any::<bool>(),
            any::<bool>(),
            16usize..18,
        ),
        1..4,
    )
    .prop_flat_map(|specs| {
        let comps: Vec<KeyComponent> = specs
            .iter()
            .enumerate()
            .map(|(i, &(t, desc, ignore_case, len))| KeyComponent {
                field: format!("f{i}"),
                field_idx: i,
                field_type: TYPES[t],
                desc,
                ignore_case,
                str_len: len,
            })
            .collect();
        let row = |comps: &[KeyComponent]| {
            comps
                .iter()
                .map(|c| value_of(c.field_type))
                .collect::<Vec<_>>()
        };
        let (a, b) = (row(&comps), row(&comps));
        (Just(comps), a, b)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn compare_rows_orders_as_the_keys((comps, a, b) in case()) {
        let want = row_key(&comps, &a).cmp(&row_key(&comps, &b));
        prop_assert_eq!(compare_rows(&comps, &a, &b), want);
        // A row equals itself; swapping reverses.
        prop_assert_eq!(compare_rows(&comps, &a, &a), std::cmp::Ordering::Equal);
        prop_assert_eq!(compare_rows(&comps, &b, &a), want.reverse());
    }

    #[test]
    fn equal_values_in_a_prefix_let_later_components_decide(
        (comps, a, b) in case(), first in 0usize..3
    ) {
        // Copy a prefix of a into b so that the comparison has to walk past it.
        let mut b = b;
        let n = first.min(b.len());
        b[..n].clone_from_slice(&a[..n]);
        let want = row_key(&comps, &a).cmp(&row_key(&comps, &b));
        prop_assert_eq!(compare_rows(&comps, &a, &b), want);
    }
}
