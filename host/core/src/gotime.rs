//! Go time layouts (`Mon Jan 2 15:04:05 MST 2006`): `time.Parse` and `Time.Format` semantics.
//!
//! Capillaries reads datetimes with `time.Parse(layout, text)` and writes them with
//! `t.Format(layout)`, so a port must accept and produce exactly what Go does, including Go's
//! quirks: fractional seconds after a seconds field are accepted even when the layout has none,
//! a layout without a zone means UTC, and a zone abbreviation the process does not know is kept
//! with a zero offset. The process time zone is taken to be UTC, as in Capillaries containers.

use crate::DateTime;
use chrono::{Datelike, FixedOffset, NaiveDate, TimeZone, Timelike};
use std::fmt::Write as _;

/// One layout element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Std {
    /// `Jan`
    Month,
    /// `January`
    LongMonth,
    /// `1`
    NumMonth,
    /// `01`
    ZeroMonth,
    /// `Mon`
    WeekDay,
    /// `Monday`
    LongWeekDay,
    /// `2`
    Day,
    /// `_2`
    UnderDay,
    /// `02`
    ZeroDay,
    /// `__2`
    UnderYearDay,
    /// `002`
    ZeroYearDay,
    /// `15`
    Hour,
    /// `3`
    Hour12,
    /// `03`
    ZeroHour12,
    /// `4`
    Minute,
    /// `04`
    ZeroMinute,
    /// `5`
    Second,
    /// `05`
    ZeroSecond,
    /// `2006`
    LongYear,
    /// `06`
    Year,
    /// `PM`
    UpperPm,
    /// `pm`
    LowerPm,
    /// `MST`
    Tz,
    /// `Z0700`
    Iso8601Tz,
    /// `Z070000`
    Iso8601SecondsTz,
    /// `Z07`
    Iso8601ShortTz,
    /// `Z07:00`
    Iso8601ColonTz,
    /// `Z07:00:00`
    Iso8601ColonSecondsTz,
    /// `-0700`
    NumTz,
    /// `-070000`
    NumSecondsTz,
    /// `-07`
    NumShortTz,
    /// `-07:00`
    NumColonTz,
    /// `-07:00:00`
    NumColonSecondsTz,
    /// `.000` / `,000`: exactly `digits` digits.
    FracSecond0 { digits: usize, sep: u8 },
    /// `.999` / `,999`: up to `digits` digits, trailing zeros trimmed.
    FracSecond9 { digits: usize, sep: u8 },
}

impl Std {
    fn is_frac(self) -> bool {
        matches!(self, Std::FracSecond0 { .. } | Std::FracSecond9 { .. })
    }
}

