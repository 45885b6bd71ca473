//! The `top` sort of a `table_file` batch within a memory budget: rows are buffered up to the
//! budget, then sorted and spilled to a temporary file as a run; the runs are merged at the end.

use crate::files::FileError;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use vessel_core::{Decimal, Value};
use vessel_script::KeyComponent;
use vessel_script::Top;
use vessel_script::keys::compare_rows;

/// Runs merged at once; more are first merged in groups, so that the open files and their read
/// buffers stay bounded however many runs a huge batch spills.
const MAX_FAN_IN: usize = 64;

/// Read and write buffer of one run file.
const RUN_BUFFER: usize = 64 << 10;

/// Sorts the rows of one batch by `top.order` and keeps the first `top.limit`, holding at most
/// about `budget` bytes of rows in memory.
///
/// The result is the stable sort of the rows in the order they were pushed: rows with equal
/// keys keep that order, whether or not anything was spilled.
pub(crate) struct TopSort {
    order: Vec<KeyComponent>,
    limit: usize,
    budget: usize,
    /// Rows pushed since the last spill, in push order until sorted.
    rows: Vec<Vec<Value>>,
    /// Estimated heap bytes of `rows`.
    bytes: usize,
    /// Sorted runs on disk, in push order of their rows (run `i` holds rows pushed before
    /// those of run `i + 1`).
    runs: Vec<Run>,
    /// Where spill files go.
    dir: PathBuf,
    /// Names the output in error messages.
    display: String,
    spilled: usize,
}

/// One sorted run in an unnamed temporary file (removed by the OS when closed).
struct Run {
    file: File,
    rows: u64,
}

impl TopSort {
    /// A sorter for `top` that spills into `dir` (created if missing) once its rows take more
    /// than `budget` bytes; `display` names the output file in errors.
    pub(crate) fn new(top: &Top, budget: usize, dir: &Path, display: &str) -> TopSort {
        TopSort {
            order: top.order.clone(),
            limit: top.limit,
            budget: budget.max(1),
            rows: Vec::new(),
            bytes: 0,
            runs: Vec::new(),
            dir: dir.to_path_buf(),
            display: display.to_string(),
            spilled: 0,
        }
    }

    /// Runs written to disk so far (merges included).
    pub(crate) fn spilled_runs(&self) -> usize {
        self.spilled
    }

    /// Adds one row.
    ///
    /// # Errors
    /// [`FileError::Io`] when a spill file cannot be created or written.
    pub(crate) fn push(&mut self, row: Vec<Value>) -> Result<(), FileError> {
        self.bytes += row_bytes(&row);
        self.rows.push(row);
        if self.bytes > self.budget {
            self.sort_buffer();
            // With a small limit, the rows kept so far usually fit: keep them instead of
            // writing a run.
            if self.bytes > self.budget / 2 {
                self.spill()?;
            }
        }
        Ok(())
    }

    /// Sorts the buffered rows (stably) and drops those past the limit: no row past position
    /// `limit` of a sorted subset can be among the first `limit` of the whole.
    fn sort_buffer(&mut self) {
        self.rows.sort_by(|a, b| compare_rows(&self.order, a, b));
        if self.rows.len() > self.limit {
            self.rows.truncate(self.limit);
            self.rows.shrink_to_fit();
            self.bytes = self.rows.iter().map(|r| row_bytes(r)).sum();
        }
    }

    fn io_err(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> FileError + '_ {
        move |source| FileError::Io {
            file: self.display.clone(),
            action,
            source,
        }
    }

    /// Writes the (sorted) buffer as a new run.
    fn spill(&mut self) -> Result<(), FileError> {
        let rows = std::mem::take(&mut self.rows);
        self.bytes = 0;
        let mut w = self.new_run()?;
        for r in &rows {
            encode_row(&mut w, r).map_err(self.io_err("write a sort spill file"))?;
        }
        let run = self.close_run(w, rows.len() as u64)?;
        self.runs.push(run);
        Ok(())
    }

    fn new_run(&mut self) -> Result<BufWriter<File>, FileError> {
        std::fs::create_dir_all(&self.dir).map_err(self.io_err("create the sort spill folder"))?;
        let file =
            tempfile::tempfile_in(&self.dir).map_err(self.io_err("create a sort spill file"))?;
        self.spilled += 1;
        Ok(BufWriter::with_capacity(RUN_BUFFER, file))
    }

    fn close_run(&self, w: BufWriter<File>, rows: u64) -> Result<Run, FileError> {
        let mut file = w
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(self.io_err("write a sort spill file"))?;
        file.rewind()
            .map_err(self.io_err("read a sort spill file"))?;
        Ok(Run { file, rows })
    }

