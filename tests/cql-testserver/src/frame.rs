//! Native protocol v4 framing and the primitive notations of its bodies.

use crate::error::CqlError;

/// The request version byte of protocol v4.
pub const REQUEST_VERSION: u8 = 0x04;
/// The response version byte of protocol v4.
pub const RESPONSE_VERSION: u8 = 0x84;
/// Length of a frame header.
pub const HEADER_LEN: usize = 9;
/// Largest body accepted (Cassandra's default native transport frame limit).
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// Opcodes of the protocol.
#[allow(missing_docs)]
pub mod opcode {
    pub const ERROR: u8 = 0x00;
    pub const STARTUP: u8 = 0x01;
    pub const READY: u8 = 0x02;
    pub const OPTIONS: u8 = 0x05;
    pub const SUPPORTED: u8 = 0x06;
    pub const QUERY: u8 = 0x07;
    pub const RESULT: u8 = 0x08;
    pub const PREPARE: u8 = 0x09;
    pub const EXECUTE: u8 = 0x0A;
    pub const REGISTER: u8 = 0x0B;
    pub const EVENT: u8 = 0x0C;
    pub const BATCH: u8 = 0x0D;
}

/// A frame header.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// Version byte (0x04 for requests).
    pub version: u8,
    /// Header flags (compression, tracing, custom payload, warning).
    pub flags: u8,
    /// Stream id, echoed in the response.
    pub stream: i16,
    /// Opcode.
    pub opcode: u8,
    /// Body length.
    pub length: usize,
}

impl Header {
    /// Decodes the 9 header bytes.
    ///
    /// # Errors
    /// A protocol error for a negative or oversized length.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Header, CqlError> {
        let length = i32::from_be_bytes([b[5], b[6], b[7], b[8]]);
        let length = usize::try_from(length)
            .map_err(|_| CqlError::protocol(format!("negative frame length {length}")))?;
        if length > MAX_BODY {
            return Err(CqlError::protocol(format!(
                "frame body of {length} bytes exceeds the limit"
            )));
        }
        Ok(Header {
            version: b[0],
            flags: b[1],
            stream: i16::from_be_bytes([b[2], b[3]]),
            opcode: b[4],
            length,
        })
    }
}

/// Builds a response frame.
pub fn response(stream: i16, op: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(RESPONSE_VERSION);
    out.push(0);
    out.extend_from_slice(&stream.to_be_bytes());
    out.push(op);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An `ERROR` body.
pub fn error_body(e: &CqlError) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&e.code.to_be_bytes());
    put_string(&mut out, &e.message);
    out.extend_from_slice(&e.extra);
    out
}

/// Writes a `[string]`.
pub fn put_string(out: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

/// Writes a `[short bytes]`.
pub fn put_short_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let b = &b[..b.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

/// Writes a `[bytes]`, `None` as null.
pub fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            out.extend_from_slice(&(b.len() as i32).to_be_bytes());
            out.extend_from_slice(b);
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

/// Writes an `[int]`.
pub fn put_int(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A bound value: set, null or unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundValue {
    /// A value.
    Set(Vec<u8>),
    /// Null.
    Null,
    /// Not set (leave the column alone).
    Unset,
}

/// A bounds-checked reader of a frame body.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CqlError> {
        if self.buf.len() < n {
            return Err(CqlError::protocol("truncated frame body"));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    /// `[byte]`
    pub fn byte(&mut self) -> Result<u8, CqlError> {
        Ok(self.take(1)?[0])
    }

    /// `[short]`
    pub fn short(&mut self) -> Result<u16, CqlError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// `[int]`
    pub fn int(&mut self) -> Result<i32, CqlError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `[long]`
    pub fn long(&mut self) -> Result<i64, CqlError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// `[string]`
    pub fn string(&mut self) -> Result<String, CqlError> {
        let n = self.short()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| CqlError::protocol("string is not UTF-8"))
    }

    /// `[long string]`
    pub fn long_string(&mut self) -> Result<String, CqlError> {
        let n = usize::try_from(self.int()?)
            .map_err(|_| CqlError::protocol("negative long string length"))?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| CqlError::protocol("string is not UTF-8"))
    }

    /// `[short bytes]`
    pub fn short_bytes(&mut self) -> Result<Vec<u8>, CqlError> {
        let n = self.short()? as usize;
        Ok(self.take(n)?.to_vec())
    }

    /// `[bytes]`, null as `None`.
    pub fn bytes(&mut self) -> Result<Option<Vec<u8>>, CqlError> {
        let n = self.int()?;
        if n < 0 {
            return Ok(None);
        }
        Ok(Some(self.take(n as usize)?.to_vec()))
    }

    /// `[value]`
    pub fn value(&mut self) -> Result<BoundValue, CqlError> {
        let n = self.int()?;
        match n {
            -1 => Ok(BoundValue::Null),
            -2 => Ok(BoundValue::Unset),
            n if n < 0 => Err(CqlError::protocol(format!("invalid value length {n}"))),
            n => Ok(BoundValue::Set(self.take(n as usize)?.to_vec())),
        }
    }

    /// `[string map]`
    pub fn string_map(&mut self) -> Result<Vec<(String, String)>, CqlError> {
        let n = self.short()?;
        (0..n)
            .map(|_| Ok((self.string()?, self.string()?)))
            .collect()
    }

    /// `[string list]`
    pub fn string_list(&mut self) -> Result<Vec<String>, CqlError> {
        let n = self.short()?;
        (0..n).map(|_| self.string()).collect()
    }
}

/// Query parameters shared by QUERY and EXECUTE.
#[derive(Debug, Default)]
pub struct QueryParams {
    /// Bound values, in marker order.
    pub values: Vec<BoundValue>,
    /// Names of the values, when sent with names.
    pub names: Option<Vec<String>>,
    /// The client already has the result metadata.
    pub skip_metadata: bool,
    /// Rows per page, if paging.
    pub page_size: Option<usize>,
    /// Where the previous page ended.
    pub paging_state: Option<Vec<u8>>,
}

/// Reads `<consistency><flags>[values][page size][paging state][serial][timestamp]`.
///
/// # Errors
/// A protocol error for a malformed body.
pub fn read_query_params(r: &mut Reader<'_>) -> Result<QueryParams, CqlError> {
    let _consistency = r.short()?;
    let flags = r.byte()?;
    let mut p = QueryParams {
        skip_metadata: flags & 0x02 != 0,
        ..Default::default()
    };
    if flags & 0x01 != 0 {
        let n = r.short()?;
        let mut names = Vec::new();
        for _ in 0..n {
            if flags & 0x40 != 0 {
                names.push(r.string()?);
            }
            p.values.push(r.value()?);
        }
        if flags & 0x40 != 0 {
            p.names = Some(names);
        }
    }
    if flags & 0x04 != 0 {
        let n = r.int()?;
        p.page_size = usize::try_from(n).ok().filter(|&n| n > 0);
    }
    if flags & 0x08 != 0 {
        p.paging_state = r.bytes()?;
    }
    if flags & 0x10 != 0 {
        let _serial = r.short()?;
    }
    if flags & 0x20 != 0 {
        let _timestamp = r.long()?;
    }
    Ok(p)
}
