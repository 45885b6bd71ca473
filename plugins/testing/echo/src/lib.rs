//! Map guest that returns every input column unchanged (`p.*` = the input fields), logs one
//! line and counts rows. Parameters: `{"error_rows": [1, 3]}` reports those rows as row errors;
//! `{"reject": true}` fails `open` with invalid-params.

wit_bindgen::generate!({ path: "../../../wit", world: "processor-plugin" });

use exports::vessel::plugin::processor::{
    BatchResult, Binding, Guest, GuestInstance, Instance, Kind, OpenArgs, PluginInfo,
};
use vessel::plugin::host;
use vessel::plugin::types::{Batch, Error, Field, LogLevel, RowError};

struct Component;

struct Echo {
    schema: Vec<Field>,
    error_rows: Vec<u32>,
}

/// The numbers in the JSON array after `"key":`, without a JSON parser (keeps the guest tiny).
fn numbers(json: &str, key: &str) -> Vec<u32> {
    let Some(at) = json.find(&format!("\"{key}\"")) else {
        return Vec::new();
    };
    let rest = &json[at..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else {
        return Vec::new();
    };
    rest[open + 1..close]
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

impl Guest for Component {
    type Instance = Echo;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "echo".into(),
            version: "0.1.0".into(),
            kind: Kind::Map,
            description: "Returns its input unchanged".into(),
            params_schema: Some(r#"{"type":"object"}"#.into()),
        }
    }
}

impl GuestInstance for Echo {
    fn open(args: OpenArgs) -> Result<Instance, Error> {
        if args.params_json.contains("\"reject\"") {
            return Err(Error::InvalidParams(
                "echo takes no 'reject' parameter".into(),
            ));
        }
        host::log(
            LogLevel::Debug,
            &format!(
                "echo opened for node {} of run {}",
                args.node_name, args.run_id
            ),
        );
        Ok(Instance::new(Echo {
            schema: args.input_schema,
            error_rows: numbers(&args.params_json, "error_rows"),
        }))
    }

    fn binding(&self) -> Binding {
        Binding {
            output_schema: self.schema.clone(),
            reads: self.schema.iter().map(|f| f.name.clone()).collect(),
        }
    }

    fn process(&self, input: Batch) -> Result<BatchResult, Error> {
        if host::log_enabled(LogLevel::Info) {
            host::log(
                LogLevel::Info,
                &format!("echo got {} rows", input.row_count),
            );
        }
        host::counter_add("rows", u64::from(input.row_count));
        let row_errors = self
            .error_rows
            .iter()
            .filter(|&&r| r < input.row_count)
            .map(|&row| RowError {
                row,
                field: Some(self.schema[0].name.clone()),
                message: format!("row {row} rejected on request"),
            })
            .collect();
        Ok(BatchResult {
            output: input,
            keep: None,
            parents: None,
            row_errors,
        })
    }
}

export!(Component);
