//! Writes the CSV file of a `table_file` node, byte for byte as Capillaries formats it.

use super::FileError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use vessel_core::{Value, decimal, gofmt, gotime, time};
use vessel_script::FileWriter;

/// Header and format of one output column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvColumnSpec {
    /// `csv.header`.
    pub header: String,
    /// `csv.format`: a printf verb, or a Go layout for datetimes; empty for the `%v` default.
    pub format: String,
}

/// A CSV file being written: the header line is written on creation, then one line per row.
///
/// Lines end with LF. After formatting, a value containing `,` is wrapped in `"…"` without
/// escaping inner quotes, even when the separator is not a comma: a Capillaries quirk kept on
/// purpose so that outputs compare equal.
#[derive(Debug)]
pub struct CsvWriter {
    out: BufWriter<File>,
    file: String,
    columns: Vec<CsvColumnSpec>,
    separator: char,
    rows: u64,
    line: String,
}

impl CsvWriter {
    /// Creates the file at `path` (and its parent directories) for the columns of `writer`,
    /// and writes the header line.
    ///
    /// # Errors
    /// [`FileError::Io`] when the directories or the file cannot be created or written.
    pub fn create(path: &Path, writer: &FileWriter) -> Result<CsvWriter, FileError> {
        let columns = writer
            .columns
            .iter()
            .map(|c| CsvColumnSpec {
                header: c.header.clone(),
                format: c.format.clone(),
            })
            .collect();
        CsvWriter::create_with(path, columns, writer.separator)
    }

    /// Like [`CsvWriter::create`], from column specs and a separator byte.
    ///
    /// # Errors
    /// [`FileError::Io`] when the directories or the file cannot be created or written.
    pub fn create_with(
        path: &Path,
        columns: Vec<CsvColumnSpec>,
        separator: u8,
    ) -> Result<CsvWriter, FileError> {
        let file = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| FileError::Io {
                file: file.clone(),
                action: "create the parent directories",
                source,
            })?;
        }
        let handle = File::create(path).map_err(|source| FileError::Io {
            file: file.clone(),
            action: "create the file",
            source,
        })?;
        let mut w = CsvWriter {
            out: BufWriter::new(handle),
            file,
            columns,
            separator: char::from(separator),
            rows: 0,
            line: String::new(),
        };
        let header: Vec<String> = w.columns.iter().map(|c| quote_comma(&c.header)).collect();
        w.line = header.join(&w.separator.to_string());
        w.line.push('\n');
        w.flush_line("write the header line")?;
        Ok(w)
    }

    /// Writes one row; `row` holds the values in column order.
    ///
    /// # Errors
    /// [`FileError::RowShape`] when the row has another number of values than the columns,
    /// [`FileError::Io`] when writing fails.
    pub fn write_row(&mut self, row: &[Value]) -> Result<(), FileError> {
        if row.len() != self.columns.len() {
            return Err(FileError::RowShape {
                file: self.file.clone(),
                row: self.rows + 1,
                found: row.len(),
                expected: self.columns.len(),
            });
        }
        self.line.clear();
        for (i, (value, col)) in row.iter().zip(&self.columns).enumerate() {
            if i > 0 {
                self.line.push(self.separator);
            }
            let text = format_cell(value, &col.format);
            self.line.push_str(&quote_comma(&text));
        }
        self.line.push('\n');
        self.flush_line("write a row")?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes and closes the file; returns the number of data rows written.
    ///
    /// # Errors
    /// [`FileError::Io`] when flushing fails.
    pub fn finish(mut self) -> Result<u64, FileError> {
        self.out.flush().map_err(|source| FileError::Io {
            file: self.file.clone(),
            action: "flush the file",
            source,
        })?;
        Ok(self.rows)
    }

    fn flush_line(&mut self, action: &'static str) -> Result<(), FileError> {
        self.out
            .write_all(self.line.as_bytes())
            .map_err(|source| FileError::Io {
                file: self.file.clone(),
                action,
                source,
            })
    }
}