    /// Hands the first `limit` rows in order to `out`; returns how many it handed over.
    ///
    /// # Errors
    /// [`FileError::Io`] when a spill file cannot be read or written, or the error of `out`.
    pub(crate) fn finish<E: From<FileError>>(
        mut self,
        out: &mut dyn FnMut(Vec<Value>) -> Result<(), E>,
    ) -> Result<u64, E> {
        self.sort_buffer();
        if self.runs.is_empty() {
            let n = self.rows.len() as u64;
            for r in std::mem::take(&mut self.rows) {
                out(r)?;
            }
            return Ok(n);
        }
        if !self.rows.is_empty() {
            self.spill()?;
        }
        while self.runs.len() > MAX_FAN_IN {
            // Merging neighbouring runs keeps the push order between runs, hence stability.
            let group: Vec<Run> = self.runs.drain(..MAX_FAN_IN).collect();
            let mut w = self.new_run()?;
            let n = self.merge(group, &mut |r: Vec<Value>| {
                encode_row(&mut w, &r).map_err(self.io_err("write a sort spill file"))
            })?;
            let run = self.close_run(w, n)?;
            self.runs.insert(0, run);
        }
        let runs = std::mem::take(&mut self.runs);
        self.merge(runs, out)
    }

    /// Merges sorted runs, handing at most `limit` rows to `out`.
    fn merge<E: From<FileError>>(
        &self,
        runs: Vec<Run>,
        out: &mut dyn FnMut(Vec<Value>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut readers: Vec<(BufReader<File>, u64)> = runs
            .into_iter()
            .map(|r| (BufReader::with_capacity(RUN_BUFFER, r.file), r.rows))
            .collect();
        let mut heap = BinaryHeap::with_capacity(readers.len());
        for (i, (reader, left)) in readers.iter_mut().enumerate() {
            if let Some(row) = self.next_row(reader, left)? {
                heap.push(Head {
                    row,
                    run: i,
                    order: &self.order,
                });
            }
        }
        let mut written = 0u64;
        while written < self.limit as u64 {
            let Some(head) = heap.pop() else { break };
            let run = head.run;
            out(head.row)?;
            written += 1;
            let (reader, left) = &mut readers[run];
            if let Some(row) = self.next_row(reader, left)? {
                heap.push(Head {
                    row,
                    run,
                    order: &self.order,
                });
            }
        }
        Ok(written)
    }

    fn next_row(
        &self,
        reader: &mut BufReader<File>,
        left: &mut u64,
    ) -> Result<Option<Vec<Value>>, FileError> {
        if *left == 0 {
            return Ok(None);
        }
        *left -= 1;
        decode_row(reader)
            .map(Some)
            .map_err(self.io_err("read a sort spill file"))
    }
}

/// The next row of one run in a merge. The heap is a max-heap, so the order is reversed: the
/// smallest key first and, among equal keys, the row of the earlier run.
struct Head<'a> {
    row: Vec<Value>,
    run: usize,
    order: &'a [KeyComponent],
}

impl Ord for Head<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_rows(self.order, &self.row, &other.row)
            .then(self.run.cmp(&other.run))
            .reverse()
    }
}

impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head<'_> {}

/// Estimated heap bytes of a buffered row: the vector, its values and their strings, each
/// allocation counted as the allocator hands it out (16-byte steps, a header, 32 bytes at
/// least), since most strings of a row are short and the overhead is a large part of them.
fn row_bytes(row: &[Value]) -> usize {
    fn alloc(bytes: usize) -> usize {
        if bytes == 0 {
            0
        } else {
            (bytes + 8).next_multiple_of(16).max(32)
        }
    }
    std::mem::size_of::<Vec<Value>>()
        + alloc(std::mem::size_of_val(row))
        + row
            .iter()
            .map(|v| match v {
                Value::Str(s) => alloc(s.capacity()),
                _ => 0,
            })
            .sum::<usize>()
}

// Spill format: per row, the value count, then per value a tag byte and its payload, all
// little-endian. Floats keep their bits (NaN, -0.0), datetimes their offset: a row reads back
// exactly as it was written.
const TAG_INT: u8 = 0;
const TAG_FLOAT: u8 = 1;
const TAG_DECIMAL: u8 = 2;
const TAG_STR: u8 = 3;
const TAG_BOOL: u8 = 4;
const TAG_DATETIME: u8 = 5;

