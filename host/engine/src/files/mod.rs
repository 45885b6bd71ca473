//! CSV file I/O: the reader of `file_table` nodes and the writer of `table_file` nodes.

mod csv_read;
mod csv_write;

pub use csv_read::{ReadStats, read_csv};
pub use csv_write::{CsvColumnSpec, CsvWriter};

use vessel_core::FieldType;

/// A file could not be read or written. Every message names the file (and the line and column
/// where there is one) and says how to fix the problem.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Opening, reading, creating or writing the file failed.
    #[error("{file}: cannot {action}: {source}")]
    Io {
        /// File name as shown to the user.
        file: String,
        /// What was being done (`open the file`, `write a row`, ...).
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CSV text itself is malformed (the parser rejected it).
    #[error("{file} line {line}: {message}; fix the CSV text")]
    Syntax {
        /// File name as shown to the user.
        file: String,
        /// 1-based physical line.
        line: u64,
        /// The parser's description.
        message: String,
    },
    /// A quoted field is still open at the end of the file: without this check its opening
    /// quote would swallow every later line into one field.
    #[error(
        "{file} line {line}: a quoted field opens here and is never closed (the file ends \
         inside it); add the closing quote, or double a quote that belongs to the text (\"\")"
    )]
    UnclosedQuote {
        /// File name as shown to the user.
        file: String,
        /// 1-based physical line of the opening quote.
        line: u64,
    },
    /// One record is longer than the reader holds in memory.
    #[error(
        "{file} line {line}: the record starting here is longer than {limit} bytes{}; \
         fix the file (a line without its line break, or a quote that is never closed)",
        quote_line.map(|q| format!(" (a quoted field opened on line {q} is still open)")).unwrap_or_default()
    )]
    RecordTooLong {
        /// File name as shown to the user.
        file: String,
        /// 1-based physical line where the record starts.
        line: u64,
        /// The most bytes one record may have.
        limit: u64,
        /// 1-based line of the quote that is still open, if the record is inside a quoted field.
        quote_line: Option<u64>,
    },
    /// The file ends before the header line the reader expects.
    #[error(
        "{file}: {}, but the reader expects a header line at hdr_line_idx {hdr_line_idx} \
         (counted from 0); give the file its header line, or set hdr_line_idx to -1 (and \
         first_data_line_idx to 0) for a file without one",
        if *lines == 0 { "the file is empty".to_string() }
        else { format!("the file has only {lines} non-empty line{}", if *lines == 1 { "" } else { "s" }) }
    )]
    NoHeader {
        /// File name as shown to the user.
        file: String,
        /// Non-empty lines in the file.
        lines: u64,
        /// `csv.hdr_line_idx` of the reader.
        hdr_line_idx: i64,
    },
    /// A record has another number of fields than the first record of the file.
    #[error("{file} line {line}: {found} fields, expected {expected} as on line {first_line}")]
    FieldCount {
        /// File name as shown to the user.
        file: String,
        /// 1-based physical line of the bad record.
        line: u64,
        /// Fields on that line.
        found: usize,
        /// Fields on the first record.
        expected: usize,
        /// 1-based physical line of the first record.
        first_line: u64,
    },
    /// A cell (or the column's `col_default_value` for an empty cell) cannot be converted.
    #[error(transparent)]
    Cell(Box<CellError>),
    /// A column reads a field index that the record does not have.
    #[error(
        "{file} line {line}, column {field} ({column}): the line has only {count} fields; \
         fix col_idx/col_hdr or the file"
    )]
    MissingField {
        /// File name as shown to the user.
        file: String,
        /// 1-based physical line.
        line: u64,
        /// Reader field name.
        field: String,
        /// Where the column is in the file.
        column: String,
        /// Fields on the line.
        count: usize,
    },
    /// A `col_hdr` name is not on the header line.
    #[error(
        "{file} line {line}: column {field} wants header {header:?}, which is not on the header \
         line (available: {available}); fix col_hdr or hdr_line_idx"
    )]
    MissingHeader {
        /// File name as shown to the user.
        file: String,
        /// 1-based physical line of the header.
        line: u64,
        /// Reader field name.
        field: String,
        /// The header text looked for.
        header: String,
        /// The header names found, quoted and comma-separated.
        available: String,
    },
    /// The reader settings cannot work with this file (no header line, header after the data,
    /// a Parquet column in a CSV reader, ...).
    #[error("{file}: {message}")]
    Config {
        /// File name as shown to the user.
        file: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A row handed to a writer does not match its columns.
    #[error("{file}: row {row} has {found} values but the file has {expected} columns")]
    RowShape {
        /// File name as shown to the user.
        file: String,
        /// 1-based data row number.
        row: u64,
        /// Values in the row.
        found: usize,
        /// Columns of the file.
        expected: usize,
    },
    /// The consumer of the rows (the `sink` of [`read_csv`]) failed.
    #[error(transparent)]
    Sink(Box<dyn std::error::Error + Send + Sync>),
}

impl FileError {
    /// True when the file system failed (full disk, quota, read-only mount, I/O error) rather
    /// than the file's content or name: the same work succeeds once the cause is fixed.
    pub fn is_environmental(&self) -> bool {
        let FileError::Io { source, .. } = self else {
            return false;
        };
        matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull
                | std::io::ErrorKind::QuotaExceeded
                | std::io::ErrorKind::ReadOnlyFilesystem
        ) || source.raw_os_error() == Some(libc::EIO)
    }
}

/// Details of [`FileError::Cell`]: a cell that does not convert to its column's type.
#[derive(Debug, thiserror::Error)]
#[error(
    "{file} line {line}, column {field} ({column}): cannot read {value:?} as {col_type}{}{}; \
     fix {}",
    format.as_deref().map(|f| format!(" with format {f}")).unwrap_or_default(),
    reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
    if *from_default { "the column's col_default_value" }
    else { "the value or the column's col_format" }
)]
pub struct CellError {
    /// File name as shown to the user.
    pub file: String,
    /// 1-based physical line.
    pub line: u64,
    /// Reader field name (`r.<field>`).
    pub field: String,
    /// Where the column is in the file, counted from 1, with the script setting that chose it:
    /// `file column 6 counting from 1, col_idx 5` or `file column 6 counting from 1, header
    /// "price"`.
    pub column: String,
    /// The text that did not convert.
    pub value: String,
    /// Target type.
    pub col_type: FieldType,
    /// `col_format`, if any.
    pub format: Option<String>,
    /// Details, such as Go's datetime parse error.
    pub reason: Option<String>,
    /// True when the text is the column's `col_default_value` (the cell was empty).
    pub from_default: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(source: std::io::Error) -> FileError {
        FileError::Io {
            file: "out.csv".into(),
            action: "write a row",
            source,
        }
    }

    #[test]
    fn full_disks_and_io_errors_are_environmental_missing_files_are_not() {
        assert!(io(std::io::Error::from_raw_os_error(libc::ENOSPC)).is_environmental());
        assert!(io(std::io::Error::from_raw_os_error(libc::EIO)).is_environmental());
        assert!(io(std::io::Error::from_raw_os_error(libc::EROFS)).is_environmental());
        assert!(!io(std::io::Error::from_raw_os_error(libc::ENOENT)).is_environmental());
        assert!(!FileError::Sink("stopped".into()).is_environmental());
    }
}
