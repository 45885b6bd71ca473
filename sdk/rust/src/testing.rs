//! Running a processor on the build machine, without a Wasm host, for unit tests.
//!
//! The [`Harness`] does what the host does around the component: it opens an instance,
//! projects input rows onto the fields the binding reads, encodes them into column buffers,
//! calls the processor and decodes its output. Only the WIT export glue is left out.

use crate::processor::{Describe, OpenContext, Processor, Runtime};
use crate::{Batch, BatchBuilder, Error, RowError, Schema, Value};

/// An open processor instance driven by tests.
///
/// ```
/// use vessel_plugin::testing::Harness;
/// use vessel_plugin::{Binding, Emit, Error, FieldType, OpenContext, Processor, Row, RowError};
/// use vessel_plugin::{Field, Schema, Value};
///
/// /// Doubles `n`.
/// #[vessel_plugin::processor(name = "double", version = "0.1.0", kind = "map")]
/// struct Double;
///
/// impl Processor for Double {
///     fn open(ctx: &OpenContext) -> Result<(Self, Binding), Error> {
///         ctx.require("n", FieldType::Int)?;
///         Ok((Double, Binding::new().read("n").output("twice", FieldType::Int)))
///     }
///     fn process_row(&mut self, row: &Row<'_>, out: &mut Emit<'_>) -> Result<(), RowError> {
///         out.set_int("twice", row.int("n")? * 2);
///         Ok(())
///     }
/// }
///
/// // In a plugin's crate, a `#[test]` function.
/// fn doubles() -> Result<(), Box<dyn std::error::Error>> {
///     let input = Schema::new(vec![
///         Field::new("name", FieldType::String),
///         Field::new("n", FieldType::Int),
///     ]);
///     let h = Harness::<Double>::open("{}", input)?;
///     let out = h.process(&[vec![Value::Str("a"), Value::Int(21)]])?;
///     assert_eq!(out.batch.row(0).unwrap().int("twice")?, 42);
///     Ok(())
/// }
/// # fn main() { doubles().unwrap() }
/// ```
pub struct Harness<P> {
    runtime: Runtime<P>,
    input: Schema,
}

/// What one batch produced, decoded.
#[derive(Debug)]
pub struct Output {
    /// The `p.*` rows (no columns for a filter).
    pub batch: Batch,
    /// Filter and filter-map: whether each input row was kept.
    pub keep: Option<Vec<bool>>,
    /// Flat-map: the input row of each output row.
    pub parents: Option<Vec<u32>>,
    /// Rows that failed, by input row.
    pub row_errors: Vec<(u32, RowError)>,
}

impl<P: Processor + Describe> Harness<P> {
    /// Opens an instance for the node parameters `params_json` over rows of `input`.
    ///
    /// # Errors
    /// What the plugin's `open` returns, or the checks of its binding.
    pub fn open(params_json: &str, input: Schema) -> Result<Harness<P>, Error> {
        let ctx = OpenContext::new(P::INFO.kind, params_json, input.clone())?.with_node(
            "test",
            1,
            "test_node",
        );
        Ok(Harness {
            runtime: Runtime::open(&ctx)?,
            input,
        })
    }

    /// The input fields the instance reads, in batch order.
    pub fn reads(&self) -> &Schema {
        self.runtime.reads()
    }

    /// The output fields.
    pub fn outputs(&self) -> &Schema {
        self.runtime.outputs()
    }

    /// Processes rows of the input schema (one value per input field, in order) as one batch.
    ///
    /// # Errors
    /// [`Error::Failed`] when a row does not match the input schema, or what the processor
    /// returns for the batch.
    pub fn process(&self, rows: &[Vec<Value<'_>>]) -> Result<Output, Error> {
        let cols: Vec<usize> = self
            .runtime
            .reads()
            .fields()
            .iter()
            .filter_map(|f| self.input.index_of(&f.name))
            .collect();
        let mut b = BatchBuilder::new(self.runtime.reads());
        for (i, row) in rows.iter().enumerate() {
            if row.len() != self.input.len() {
                return Err(Error::failed(format!(
                    "test row {i} has {} values for {} input fields",
                    row.len(),
                    self.input.len()
                )));
            }
            let projected: Vec<Value<'_>> = cols.iter().map(|&c| row[c]).collect();
            b.push_row(&projected)
                .map_err(|e| Error::failed(format!("test row {i}: {e}")))?;
        }
        let raw = self.runtime.process(b.finish())?;
        let batch =
            Batch::decode(self.runtime.outputs().clone(), raw.output).map_err(Error::failed)?;
        let bits = |bytes: Vec<u8>| -> Vec<bool> {
            (0..rows.len())
                .map(|i| crate::batch::bit(&bytes, i).unwrap_or(false))
                .collect()
        };
        Ok(Output {
            batch,
            keep: raw.keep.map(bits),
            parents: raw.parents.map(|p| {
                p.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            }),
            row_errors: raw
                .row_errors
                .into_iter()
                .map(|e| {
                    let err = match e.field {
                        Some(f) => RowError::for_field(f, e.message),
                        None => RowError::new(e.message),
                    };
                    (e.row, err)
                })
                .collect(),
        })
    }
}
