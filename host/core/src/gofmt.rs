//! Go `fmt` verbs (`fmt.Sprintf`) over [`Value`]s, including Go's `%!verb(type=value)` errors.
//!
//! Each value prints as the Go type Capillaries holds it in: `int64`, `float64`, `string`,
//! `bool`, `decimal.Decimal` (a Stringer that prints its two-place text; float verbs format its
//! float value) and `time.Time` (a Stringer that prints Go's `Time.String`).

use crate::value::{go_float_v, go_time_string};
use crate::{Value, decimal};

/// Widths and precisions above this are treated as absent, as Go does.
const TOO_LARGE: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

struct Printer {
    buf: String,
    f: Flags,
}

/// Go's type name for the value, as printed by `%T` and in error forms.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "int64",
        Value::Float(_) => "float64",
        Value::Decimal(_) => "decimal.Decimal",
        Value::Str(_) => "string",
        Value::Bool(_) => "bool",
        Value::DateTime(_) => "time.Time",
    }
}

/// Go's `unicode.IsPrint`, approximated with Rust's character classes.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
        || ('\u{e000}'..='\u{f8ff}').contains(&c)
        || ('\u{f0000}'..).contains(&c))
}

/// Go's `strconv.appendEscapedRune`.
fn push_escaped(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if if ascii_only {
        c.is_ascii() && is_print(c)
    } else {
        is_print(c)
    } {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.Quote` (`ascii_only`: `QuoteToASCII`).
fn go_quote(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"', ascii_only);
    }
    out.push('"');
    out
}

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{feff}' && (c == '\t' || !(c < ' ' || c == '\u{7f}')))
}

/// Shortest digits of a finite, non-negative float: `(digits, dp)` with value `0.digits × 10^dp`.
/// Zero has no digits.
fn shortest_digits(x: f64) -> (Vec<u8>, i32) {
    digits_of(&format!("{x:e}"))
}

/// Digits of `x` rounded to `n ≥ 1` significant digits, trailing zeros dropped.
fn rounded_digits(x: f64, n: usize) -> (Vec<u8>, i32) {
    digits_of(&format!("{x:.*e}", n - 1))
}

/// Splits Rust's `d.ddde±x` rendering into digits (trailing zeros dropped) and decimal point.
fn digits_of(s: &str) -> (Vec<u8>, i32) {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return (digits, 0);
    }
    (digits, exp + 1)
}

/// Go's `fmtE`: `d.ddddde±dd`.
fn fmt_e(out: &mut String, digits: &[u8], dp: i32, prec: usize, upper: bool) {
    out.push(char::from(digits.first().copied().unwrap_or(b'0')));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(char::from(digits.get(i).copied().unwrap_or(b'0')));
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.abs()));
}

/// Go's `fmtF`: `ddd.ddd`.
fn fmt_f(out: &mut String, digits: &[u8], dp: i32, prec: usize) {
    if dp > 0 {
        let dp = dp as usize;
        for i in 0..dp {
            out.push(char::from(digits.get(i).copied().unwrap_or(b'0')));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let j = dp + i as i32;
            let c = usize::try_from(j)
                .ok()
                .and_then(|j| digits.get(j).copied())
                .unwrap_or(b'0');
            out.push(char::from(c));
        }
    }
}

/// Go's `strconv.FormatFloat` of the absolute value of a finite float (`prec` `None` = shortest).
fn format_abs_float(x: f64, verb: char, prec: Option<usize>) -> String {
    let mut out = String::new();
    match verb {
        'e' | 'E' => {
            let (digits, dp) = match prec {
                None => shortest_digits(x),
                Some(p) => rounded_digits(x, p + 1),
            };
            let p = prec.unwrap_or(digits.len().saturating_sub(1));
            fmt_e(&mut out, &digits, dp, p, verb == 'E');
        }
        'f' => match prec {
            Some(p) => out = format!("{x:.p$}"),
            None => {
                let (digits, dp) = shortest_digits(x);
                let p = (digits.len() as i32 - dp).max(0) as usize;
                fmt_f(&mut out, &digits, dp, p);
            }
        },
        'b' => {
            let bits = x.to_bits();
            let mut exp = ((bits >> 52) & 0x7ff) as i64;
            let mut mant = bits & ((1u64 << 52) - 1);
            if exp == 0 {
                exp += 1;
            } else {
                mant |= 1u64 << 52;
            }
            exp += -1023 - 52;
            out = format!("{mant}p{}{}", if exp >= 0 { "+" } else { "-" }, exp.abs());
        }
        'x' | 'X' => out = fmt_x(x, prec, verb == 'X'),
        // 'g' | 'G'
        _ => {
            let shortest = prec.is_none();
            let (digits, dp, mut p) = match prec {
                None => {
                    let (d, dp) = shortest_digits(x);
                    let n = d.len();
                    (d, dp, n)
                }
                Some(p) => {
                    let p = p.max(1);
                    let (d, dp) = rounded_digits(x, p);
                    (d, dp, p)
                }
            };
            let nd = digits.len();
            let mut eprec = p;
            if eprec > nd && nd as i32 >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec as i32 {
                if p > nd {
                    p = nd;
                }
                fmt_e(&mut out, &digits, dp, p.saturating_sub(1), verb == 'G');
            } else {
                if p as i32 > dp {
                    p = nd;
                }
                fmt_f(&mut out, &digits, dp, (p as i32 - dp).max(0) as usize);
            }
        }
    }
    out
}

/// Go's `%x` of a float: `0x1.yyyyp±dd`, of the absolute value.
fn fmt_x(x: f64, prec: Option<usize>, upper: bool) -> String {
    let bits = x.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << 52;
    }
    exp -= 1023;
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if let Some(p) = prec.filter(|&p| p < 15) {
        let shift = (p * 4) as u32;
        let extra = (mant << shift) & ((1u64 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::from(if upper { "0X" } else { "0x" });
    out.push(char::from(b'0' + ((mant >> 60) & 1) as u8));
    mant <<= 4;
    match prec {
        None if mant != 0 => {
            out.push('.');
            while mant != 0 {
                out.push(char::from(hex[((mant >> 60) & 15) as usize]));
                mant <<= 4;
            }
        }
        Some(p) if p > 0 => {
            out.push('.');
            for _ in 0..p {
                out.push(char::from(hex[((mant >> 60) & 15) as usize]));
                mant <<= 4;
            }
        }
        _ => {}
    }
    out.push(if upper { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.abs()));
    out
}

impl Printer {
    fn write_padding(&mut self, n: usize) {
        let pad = if self.f.zero && !self.f.minus {
            '0'
        } else {
            ' '
        };
        self.buf.extend(std::iter::repeat_n(pad, n));
    }

    /// Go's `fmt.pad`: pads to the width, left unless `-`.
    fn pad(&mut self, s: &str) {
        let Some(wid) = self.f.wid.filter(|&w| w > 0) else {
            self.buf.push_str(s);
            return;
        };
        let n = wid.saturating_sub(s.chars().count());
        if self.f.minus {
            self.buf.push_str(s);
            self.write_padding(n);
        } else {
            self.write_padding(n);
            self.buf.push_str(s);
        }
    }

    fn pad_no_zero(&mut self, s: &str) {
        let old = self.f.zero;
        self.f.zero = false;
        self.pad(s);
        self.f.zero = old;
    }

    fn truncate<'a>(&self, s: &'a str) -> &'a str {
        match self.f.prec {
            Some(p) => s.char_indices().nth(p).map_or(s, |(i, _)| &s[..i]),
            None => s,
        }
    }

    fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad(s);
    }

    fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        if self.f.sharp && can_backquote(s) {
            self.pad(&format!("`{s}`"));
            return;
        }
        let q = go_quote(s, self.f.plus);
        self.pad(&q);
    }

    /// Go's `fmtSbx`: hex of the bytes of a string.
    fn fmt_sx(&mut self, s: &str, upper: bool) {
        let bytes = s.as_bytes();
        let length = self.f.prec.map_or(bytes.len(), |p| p.min(bytes.len()));
        let mut width = 2 * length;
        if width == 0 {
            if let Some(w) = self.f.wid {
                self.write_padding(w);
            }
            return;
        }
        if self.f.space {
            if self.f.sharp {
                width *= 2;
            }
            width += length - 1;
        } else if self.f.sharp {
            width += 2;
        }
        let wid = self.f.wid.unwrap_or(0);
        if wid > width && !self.f.minus {
            self.write_padding(wid - width);
        }
        let prefix = if upper { "0X" } else { "0x" };
        if self.f.sharp {
            self.buf.push_str(prefix);
        }
        for (i, b) in bytes[..length].iter().enumerate() {
            if self.f.space && i > 0 {
                self.buf.push(' ');
                if self.f.sharp {
                    self.buf.push_str(prefix);
                }
            }
            if upper {
                self.buf.push_str(&format!("{b:02X}"));
            } else {
                self.buf.push_str(&format!("{b:02x}"));
            }
        }
        if wid > width && self.f.minus {
            self.write_padding(wid - width);
        }
    }

    /// Go's `fmtInteger` for a signed 64-bit value.
    fn fmt_integer(&mut self, v: i64, base: u32, verb: char) {
        let negative = v < 0;
        let u = v.unsigned_abs();
        let mut prec = 0usize;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && u == 0 {
                let wid = self.f.wid.unwrap_or(0);
                let old = self.f.zero;
                self.f.zero = false;
                self.write_padding(wid);
                self.f.zero = old;
                return;
            }
        } else if let (true, false, Some(w)) = (self.f.zero, self.f.minus, self.f.wid) {
            prec = w;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let upper = verb == 'X';
        let mut digits = match base {
            2 => format!("{u:b}"),
            8 => format!("{u:o}"),
            16 if upper => format!("{u:X}"),
            16 => format!("{u:x}"),
            _ => u.to_string(),
        };
        if digits.len() < prec {
            digits = format!("{}{digits}", "0".repeat(prec - digits.len()));
        }
        let mut s = String::new();
        if negative {
            s.push('-');
        } else if self.f.plus {
            s.push('+');
        } else if self.f.space {
            s.push(' ');
        }
        if self.f.sharp {
            match base {
                2 => s.push_str("0b"),
                8 if !digits.starts_with('0') => s.push('0'),
                16 if upper => s.push_str("0X"),
                16 => s.push_str("0x"),
                _ => {}
            }
        }
        if verb == 'O' {
            s.push_str("0o");
        }
        s.push_str(&digits);
        self.pad_no_zero(&s);
    }

    /// Go's `fmtFloat` (the `fmt` half): sign, `#`, zero padding, Inf and NaN.
    fn fmt_float(&mut self, v: f64, verb: char, default_prec: Option<usize>) {
        let prec = self.f.prec.or(default_prec);
        let body = if v.is_nan() {
            "NaN".to_string()
        } else if v.is_infinite() {
            "Inf".to_string()
        } else if verb == 'v' {
            // `%v` without a precision: Go's shortest rendering, as `string(x)` prints it.
            go_float_v(v.abs())
        } else {
            format_abs_float(v.abs(), verb, prec)
        };
        let sign = if v.is_nan() {
            '+'
        } else if v.is_sign_negative() {
            '-'
        } else {
            '+'
        };
        let mut num = String::with_capacity(body.len() + 1);
        num.push(if sign == '+' && self.f.space && !self.f.plus {
            ' '
        } else {
            sign
        });
        num.push_str(&body);
        if v.is_nan() || v.is_infinite() {
            let shown = if v.is_nan() && !self.f.space && !self.f.plus {
                &num[1..]
            } else {
                &num[..]
            };
            let shown = shown.to_string();
            self.pad_no_zero(&shown);
            return;
        }
        if self.f.sharp && verb != 'b' {
            let mut digits: i64 = match verb {
                'g' | 'G' | 'x' => prec.map_or(6, |p| p as i64),
                _ => 0,
            };
            let bytes: Vec<u8> = num.bytes().collect();
            let mut head: Vec<u8> = vec![bytes[0]];
            let mut tail: Vec<u8> = Vec::new();
            let mut has_point = false;
            let mut saw_nonzero = false;
            let mut i = 1;
            while i < bytes.len() {
                let c = bytes[i];
                let is_exp = matches!(c, b'p' | b'P')
                    || (matches!(c, b'e' | b'E') && !matches!(verb, 'x' | 'X'));
                if is_exp {
                    tail.extend_from_slice(&bytes[i..]);
                    break;
                }
                if c == b'.' {
                    has_point = true;
                } else {
                    // Go counts every other byte here, the `x` of `0x` included.
                    if c != b'0' {
                        saw_nonzero = true;
                    }
                    if saw_nonzero {
                        digits -= 1;
                    }
                }
                head.push(c);
                i += 1;
            }
            if !has_point {
                if head.len() == 2 && head[1] == b'0' {
                    digits -= 1;
                }
                head.push(b'.');
            }
            while digits > 0 {
                head.push(b'0');
                digits -= 1;
            }
            head.extend_from_slice(&tail);
            num = String::from_utf8_lossy(&head).into_owned();
        }
        if self.f.plus || !num.starts_with('+') {
            let wid = self.f.wid.unwrap_or(0);
            let len = num.chars().count();
            if self.f.zero && !self.f.minus && wid > len {
                let (first, rest) = num.split_at(1);
                self.buf.push_str(first);
                self.write_padding(wid - len);
                self.buf.push_str(rest);
                return;
            }
            self.pad(&num);
            return;
        }
        let rest = num[1..].to_string();
        self.pad(&rest);
    }

    fn fmt_string(&mut self, s: &str, verb: char, arg: &Value) {
        match verb {
            'v' if self.f.sharp_v => self.fmt_q(s),
            'v' | 's' => self.fmt_s(s),
            'x' => self.fmt_sx(s, false),
            'X' => self.fmt_sx(s, true),
            'q' => self.fmt_q(s),
            _ => self.bad_verb(verb, arg),
        }
    }

    fn fmt_float_verb(&mut self, x: f64, verb: char, arg: &Value) {
        match verb {
            'v' if self.f.prec.is_some() => self.fmt_float(x, 'g', None),
            'v' => self.fmt_float(x, 'v', None),
            'b' | 'g' | 'G' | 'x' | 'X' => self.fmt_float(x, verb, None),
            'f' | 'e' | 'E' => self.fmt_float(x, verb, Some(6)),
            'F' => self.fmt_float(x, 'f', Some(6)),
            _ => self.bad_verb(verb, arg),
        }
    }

    fn print_arg(&mut self, arg: &Value, verb: char) {
        if verb == 'T' {
            self.fmt_s(type_name(arg));
            return;
        }
        if verb == 'p' {
            self.bad_verb(verb, arg);
            return;
        }
        match arg {
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(verb, arg),
            },
            Value::Int(i) => match verb {
                'v' | 'd' => self.fmt_integer(*i, 10, verb),
                'b' => self.fmt_integer(*i, 2, verb),
                'o' | 'O' => self.fmt_integer(*i, 8, verb),
                'x' | 'X' => self.fmt_integer(*i, 16, verb),
                'c' => {
                    let c = u32::try_from(*i)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('\u{fffd}');
                    self.pad(&c.to_string());
                }
                'q' => match u32::try_from(*i).ok().filter(|&u| u <= 0x10ffff) {
                    Some(u) => {
                        let c = char::from_u32(u).unwrap_or('\u{fffd}');
                        let mut q = String::from('\'');
                        push_escaped(&mut q, c, '\'', self.f.plus);
                        q.push('\'');
                        self.pad(&q);
                    }
                    None => self.bad_verb(verb, arg),
                },
                'U' => {
                    let u = *i as u64;
                    let p = self.f.prec.filter(|&p| p > 4).unwrap_or(4);
                    let mut s = format!("U+{u:0p$X}");
                    if self.f.sharp
                        && let Some(c) = u32::try_from(u).ok().and_then(char::from_u32)
                        && is_print(c)
                    {
                        s.push_str(&format!(" '{c}'"));
                    }
                    self.pad_no_zero(&s);
                }
                _ => self.bad_verb(verb, arg),
            },
            Value::Float(x) => self.fmt_float_verb(*x, verb, arg),
            Value::Str(s) => self.fmt_string(s, verb, arg),
            Value::Decimal(d) => match verb {
                'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
                    self.fmt_float_verb(decimal::to_f64(*d), verb, arg);
                }
                _ => {
                    let text = decimal::format2(*d);
                    self.fmt_string(&text, verb, arg);
                }
            },
            Value::DateTime(t) => {
                let text = go_time_string(t);
                self.fmt_string(&text, verb, arg);
            }
        }
    }

    /// Go's `badVerb`: `%!d(string=abc)`, the value printed with `%v` and the same flags.
    fn bad_verb(&mut self, verb: char, arg: &Value) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        self.buf.push_str(type_name(arg));
        self.buf.push('=');
        // Every value accepts `%v`, so this does not recurse further.
        self.print_arg(arg, 'v');
        self.buf.push(')');
    }
}

