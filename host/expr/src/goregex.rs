//! Go RE2 patterns on Rust's `regex`: ASCII `\w \d \s \b`, literal `[` in classes, `\Q...\E`.
//!
//! Both engines accept nearly the same syntax; the translation below covers the places where
//! the same text means different things:
//! * Go's Perl classes and word boundaries are ASCII-only, Rust's are Unicode;
//! * inside a class, Rust reads `[` as a nested class and `&&`, `~~`, `--` as set operations,
//!   Go reads them literally;
//! * Rust reads `\<` and `\>` as word boundaries, Go as the literal characters;
//! * Go has `\Q...\E` literal text and 3-digit octal escapes, Rust has neither by default.

use regex::Regex;

const WORD: &str = "0-9A-Za-z_";
const DIGIT: &str = "0-9";
const SPACE: &str = "\\t\\n\\x0C\\r ";

/// Compiles a Go regular expression (unanchored, as `regexp.MatchString` uses it).
///
/// # Errors
/// The regex crate's message when the pattern is invalid.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(&translate(pattern)).map_err(|e| e.to_string())
}

/// Rewrites Go pattern text into Rust pattern text with the same meaning.
pub(crate) fn translate(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 16);
    let mut i = 0;
    let mut in_class = false;
    // Right after `[` or `[^`, where `]` is a literal.
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&d) = chars.get(i + 1) else {
                // A trailing backslash: let the regex crate report it.
                out.push('\\');
                break;
            };
            i += 2;
            class_start = false;
            let perl = match d {
                'w' => Some((WORD, false)),
                'W' => Some((WORD, true)),
                'd' => Some((DIGIT, false)),
                'D' => Some((DIGIT, true)),
                's' => Some((SPACE, false)),
                'S' => Some((SPACE, true)),
                _ => None,
            };
            if let Some((set, negated)) = perl {
                if in_class && !negated {
                    out.push_str(set);
                } else {
                    out.push('[');
                    if negated {
                        out.push('^');
                    }
                    out.push_str(set);
                    out.push(']');
                }
                continue;
            }
            match d {
                'b' if !in_class => out.push_str("(?-u:\\b)"),
                'B' if !in_class => out.push_str("(?-u:\\B)"),
                '<' | '>' => out.push(d),
                'Q' if !in_class => {
                    let rest: String = chars[i..].iter().collect();
                    let (lit, consumed) = match rest.find("\\E") {
                        Some(end) => (&rest[..end], rest[..end].chars().count() + 2),
                        None => (rest.as_str(), rest.chars().count()),
                    };
                    out.push_str(&regex::escape(lit));
                    i += consumed;
                }
                '0'..='7' => {
                    let mut digits = String::from(d);
                    while digits.len() < 3 && chars.get(i).is_some_and(|ch| ch.is_digit(8)) {
                        digits.push(chars[i]);
                        i += 1;
                    }
                    if d != '0' && digits.len() == 1 {
                        // `\1`: a backreference, which neither engine supports.
                        out.push('\\');
                        out.push(d);
                    } else {
                        let v = u32::from_str_radix(&digits, 8).unwrap_or(0);
                        out.push_str(&format!("\\x{{{v:X}}}"));
                    }
                }
                _ => {
                    out.push('\\');
                    out.push(d);
                }
            }
            continue;
        }
        if in_class {
            match c {
                ']' if !class_start => {
                    in_class = false;
                    out.push(']');
                }
                ']' => out.push_str("\\]"),
                '[' if chars.get(i + 1) == Some(&':') => {
                    // A POSIX class such as [:alpha:], copied as is.
                    let rest: String = chars[i..].iter().collect();
                    match rest.find(":]") {
                        Some(end) => {
                            out.push_str(&rest[..end + 2]);
                            i += rest[..end + 2].chars().count();
                            class_start = false;
                            continue;
                        }
                        None => out.push_str("\\["),
                    }
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                '-' if i > 0 && chars[i - 1] == '-' && !class_start => out.push_str("\\-"),
                _ => out.push(c),
            }
            class_start = false;
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
        if c == '[' {
            in_class = true;
            class_start = true;
            if chars.get(i) == Some(&'^') {
                out.push('^');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        compile(p).unwrap().is_match(s)
    }

    #[test]
    fn perl_classes_are_ascii() {
        assert!(!m(r"^\w+$", "café"));
        assert!(m(r"^\w+$", "cafe_1"));
        assert!(!m(r"^\d$", "٣"));
        assert!(m(r"^\d$", "3"));
        assert!(!m(r"^\s$", "\u{a0}"));
        assert!(m(r"^[\w ,]*$", "Boys, Girls"));
        assert!(!m(r"^[\w ,]*$", "Garçon"));
        assert!(m(r"^\W$", "é"));
        assert!(m(r"^[^\W]+$", "abc"));
        assert!(m(r"^[\W\d]+$", "é3"));
    }

    #[test]
    fn word_boundaries_are_ascii() {
        assert!(m(r"\bcat\b", "a cat here"));
        assert!(!m(r"\bcat\b", "concatenate"));
        // 'é' is not a word character in Go, so there is a boundary before "cat".
        assert!(m(r"\bcat", "écat"));
    }

    #[test]
    fn unanchored_search() {
        assert!(m(
            r#""k":"Occasion","v":"[\w ,]*Casual"#,
            r#"x {"k":"Occasion","v":"Party, Casual"} y"#
        ));
        assert!(m("(100|200) m", "depth 200 m"));
        assert!(!m("^abc", "xabc"));
    }

    #[test]
    fn class_syntax_differences() {
        assert!(m("^[[]$", "["));
        assert!(m("^[a[]+$", "a[a"));
        assert!(m("^[]a]+$", "]a"));
        assert!(m("^[a&&b]+$", "a&b"));
        assert!(m("^[a~~]+$", "~a"));
        assert!(m("^[[:alpha:]]+$", "abc"));
        assert!(!m("^[[:alpha:]]+$", "a1"));
        assert!(m(r"^\<a\>$", "<a>"));
    }

    #[test]
    fn quoting_and_octal() {
        assert!(m(r"^\Qa.b*\E$", "a.b*"));
        assert!(!m(r"^\Qa.b\E$", "axb"));
        assert!(m(r"^\101$", "A"));
        assert!(m(r"^\0$", "\0"));
        assert!(compile(r"(a)\1").is_err());
    }

    #[test]
    fn invalid_patterns_are_errors() {
        assert!(compile("(").is_err());
        assert!(compile("\\").is_err());
        assert!(compile("[a").is_err());
    }
}
