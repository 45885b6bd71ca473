//! Reads the CSV file of a `file_table` node into typed row sets, as Capillaries does.

use super::{CellError, FileError};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use vessel_core::{FieldType, RowSet, Value, decimal, gotime, time};
use vessel_script::{ColumnSource, FileReader, ReaderColumn};

/// What [`read_csv`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadStats {
    /// Data rows converted and handed to the sink.
    pub rows_read: u64,
    /// Records (non-empty lines) in the file, header and skipped lines included.
    pub lines: u64,
}

/// How one reader column is taken from a record.
struct ColumnPlan<'a> {
    col: &'a ReaderColumn,
    /// 0-based field index in the record.
    idx: usize,
    /// Where the column is, counted from 1, for messages (see [`CellError::column`]).
    place: String,
    /// The value of an empty cell: the parsed `col_default_value` or the type's zero; the error
    /// reason when the default does not parse (reported only if an empty cell needs it).
    default: Result<Value, Option<String>>,
}

/// The most bytes one record may span. The parser holds a whole record in memory, so a file
/// without line breaks, or a quote that is never closed, would otherwise be read whole.
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

/// Reads the CSV file at `path` with the settings of `reader`, handing the rows to `sink` in
/// row sets of at most `rowset_size` rows (schema `reader.schema`).
///
/// Follows Capillaries (Go `encoding/csv` with lazy quotes): empty lines are skipped, every
/// record must have as many fields as the first one, records with an index below
/// `first_data_line_idx` are skipped, `col_hdr` names are resolved on record `hdr_line_idx`,
/// and empty cells take `col_default_value` or the type's zero. Datetimes are parsed with the
/// Go layout in `col_format` and kept in UTC at millisecond precision.
///
/// Two deliberate departures from Go, both to never lose rows silently: a quoted field that is
/// still open at the end of the file is an error (Go's lazy quotes take the rest of the file as
/// its text), and so is a file that ends before the header line `hdr_line_idx` names.
///
/// The file is streamed: memory holds one row set and one record, and a record longer than
/// [`MAX_RECORD_BYTES`] is an error.
///
/// # Errors
/// [`FileError`] naming `display_name`, the 1-based line and the column: the file cannot be
/// opened or read, a quote is never closed, a record is too long, a record has the wrong number
/// of fields, the header line is missing or lacks a name, a cell does not convert; or the error
/// returned by `sink`.
pub fn read_csv(
    reader: &FileReader,
    path: &Path,
    display_name: &str,
    rowset_size: usize,
    sink: &mut dyn FnMut(RowSet) -> Result<(), FileError>,
) -> Result<ReadStats, FileError> {
    read_csv_limited(
        reader,
        path,
        display_name,
        rowset_size,
        MAX_RECORD_BYTES,
        sink,
    )
}