/// Go's `parsenum`: digits from `i`; `None` when there are none or the number is huge.
fn parse_num(s: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if n > TOO_LARGE {
            return (None, s.len());
        }
        n = n * 10 + i64::from(s[i] - b'0');
        i += 1;
    }
    if i == start {
        return (None, i);
    }
    (usize::try_from(n).ok(), i)
}

/// Formats `args` with a Go format string, as Go's `fmt.Sprintf` does.
///
/// Supports the flags `+ - # 0 space`, width, precision, `*`, explicit argument indexes and the
/// verbs `%v %s %d %f %F %e %E %g %G %t %q %x %X %o %O %b %c %U %T %%`. Mismatches print Go's
/// error forms: `%!d(string=abc)`, `%!d(MISSING)`, `%!(EXTRA string=x)`, `%!(NOVERB)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let fmt = format.as_bytes();
    let end = fmt.len();
    let mut p = Printer {
        buf: String::with_capacity(format.len() + 16),
        f: Flags::default(),
    };
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut i = 0usize;
    while i < end {
        let last = i;
        while i < end && fmt[i] != b'%' {
            i += 1;
        }
        if i > last {
            p.buf.push_str(&format[last..i]);
        }
        if i >= end {
            break;
        }
        i += 1;
        p.f = Flags::default();
        while i < end {
            match fmt[i] {
                b'#' => p.f.sharp = true,
                b'0' => p.f.zero = true,
                b'+' => p.f.plus = true,
                b'-' => p.f.minus = true,
                b' ' => p.f.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut good_arg_num = true;
        // Go's argNumber: an optional `[n]` choosing the argument.
        let mut arg_index = |i: usize, arg_num: usize, good: &mut bool| -> (usize, usize, bool) {
            if i >= end || fmt[i] != b'[' {
                return (arg_num, i, false);
            }
            reordered = true;
            let close = fmt[i + 1..].iter().position(|&c| c == b']');
            match close {
                Some(off) if off > 0 => {
                    let close = i + 1 + off;
                    let (n, ni) = parse_num(fmt, i + 1);
                    match n {
                        Some(n) if ni == close && n >= 1 && n - 1 < args.len() => {
                            (n - 1, close + 1, true)
                        }
                        _ => {
                            *good = false;
                            (arg_num, close + 1, ni == close && n.is_some())
                        }
                    }
                }
                Some(off) => {
                    *good = false;
                    (arg_num, i + 1 + off + 1, false)
                }
                None => {
                    *good = false;
                    (arg_num, i + 1, false)
                }
            }
        };
        let (n, ni, mut after_index) = arg_index(i, arg_num, &mut good_arg_num);
        arg_num = n;
        i = ni;

        // Width.
        if i < end && fmt[i] == b'*' {
            i += 1;
            match int_from_arg(args, arg_num) {
                Some(w) => {
                    if w < 0 {
                        p.f.minus = true;
                        p.f.zero = false;
                    }
                    p.f.wid = Some(w.unsigned_abs() as usize);
                }
                None => p.buf.push_str("%!(BADWIDTH)"),
            }
            if arg_num < args.len() {
                arg_num += 1;
            }
            after_index = false;
        } else {
            let (w, ni) = parse_num(fmt, i);
            p.f.wid = w;
            i = ni;
            if after_index && w.is_some() {
                good_arg_num = false;
            }
        }

        // Precision.
        if i + 1 < end && fmt[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            let (n, ni, ai) = arg_index(i, arg_num, &mut good_arg_num);
            arg_num = n;
            i = ni;
            after_index = ai;
            if i < end && fmt[i] == b'*' {
                i += 1;
                match int_from_arg(args, arg_num) {
                    Some(pr) if pr >= 0 => p.f.prec = Some(pr as usize),
                    _ => p.buf.push_str("%!(BADPREC)"),
                }
                if arg_num < args.len() {
                    arg_num += 1;
                }
                after_index = false;
            } else {
                let (pr, ni) = parse_num(fmt, i);
                p.f.prec = Some(pr.unwrap_or(0));
                i = ni;
            }
        }

        if !after_index {
            let (n, ni, _) = arg_index(i, arg_num, &mut good_arg_num);
            arg_num = n;
            i = ni;
        }

        if i >= end {
            p.buf.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('%');
        i += verb.len_utf8();

        if verb == '%' {
            p.buf.push('%');
        } else if !good_arg_num {
            p.buf.push_str(&format!("%!{verb}(BADINDEX)"));
        } else if arg_num >= args.len() {
            p.buf.push_str(&format!("%!{verb}(MISSING)"));
        } else {
            if verb == 'v' {
                p.f.sharp_v = p.f.sharp;
                p.f.sharp = false;
                p.f.plus_v = p.f.plus;
                p.f.plus = false;
            }
            p.print_arg(&args[arg_num], verb);
            arg_num += 1;
        }
    }
    if !reordered && arg_num < args.len() {
        p.f = Flags::default();
        p.buf.push_str("%!(EXTRA ");
        for (k, arg) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                p.buf.push_str(", ");
            }
            p.buf.push_str(type_name(arg));
            p.buf.push('=');
            p.print_arg(arg, 'v');
        }
        p.buf.push(')');
    }
    p.buf
}