fn encode_row(w: &mut impl Write, row: &[Value]) -> std::io::Result<()> {
    w.write_all(&(row.len() as u32).to_le_bytes())?;
    for v in row {
        match v {
            Value::Int(i) => {
                w.write_all(&[TAG_INT])?;
                w.write_all(&i.to_le_bytes())?;
            }
            Value::Float(f) => {
                w.write_all(&[TAG_FLOAT])?;
                w.write_all(&f.to_bits().to_le_bytes())?;
            }
            Value::Decimal(d) => {
                w.write_all(&[TAG_DECIMAL])?;
                w.write_all(&d.serialize())?;
            }
            Value::Str(s) => {
                w.write_all(&[TAG_STR])?;
                w.write_all(&(s.len() as u64).to_le_bytes())?;
                w.write_all(s.as_bytes())?;
            }
            Value::Bool(b) => w.write_all(&[TAG_BOOL, u8::from(*b)])?,
            Value::DateTime(t) => {
                w.write_all(&[TAG_DATETIME])?;
                w.write_all(&t.timestamp().to_le_bytes())?;
                w.write_all(&t.timestamp_subsec_nanos().to_le_bytes())?;
                w.write_all(&t.offset().local_minus_utc().to_le_bytes())?;
            }
        }
    }
    Ok(())
}