/// [`read_csv`] with another record size limit (tests use a small one).
fn read_csv_limited(
    reader: &FileReader,
    path: &Path,
    display_name: &str,
    rowset_size: usize,
    max_record_bytes: u64,
    sink: &mut dyn FnMut(RowSet) -> Result<(), FileError>,
) -> Result<ReadStats, FileError> {
    let file_name = || display_name.to_string();
    let rowset_size = rowset_size.max(1);
    let header_mode = reader
        .columns
        .iter()
        .any(|c| matches!(c.source, ColumnSource::Header(_)));
    if let Some(c) = reader
        .columns
        .iter()
        .find(|c| matches!(c.source, ColumnSource::Parquet(_)))
    {
        return Err(FileError::Config {
            file: file_name(),
            message: format!(
                "column {} names a Parquet column but the file is read as CSV; use csv.col_hdr \
                 or csv.col_idx",
                c.name
            ),
        });
    }
    if header_mode && reader.hdr_line_idx < 0 {
        return Err(FileError::Config {
            file: file_name(),
            message: "columns are addressed by csv.col_hdr but csv.hdr_line_idx is -1; set \
                      hdr_line_idx to the line holding the column names"
                .into(),
        });
    }

    let file = File::open(path).map_err(|source| FileError::Io {
        file: file_name(),
        action: "open the file",
        source,
    })?;
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(reader.separator)
        .has_headers(false)
        // The field count is checked below, to report it with both line numbers.
        .flexible(true)
        .quoting(true)
        .double_quote(true)
        .from_reader(LineTracker::new(file, reader.separator, max_record_bytes));

    let mut plan: Option<Vec<ColumnPlan>> = if header_mode {
        None
    } else {
        Some(
            reader
                .columns
                .iter()
                .map(|c| {
                    let idx = match c.source {
                        ColumnSource::Index(i) => i,
                        _ => 0,
                    };
                    column_plan(c, idx, place(idx, &format!("col_idx {idx}")))
                })
                .collect(),
        )
    };

    let mut stats = ReadStats::default();
    let mut record = csv::ByteRecord::new();
    let mut first: Option<(usize, u64)> = None;
    let mut batch = RowSet::with_capacity(reader.schema.clone(), rowset_size);
    let mut record_idx: u64 = 0;
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e, display_name, max_record_bytes)),
        }
        let line = record.position().map_or(0, |p| {
            csv.get_mut().line_at(p.byte()).unwrap_or_else(|| p.line())
        });
        let idx = record_idx;
        record_idx += 1;
        stats.lines += 1;
        match first {
            None => first = Some((record.len(), line)),
            Some((expected, first_line)) if expected != record.len() => {
                return Err(FileError::FieldCount {
                    file: file_name(),
                    line,
                    found: record.len(),
                    expected,
                    first_line,
                });
            }
            Some(_) => {}
        }
        if header_mode && i64::try_from(idx).ok() == Some(reader.hdr_line_idx) {
            plan = Some(resolve_headers(reader, &record, display_name, line)?);
            continue;
        }
        if idx < reader.first_data_line_idx as u64 {
            continue;
        }
        let Some(plan) = plan.as_ref() else {
            return Err(FileError::Config {
                file: file_name(),
                message: format!(
                    "line {line} is data (first_data_line_idx {}) but comes before the header \
                     line (hdr_line_idx {}); make first_data_line_idx greater than hdr_line_idx",
                    reader.first_data_line_idx, reader.hdr_line_idx
                ),
            });
        };
        let row = convert_record(plan, &record, display_name, line)?;
        batch.push_row(row);
        stats.rows_read += 1;
        if batch.len() >= rowset_size {
            let full = std::mem::replace(
                &mut batch,
                RowSet::with_capacity(reader.schema.clone(), rowset_size),
            );
            sink(full)?;
        }
    }
    if header_mode || reader.hdr_line_idx >= 0 {
        let needed = u64::try_from(reader.hdr_line_idx).unwrap_or(0) + 1;
        if record_idx < needed {
            return Err(FileError::NoHeader {
                file: file_name(),
                lines: record_idx,
                hdr_line_idx: reader.hdr_line_idx,
            });
        }
    }
    if !batch.is_empty() {
        sink(batch)?;
    }
    Ok(stats)
}

/// A column's place in messages: counted from 1, with the setting that chose it.
fn place(idx: usize, setting: &str) -> String {
    format!("file column {} counting from 1, {setting}", idx + 1)
}

/// Where the byte scan of [`LineTracker`] is in the CSV grammar; the same states and moves as
/// the csv parser (double quotes, CR and LF as terminators, quotes inside an unquoted field are
/// text), so that it knows whether a quoted field is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// At the start of a field (or of a record).
    FieldStart,
    /// In an unquoted field.
    InField,
    /// In a quoted field.
    InQuoted,
    /// Just after a quote inside a quoted field: a second quote is an escaped quote.
    QuoteInQuoted,
}

/// What [`LineTracker`] reports through the csv reader as an I/O error.
#[derive(Debug, thiserror::Error)]
enum ScanError {
    #[error("quoted field opened on line {0} is never closed")]
    UnclosedQuote(u64),
    #[error("record starting on line {line} is too long")]
    TooLong { line: u64, quote_line: Option<u64> },
}