fn is_digit(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

/// Splits a layout into the text before the first element, the element and the rest
/// (Go's `nextStdChunk`).
fn next_std_chunk(layout: &[u8]) -> (&[u8], Option<(Std, &[u8])>) {
    let n = layout.len();
    let starts = |i: usize, s: &str| layout[i..].starts_with(s.as_bytes());
    for i in 0..n {
        let found: Option<(Std, usize)> = match layout[i] {
            b'J' if starts(i, "Jan") => Some(if starts(i, "January") {
                (Std::LongMonth, 7)
            } else {
                (Std::Month, 3)
            }),
            b'M' if starts(i, "Mon") => Some(if starts(i, "Monday") {
                (Std::LongWeekDay, 6)
            } else {
                (Std::WeekDay, 3)
            }),
            b'M' if starts(i, "MST") => Some((Std::Tz, 3)),
            b'0' if i + 1 < n && (b'1'..=b'6').contains(&layout[i + 1]) => {
                let std = [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ][usize::from(layout[i + 1] - b'1')];
                Some((std, 2))
            }
            b'0' if starts(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if starts(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if starts(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if starts(i, "_2") => {
                // `_2006` is a literal underscore followed by a year.
                if starts(i + 1, "2006") {
                    return (&layout[..=i], Some((Std::LongYear, &layout[i + 5..])));
                }
                Some((Std::UnderDay, 2))
            }
            b'_' if starts(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if starts(i, "PM") => Some((Std::UpperPm, 2)),
            b'p' if starts(i, "pm") => Some((Std::LowerPm, 2)),
            b'-' => [
                ("-070000", Std::NumSecondsTz),
                ("-07:00:00", Std::NumColonSecondsTz),
                ("-0700", Std::NumTz),
                ("-07:00", Std::NumColonTz),
                ("-07", Std::NumShortTz),
            ]
            .into_iter()
            .find(|(s, _)| starts(i, s))
            .map(|(s, std)| (std, s.len())),
            b'Z' => [
                ("Z070000", Std::Iso8601SecondsTz),
                ("Z07:00:00", Std::Iso8601ColonSecondsTz),
                ("Z0700", Std::Iso8601Tz),
                ("Z07:00", Std::Iso8601ColonTz),
                ("Z07", Std::Iso8601ShortTz),
            ]
            .into_iter()
            .find(|(s, _)| starts(i, s))
            .map(|(s, std)| (std, s.len())),
            sep @ (b'.' | b',') if i + 1 < n && matches!(layout[i + 1], b'0' | b'9') => {
                let ch = layout[i + 1];
                let mut j = i + 1;
                while j < n && layout[j] == ch {
                    j += 1;
                }
                // Only a fractional second if the run of digits ends here.
                if is_digit(layout, j) {
                    None
                } else {
                    let digits = j - (i + 1);
                    let std = if ch == b'0' {
                        Std::FracSecond0 { digits, sep }
                    } else {
                        Std::FracSecond9 { digits, sep }
                    };
                    Some((std, j - i))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some((std, &layout[i + len..])));
        }
    }
    (layout, None)
}

const SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// English month names as Go spells them (`time.January` … `time.December`).
pub const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `quote`: double quotes, `"` and `\` escaped, bytes outside printable ASCII as `\xNN`.
fn quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &b in s {
        if !(0x20..0x80).contains(&b) {
            out.push_str(&format!("\\x{b:02x}"));
        } else {
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(char::from(b));
        }
    }
    out.push('"');
    out
}

/// Why one element did not parse.
enum Bad {
    /// The text does not have the element's shape.
    Shape,
    /// The element parsed but its value is out of range (`"month"`, `"hour"`, ...).
    Range(&'static str),
}

/// Go's `getnum`: one or two digits; `fixed` requires two.
fn getnum(s: &[u8], fixed: bool) -> Result<(i64, &[u8]), Bad> {
    if !is_digit(s, 0) {
        return Err(Bad::Shape);
    }
    if !is_digit(s, 1) {
        if fixed {
            return Err(Bad::Shape);
        }
        return Ok((i64::from(s[0] - b'0'), &s[1..]));
    }
    Ok((
        i64::from(s[0] - b'0') * 10 + i64::from(s[1] - b'0'),
        &s[2..],
    ))
}

/// Go's `getnum3`: one to three digits; `fixed` requires three.
fn getnum3(s: &[u8], fixed: bool) -> Result<(i64, &[u8]), Bad> {
    let mut n = 0i64;
    let mut i = 0;
    while i < 3 && is_digit(s, i) {
        n = n * 10 + i64::from(s[i] - b'0');
        i += 1;
    }
    if i == 0 || (fixed && i != 3) {
        return Err(Bad::Shape);
    }
    Ok((n, &s[i..]))
}

/// Case-insensitive prefix match against a list of names; returns the index.
fn lookup<'a>(names: &[&str], s: &'a [u8]) -> Result<(usize, &'a [u8]), Bad> {
    for (i, name) in names.iter().enumerate() {
        let n = name.len();
        if s.len() >= n && s[..n].eq_ignore_ascii_case(name.as_bytes()) {
            return Ok((i, &s[n..]));
        }
    }
    Err(Bad::Shape)
}

fn atoi(s: &[u8]) -> Result<i64, Bad> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits.len() > 18 {
        return Err(Bad::Shape);
    }
    let n = digits
        .iter()
        .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    Ok(if neg { -n } else { n })
}

/// Go's `parseNanoseconds`: `value[0]` is the separator, `value[1..nbytes]` the digits.
fn parse_nanoseconds(value: &[u8], nbytes: usize) -> Result<i64, Bad> {
    if !matches!(value.first(), Some(b'.' | b',')) {
        return Err(Bad::Shape);
    }
    let nbytes = nbytes.min(10);
    let digits = &value[1..nbytes];
    if !digits.iter().all(u8::is_ascii_digit) || digits.is_empty() {
        return Err(Bad::Shape);
    }
    let mut ns = atoi(digits)?;
    for _ in 0..(10 - nbytes) {
        ns *= 10;
    }
    Ok(ns)
}

/// Length of a zone abbreviation at the start of `value` (Go's `parseTimeZone`).
fn parse_time_zone(value: &[u8]) -> Option<usize> {
    if value.len() < 3 {
        return None;
    }
    if value.starts_with(b"ChST") || value.starts_with(b"MeST") {
        return Some(4);
    }
    if value.starts_with(b"GMT") {
        return Some(3 + parse_signed_offset(&value[3..]));
    }
    if value[0] == b'+' || value[0] == b'-' {
        let n = parse_signed_offset(value);
        return (n > 0).then_some(n);
    }
    let upper = value
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match upper {
        3 => Some(3),
        4 if value[3] == b'T' || value.starts_with(b"WITA") => Some(4),
        5 if value[4] == b'T' => Some(5),
        _ => None,
    }
}

/// Length of a `+h`/`-hh` hour offset (Go's `parseSignedOffset`), 0 when there is none.
fn parse_signed_offset(value: &[u8]) -> usize {
    if !matches!(value.first(), Some(b'+' | b'-')) {
        return 0;
    }
    let digits = value[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 10 {
        return 0;
    }
    match atoi(&value[1..=digits]) {
        Ok(x) if x <= 23 => 1 + digits,
        _ => 0,
    }
}

/// Skips the literal `prefix` in `value`; a space in the prefix matches any run of spaces.
fn skip<'a>(mut value: &'a [u8], mut prefix: &[u8]) -> Result<&'a [u8], &'a [u8]> {
    while let Some(&p) = prefix.first() {
        if p == b' ' {
            if value.first().is_some_and(|&c| c != b' ') {
                return Err(value);
            }
            prefix = trim_spaces(prefix);
            value = trim_spaces(value);
            continue;
        }
        if value.first() != Some(&p) {
            return Err(value);
        }
        prefix = &prefix[1..];
        value = &value[1..];
    }
    Ok(value)
}

fn trim_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ').count();
    &s[n..]
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Parses `value` with a Go layout, as Go's `time.Parse` does (UTC unless the text has a zone).
///
/// # Errors
/// Returns Go's error text, e.g.
/// `parsing time "x" as "2006-01-02": cannot parse "x" as "2006"`, when the text does not match
/// the layout, has extra text, or holds an out-of-range field.
pub fn parse(layout: &str, value: &str) -> Result<DateTime, String> {
    let alayout = layout.as_bytes();
    let avalue = value.as_bytes();
    let cannot = |value_elem: &[u8], layout_elem: &[u8]| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            quote(avalue),
            quote(alayout),
            quote(value_elem),
            quote(layout_elem)
        )
    };
    let with_message = |msg: &str| format!("parsing time {}{msg}", quote(avalue));

    let mut layout = alayout;
    let mut value = avalue;
    let mut pm_set = false;
    let mut am_set = false;
    let mut year: i64 = 0;
    let mut month: i64 = -1;
    let mut day: i64 = -1;
    let mut yday: i64 = -1;
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let mut utc_zone = false;
    let mut zone_offset: Option<i64> = None;
    let mut zone_name: Option<&[u8]> = None;

    loop {
        let (prefix, std) = next_std_chunk(layout);
        value = skip(value, prefix).map_err(|rest| cannot(rest, prefix))?;
        let Some((std, suffix)) = std else {
            if !value.is_empty() {
                return Err(with_message(&format!(": extra text: {}", quote(value))));
            }
            break;
        };
        let std_str = &layout[prefix.len()..layout.len() - suffix.len()];
        layout = suffix;
        let hold = value;
        let result: Result<&[u8], Bad> = (|| {
            let mut v = value;
            match std {
                Std::Year => {
                    if v.len() < 2 {
                        return Err(Bad::Shape);
                    }
                    let y = atoi(&v[..2])?;
                    v = &v[2..];
                    year = if y >= 69 { y + 1900 } else { y + 2000 };
                }
                Std::LongYear => {
                    if v.len() < 4 || !is_digit(v, 0) {
                        return Err(Bad::Shape);
                    }
                    year = atoi(&v[..4])?;
                    v = &v[4..];
                }
                Std::Month | Std::LongMonth => {
                    let names: &[&str] = if std == Std::Month {
                        &SHORT_MONTHS
                    } else {
                        &LONG_MONTHS
                    };
                    let (m, rest) = lookup(names, v)?;
                    month = m as i64 + 1;
                    v = rest;
                }
                Std::NumMonth | Std::ZeroMonth => {
                    let (m, rest) = getnum(v, std == Std::ZeroMonth)?;
                    v = rest;
                    month = m;
                    if !(1..=12).contains(&m) {
                        return Err(Bad::Range("month"));
                    }
                }
                Std::WeekDay | Std::LongWeekDay => {
                    let names: &[&str] = if std == Std::WeekDay {
                        &SHORT_DAYS
                    } else {
                        &LONG_DAYS
                    };
                    v = lookup(names, v)?.1;
                }
                Std::Day | Std::UnderDay | Std::ZeroDay => {
                    if std == Std::UnderDay && v.first() == Some(&b' ') {
                        v = &v[1..];
                    }
                    let (d, rest) = getnum(v, std == Std::ZeroDay)?;
                    day = d;
                    v = rest;
                }
                Std::UnderYearDay | Std::ZeroYearDay => {
                    for _ in 0..2 {
                        if std == Std::UnderYearDay && v.first() == Some(&b' ') {
                            v = &v[1..];
                        }
                    }
                    let (d, rest) = getnum3(v, std == Std::ZeroYearDay)?;
                    yday = d;
                    v = rest;
                }
                Std::Hour => {
                    let (h, rest) = getnum(v, false)?;
                    hour = h;
                    v = rest;
                    if !(0..24).contains(&h) {
                        return Err(Bad::Range("hour"));
                    }
                }
                Std::Hour12 | Std::ZeroHour12 => {
                    let (h, rest) = getnum(v, std == Std::ZeroHour12)?;
                    hour = h;
                    v = rest;
                    if !(0..=12).contains(&h) {
                        return Err(Bad::Range("hour"));
                    }
                }
                Std::Minute | Std::ZeroMinute => {
                    let (m, rest) = getnum(v, std == Std::ZeroMinute)?;
                    min = m;
                    v = rest;
                    if !(0..60).contains(&m) {
                        return Err(Bad::Range("minute"));
                    }
                }
                Std::Second | Std::ZeroSecond => {
                    let (s, rest) = getnum(v, std == Std::ZeroSecond)?;
                    sec = s;
                    v = rest;
                    if !(0..60).contains(&s) {
                        return Err(Bad::Range("second"));
                    }
                    // Go accepts a fractional second here even when the layout has none,
                    // unless the layout's next element is itself a fractional second.
                    if v.len() >= 2 && matches!(v[0], b'.' | b',') && is_digit(v, 1) {
                        let next_is_frac = next_std_chunk(layout)
                            .1
                            .is_some_and(|(next, _)| next.is_frac());
                        if !next_is_frac {
                            let mut n = 2;
                            while is_digit(v, n) {
                                n += 1;
                            }
                            nsec = parse_nanoseconds(v, n)?;
                            v = &v[n..];
                        }
                    }
                }
                Std::UpperPm | Std::LowerPm => {
                    if v.len() < 2 {
                        return Err(Bad::Shape);
                    }
                    let (am, pm): (&[u8], &[u8]) = if std == Std::UpperPm {
                        (b"AM", b"PM")
                    } else {
                        (b"am", b"pm")
                    };
                    match &v[..2] {
                        p if p == pm => pm_set = true,
                        p if p == am => am_set = true,
                        _ => return Err(Bad::Shape),
                    }
                    v = &v[2..];
                }
                Std::Iso8601Tz
                | Std::Iso8601SecondsTz
                | Std::Iso8601ShortTz
                | Std::Iso8601ColonTz
                | Std::Iso8601ColonSecondsTz
                | Std::NumTz
                | Std::NumSecondsTz
                | Std::NumShortTz
                | Std::NumColonTz
                | Std::NumColonSecondsTz => {
                    let iso = matches!(
                        std,
                        Std::Iso8601Tz
                            | Std::Iso8601SecondsTz
                            | Std::Iso8601ShortTz
                            | Std::Iso8601ColonTz
                            | Std::Iso8601ColonSecondsTz
                    );
                    if iso && v.first() == Some(&b'Z') {
                        utc_zone = true;
                        return Ok(&v[1..]);
                    }
                    let (sign, hh, mm, ss, rest): (u8, &[u8], &[u8], &[u8], &[u8]) = match std {
                        Std::Iso8601ColonTz | Std::NumColonTz => {
                            if v.len() < 6 || v[3] != b':' {
                                return Err(Bad::Shape);
                            }
                            (v[0], &v[1..3], &v[4..6], b"00", &v[6..])
                        }
                        Std::Iso8601ShortTz | Std::NumShortTz => {
                            if v.len() < 3 {
                                return Err(Bad::Shape);
                            }
                            (v[0], &v[1..3], b"00", b"00", &v[3..])
                        }
                        Std::Iso8601ColonSecondsTz | Std::NumColonSecondsTz => {
                            if v.len() < 9 || v[3] != b':' || v[6] != b':' {
                                return Err(Bad::Shape);
                            }
                            (v[0], &v[1..3], &v[4..6], &v[7..9], &v[9..])
                        }
                        Std::Iso8601SecondsTz | Std::NumSecondsTz => {
                            if v.len() < 7 {
                                return Err(Bad::Shape);
                            }
                            (v[0], &v[1..3], &v[3..5], &v[5..7], &v[7..])
                        }
                        _ => {
                            if v.len() < 5 {
                                return Err(Bad::Shape);
                            }
                            (v[0], &v[1..3], &v[3..5], b"00", &v[5..])
                        }
                    };
                    let hr = getnum(hh, true)?.0;
                    let mi = getnum(mm, true)?.0;
                    let se = getnum(ss, true)?.0;
                    v = rest;
                    // Go compares with > rather than >= because people write 24:00 offsets.
                    if hr > 24 {
                        return Err(Bad::Range("time zone offset hour"));
                    }
                    if mi > 60 {
                        return Err(Bad::Range("time zone offset minute"));
                    }
                    if se > 60 {
                        return Err(Bad::Range("time zone offset second"));
                    }
                    let off = (hr * 60 + mi) * 60 + se;
                    zone_offset = Some(match sign {
                        b'+' => off,
                        b'-' => -off,
                        _ => return Err(Bad::Shape),
                    });
                }
                Std::Tz => {
                    if v.starts_with(b"UTC") {
                        utc_zone = true;
                        return Ok(&v[3..]);
                    }
                    let n = parse_time_zone(v).ok_or(Bad::Shape)?;
                    zone_name = Some(&v[..n]);
                    v = &v[n..];
                }
                Std::FracSecond0 { digits, .. } => {
                    let ndigit = 1 + digits;
                    if v.len() < ndigit {
                        return Err(Bad::Shape);
                    }
                    nsec = parse_nanoseconds(v, ndigit)?;
                    v = &v[ndigit..];
                }
                Std::FracSecond9 { .. } => {
                    if v.len() < 2 || !matches!(v[0], b'.' | b',') || !is_digit(v, 1) {
                        // The fractional second is optional.
                        return Ok(v);
                    }
                    let mut i = 0;
                    while is_digit(v, i + 1) {
                        i += 1;
                    }
                    nsec = parse_nanoseconds(v, 1 + i)?;
                    v = &v[1 + i..];
                }
            }
            Ok(v)
        })();
        match result {
            Ok(rest) => value = rest,
            Err(Bad::Shape) => return Err(cannot(hold, std_str)),
            Err(Bad::Range(what)) => {
                return Err(with_message(&format!(": {what} out of range")));
            }
        }
    }

    if pm_set && hour < 12 {
        hour += 12;
    } else if am_set && hour == 12 {
        hour = 0;
    }

    if yday >= 0 {
        let leap = is_leap(year);
        if yday < 1 || yday > if leap { 366 } else { 365 } {
            return Err(with_message(": day-of-year out of range"));
        }
        let mut rest = yday;
        let mut m = 1u32;
        while rest > i64::from(days_in(m, year)) {
            rest -= i64::from(days_in(m, year));
            m += 1;
        }
        if month >= 0 && month != i64::from(m) {
            return Err(with_message(": day-of-year does not match month"));
        }
        month = i64::from(m);
        if day >= 0 && day != rest {
            return Err(with_message(": day-of-year does not match day"));
        }
        day = rest;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    let month = u32::try_from(month).unwrap_or(1);
    if day < 1 || day > i64::from(days_in(month, year)) {
        return Err(with_message(": day out of range"));
    }

    let offset = if utc_zone {
        0
    } else if let Some(off) = zone_offset {
        off
    } else if let Some(name) = zone_name {
        // An abbreviation unknown to a UTC process keeps a zero offset, except GMT+h.
        if name.len() > 3 && name.starts_with(b"GMT") {
            atoi(&name[3..]).unwrap_or(0) * 3600
        } else {
            0
        }
    } else {
        0
    };
    let out_of_range = || with_message(": time out of range");
    let naive = i32::try_from(year)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, month, u32::try_from(day).ok()?))
        .and_then(|d| {
            d.and_hms_nano_opt(
                u32::try_from(hour).ok()?,
                u32::try_from(min).ok()?,
                u32::try_from(sec).ok()?,
                u32::try_from(nsec).ok()?,
            )
        })
        .ok_or_else(out_of_range)?;
    let tz = i32::try_from(offset)
        .ok()
        .and_then(FixedOffset::east_opt)
        .ok_or_else(|| with_message(": time zone offset out of range"))?;
    tz.from_local_datetime(&naive)
        .single()
        .ok_or_else(out_of_range)
}

/// Go's `appendInt`: a sign, then `x` zero-padded to `width` digits.
fn push_int(out: &mut String, x: i64, width: usize) {
    if x < 0 {
        out.push('-');
    }
    // Writing into `out` directly: this runs for every date field of every written row.
    let _ = write!(out, "{:0width$}", x.unsigned_abs());
}

/// Formats `t` with a Go layout, as Go's `Time.Format` does, in `t`'s own offset.
///
/// Sub-seconds are printed only when the layout asks for them (`.000` pads, `.999` trims
/// trailing zeros). A non-UTC offset prints as `+hhmm` for `MST`, as Go does for an unnamed zone.
pub fn format(t: &DateTime, layout: &str) -> String {
    let mut out = String::with_capacity(layout.len() + 10);
    let mut rest = layout.as_bytes();
    let year = i64::from(t.year());
    let month = t.month();
    let day = i64::from(t.day());
    let hour = i64::from(t.hour());
    let minute = i64::from(t.minute());
    let second = i64::from(t.second());
    let nanos = t.nanosecond() % 1_000_000_000;
    let offset = i64::from(t.offset().local_minus_utc());
    loop {
        let (prefix, std) = next_std_chunk(rest);
        out.push_str(&String::from_utf8_lossy(prefix));
        let Some((std, suffix)) = std else { break };
        rest = suffix;
        match std {
            Std::Year => push_int(&mut out, year.abs() % 100, 2),
            Std::LongYear => push_int(&mut out, year, 4),
            Std::Month => out.push_str(SHORT_MONTHS[month as usize - 1]),
            Std::LongMonth => out.push_str(LONG_MONTHS[month as usize - 1]),
            Std::NumMonth => push_int(&mut out, i64::from(month), 0),
            Std::ZeroMonth => push_int(&mut out, i64::from(month), 2),
            Std::WeekDay => {
                out.push_str(SHORT_DAYS[t.weekday().num_days_from_sunday() as usize]);
            }
            Std::LongWeekDay => {
                out.push_str(LONG_DAYS[t.weekday().num_days_from_sunday() as usize]);
            }
            Std::Day => push_int(&mut out, day, 0),
            Std::UnderDay => {
                if day < 10 {
                    out.push(' ');
                }
                push_int(&mut out, day, 0);
            }
            Std::ZeroDay => push_int(&mut out, day, 2),
            Std::UnderYearDay => {
                let yd = i64::from(t.ordinal());
                if yd < 100 {
                    out.push(' ');
                    if yd < 10 {
                        out.push(' ');
                    }
                }
                push_int(&mut out, yd, 0);
            }
            Std::ZeroYearDay => push_int(&mut out, i64::from(t.ordinal()), 3),
            Std::Hour => push_int(&mut out, hour, 2),
            Std::Hour12 | Std::ZeroHour12 => {
                let h = if hour % 12 == 0 { 12 } else { hour % 12 };
                push_int(&mut out, h, if std == Std::Hour12 { 0 } else { 2 });
            }
            Std::Minute => push_int(&mut out, minute, 0),
            Std::ZeroMinute => push_int(&mut out, minute, 2),
            Std::Second => push_int(&mut out, second, 0),
            Std::ZeroSecond => push_int(&mut out, second, 2),
            Std::UpperPm => out.push_str(if hour >= 12 { "PM" } else { "AM" }),
            Std::LowerPm => out.push_str(if hour >= 12 { "pm" } else { "am" }),
            Std::Iso8601Tz
            | Std::Iso8601SecondsTz
            | Std::Iso8601ShortTz
            | Std::Iso8601ColonTz
            | Std::Iso8601ColonSecondsTz
            | Std::NumTz
            | Std::NumSecondsTz
            | Std::NumShortTz
            | Std::NumColonTz
            | Std::NumColonSecondsTz => {
                let iso = matches!(
                    std,
                    Std::Iso8601Tz
                        | Std::Iso8601SecondsTz
                        | Std::Iso8601ShortTz
                        | Std::Iso8601ColonTz
                        | Std::Iso8601ColonSecondsTz
                );
                if offset == 0 && iso {
                    out.push('Z');
                    continue;
                }
                let zone = (offset / 60).abs();
                out.push(if offset < 0 { '-' } else { '+' });
                push_int(&mut out, zone / 60, 2);
                let colon = matches!(
                    std,
                    Std::Iso8601ColonTz
                        | Std::NumColonTz
                        | Std::Iso8601ColonSecondsTz
                        | Std::NumColonSecondsTz
                );
                if colon {
                    out.push(':');
                }
                if !matches!(std, Std::NumShortTz | Std::Iso8601ShortTz) {
                    push_int(&mut out, zone % 60, 2);
                }
                if matches!(
                    std,
                    Std::Iso8601SecondsTz
                        | Std::NumSecondsTz
                        | Std::NumColonSecondsTz
                        | Std::Iso8601ColonSecondsTz
                ) {
                    if colon {
                        out.push(':');
                    }
                    push_int(&mut out, offset.abs() % 60, 2);
                }
            }
            Std::Tz => {
                if offset == 0 {
                    out.push_str("UTC");
                } else {
                    let zone = (offset / 60).abs();
                    out.push(if offset < 0 { '-' } else { '+' });
                    push_int(&mut out, zone / 60, 2);
                    push_int(&mut out, zone % 60, 2);
                }
            }
            Std::FracSecond0 { digits, sep } | Std::FracSecond9 { digits, sep } => {
                let trim = matches!(std, Std::FracSecond9 { .. });
                if trim && (digits == 0 || nanos == 0) {
                    continue;
                }
                let all = format!("{nanos:09}");
                let mut frac = &all[..digits.min(9)];
                if trim {
                    frac = frac.trim_end_matches('0');
                    if frac.is_empty() {
                        continue;
                    }
                }
                out.push(char::from(sep));
                out.push_str(frac);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime {
        time::utc()
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .unwrap()
            .with_nanosecond(ms * 1_000_000)
            .unwrap()
    }

    #[test]
    fn parses_plain_layout_as_utc() {
        let t = parse("2006-01-02 15:04:05", "2023-07-14 09:08:07").unwrap();
        assert_eq!(t, utc(2023, 7, 14, 9, 8, 7, 0));
        assert_eq!(t.offset().local_minus_utc(), 0);
    }

    #[test]
    fn parses_fraction_and_offset() {
        let t = parse(
            "2006-01-02T15:04:05.000-07:00",
            "1980-02-03T04:05:06.777+00:00",
        )
        .unwrap();
        assert_eq!(t, utc(1980, 2, 3, 4, 5, 6, 777));
        let t = parse(
            "2006-01-02T15:04:05.000-07:00",
            "1980-02-03T04:05:06.777+03:00",
        )
        .unwrap();
        assert_eq!(t, utc(1980, 2, 3, 1, 5, 6, 777));
        assert_eq!(t.offset().local_minus_utc(), 3 * 3600);
    }

    #[test]
    fn parses_rfc3339_with_optional_fraction() {
        let layout = "2006-01-02T15:04:05Z07:00";
        assert_eq!(
            parse(layout, "2001-02-03T04:05:06Z").unwrap(),
            utc(2001, 2, 3, 4, 5, 6, 0)
        );
        // Go accepts a fraction after the seconds although the layout has none.
        assert_eq!(
            parse(layout, "2001-02-03T04:05:06.5-01:30").unwrap(),
            utc(2001, 2, 3, 5, 35, 6, 500)
        );
        let nano = "2006-01-02T15:04:05.999999999Z07:00";
        assert_eq!(
            parse(nano, "2001-02-03T04:05:06.123Z").unwrap(),
            utc(2001, 2, 3, 4, 5, 6, 123)
        );
    }

    #[test]
    fn parses_names_underscore_day_and_pm() {
        let t = parse("Jan _2 15:04:05", "Feb  3 10:11:12").unwrap();
        assert_eq!(t, utc(0, 2, 3, 10, 11, 12, 0));
        let t = parse(
            "Monday, January 2 2006 3:04PM",
            "tuesday, march 7 2023 12:30AM",
        )
        .unwrap();
        assert_eq!(t, utc(2023, 3, 7, 0, 30, 0, 0));
        let t = parse("2006-01-02 3:04pm", "2023-03-07 1:05pm").unwrap();
        assert_eq!(t, utc(2023, 3, 7, 13, 5, 0, 0));
        let t = parse("06 002", "24 060").unwrap();
        assert_eq!(t, utc(2024, 2, 29, 0, 0, 0, 0));
    }

    #[test]
    fn parses_zone_abbreviations_and_numeric_zones() {
        let t = parse("2006-01-02 15:04 MST", "2020-05-06 07:08 UTC").unwrap();
        assert_eq!(t, utc(2020, 5, 6, 7, 8, 0, 0));
        // Unknown abbreviations keep a zero offset in a UTC process.
        let t = parse("2006-01-02 15:04 MST", "2020-05-06 07:08 PDT").unwrap();
        assert_eq!(t, utc(2020, 5, 6, 7, 8, 0, 0));
        let t = parse("2006-01-02 15:04 MST", "2020-05-06 07:08 GMT+2").unwrap();
        assert_eq!(t, utc(2020, 5, 6, 5, 8, 0, 0));
        let t = parse("2006-01-02 15:04 -0700", "2020-05-06 07:08 -0130").unwrap();
        assert_eq!(t, utc(2020, 5, 6, 8, 38, 0, 0));
        let t = parse("2006-01-02 15:04 Z07", "2020-05-06 07:08 +05").unwrap();
        assert_eq!(t, utc(2020, 5, 6, 2, 8, 0, 0));
    }

    #[test]
    fn year_one_round_trips() {
        let t = parse("2006-01-02", "0001-01-01").unwrap();
        assert_eq!(t, time::zero());
        assert_eq!(
            format(&t, "2006-01-02T15:04:05Z07:00"),
            "0001-01-01T00:00:00Z"
        );
    }

    #[test]
    fn errors_read_like_go() {
        assert_eq!(
            parse("2006-01-02", "x").unwrap_err(),
            r#"parsing time "x" as "2006-01-02": cannot parse "x" as "2006""#
        );
        assert_eq!(
            parse("2006-01-02", "2020-1-02").unwrap_err(),
            r#"parsing time "2020-1-02" as "2006-01-02": cannot parse "1-02" as "01""#
        );
        assert_eq!(
            parse("2006-01-02", "2020-13-02").unwrap_err(),
            r#"parsing time "2020-13-02": month out of range"#
        );
        assert_eq!(
            parse("2006-01-02", "2021-02-29").unwrap_err(),
            r#"parsing time "2021-02-29": day out of range"#
        );
        assert_eq!(
            parse("2006-01-02", "2021-02-28 x").unwrap_err(),
            r#"parsing time "2021-02-28 x": extra text: " x""#
        );
        assert_eq!(
            parse("2006-01-02 15:04", "2021-02-28T10:00").unwrap_err(),
            r#"parsing time "2021-02-28T10:00" as "2006-01-02 15:04": cannot parse "T10:00" as " ""#
        );
    }

    #[test]
    fn formats_like_go() {
        let t = utc(2009, 11, 10, 23, 4, 5, 120);
        assert_eq!(format(&t, "2006-01-02 15:04:05"), "2009-11-10 23:04:05");
        assert_eq!(
            format(&t, "2006-01-02T15:04:05.000-07:00"),
            "2009-11-10T23:04:05.120+00:00"
        );
        assert_eq!(
            format(&t, "2006-01-02T15:04:05.999Z07:00"),
            "2009-11-10T23:04:05.12Z"
        );
        assert_eq!(format(&t, "Mon Jan _2 3:04PM 06"), "Tue Nov 10 11:04PM 09");
        assert_eq!(
            format(&t, "Monday January 2 002 __2"),
            "Tuesday November 10 314 314"
        );
        assert_eq!(format(&t, "15:04:05 MST"), "23:04:05 UTC");
        let plus3 = t.with_timezone(&FixedOffset::east_opt(3 * 3600 + 1800).unwrap());
        assert_eq!(
            format(&plus3, "2006-01-02 15:04 MST -07 Z07:00 -070000"),
            "2009-11-11 02:34 +0330 +03 +03:30 +033000"
        );
        let early = utc(2009, 1, 5, 0, 0, 0, 0);
        assert_eq!(format(&early, "Jan _2 3pm 1/2"), "Jan  5 12am 1/5");
    }
}
