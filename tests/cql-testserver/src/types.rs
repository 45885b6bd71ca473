//! CQL column types: names, wire ids, literal encoding and ordering.

use crate::error::CqlError;

/// A CQL type the server can store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CqlType {
    /// `ascii`
    Ascii,
    /// `bigint`
    BigInt,
    /// `blob`
    Blob,
    /// `boolean`
    Boolean,
    /// `decimal`
    Decimal,
    /// `double`
    Double,
    /// `float`
    Float,
    /// `int`
    Int,
    /// `smallint`
    SmallInt,
    /// `tinyint`
    TinyInt,
    /// `timestamp`
    Timestamp,
    /// `uuid`
    Uuid,
    /// `text` / `varchar`
    Text,
    /// `inet`
    Inet,
    /// `list<T>`
    List(Box<CqlType>),
    /// `set<T>`
    Set(Box<CqlType>),
    /// `map<K, V>`
    Map(Box<CqlType>, Box<CqlType>),
}

impl CqlType {
    /// Parses a simple type name (collections are parsed by the statement parser).
    pub fn from_name(name: &str) -> Option<CqlType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "ascii" => CqlType::Ascii,
            "bigint" => CqlType::BigInt,
            "blob" => CqlType::Blob,
            "boolean" => CqlType::Boolean,
            "decimal" => CqlType::Decimal,
            "double" => CqlType::Double,
            "float" => CqlType::Float,
            "int" => CqlType::Int,
            "smallint" => CqlType::SmallInt,
            "tinyint" => CqlType::TinyInt,
            "timestamp" => CqlType::Timestamp,
            "uuid" => CqlType::Uuid,
            "text" | "varchar" => CqlType::Text,
            "inet" => CqlType::Inet,
            _ => return None,
        })
    }

    /// The CQL name, as `system_schema.columns` shows it.
    pub fn name(&self) -> String {
        match self {
            CqlType::Ascii => "ascii".into(),
            CqlType::BigInt => "bigint".into(),
            CqlType::Blob => "blob".into(),
            CqlType::Boolean => "boolean".into(),
            CqlType::Decimal => "decimal".into(),
            CqlType::Double => "double".into(),
            CqlType::Float => "float".into(),
            CqlType::Int => "int".into(),
            CqlType::SmallInt => "smallint".into(),
            CqlType::TinyInt => "tinyint".into(),
            CqlType::Timestamp => "timestamp".into(),
            CqlType::Uuid => "uuid".into(),
            CqlType::Text => "text".into(),
            CqlType::Inet => "inet".into(),
            CqlType::List(t) => format!("list<{}>", t.name()),
            CqlType::Set(t) => format!("set<{}>", t.name()),
            CqlType::Map(k, v) => format!("map<{}, {}>", k.name(), v.name()),
        }
    }

    /// Writes the `[option]` that describes this type in result metadata.
    pub fn write_option(&self, out: &mut Vec<u8>) {
        let id: u16 = match self {
            CqlType::Ascii => 0x01,
            CqlType::BigInt => 0x02,
            CqlType::Blob => 0x03,
            CqlType::Boolean => 0x04,
            CqlType::Decimal => 0x06,
            CqlType::Double => 0x07,
            CqlType::Float => 0x08,
            CqlType::Int => 0x09,
            CqlType::Timestamp => 0x0B,
            CqlType::Uuid => 0x0C,
            CqlType::Text => 0x0D,
            CqlType::Inet => 0x10,
            CqlType::SmallInt => 0x13,
            CqlType::TinyInt => 0x14,
            CqlType::List(_) => 0x20,
            CqlType::Map(_, _) => 0x21,
            CqlType::Set(_) => 0x22,
        };
        out.extend_from_slice(&id.to_be_bytes());
        match self {
            CqlType::List(t) | CqlType::Set(t) => t.write_option(out),
            CqlType::Map(k, v) => {
                k.write_option(out);
                v.write_option(out);
            }
            _ => {}
        }
    }

    /// The fixed serialized size of the type, if it has one.
    fn fixed_size(&self) -> Option<usize> {
        match self {
            CqlType::BigInt | CqlType::Timestamp | CqlType::Double => Some(8),
            CqlType::Int | CqlType::Float => Some(4),
            CqlType::SmallInt => Some(2),
            CqlType::TinyInt | CqlType::Boolean => Some(1),
            CqlType::Uuid => Some(16),
            _ => None,
        }
    }

    /// Checks that bound bytes are a well-formed value of this type.
    ///
    /// # Errors
    /// An invalid-request error naming the column when they are not.
    pub fn validate(&self, column: &str, bytes: &[u8]) -> Result<(), CqlError> {
        let bad = |what: &str| {
            Err(CqlError::invalid(format!(
                "invalid {} value for column {column}: {what}",
                self.name()
            )))
        };
        if let Some(n) = self.fixed_size()
            && bytes.len() != n
        {
            return bad(&format!("expected {n} bytes, got {}", bytes.len()));
        }
        match self {
            CqlType::Text if std::str::from_utf8(bytes).is_err() => bad("not UTF-8"),
            CqlType::Ascii if !bytes.is_ascii() => bad("not ASCII"),
            CqlType::Decimal if bytes.len() < 5 => bad("shorter than 5 bytes"),
            CqlType::Inet if bytes.len() != 4 && bytes.len() != 16 => bad("not 4 or 16 bytes"),
            _ => Ok(()),
        }
    }

    /// Whether the type can be part of a primary key here (it has a byte-comparable order).
    pub fn orderable(&self) -> bool {
        !matches!(
            self,
            CqlType::Decimal | CqlType::List(_) | CqlType::Set(_) | CqlType::Map(_, _)
        )
    }

    /// An encoding of a value whose byte order is the CQL order of the type, so keys sort as
    /// Cassandra sorts them. Only for [`orderable`](Self::orderable) types.
    pub fn order_key(&self, bytes: &[u8], out: &mut Vec<u8>) {
        match self {
            CqlType::BigInt
            | CqlType::Timestamp
            | CqlType::Int
            | CqlType::SmallInt
            | CqlType::TinyInt => {
                let mut b = bytes.to_vec();
                if let Some(first) = b.first_mut() {
                    *first ^= 0x80;
                }
                out.extend_from_slice(&b);
            }
            CqlType::Double | CqlType::Float => {
                let mut b = bytes.to_vec();
                let negative = b.first().is_some_and(|f| f & 0x80 != 0);
                for (i, x) in b.iter_mut().enumerate() {
                    if negative {
                        *x = !*x;
                    } else if i == 0 {
                        *x ^= 0x80;
                    }
                }
                out.extend_from_slice(&b);
            }
            _ => {
                // Variable length: escape zero bytes and terminate, so prefixes sort first.
                for &x in bytes {
                    out.push(x);
                    if x == 0 {
                        out.push(0xFF);
                    }
                }
                out.extend_from_slice(&[0, 0]);
            }
        }
    }

    /// Compares two values of this type for equality as CQL does (decimals by numeric value).
    pub fn values_equal(&self, a: &[u8], b: &[u8]) -> bool {
        match self {
            CqlType::Decimal => match (decimal_parts(a), decimal_parts(b)) {
                (Some(x), Some(y)) => normalize_decimal(x) == normalize_decimal(y),
                _ => a == b,
            },
            _ => a == b,
        }
    }

    /// Compares two values of an orderable type.
    pub fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        let (mut ka, mut kb) = (Vec::new(), Vec::new());
        self.order_key(a, &mut ka);
        self.order_key(b, &mut kb);
        ka.cmp(&kb)
    }
}