/// Notes the byte offset and 1-based line of the first content byte of every line, because
/// csv's record positions point before the empty lines it skips. It also follows the quoting,
/// to fail at the end of the file when a quoted field is still open, and bounds the bytes of
/// one record.
struct LineTracker<R> {
    inner: R,
    offset: u64,
    newlines: u64,
    after_terminator: bool,
    /// `(byte offset, line)` of line starts not yet asked for, in file order.
    starts: VecDeque<(u64, u64)>,
    separator: u8,
    scan: Scan,
    /// Line of the quote that opened the current quoted field.
    quote_line: u64,
    /// Line where the current record starts and its bytes so far.
    record_line: u64,
    record_bytes: u64,
    max_record_bytes: u64,
}

impl<R: Read> LineTracker<R> {
    fn new(inner: R, separator: u8, max_record_bytes: u64) -> LineTracker<R> {
        LineTracker {
            inner,
            offset: 0,
            newlines: 0,
            after_terminator: true,
            starts: VecDeque::new(),
            separator,
            scan: Scan::FieldStart,
            quote_line: 0,
            record_line: 1,
            record_bytes: 0,
            max_record_bytes,
        }
    }

    /// Moves the quoting state over one byte; `line` is the byte's 1-based line.
    fn step(&mut self, b: u8, line: u64) {
        let terminator = b == b'\n' || b == b'\r';
        self.scan = match self.scan {
            Scan::FieldStart if b == b'"' => {
                self.quote_line = line;
                Scan::InQuoted
            }
            Scan::InQuoted if b == b'"' => Scan::QuoteInQuoted,
            Scan::InQuoted => Scan::InQuoted,
            Scan::QuoteInQuoted if b == b'"' => Scan::InQuoted,
            _ if b == self.separator || terminator => Scan::FieldStart,
            _ => Scan::InField,
        };
        if terminator && self.scan == Scan::FieldStart {
            self.record_bytes = 0;
        } else {
            if self.record_bytes == 0 {
                self.record_line = line;
            }
            self.record_bytes += 1;
        }
    }

    /// Physical line of the first content at or after `byte` (a record's start as csv reports
    /// it). Offsets must be asked for in increasing order.
    fn line_at(&mut self, byte: u64) -> Option<u64> {
        while self.starts.front().is_some_and(|&(b, _)| b < byte) {
            self.starts.pop_front();
        }
        self.starts.front().map(|&(_, line)| line)
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.scan == Scan::InQuoted {
            return Err(std::io::Error::other(ScanError::UnclosedQuote(
                self.quote_line,
            )));
        }
        for &b in &buf[..n] {
            let line = self.newlines + 1;
            self.step(b, line);
            if self.record_bytes > self.max_record_bytes {
                return Err(std::io::Error::other(ScanError::TooLong {
                    line: self.record_line,
                    quote_line: matches!(self.scan, Scan::InQuoted | Scan::QuoteInQuoted)
                        .then_some(self.quote_line),
                }));
            }
            match b {
                b'\n' => {
                    self.newlines += 1;
                    self.after_terminator = true;
                }
                b'\r' => self.after_terminator = true,
                _ => {
                    if self.after_terminator {
                        self.starts.push_back((self.offset, self.newlines + 1));
                    }
                    self.after_terminator = false;
                }
            }
            self.offset += 1;
        }
        Ok(n)
    }
}

fn column_plan(col: &ReaderColumn, idx: usize, place: String) -> ColumnPlan<'_> {
    let default = match &col.default_value {
        Some(text) => convert(text, col.col_type, col.format.as_deref()),
        None => Ok(Value::zero(col.col_type)),
    };
    ColumnPlan {
        col,
        idx,
        place,
        default,
    }
}