/// Formats one value for its column, by the value's runtime type.
fn format_cell(value: &Value, format: &str) -> String {
    match value {
        Value::DateTime(t) => {
            let utc = t.with_timezone(&time::utc());
            if format.is_empty() {
                gofmt::format_value("%v", &Value::DateTime(utc))
            } else {
                gotime::format(&utc, format)
            }
        }
        Value::Decimal(d) => {
            // Capillaries renders the decimal with exactly two places and prints that string.
            let text = decimal::format2(*d);
            if format.is_empty() {
                text
            } else {
                gofmt::format_value(format, &Value::Str(text))
            }
        }
        v if format.is_empty() => gofmt::format_value("%v", v),
        v => gofmt::format_value(format, v),
    }
}

/// Wraps text containing a comma in double quotes, without escaping (Capillaries' rule).
fn quote_comma(text: &str) -> String {
    if text.contains(',') {
        format!("\"{text}\"")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use vessel_core::Decimal;

    /// A directory in the temp dir, removed with its content on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            TempDir(std::env::temp_dir().join(format!(
                "vessel-csv-write-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            )))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn spec(header: &str, format: &str) -> CsvColumnSpec {
        CsvColumnSpec {
            header: header.into(),
            format: format.into(),
        }
    }

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse::<Decimal>().unwrap())
    }

    #[test]
    fn writes_header_and_formatted_rows() {
        let dir = TempDir::new();
        let path = dir.0.join("nested/out_00000.csv");
        let mut w = CsvWriter::create_with(
            &path,
            vec![
                spec("id", "%05d"),
                spec("total", "%10s"),
                spec("ratio", "%f"),
                spec("ok", "%t"),
                spec("name, full", "%s"),
                spec("ts", "2006-01-02 15:04:05"),
            ],
            b',',
        )
        .unwrap();
        let ts = gotime::parse(
            "2006-01-02T15:04:05.000-07:00",
            "2020-01-02T03:04:05.999+02:00",
        )
        .unwrap();
        w.write_row(&[
            Value::Int(999),
            dec("0"),
            Value::Float(1.5),
            Value::Bool(true),
            Value::Str("Smith, J".into()),
            Value::DateTime(ts),
        ])
        .unwrap();
        w.write_row(&[
            Value::Int(-1),
            dec("1234.5"),
            Value::Float(2.0 / 3.0),
            Value::Bool(false),
            Value::Str("say \"hi\"".into()),
            Value::DateTime(time::zero()),
        ])
        .unwrap();
        assert_eq!(w.finish().unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "id,total,ratio,ok,\"name, full\",ts\n\
             00999,      0.00,1.500000,true,\"Smith, J\",2020-01-02 01:04:05\n\
             -0001,   1234.50,0.666667,false,say \"hi\",0001-01-01 00:00:00\n"
        );
    }

    #[test]
    fn tab_separator_still_quotes_commas_and_defaults_to_v() {
        let dir = TempDir::new();
        let path = dir.0.join("out.tsv");
        let mut w = CsvWriter::create_with(
            &path,
            vec![spec("a", ""), spec("b", ""), spec("c", "%s")],
            b'\t',
        )
        .unwrap();
        w.write_row(&[Value::Float(1e21), dec("2.5"), Value::Str("x,y".into())])
            .unwrap();
        w.write_row(&[Value::Int(3), dec("-0.125"), Value::Int(4)])
            .unwrap();
        assert_eq!(w.finish().unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a\tb\tc\n1e+21\t2.50\t\"x,y\"\n3\t-0.13\t%!s(int64=4)\n"
        );
    }

    #[test]
    fn wrong_row_length_and_uncreatable_file_are_errors() {
        let dir = TempDir::new();
        let path = dir.0.join("out.csv");
        let mut w = CsvWriter::create_with(&path, vec![spec("a", "%d")], b',').unwrap();
        let err = w.write_row(&[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: row 1 has 0 values but the file has 1 columns",
                path.display()
            )
        );
        assert_eq!(w.finish().unwrap(), 0);
        // A path below a regular file cannot be created.
        let blocked = path.join("child.csv");
        let err = CsvWriter::create_with(&blocked, vec![spec("a", "%d")], b',').unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}: cannot create", blocked.display())),
            "{err}"
        );
    }
}
