//! Function-plugin guest: `add_one(int) -> int`, `upper(string) -> string`, and two hostile
//! ones, `boom(int) -> int` (panics on 13) and `spin(int) -> int` (never returns).

wit_bindgen::generate!({ path: "../../../wit", world: "function-plugin" });

use exports::vessel::plugin::functions::{Guest, Signature};
use vessel::plugin::types::{Column, Error, FieldType};

struct Component;

fn ints(c: &Column, rows: u32) -> Vec<i64> {
    (0..rows as usize)
        .map(|i| i64::from_le_bytes(c.values[i * 8..i * 8 + 8].try_into().unwrap()))
        .collect()
}

fn int_column(v: impl Iterator<Item = i64>) -> Column {
    Column {
        validity: None,
        offsets: None,
        values: v.flat_map(i64::to_le_bytes).collect(),
    }
}

fn sig(name: &str, params: Vec<FieldType>, returns: FieldType, description: &str) -> Signature {
    Signature {
        name: name.into(),
        params,
        returns,
        description: description.into(),
    }
}

impl Guest for Component {
    fn list_functions() -> Vec<Signature> {
        vec![
            sig("add_one", vec![FieldType::Int], FieldType::Int, "x + 1"),
            sig(
                "upper",
                vec![FieldType::String],
                FieldType::String,
                "upper case",
            ),
            sig("boom", vec![FieldType::Int], FieldType::Int, "panics on 13"),
            sig(
                "spin",
                vec![FieldType::Int],
                FieldType::Int,
                "never returns",
            ),
        ]
    }

    fn call(name: String, args: Vec<Column>, rows: u32) -> Result<Column, Error> {
        let arg = args
            .first()
            .ok_or_else(|| Error::Failed("one argument expected".into()))?;
        match name.as_str() {
            "add_one" => Ok(int_column(
                ints(arg, rows).into_iter().map(|x| x.wrapping_add(1)),
            )),
            "boom" => {
                let v = ints(arg, rows);
                assert!(!v.contains(&13), "boom: 13 is unlucky");
                Ok(int_column(v.into_iter()))
            }
            "spin" => {
                let mut i = 0u64;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "upper" => {
                let offsets = arg
                    .offsets
                    .as_ref()
                    .ok_or_else(|| Error::Failed("no offsets".into()))?;
                let off = |i: usize| {
                    u32::from_le_bytes(offsets[i * 4..i * 4 + 4].try_into().unwrap()) as usize
                };
                let mut values = Vec::new();
                let mut out_offsets = 0u32.to_le_bytes().to_vec();
                for i in 0..rows as usize {
                    let s = std::str::from_utf8(&arg.values[off(i)..off(i + 1)])
                        .map_err(|e| Error::Failed(e.to_string()))?;
                    values.extend_from_slice(s.to_uppercase().as_bytes());
                    out_offsets.extend_from_slice(&(values.len() as u32).to_le_bytes());
                }
                Ok(Column {
                    validity: None,
                    offsets: Some(out_offsets),
                    values,
                })
            }
            other => Err(Error::Failed(format!("no function {other}"))),
        }
    }
}

export!(Component);