/// Maps `col_hdr` names to field indexes using the header record.
fn resolve_headers<'a>(
    reader: &'a FileReader,
    header: &csv::ByteRecord,
    display_name: &str,
    line: u64,
) -> Result<Vec<ColumnPlan<'a>>, FileError> {
    let names: Vec<String> = header
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    reader
        .columns
        .iter()
        .map(|c| match &c.source {
            ColumnSource::Header(name) => match names.iter().position(|n| n == name) {
                Some(idx) => Ok(column_plan(c, idx, place(idx, &format!("header {name:?}")))),
                None => Err(FileError::MissingHeader {
                    file: display_name.to_string(),
                    line,
                    field: c.name.clone(),
                    header: name.clone(),
                    available: names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            },
            ColumnSource::Index(idx) => {
                Ok(column_plan(c, *idx, place(*idx, &format!("col_idx {idx}"))))
            }
            // Rejected before reading.
            ColumnSource::Parquet(_) => Ok(column_plan(c, 0, String::new())),
        })
        .collect()
}

/// Converts one data record into a row in schema order.
fn convert_record(
    plan: &[ColumnPlan],
    record: &csv::ByteRecord,
    display_name: &str,
    line: u64,
) -> Result<Vec<Value>, FileError> {
    let cell_error = |p: &ColumnPlan, value: String, reason, from_default| {
        FileError::Cell(Box::new(CellError {
            file: display_name.to_string(),
            line,
            field: p.col.name.clone(),
            column: p.place.clone(),
            value,
            col_type: p.col.col_type,
            format: p.col.format.clone(),
            reason,
            from_default,
        }))
    };
    let mut row = Vec::with_capacity(plan.len());
    for p in plan {
        let bytes = record.get(p.idx).ok_or_else(|| FileError::MissingField {
            file: display_name.to_string(),
            line,
            field: p.col.name.clone(),
            column: p.place.clone(),
            count: record.len(),
        })?;
        if bytes.is_empty() {
            let value = p.default.clone().map_err(|reason| {
                let text = p.col.default_value.clone().unwrap_or_default();
                cell_error(p, text, reason, true)
            })?;
            row.push(value);
            continue;
        }
        let text = std::str::from_utf8(bytes).map_err(|_| {
            cell_error(
                p,
                String::from_utf8_lossy(bytes).into_owned(),
                Some("not valid UTF-8".into()),
                false,
            )
        })?;
        let value = convert(text, p.col.col_type, p.col.format.as_deref())
            .map_err(|reason| cell_error(p, text.to_string(), reason, false))?;
        row.push(value);
    }
    Ok(row)
}

/// Converts cell text to a value of type `t`; the error holds an optional reason.
fn convert(text: &str, t: FieldType, format: Option<&str>) -> Result<Value, Option<String>> {
    match t {
        FieldType::String => Ok(Value::Str(text.to_string())),
        FieldType::Int => parse_int(text, format).map(Value::Int).ok_or(None),
        FieldType::Float => {
            check_float_format(format)?;
            // fmt.Sscanf skips the spaces around a number.
            text.trim_matches(' ')
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| None)
        }
        FieldType::Decimal2 => {
            check_float_format(format)?;
            decimal::parse_via_float(text)
                .map(Value::Decimal)
                .map_err(|e| match e {
                    decimal::DecimalError::NotANumber { .. } => None,
                    e => Some(e.to_string()),
                })
        }
        FieldType::Bool => parse_bool(text).map(Value::Bool).ok_or(None),
        FieldType::DateTime => {
            let layout = format.ok_or_else(|| {
                Some("datetime columns need a Go layout in col_format".to_string())
            })?;
            let t = gotime::parse(layout, text).map_err(Some)?;
            Ok(Value::DateTime(time::truncate_to_millis(
                t.with_timezone(&time::utc()),
            )))
        }
    }
}

/// Scanf-style integer: optional spaces and sign, digits in the base of the verb.
fn parse_int(text: &str, format: Option<&str>) -> Option<i64> {
    let radix = match format.unwrap_or("%d") {
        "%d" | "%v" | "" => 10,
        "%x" | "%X" => 16,
        "%o" => 8,
        "%b" => 2,
        _ => return None,
    };
    let s = text.trim_matches(' ');
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i64::from_str_radix(s, radix).ok()
}