/// Go's `intFromArg`: the argument as a width or precision, `None` if it is not a sane int.
fn int_from_arg(args: &[Value], n: usize) -> Option<i64> {
    match args.get(n) {
        Some(Value::Int(i)) if (-TOO_LARGE..=TOO_LARGE).contains(i) => Some(*i),
        _ => None,
    }
}

/// Formats one value with a printf format such as `%05d` or `%10s` (`sprintf` with one argument).
pub fn format_value(verb: &str, v: &Value) -> String {
    sprintf(verb, std::slice::from_ref(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Decimal;
    use std::str::FromStr;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn dec(x: &str) -> Value {
        Value::Decimal(Decimal::from_str(x).unwrap())
    }

    #[test]
    fn csv_writer_formats() {
        assert_eq!(format_value("%05d", &Value::Int(999)), "00999");
        assert_eq!(format_value("%d", &Value::Int(-42)), "-42");
        assert_eq!(format_value("%10s", &dec("0")), "      0.00");
        assert_eq!(format_value("%s", &dec("12.5")), "12.50");
        assert_eq!(format_value("%f", &Value::Float(1.5)), "1.500000");
        assert_eq!(format_value("%t", &Value::Bool(true)), "true");
        assert_eq!(format_value("%s", &s("abc")), "abc");
    }

    #[test]
    fn widths_precisions_and_flags() {
        assert_eq!(format_value("%.2f", &Value::Float(12.3456)), "12.35");
        assert_eq!(format_value("%.2f", &Value::Float(2.675)), "2.67");
        assert_eq!(sprintf("%-8s|", &[s("ab")]), "ab      |");
        assert_eq!(format_value("%+d", &Value::Int(5)), "+5");
        assert_eq!(format_value("% d", &Value::Int(5)), " 5");
        assert_eq!(format_value("%x", &Value::Int(255)), "ff");
        assert_eq!(format_value("%#X", &Value::Int(255)), "0XFF");
        assert_eq!(format_value("%o", &Value::Int(8)), "10");
        assert_eq!(format_value("%b", &Value::Int(5)), "101");
        assert_eq!(format_value("%c", &Value::Int(65)), "A");
        assert_eq!(format_value("%q", &Value::Int(65)), "'A'");
        assert_eq!(format_value("%010d", &Value::Int(-12345)), "-000012345");
        assert_eq!(format_value("%-05d|", &Value::Int(7)), "7    |");
        assert_eq!(format_value("%6.0d|", &Value::Int(0)), "      |");
        assert_eq!(format_value("%.3s", &s("abcdef")), "abc");
        assert_eq!(format_value("%05s", &s("abc")), "00abc");
        assert_eq!(format_value("%+07.2f", &Value::Float(-1.0)), "-001.00");
        assert_eq!(format_value("%8.3f|", &Value::Float(2.5)), "   2.500|");
        assert_eq!(sprintf("%*d", &[Value::Int(4), Value::Int(7)]), "   7");
        assert_eq!(
            sprintf("%[2]d %[1]d", &[Value::Int(1), Value::Int(2)]),
            "2 1"
        );
        assert_eq!(sprintf("100%%", &[]), "100%");
    }

    #[test]
    fn strings_quote_and_hex() {
        assert_eq!(format_value("%q", &s("a\"b\n")), r#""a\"b\n""#);
        assert_eq!(format_value("%+q", &s("é")), r#""\u00e9""#);
        assert_eq!(format_value("%#q", &s("ab")), "`ab`");
        assert_eq!(format_value("%x", &s("abc")), "616263");
        assert_eq!(format_value("% X", &s("xyz")), "78 79 7A");
        assert_eq!(format_value("%v", &s("plain")), "plain");
        assert_eq!(format_value("%T", &dec("1")), "decimal.Decimal");
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(format_value("%v", &Value::Float(1e21)), "1e+21");
        assert_eq!(format_value("%v", &Value::Float(2.5)), "2.5");
        assert_eq!(format_value("%e", &Value::Float(123456.0)), "1.234560e+05");
        assert_eq!(format_value("%E", &Value::Float(0.0)), "0.000000E+00");
        assert_eq!(format_value("%g", &Value::Float(1e6)), "1e+06");
        assert_eq!(format_value("%g", &Value::Float(123456.0)), "123456");
        assert_eq!(format_value("%g", &Value::Float(0.00001)), "1e-05");
        assert_eq!(format_value("%.3g", &Value::Float(1234.0)), "1.23e+03");
        assert_eq!(format_value("%.3g", &Value::Float(1.0)), "1");
        assert_eq!(format_value("%#g", &Value::Float(1.1)), "1.10000");
        assert_eq!(format_value("%#.0f", &Value::Float(1.0)), "1.");
        assert_eq!(format_value("%f", &Value::Float(-0.0)), "-0.000000");
        assert_eq!(format_value("%f", &Value::Float(f64::INFINITY)), "+Inf");
        assert_eq!(format_value("%5.1f", &Value::Float(f64::NAN)), "  NaN");
        assert_eq!(
            format_value("%b", &Value::Float(1.0)),
            "4503599627370496p-52"
        );
        assert_eq!(format_value("%x", &Value::Float(1.0)), "0x1p+00");
        assert_eq!(format_value("%.3x", &Value::Float(1.0)), "0x1.000p+00");
        assert_eq!(format_value("%f", &dec("12.34")), "12.340000");
        assert_eq!(format_value("%.1f", &dec("0.25")), "0.2");
    }

    #[test]
    fn mismatches_print_go_error_forms() {
        assert_eq!(format_value("%d", &s("abc")), "%!d(string=abc)");
        assert_eq!(format_value("%s", &Value::Int(5)), "%!s(int64=5)");
        assert_eq!(format_value("%d", &Value::Float(1.5)), "%!d(float64=1.5)");
        assert_eq!(format_value("%d", &Value::Bool(true)), "%!d(bool=true)");
        assert_eq!(format_value("%d", &dec("1.5")), "%!d(decimal.Decimal=1.50)");
        assert_eq!(format_value("%5d", &s("ab")), "%!d(string=   ab)");
        assert_eq!(sprintf("%s", &[s("a"), s("x")]), "a%!(EXTRA string=x)");
        assert_eq!(
            sprintf("", &[Value::Int(1), Value::Bool(false)]),
            "%!(EXTRA int64=1, bool=false)"
        );
        assert_eq!(sprintf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(sprintf("abc%", &[]), "abc%!(NOVERB)");
        assert_eq!(sprintf("%[3]d", &[Value::Int(1)]), "%!d(BADINDEX)");
    }

    #[test]
    fn datetimes_print_go_time_string() {
        let t = crate::gotime::parse("2006-01-02 15:04:05", "2020-01-02 03:04:05").unwrap();
        assert_eq!(
            format_value("%v", &Value::DateTime(t)),
            "2020-01-02 03:04:05 +0000 UTC"
        );
        assert_eq!(
            format_value("%d", &Value::DateTime(t)),
            "%!d(time.Time=2020-01-02 03:04:05 +0000 UTC)"
        );
    }
}