fn decimal_parts(b: &[u8]) -> Option<(i128, i32)> {
    let scale = i32::from_be_bytes(b.get(..4)?.try_into().ok()?);
    let digits = b.get(4..)?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut v: i128 = if digits[0] & 0x80 != 0 { -1 } else { 0 };
    for &d in digits {
        v = (v << 8) | i128::from(d);
    }
    Some((v, scale))
}

fn normalize_decimal((mut v, mut scale): (i128, i32)) -> (i128, i32) {
    if v == 0 {
        return (0, 0);
    }
    while v % 10 == 0 {
        v /= 10;
        scale -= 1;
    }
    (v, scale)
}

/// Serializes an integer as a minimal two's-complement big-endian varint.
pub fn varint_bytes(v: i128) -> Vec<u8> {
    let all = v.to_be_bytes();
    let mut start = 0;
    while start < all.len() - 1 {
        let (b, next) = (all[start], all[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    all[start..].to_vec()
}

/// A literal written in CQL text.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// An integer, kept as text so any integer type can take it.
    Integer(String),
    /// A number with a fraction or exponent.
    Float(String),
    /// A quoted string.
    Str(String),
    /// `true` / `false`
    Bool(bool),
    /// `0x...`
    Hex(Vec<u8>),
    /// A UUID constant.
    Uuid([u8; 16]),
    /// `null`
    Null,
    /// `{ k : v, ... }` (replication options)
    Map(Vec<(Literal, Literal)>),
}

impl Literal {
    /// The literal as plain text (for replication options).
    pub fn as_text(&self) -> String {
        match self {
            Literal::Integer(s) | Literal::Float(s) | Literal::Str(s) => s.clone(),
            Literal::Bool(b) => b.to_string(),
            other => format!("{other:?}"),
        }
    }

    /// Serializes the literal as a value of `ty`; `None` is null.
    ///
    /// # Errors
    /// An invalid-request error naming the column when the literal does not fit the type.
    pub fn encode(&self, ty: &CqlType, column: &str) -> Result<Option<Vec<u8>>, CqlError> {
        let mismatch = || {
            CqlError::invalid(format!(
                "invalid literal {self:?} for column {column} of type {}",
                ty.name()
            ))
        };
        let int = |s: &str| s.parse::<i128>().map_err(|_| mismatch());
        let fits = |v: i128, min: i128, max: i128| {
            if v < min || v > max {
                Err(mismatch())
            } else {
                Ok(v)
            }
        };
        let bytes = match (self, ty) {
            (Literal::Null, _) => return Ok(None),
            (Literal::Integer(s), CqlType::BigInt | CqlType::Timestamp) => {
                (fits(int(s)?, i64::MIN.into(), i64::MAX.into())? as i64)
                    .to_be_bytes()
                    .to_vec()
            }
            (Literal::Integer(s), CqlType::Int) => {
                (fits(int(s)?, i32::MIN.into(), i32::MAX.into())? as i32)
                    .to_be_bytes()
                    .to_vec()
            }
            (Literal::Integer(s), CqlType::SmallInt) => {
                (fits(int(s)?, i16::MIN.into(), i16::MAX.into())? as i16)
                    .to_be_bytes()
                    .to_vec()
            }
            (Literal::Integer(s), CqlType::TinyInt) => {
                (fits(int(s)?, i8::MIN.into(), i8::MAX.into())? as i8)
                    .to_be_bytes()
                    .to_vec()
            }
            (Literal::Integer(s) | Literal::Float(s), CqlType::Double) => s
                .parse::<f64>()
                .map_err(|_| mismatch())?
                .to_be_bytes()
                .to_vec(),
            (Literal::Integer(s) | Literal::Float(s), CqlType::Float) => s
                .parse::<f32>()
                .map_err(|_| mismatch())?
                .to_be_bytes()
                .to_vec(),
            (Literal::Integer(s) | Literal::Float(s), CqlType::Decimal) => {
                encode_decimal(s).ok_or_else(mismatch)?
            }
            (Literal::Str(s), CqlType::Text) => s.as_bytes().to_vec(),
            (Literal::Str(s), CqlType::Ascii) if s.is_ascii() => s.as_bytes().to_vec(),
            (Literal::Bool(b), CqlType::Boolean) => vec![u8::from(*b)],
            (Literal::Hex(b), CqlType::Blob) => b.clone(),
            (Literal::Uuid(u), CqlType::Uuid) => u.to_vec(),
            _ => return Err(mismatch()),
        };
        Ok(Some(bytes))
    }
}

/// Encodes a decimal written in plain or exponent notation.
fn encode_decimal(s: &str) -> Option<Vec<u8>> {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int_part, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    let digits = format!("{int_part}{frac}");
    let unscaled = digits.parse::<i128>().ok()?;
    let scale = i32::try_from(frac.len()).ok()?.checked_sub(exp)?;
    let mut out = scale.to_be_bytes().to_vec();
    out.extend(varint_bytes(unscaled));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_literals_encode_scale_and_varint() {
        let b = Literal::Float("-12.50".into())
            .encode(&CqlType::Decimal, "d")
            .unwrap()
            .unwrap();
        assert_eq!(b, vec![0, 0, 0, 2, 0xFB, 0x1E]);
        let one = Literal::Integer("1".into())
            .encode(&CqlType::Decimal, "d")
            .unwrap()
            .unwrap();
        let one_point_zero = Literal::Float("1.0".into())
            .encode(&CqlType::Decimal, "d")
            .unwrap()
            .unwrap();
        assert!(CqlType::Decimal.values_equal(&one, &one_point_zero));
    }

    #[test]
    fn order_keys_sort_like_cql() {
        let ints = [-5i64, -1, 0, 3, i64::MAX];
        for w in ints.windows(2) {
            let (a, b) = (w[0].to_be_bytes(), w[1].to_be_bytes());
            assert!(CqlType::BigInt.compare(&a, &b).is_lt());
        }
        let doubles = [-2.5f64, -0.5, 0.0, 1.5];
        for w in doubles.windows(2) {
            let (a, b) = (w[0].to_be_bytes(), w[1].to_be_bytes());
            assert!(CqlType::Double.compare(&a, &b).is_lt());
        }
        assert!(CqlType::Text.compare(b"ab", b"abc").is_lt());
        assert!(CqlType::Text.compare(b"a\0", b"a").is_gt());
    }

    #[test]
    fn out_of_range_integer_literal_is_rejected() {
        assert!(
            Literal::Integer("300".into())
                .encode(&CqlType::TinyInt, "t")
                .is_err()
        );
    }
}