/// Float and decimal2 cells accept the float verbs (or no format).
fn check_float_format(format: Option<&str>) -> Result<(), Option<String>> {
    match format {
        None | Some("" | "%f" | "%F" | "%g" | "%G" | "%e" | "%E" | "%v") => Ok(()),
        Some(f) => Err(Some(format!("{f} is not a float format; use %f"))),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn csv_error(e: csv::Error, display_name: &str, max_record_bytes: u64) -> FileError {
    let line = e.position().map_or(0, csv::Position::line);
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => {
            let scan = source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ScanError>());
            match scan {
                Some(&ScanError::UnclosedQuote(line)) => FileError::UnclosedQuote {
                    file: display_name.to_string(),
                    line,
                },
                Some(&ScanError::TooLong { line, quote_line }) => FileError::RecordTooLong {
                    file: display_name.to_string(),
                    line,
                    limit: max_record_bytes,
                    quote_line,
                },
                None => FileError::Io {
                    file: display_name.to_string(),
                    action: "read the file",
                    source,
                },
            }
        }
        _ => FileError::Syntax {
            file: display_name.to_string(),
            line,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use vessel_core::{Decimal, Schema};
    use vessel_script::FileFormat;

    /// A file in the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(content: &str) -> TempFile {
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "vessel-csv-read-{}-{}.csv",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, content).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn col(name: &str, t: FieldType, source: ColumnSource, format: Option<&str>) -> ReaderColumn {
        ReaderColumn {
            name: name.into(),
            col_type: t,
            default_value: None,
            source,
            format: format.map(str::to_string),
        }
    }

    fn reader(columns: Vec<ReaderColumn>, hdr: i64, first: usize, sep: u8) -> FileReader {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| (c.name.clone(), c.col_type))
                .collect(),
        ));
        FileReader {
            urls: vec![],
            format: FileFormat::Csv,
            hdr_line_idx: hdr,
            first_data_line_idx: first,
            separator: sep,
            columns,
            schema,
        }
    }

    fn read_all(
        r: &FileReader,
        content: &str,
        rowset_size: usize,
    ) -> Result<(ReadStats, Vec<RowSet>), FileError> {
        let f = TempFile::new(content);
        let mut sets = Vec::new();
        let stats = read_csv(r, &f.0, "orders.csv", rowset_size, &mut |rs| {
            sets.push(rs);
            Ok(())
        })?;
        Ok((stats, sets))
    }

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse::<Decimal>().unwrap())
    }

    #[test]
    fn reads_by_header_with_types_and_batches() {
        let r = reader(
            vec![
                col(
                    "id",
                    FieldType::Int,
                    ColumnSource::Header("order_id".into()),
                    Some("%d"),
                ),
                col(
                    "price",
                    FieldType::Decimal2,
                    ColumnSource::Header("price".into()),
                    Some("%f"),
                ),
                col(
                    "ts",
                    FieldType::DateTime,
                    ColumnSource::Header("ts".into()),
                    Some("2006-01-02 15:04:05"),
                ),
                col(
                    "name",
                    FieldType::String,
                    ColumnSource::Header("name".into()),
                    None,
                ),
            ],
            0,
            1,
            b',',
        );
        let content = "name,order_id,price,ts\n\
                       a\"b,00002,28.5,2020-01-02 03:04:05\n\
                       \n\
                       c,+7,571230,2021-12-31 23:59:59\n\
                       d,-3,0.125,2000-02-29 00:00:00";
        let (stats, sets) = read_all(&r, content, 2).unwrap();
        assert_eq!(
            stats,
            ReadStats {
                rows_read: 3,
                lines: 4
            }
        );
        assert_eq!(sets.iter().map(RowSet::len).collect::<Vec<_>>(), vec![2, 1]);
        let ts = gotime::parse("2006-01-02 15:04:05", "2020-01-02 03:04:05").unwrap();
        assert_eq!(
            sets[0].row(0),
            vec![
                Value::Int(2),
                dec("28.50"),
                Value::DateTime(ts),
                Value::Str("a\"b".into())
            ]
        );
        assert_eq!(sets[0].row(1)[0], Value::Int(7));
        assert_eq!(sets[0].row(1)[1].to_string(), "571230.00");
        assert_eq!(sets[1].row(0)[0], Value::Int(-3));
        assert_eq!(sets[1].row(0)[1].to_string(), "0.13");
    }

    #[test]
    fn reads_by_index_with_tab_and_skipped_lines() {
        let r = reader(
            vec![
                col("tag", FieldType::String, ColumnSource::Index(1), None),
                col("ok", FieldType::Bool, ColumnSource::Index(0), None),
                col("w", FieldType::Float, ColumnSource::Index(2), Some("%f")),
            ],
            -1,
            1,
            b'\t',
        );
        let (stats, sets) =
            read_all(&r, "skip\tme\t0\nT\tx y\t1.5\nFALSE\t z\t-2e3\n", 10).unwrap();
        assert_eq!(
            stats,
            ReadStats {
                rows_read: 2,
                lines: 3
            }
        );
        assert_eq!(
            sets[0].row(0),
            vec![
                Value::Str("x y".into()),
                Value::Bool(true),
                Value::Float(1.5)
            ]
        );
        assert_eq!(
            sets[0].row(1),
            vec![
                Value::Str(" z".into()),
                Value::Bool(false),
                Value::Float(-2000.0)
            ]
        );
    }

    #[test]
    fn empty_cells_take_defaults_or_zero() {
        let mut with_default = col("qty", FieldType::Int, ColumnSource::Index(0), Some("%d"));
        with_default.default_value = Some("42".into());
        let mut dt = col(
            "ts",
            FieldType::DateTime,
            ColumnSource::Index(2),
            Some("2006-01-02T15:04:05.000-07:00"),
        );
        dt.default_value = Some("1980-02-03T04:05:06.777+00:00".into());
        let r = reader(
            vec![
                with_default,
                col(
                    "price",
                    FieldType::Decimal2,
                    ColumnSource::Index(1),
                    Some("%f"),
                ),
                dt,
                col("flag", FieldType::Bool, ColumnSource::Index(3), None),
            ],
            -1,
            0,
            b',',
        );
        let (_, sets) = read_all(&r, ",,,\n", 10).unwrap();
        let row = sets[0].row(0);
        assert_eq!(row[0], Value::Int(42));
        assert_eq!(row[1].to_string(), "0.00");
        assert_eq!(row[2].to_string(), "1980-02-03 04:05:06.777 +0000 UTC");
        assert_eq!(row[3], Value::Bool(false));
    }

    #[test]
    fn datetimes_are_utc_milliseconds() {
        let r = reader(
            vec![col(
                "ts",
                FieldType::DateTime,
                ColumnSource::Index(0),
                Some("2006-01-02T15:04:05.999999999Z07:00"),
            )],
            -1,
            0,
            b',',
        );
        let (_, sets) = read_all(&r, "2020-01-02T03:04:05.123456789+02:00\n", 10).unwrap();
        assert_eq!(
            sets[0].row(0)[0].to_string(),
            "2020-01-02 01:04:05.123 +0000 UTC"
        );
    }

    #[test]
    fn bad_cell_names_file_line_and_column() {
        let r = reader(
            vec![
                col("col_id", FieldType::Int, ColumnSource::Index(0), Some("%d")),
                col(
                    "col_price",
                    FieldType::Decimal2,
                    ColumnSource::Index(1),
                    Some("%f"),
                ),
            ],
            -1,
            0,
            b';',
        );
        let err = read_all(&r, "1;2.5\n\n2;12,x\n", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv line 3, column col_price (file column 2 counting from 1, col_idx 1): cannot read \"12,x\" as decimal2 \
             with format %f; fix the value or the column's col_format"
        );
        let err = read_all(&r, "1;2.5\nx1;3\n", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv line 2, column col_id (file column 1 counting from 1, col_idx 0): cannot read \"x1\" as int with format \
             %d; fix the value or the column's col_format"
        );
    }

    #[test]
    fn bad_datetime_and_default_explain_why() {
        let mut c = col(
            "ts",
            FieldType::DateTime,
            ColumnSource::Index(0),
            Some("2006-01-02"),
        );
        c.default_value = Some("never".into());
        let r = reader(vec![c], -1, 0, b',');
        let err = read_all(&r, "2020-1-2\n", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv line 1, column ts (file column 1 counting from 1, col_idx 0): cannot read \"2020-1-2\" as datetime with \
             format 2006-01-02 (parsing time \"2020-1-2\" as \"2006-01-02\": cannot parse \
             \"1-2\" as \"01\"); fix the value or the column's col_format"
        );
        let err = read_all(&r, "\"\"\n", 10).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "orders.csv line 1, column ts (file column 1 counting from 1, col_idx 0): cannot read \"never\" as datetime"
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("fix the column's col_default_value")
        );
    }

    #[test]
    fn wrong_field_count_names_both_lines() {
        let r = reader(
            vec![col("a", FieldType::String, ColumnSource::Index(0), None)],
            -1,
            0,
            b',',
        );
        let err = read_all(&r, "a,b,c\n\nd,e\n", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv line 3: 2 fields, expected 3 as on line 1"
        );
    }

    #[test]
    fn line_numbers_are_physical_across_blank_lines_and_quoted_newlines() {
        let r = reader(
            vec![col("n", FieldType::Int, ColumnSource::Index(1), None)],
            -1,
            0,
            b',',
        );
        let err = read_all(&r, "\n\n\"multi\nline\",1\r\n\r\n\nx,oops\n", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv line 7, column n (file column 2 counting from 1, col_idx 1): cannot read \"oops\" as int; fix the value \
             or the column's col_format"
        );
        let err = read_all(&r, "a,1\n\n\n\"b\nc\",2\n\nd,3,4\n", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv line 7: 3 fields, expected 2 as on line 1"
        );
    }

    #[test]
    fn missing_header_lists_available_names() {
        let r = reader(
            vec![col(
                "p",
                FieldType::String,
                ColumnSource::Header("prise".into()),
                None,
            )],
            0,
            1,
            b',',
        );
        let err = read_all(&r, "id,price\n1,2\n", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv line 1: column p wants header \"prise\", which is not on the header \
             line (available: \"id\", \"price\"); fix col_hdr or hdr_line_idx"
        );
    }

    #[test]
    fn missing_field_and_missing_file() {
        let r = reader(
            vec![col("z", FieldType::String, ColumnSource::Index(4), None)],
            -1,
            0,
            b',',
        );
        let err = read_all(&r, "a,b\n", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv line 1, column z (file column 5 counting from 1, col_idx 4): the line has only 2 fields; fix \
             col_idx/col_hdr or the file"
        );
        let missing = std::env::temp_dir().join("vessel-csv-read-does-not-exist.csv");
        let err = read_csv(&r, &missing, "gone.csv", 10, &mut |_| Ok(())).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("gone.csv: cannot open the file: "),
            "{err}"
        );
    }

    #[test]
    fn sink_errors_stop_the_read() {
        let r = reader(
            vec![col("a", FieldType::Int, ColumnSource::Index(0), None)],
            -1,
            0,
            b',',
        );
        let f = TempFile::new("1\n2\n3\n");
        let mut calls = 0;
        let err = read_csv(&r, &f.0, "n.csv", 1, &mut |_| {
            calls += 1;
            Err(FileError::Sink("store is down".into()))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "store is down");
        assert_eq!(calls, 1);
    }

    fn two_columns(hdr: i64, first: usize) -> FileReader {
        reader(
            vec![
                col("id", FieldType::Int, ColumnSource::Index(0), None),
                col("name", FieldType::String, ColumnSource::Index(1), None),
            ],
            hdr,
            first,
            b',',
        )
    }

    #[test]
    fn unclosed_quote_fails_naming_the_line_where_it_opened() {
        let r = two_columns(-1, 0);
        let err = read_all(&r, "1,a\n\n2,\"b\n3,c\n4,d\n", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv line 3: a quoted field opens here and is never closed (the file ends \
             inside it); add the closing quote, or double a quote that belongs to the text (\"\")"
        );
        // The swallowed text has another field count: the quote is still what is reported.
        let r3 = reader(
            vec![col("id", FieldType::Int, ColumnSource::Index(0), None)],
            -1,
            0,
            b',',
        );
        let err = read_all(&r3, "1,a,x\n2,\"b,x\n3,c,x\n", 10).unwrap_err();
        assert!(
            matches!(err, FileError::UnclosedQuote { line: 2, .. }),
            "{err}"
        );
        // Closed quotes across lines, escaped quotes, a quote inside an unquoted field and a
        // quoted last field without a line break all still read.
        let (stats, sets) = read_all(
            &r,
            "1,\"multi\nline\"\n2,\"say \"\"hi\"\"\"\n3,a\"b\n4,\"x\"y\n5,\"end\"",
            10,
        )
        .unwrap();
        assert_eq!(stats.rows_read, 5);
        let names: Vec<Value> = (0..5).map(|i| sets[0].row(i)[1].clone()).collect();
        assert_eq!(
            names,
            ["multi\nline", "say \"hi\"", "a\"b", "xy", "end"].map(|t| Value::Str(t.into()))
        );
        // A quote opened on the last line, with no line break after it.
        let err = read_all(&r, "1,a\n2,\"b", 10).unwrap_err();
        assert!(
            matches!(err, FileError::UnclosedQuote { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn file_ending_before_the_header_line_is_an_error() {
        let by_header = reader(
            vec![col(
                "id",
                FieldType::Int,
                ColumnSource::Header("id".into()),
                None,
            )],
            0,
            1,
            b',',
        );
        let err = read_all(&by_header, "", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv: the file is empty, but the reader expects a header line at \
             hdr_line_idx 0 (counted from 0); give the file its header line, or set \
             hdr_line_idx to -1 (and first_data_line_idx to 0) for a file without one"
        );
        // Blank lines are no header either.
        let err = read_all(&by_header, "\n\r\n\n", 10).unwrap_err();
        assert!(matches!(err, FileError::NoHeader { lines: 0, .. }), "{err}");
        // Columns by index with a declared header line.
        let err = read_all(&two_columns(0, 1), "", 10).unwrap_err();
        assert!(matches!(err, FileError::NoHeader { lines: 0, .. }), "{err}");
        let err = read_all(&two_columns(2, 3), "a,b\nc,d\n", 10).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("orders.csv: the file has only 2 non-empty lines, but the reader"),
            "{err}"
        );
        // A header without data rows, and an empty file without a declared header, load
        // zero rows.
        let (stats, sets) = read_all(&by_header, "id\n", 10).unwrap();
        assert_eq!((stats.rows_read, sets.len()), (0, 0));
        let (stats, _) = read_all(&two_columns(-1, 0), "", 10).unwrap();
        assert_eq!(stats.rows_read, 0);
    }

    #[test]
    fn header_columns_are_named_and_counted_from_one() {
        let r = reader(
            vec![col(
                "price",
                FieldType::Float,
                ColumnSource::Header("price".into()),
                None,
            )],
            0,
            1,
            b',',
        );
        let err = read_all(&r, "id,price\n1,cheap\n", 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "orders.csv line 2, column price (file column 2 counting from 1, header \"price\"): \
             cannot read \"cheap\" as float; fix the value or the column's col_format"
        );
    }

    #[test]
    fn records_longer_than_the_limit_are_errors() {
        let r = two_columns(-1, 0);
        let f = TempFile::new(&format!("1,a\n2,\"{}\"\n", "x".repeat(100)));
        let err = read_csv_limited(&r, &f.0, "big.csv", 10, 64, &mut |_| Ok(())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "big.csv line 2: the record starting here is longer than 64 bytes (a quoted field \
             opened on line 2 is still open); fix the file (a line without its line break, or \
             a quote that is never closed)"
        );
        let f = TempFile::new(&format!("1,a\n\n3,{}", "y".repeat(100)));
        let err = read_csv_limited(&r, &f.0, "big.csv", 10, 64, &mut |_| Ok(())).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::RecordTooLong {
                    line: 3,
                    quote_line: None,
                    ..
                }
            ),
            "{err}"
        );
        // Many records below the limit are fine: the limit is per record.
        let f = TempFile::new(&"1,abcdefgh\n".repeat(100));
        let stats = read_csv_limited(&r, &f.0, "big.csv", 10, 16, &mut |_| Ok(())).unwrap();
        assert_eq!(stats.rows_read, 100);
    }

    #[test]
    fn scalar_parsers_follow_go() {
        assert_eq!(parse_int(" 0042 ", Some("%d")), Some(42));
        assert_eq!(parse_int("+5", None), Some(5));
        assert_eq!(parse_int("ff", Some("%x")), Some(255));
        assert_eq!(parse_int("1.5", Some("%d")), None);
        assert_eq!(parse_int("--1", Some("%d")), None);
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(
            convert("1.5", FieldType::Float, Some("%d")),
            Err(Some("%d is not a float format; use %f".into()))
        );
    }
}
