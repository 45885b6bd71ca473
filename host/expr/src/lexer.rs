//! Tokenizer for Go expression syntax: literals, identifiers and operators with byte offsets.

use crate::ExprError;
use std::str::FromStr;
use vessel_core::Decimal;
use vessel_core::rust_decimal::prelude::FromPrimitive;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Int(i64),
    /// An integer literal outside the `int64` range.
    BigInt(Decimal),
    Float(f64),
    Str(String),
    /// An operator or delimiter, spelled as in Go.
    Op(&'static str),
    /// A line break where Go's scanner inserts an automatic semicolon: the expression may not
    /// continue on the next line.
    Newline,
    Eof,
}

/// A token and the byte offset of its first character.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub offset: usize,
}

/// Go operators and delimiters, longest first so that the first match is the longest.
const OPS: &[&str] = &[
    "<<=", ">>=", "&^=", "...", "&&", "||", "<-", "++", "--", "==", "!=", "<=", ">=", ":=", "+=",
    "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", ">>", "&^", "+", "-", "*", "/", "%", "&", "|",
    "^", "<", ">", "=", "!", "(", ")", "[", "]", "{", "}", ",", ";", ".", ":", "~",
];

pub(crate) fn err(offset: usize, message: impl Into<String>) -> ExprError {
    ExprError {
        offset,
        message: message.into(),
    }
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Splits `src` into tokens; the last one is always [`Tok::Eof`] at `src.len()`.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
    Lexer {
        src,
        pos: 0,
        out: Vec::new(),
        semi_allowed: false,
    }
    .run()
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    out: Vec<Token>,
    /// Whether a newline here would make Go insert a semicolon (after an operand or a closing
    /// bracket).
    semi_allowed: bool,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn push(&mut self, tok: Tok, offset: usize) {
        self.semi_allowed = matches!(
            tok,
            Tok::Ident(_)
                | Tok::Int(_)
                | Tok::BigInt(_)
                | Tok::Float(_)
                | Tok::Str(_)
                | Tok::Op(")" | "]" | "}" | "++" | "--")
        );
        self.out.push(Token { tok, offset });
    }

    fn newline(&mut self, offset: usize) {
        if self.semi_allowed {
            self.out.push(Token {
                tok: Tok::Newline,
                offset,
            });
            self.semi_allowed = false;
        }
    }

    fn run(mut self) -> Result<Vec<Token>, ExprError> {
        while let Some(c) = self.peek() {
            let start = self.pos;
            match c {
                '\n' => {
                    self.newline(start);
                    self.pos += 1;
                }
                ' ' | '\t' | '\r' => self.pos += 1,
                '/' if self.rest().starts_with("//") => {
                    let len = self.rest().find('\n').unwrap_or(self.rest().len());
                    self.pos += len;
                }
                '/' if self.rest().starts_with("/*") => {
                    let Some(end) = self.rest()[2..].find("*/") else {
                        return Err(err(start, "comment not terminated: missing */"));
                    };
                    let has_newline = self.rest()[2..2 + end].contains('\n');
                    self.pos += end + 4;
                    if has_newline {
                        self.newline(start);
                    }
                }
                '"' => {
                    let s = self.interpreted_string()?;
                    self.push(Tok::Str(s), start);
                }
                '`' => {
                    let s = self.raw_string()?;
                    self.push(Tok::Str(s), start);
                }
                '\'' => {
                    return Err(err(
                        start,
                        "character literals ('a') are not supported: use a string \"a\"",
                    ));
                }
                '?' => {
                    return Err(err(
                        start,
                        "the conditional operator ?: is not supported: use int.iif(cond, a, b) \
                         (or float.iif, decimal2.iif, string.iif, time.iif)",
                    ));
                }
                c if c.is_ascii_digit() => {
                    let tok = self.number()?;
                    self.push(tok, start);
                }
                '.' if self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) => {
                    let tok = self.number()?;
                    self.push(tok, start);
                }
                c if is_ident_start(c) => {
                    let len = self
                        .rest()
                        .find(|ch: char| !is_ident_char(ch))
                        .unwrap_or(self.rest().len());
                    let name = self.rest()[..len].to_string();
                    self.pos += len;
                    self.push(Tok::Ident(name), start);
                }
                _ => {
                    let Some(op) = OPS.iter().find(|op| self.rest().starts_with(**op)) else {
                        return Err(err(start, format!("invalid character {c:?}")));
                    };
                    self.pos += op.len();
                    self.push(Tok::Op(op), start);
                }
            }
        }
        self.out.push(Token {
            tok: Tok::Eof,
            offset: self.src.len(),
        });
        Ok(self.out)
    }

    /// `"..."` with Go escapes. Octal and `\x` escapes produce bytes, which must form UTF-8.
    fn interpreted_string(&mut self) -> Result<String, ExprError> {
        let start = self.pos;
        self.pos += 1;
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(err(start, "string literal not terminated: missing \""));
            };
            let at = self.pos;
            match c {
                '"' => {
                    self.pos += 1;
                    break;
                }
                '\n' => {
                    return Err(err(
                        start,
                        "string literal not terminated before the end of the line: use a raw \
                         string `...` for multi-line text",
                    ));
                }
                '\\' => {
                    self.pos += 1;
                    self.escape(at, &mut bytes)?;
                }
                _ => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    self.pos += c.len_utf8();
                }
            }
        }
        String::from_utf8(bytes).map_err(|_| {
            err(
                start,
                "string literal is not valid UTF-8 (check its \\x and octal escapes)",
            )
        })
    }

    fn escape(&mut self, at: usize, bytes: &mut Vec<u8>) -> Result<(), ExprError> {
        let Some(c) = self.peek() else {
            return Err(err(at, "escape sequence not terminated"));
        };
        self.pos += c.len_utf8();
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            bytes.push(b);
            return Ok(());
        }
        let digits = |lexer: &mut Self, n: usize, radix: u32| -> Result<u32, ExprError> {
            let mut v: u32 = 0;
            for _ in 0..n {
                let d = lexer
                    .peek()
                    .and_then(|ch| ch.to_digit(radix))
                    .ok_or_else(|| {
                        err(
                            at,
                            format!("invalid escape sequence: expected {n} base-{radix} digits"),
                        )
                    })?;
                v = v * radix + d;
                lexer.pos += 1;
            }
            Ok(v)
        };
        match c {
            '0'..='7' => {
                self.pos -= 1;
                let v = digits(self, 3, 8)?;
                if v > 255 {
                    return Err(err(at, "octal escape value > 255"));
                }
                bytes.push(v as u8);
            }
            'x' => {
                let v = digits(self, 2, 16)?;
                bytes.push(v as u8);
            }
            'u' | 'U' => {
                let v = digits(self, if c == 'u' { 4 } else { 8 }, 16)?;
                let ch = char::from_u32(v)
                    .ok_or_else(|| err(at, "escape sequence is an invalid Unicode code point"))?;
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => {
                return Err(err(
                    at,
                    format!(
                        "unknown escape sequence \\{c} in a string: write \\\\ for a backslash, \
                         or use a raw string `...` (e.g. for regular expressions)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `` `...` ``: no escapes; carriage returns are dropped as in Go.
    fn raw_string(&mut self) -> Result<String, ExprError> {
        let start = self.pos;
        let body = &self.src[start + 1..];
        let Some(end) = body.find('`') else {
            return Err(err(start, "raw string literal not terminated: missing `"));
        };
        let s = body[..end].replace('\r', "");
        self.pos = start + 1 + end + 1;
        Ok(s)
    }

    /// An int or float literal in any of Go's spellings.
    fn number(&mut self) -> Result<Tok, ExprError> {
        let start = self.pos;
        let rest = self.rest();
        let lower = rest.get(..2).map(str::to_ascii_lowercase);
        let radix = match lower.as_deref() {
            Some("0x") => 16,
            Some("0b") => 2,
            Some("0o") => 8,
            _ => 10,
        };
        let tok = if radix != 10 {
            self.pos += 2;
            let digits = self.take_digits(16);
            if matches!(self.peek(), Some('.' | 'p' | 'P')) && radix == 16 {
                return Err(err(
                    start,
                    "hexadecimal floating-point literals are not supported",
                ));
            }
            let clean = check_underscores(&digits, true).map_err(|m| err(start, m))?;
            if clean.is_empty() {
                return Err(err(
                    start,
                    "number literal has no digits after its base prefix",
                ));
            }
            if let Some(bad) = clean.chars().find(|ch| !ch.is_digit(radix)) {
                return Err(err(
                    start,
                    format!("invalid digit {bad:?} in base-{radix} literal"),
                ));
            }
            let v = u128::from_str_radix(&clean, radix)
                .ok()
                .filter(|v| *v < (1u128 << 96))
                .ok_or_else(|| err(start, "integer literal too large"))?;
            match i64::try_from(v) {
                Ok(i) => Tok::Int(i),
                Err(_) => Tok::BigInt(
                    Decimal::from_u128(v).ok_or_else(|| err(start, "integer literal too large"))?,
                ),
            }
        } else {
            let int_part = self.take_digits(10);
            let mut is_float = false;
            let mut text = int_part.clone();
            if self.peek() == Some('.') && !self.rest().starts_with("...") {
                is_float = true;
                self.pos += 1;
                text.push('.');
                text.push_str(&self.take_digits(10));
            }
            if matches!(self.peek(), Some('e' | 'E')) {
                is_float = true;
                self.pos += 1;
                text.push('e');
                if let Some(sign @ ('+' | '-')) = self.peek() {
                    self.pos += 1;
                    text.push(sign);
                }
                let exp = self.take_digits(10);
                if exp.is_empty() {
                    return Err(err(start, "exponent has no digits"));
                }
                text.push_str(&exp);
            }
            let clean = check_underscores(&text, false).map_err(|m| err(start, m))?;
            if is_float {
                let f = f64::from_str(&clean)
                    .map_err(|_| err(start, format!("invalid float literal {text}")))?;
                Tok::Float(f)
            } else if clean.len() > 1 && clean.starts_with('0') {
                return Err(err(
                    start,
                    format!(
                        "legacy octal literal {clean} is ambiguous: write 0o{} for octal or {} \
                         for decimal",
                        &clean[1..],
                        clean.trim_start_matches('0')
                    ),
                ));
            } else {
                match i64::from_str(&clean) {
                    Ok(i) => Tok::Int(i),
                    // Capillaries reads integer literals beyond int64 as decimals.
                    Err(_) => Tok::BigInt(
                        Decimal::from_str(&clean)
                            .map_err(|_| err(start, "integer literal too large"))?,
                    ),
                }
            }
        };
        match self.peek() {
            Some('i') => Err(err(start, "imaginary literals are not supported")),
            Some(c) if is_ident_char(c) => Err(err(
                self.pos,
                format!("invalid character {c:?} in number literal"),
            )),
            _ => Ok(tok),
        }
    }

    /// Takes digits of the given radix (and `_` separators, and for radix 16 any ASCII
    /// alphanumeric so that a bad digit is reported by the caller with a clear message).
    fn take_digits(&mut self, radix: u32) -> String {
        let rest = self.rest();
        let len = rest
            .find(|ch: char| {
                !(ch == '_'
                    || ch.is_ascii_digit()
                    || (radix == 16 && ch.is_ascii_alphanumeric() && !matches!(ch, 'p' | 'P')))
            })
            .unwrap_or(rest.len());
        let s = rest[..len].to_string();
        self.pos += len;
        s
    }
}

/// Checks Go's rule that `_` only separates successive digits (or follows a base prefix) and
/// returns the text without underscores.
fn check_underscores(text: &str, after_prefix: bool) -> Result<String, String> {
    let b = text.as_bytes();
    for (i, ch) in b.iter().enumerate() {
        if *ch == b'_' {
            let prev_ok = if i == 0 {
                after_prefix
            } else {
                b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'e'
            };
            let next_ok = b.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric());
            if !prev_ok || !next_ok {
                return Err("'_' must separate successive digits".into());
            }
        }
    }
    Ok(text.replace('_', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn lex_err(src: &str) -> ExprError {
        tokenize(src).unwrap_err()
    }

    #[test]
    fn numbers_in_go_spellings() {
        assert_eq!(toks("42"), vec![Tok::Int(42), Tok::Eof]);
        assert_eq!(toks("1_000"), vec![Tok::Int(1000), Tok::Eof]);
        assert_eq!(toks("0x1F"), vec![Tok::Int(31), Tok::Eof]);
        assert_eq!(toks("0b101"), vec![Tok::Int(5), Tok::Eof]);
        assert_eq!(toks("0o17"), vec![Tok::Int(15), Tok::Eof]);
        assert_eq!(toks("0"), vec![Tok::Int(0), Tok::Eof]);
        assert_eq!(toks("1.5"), vec![Tok::Float(1.5), Tok::Eof]);
        assert_eq!(toks(".5"), vec![Tok::Float(0.5), Tok::Eof]);
        assert_eq!(toks("1."), vec![Tok::Float(1.0), Tok::Eof]);
        assert_eq!(toks("1e3"), vec![Tok::Float(1000.0), Tok::Eof]);
        assert_eq!(toks("2.5E-1"), vec![Tok::Float(0.25), Tok::Eof]);
        assert_eq!(toks("01.5"), vec![Tok::Float(1.5), Tok::Eof]);
        assert_eq!(
            toks("9223372036854775808"),
            vec![
                Tok::BigInt(Decimal::from_str("9223372036854775808").unwrap()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("9223372036854775807"),
            vec![Tok::Int(i64::MAX), Tok::Eof]
        );
    }

    #[test]
    fn bad_numbers() {
        assert!(lex_err("017").message.contains("0o17"));
        assert!(lex_err("1__0").message.contains("'_'"));
        assert!(lex_err("1i").message.contains("imaginary"));
        assert!(lex_err("0b102").message.contains("'2'"));
        assert!(lex_err("1e").message.contains("exponent"));
        assert_eq!(lex_err("1 + 12abc").offset, 6);
        assert!(lex_err("0x1p3").message.contains("hexadecimal"));
        assert!(
            lex_err("99999999999999999999999999999999999")
                .message
                .contains("too large")
        );
    }

    #[test]
    fn strings_with_escapes_and_raw() {
        assert_eq!(
            toks(r#""a\tb\"c""#),
            vec![Tok::Str("a\tb\"c".into()), Tok::Eof]
        );
        assert_eq!(
            toks(r#""\x41\101\u00e9""#),
            vec![Tok::Str("AAé".into()), Tok::Eof]
        );
        assert_eq!(
            toks("`a\\d\r\n`"),
            vec![Tok::Str("a\\d\n".into()), Tok::Eof]
        );
        assert_eq!(toks(r#""\xc3\xa9""#), vec![Tok::Str("é".into()), Tok::Eof]);
    }

    #[test]
    fn bad_strings() {
        let e = lex_err(r#"re.MatchString("\d", r.s)"#);
        assert_eq!(e.offset, 16);
        assert!(e.message.contains("raw string"));
        assert_eq!(lex_err(r#"x + "abc"#).offset, 4);
        assert!(lex_err("\"a\nb\"").message.contains("line"));
        assert!(lex_err("`abc").message.contains("raw string"));
        assert!(lex_err(r#""\xff""#).message.contains("UTF-8"));
        assert!(lex_err(r#""\ud800""#).message.contains("Unicode"));
        assert!(lex_err(r#""\"#).message.contains("terminated"));
    }

    #[test]
    fn operators_longest_match() {
        assert_eq!(
            toks("a&&b&^c<=d"),
            vec![
                Tok::Ident("a".into()),
                Tok::Op("&&"),
                Tok::Ident("b".into()),
                Tok::Op("&^"),
                Tok::Ident("c".into()),
                Tok::Op("<="),
                Tok::Ident("d".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn automatic_semicolons_after_operands_only() {
        assert_eq!(
            toks("a +\n b"),
            vec![
                Tok::Ident("a".into()),
                Tok::Op("+"),
                Tok::Ident("b".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("a\n+ b"),
            vec![
                Tok::Ident("a".into()),
                Tok::Newline,
                Tok::Op("+"),
                Tok::Ident("b".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("a /* x */ + // y\n b"),
            vec![
                Tok::Ident("a".into()),
                Tok::Op("+"),
                Tok::Ident("b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn unsupported_characters() {
        assert!(lex_err("a ? b : c").message.contains("iif"));
        assert_eq!(lex_err("a ? b : c").offset, 2);
        assert!(lex_err("'a'").message.contains("character literals"));
        assert!(lex_err("a # b").message.contains("'#'"));
        assert!(lex_err("/* x").message.contains("comment"));
    }
}