fn read_array<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn corrupt(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

fn decode_row(r: &mut impl Read) -> std::io::Result<Vec<Value>> {
    let n = u32::from_le_bytes(read_array(r)?) as usize;
    let mut row = Vec::with_capacity(n);
    for _ in 0..n {
        let [tag] = read_array::<1>(r)?;
        row.push(match tag {
            TAG_INT => Value::Int(i64::from_le_bytes(read_array(r)?)),
            TAG_FLOAT => Value::Float(f64::from_bits(u64::from_le_bytes(read_array(r)?))),
            TAG_DECIMAL => Value::Decimal(Decimal::deserialize(read_array(r)?)),
            TAG_STR => {
                let len = usize::try_from(u64::from_le_bytes(read_array(r)?))
                    .map_err(|_| corrupt("string length out of range"))?;
                let mut bytes = vec![0u8; len];
                r.read_exact(&mut bytes)?;
                Value::Str(String::from_utf8(bytes).map_err(|_| corrupt("string not UTF-8"))?)
            }
            TAG_BOOL => Value::Bool(read_array::<1>(r)?[0] != 0),
            TAG_DATETIME => {
                let secs = i64::from_le_bytes(read_array(r)?);
                let nanos = u32::from_le_bytes(read_array(r)?);
                let offset = i32::from_le_bytes(read_array(r)?);
                let offset = chrono::FixedOffset::east_opt(offset)
                    .ok_or_else(|| corrupt("datetime offset out of range"))?;
                let utc = chrono::DateTime::from_timestamp(secs, nanos)
                    .ok_or_else(|| corrupt("datetime out of range"))?;
                Value::DateTime(utc.with_timezone(&offset))
            }
            _ => return Err(corrupt("unknown value tag")),
        });
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vessel_core::{FieldType, Schema};
    use vessel_script::index::parse_order;

    /// Deterministic pseudo-random numbers (splitmix64), so that a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn pick<T: Clone>(&mut self, from: &[T]) -> T {
            from[(self.next() % from.len() as u64) as usize].clone()
        }
    }

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            ("i".into(), FieldType::Int),
            ("f".into(), FieldType::Float),
            ("d".into(), FieldType::Decimal2),
            ("s".into(), FieldType::String),
            ("b".into(), FieldType::Bool),
            ("t".into(), FieldType::DateTime),
            ("seq".into(), FieldType::Int),
        ]))
    }

    /// Rows over small domains, so that every sort key has many ties; `seq` is the push
    /// position, which tells whether ties kept their order.
    fn rows(n: usize, seed: u64) -> Vec<Vec<Value>> {
        let mut rng = Rng(seed);
        let floats = [
            -1.5,
            0.0,
            -0.0,
            2.25,
            1e300,
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
        ];
        let decimals = ["-3.10", "0.00", "7.25", "123456.78"];
        let strings = [
            "",
            "a",
            "B",
            "b",
            "Ärger",
            "zz",
            "a much longer text, with a comma",
        ];
        let offsets = [0, 3600, -7200];
        (0..n)
            .map(|seq| {
                let secs = (rng.next() % 5) as i64 * 86_400 - 86_400;
                let off = chrono::FixedOffset::east_opt(rng.pick(&offsets)).unwrap();
                let t = chrono::DateTime::from_timestamp(secs, 1_000_000 * (rng.next() % 2) as u32)
                    .unwrap()
                    .with_timezone(&off);
                vec![
                    Value::Int((rng.next() % 7) as i64 - 3),
                    Value::Float(rng.pick(&floats)),
                    Value::Decimal(rng.pick(&decimals).parse().unwrap()),
                    Value::Str(rng.pick(&strings).to_string()),
                    Value::Bool(rng.next().is_multiple_of(2)),
                    Value::DateTime(t),
                    Value::Int(seq as i64),
                ]
            })
            .collect()
    }

    /// The sort as it is done without a budget: a stable in-memory sort, then the limit.
    fn in_memory(top: &Top, mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
        rows.sort_by(|a, b| compare_rows(&top.order, a, b));
        rows.truncate(top.limit);
        rows
    }

    fn external(top: &Top, rows: &[Vec<Value>], budget: usize) -> (Vec<Vec<Value>>, usize) {
        let dir = tempfile::tempdir().unwrap();
        let mut sort = TopSort::new(top, budget, dir.path(), "out.csv");
        for r in rows {
            sort.push(r.clone()).unwrap();
        }
        let spilled = sort.spilled_runs();
        let mut out = Vec::new();
        let n = sort
            .finish(&mut |r| {
                out.push(r);
                Ok::<(), FileError>(())
            })
            .unwrap();
        assert_eq!(n as usize, out.len());
        // Spill files are unnamed: nothing is left in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        (out, spilled)
    }

    /// Same rows, bit for bit (NaN included), in the same order.
    fn same(a: &[Vec<Value>], b: &[Vec<Value>]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.iter().zip(y).all(|(u, v)| match (u, v) {
                    (Value::Float(p), Value::Float(q)) => p.to_bits() == q.to_bits(),
                    (Value::DateTime(p), Value::DateTime(q)) => p == q && p.offset() == q.offset(),
                    _ => u == v,
                })
            })
    }

    #[test]
    fn spilled_sort_equals_in_memory_sort_for_every_type_with_ties() {
        let schema = schema();
        let orders = [
            "i",
            "i(desc)",
            "f",
            "f(desc),i",
            "d(desc)",
            "s",
            "s(ignore_case),i(desc)",
            "s(desc, 16)",
            "b,d",
            "t",
            "t(desc),b(desc)",
            "b,i,s(desc),d,f,t",
        ];
        for (k, order) in orders.iter().enumerate() {
            for limit in [usize::MAX, 777, 5] {
                let top = Top {
                    order: parse_order(order, &schema).unwrap(),
                    limit,
                };
                let input = rows(3000, 17 + k as u64);
                let want = in_memory(&top, input.clone());
                // ~30 rows a run: over 64 runs, so the merge also goes through a first pass.
                let (got, spilled) = external(&top, &input, 6000);
                assert!(same(&got, &want), "order {order}, limit {limit}");
                if limit == usize::MAX {
                    assert!(spilled > MAX_FAN_IN, "order {order}: only {spilled} runs");
                }
                // A budget that holds everything spills nothing.
                let (got, spilled) = external(&top, &input, usize::MAX);
                assert!(same(&got, &want), "order {order}, limit {limit}, no spill");
                assert_eq!(spilled, 0);
            }
        }
    }

    #[test]
    fn small_limit_keeps_the_best_rows_in_memory() {
        let top = Top {
            order: parse_order("i(desc)", &schema()).unwrap(),
            limit: 3,
        };
        let input = rows(5000, 5);
        let (got, spilled) = external(&top, &input, 6000);
        assert!(same(&got, &in_memory(&top, input)));
        assert_eq!(spilled, 0);
    }

    #[test]
    fn spill_format_round_trips_every_value() {
        let input = rows(200, 99);
        let mut buf = Vec::new();
        for r in &input {
            encode_row(&mut buf, r).unwrap();
        }
        let mut cursor = std::io::Cursor::new(buf);
        let back: Vec<Vec<Value>> = (0..input.len())
            .map(|_| decode_row(&mut cursor).unwrap())
            .collect();
        assert!(same(&back, &input));
        assert!(decode_row(&mut cursor).is_err());
    }

    #[test]
    fn unwritable_spill_folder_is_an_error_naming_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let top = Top {
            order: parse_order("i", &schema()).unwrap(),
            limit: usize::MAX,
        };
        let mut sort = TopSort::new(&top, 100, &blocker.join("sub"), "out_00001.csv");
        let err = rows(50, 1)
            .into_iter()
            .try_for_each(|r| sort.push(r))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("out_00001.csv: cannot create the sort spill folder: "),
            "{err}"
        );
    }
}
