//! Index definitions (`unique(a(desc), b)`) and order expressions (`a(desc),b`), spec §3.1.
//!
//! Grammar: `unique(<components>)` or `non_unique(<components>)` for indexes; a bare
//! `<components>` list for `w.top.order` and `event_priority_order`. A component is `field` or
//! `field(modifier, ...)` with modifiers `asc` | `desc`, `case_sensitive` | `ignore_case` and
//! an integer string length (strings only: default 64, raised to at least 16, at most 1024).

use crate::model::{IndexSpec, KeyComponent};
use vessel_core::{FieldType, Schema};

/// Default string length of a key component.
pub const DEFAULT_STR_LEN: usize = 64;
/// Shorter lengths are raised to this.
pub const MIN_STR_LEN: usize = 16;
/// Longer lengths are rejected.
pub const MAX_STR_LEN: usize = 1024;

/// Parses an index definition against the schema of the table that holds it.
///
/// # Errors
/// A message with the 1-based column of the problem: syntax, unknown field (listing the
/// table's fields), modifiers that do not fit the field type, conflicting modifiers.
pub fn parse_index(name: &str, def: &str, schema: &Schema) -> Result<IndexSpec, String> {
    let mut p = Parser::new(def);
    p.skip_ws();
    let start = p.pos;
    let word = p.ident();
    let unique = match word.as_deref() {
        Some("unique") => true,
        Some("non_unique") => false,
        _ => {
            return Err(format!(
                "column {}: an index definition starts with unique(...) or non_unique(...), \
                 e.g. unique(order_id) or non_unique(order_id(ignore_case, 32))",
                start + 1
            ));
        }
    };
    p.expect('(')?;
    let components = p.components(schema, Some(')'))?;
    p.expect(')')?;
    p.skip_ws();
    if !p.at_end() {
        return Err(format!(
            "column {}: unexpected text after the closing parenthesis",
            p.pos + 1
        ));
    }
    Ok(IndexSpec {
        name: name.to_string(),
        unique,
        components,
    })
}

/// Parses an order expression (`total_value(desc),order_id`) against a schema.
///
/// # Errors
/// As [`parse_index`].
pub fn parse_order(def: &str, schema: &Schema) -> Result<Vec<KeyComponent>, String> {
    let mut p = Parser::new(def);
    let components = p.components(schema, None)?;
    p.skip_ws();
    if !p.at_end() {
        return Err(format!(
            "column {}: unexpected '{}'",
            p.pos + 1,
            p.peek_char()
        ));
    }
    Ok(components)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser { src, pos: 0 }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn peek_char(&self) -> char {
        self.src[self.pos..].chars().next().unwrap_or(' ')
    }

    fn skip_ws(&mut self) {
        while !self.at_end() && self.peek_char().is_whitespace() {
            self.pos += self.peek_char().len_utf8();
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.pos;
        while !self.at_end() {
            let c = self.peek_char();
            if c.is_ascii_alphanumeric() || c == '_' {
                self.pos += 1;
            } else {
                break;
            }
        }
        (self.pos > start).then(|| self.src[start..self.pos].to_string())
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if !self.at_end() && self.peek_char() == c {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else if self.at_end() {
            Err(format!(
                "column {}: expected '{c}' at the end",
                self.pos + 1
            ))
        } else {
            Err(format!(
                "column {}: expected '{c}', found '{}'",
                self.pos + 1,
                self.peek_char()
            ))
        }
    }

    /// `comp {, comp}` up to `close` (or the end).
    fn components(
        &mut self,
        schema: &Schema,
        close: Option<char>,
    ) -> Result<Vec<KeyComponent>, String> {
        let mut out: Vec<KeyComponent> = Vec::new();
        loop {
            self.skip_ws();
            let col = self.pos + 1;
            let Some(field) = self.ident() else {
                return Err(if self.at_end() || Some(self.peek_char()) == close {
                    format!(
                        "column {col}: expected a field name; the list is empty or ends with a comma"
                    )
                } else {
                    format!(
                        "column {col}: expected a field name, found '{}'",
                        self.peek_char()
                    )
                });
            };
            let Some(field_idx) = schema.index_of(&field) else {
                return Err(format!(
                    "column {col}: unknown field '{field}'; available: {}",
                    field_list(schema)
                ));
            };
            if out.iter().any(|c| c.field == field) {
                return Err(format!("column {col}: field '{field}' is listed twice"));
            }
            let field_type = schema.field_type(field_idx);
            let mut comp = KeyComponent {
                field: field.clone(),
                field_idx,
                field_type,
                desc: false,
                ignore_case: false,
                str_len: if field_type == FieldType::String {
                    DEFAULT_STR_LEN
                } else {
                    0
                },
            };
            if self.eat('(') {
                self.modifiers(&mut comp)?;
                self.expect(')')?;
            }
            out.push(comp);
            self.skip_ws();
            if self.eat(',') {
                continue;
            }
            if self.at_end() || Some(self.peek_char()) == close {
                return Ok(out);
            }
            return Err(format!(
                "column {}: expected ',' between components, found '{}'",
                self.pos + 1,
                self.peek_char()
            ));
        }
    }

    fn modifiers(&mut self, comp: &mut KeyComponent) -> Result<(), String> {
        let (mut order, mut case, mut len) = (None::<&str>, None::<&str>, None::<usize>);
        loop {
            self.skip_ws();
            let col = self.pos + 1;
            let Some(m) = self.ident() else {
                return Err(format!(
                    "column {col}: expected a modifier (asc, desc, case_sensitive, ignore_case \
                     or a string length)"
                ));
            };
            let is_string = comp.field_type == FieldType::String;
            let field = &comp.field;
            let conflict = |prev: Option<&str>, m: &str| {
                format!(
                    "column {col}: '{m}' conflicts with '{}' for field '{field}'",
                    prev.unwrap_or("")
                )
            };
            match m.as_str() {
                "asc" | "desc" => {
                    if order.is_some_and(|p| p != m) {
                        return Err(conflict(order, &m));
                    }
                    order = Some(if m == "asc" { "asc" } else { "desc" });
                }
                "case_sensitive" | "ignore_case" => {
                    if !is_string {
                        return Err(format!(
                            "column {col}: '{m}' applies to string fields only; '{field}' is {}",
                            comp.field_type
                        ));
                    }
                    if case.is_some_and(|p| p != m) {
                        return Err(conflict(case, &m));
                    }
                    case = Some(if m == "ignore_case" {
                        "ignore_case"
                    } else {
                        "case_sensitive"
                    });
                }
                digits if digits.bytes().all(|b| b.is_ascii_digit()) => {
                    if !is_string {
                        return Err(format!(
                            "column {col}: a length applies to string fields only; '{field}' is {}",
                            comp.field_type
                        ));
                    }
                    let n: usize = digits.parse().unwrap_or(usize::MAX);
                    if n > MAX_STR_LEN {
                        return Err(format!(
                            "column {col}: string length {digits} of '{field}' is above the \
                             maximum {MAX_STR_LEN}"
                        ));
                    }
                    if len.is_some() {
                        return Err(format!("column {col}: '{field}' has two lengths"));
                    }
                    len = Some(n.max(MIN_STR_LEN));
                }
                other => {
                    return Err(format!(
                        "column {col}: unknown modifier '{other}'; use asc, desc, \
                         case_sensitive, ignore_case or a string length"
                    ));
                }
            }
            if !self.eat(',') {
                break;
            }
        }
        comp.desc = order == Some("desc");
        comp.ignore_case = case == Some("ignore_case");
        if let Some(n) = len {
            comp.str_len = n;
        }
        Ok(())
    }
}

/// `a (int), b (string)` — for error messages.
pub(crate) fn field_list(schema: &Schema) -> String {
    if schema.is_empty() {
        return "(no fields)".into();
    }
    schema
        .fields()
        .iter()
        .map(|(n, t)| format!("{n} ({t})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new(vec![
            ("order_id".into(), FieldType::String),
            ("ts".into(), FieldType::DateTime),
            ("total_value".into(), FieldType::Decimal2),
            ("name".into(), FieldType::String),
        ])
    }

    #[test]
    fn parses_unique_with_modifiers() {
        let idx = parse_index(
            "idx_x",
            "unique(order_id(case_sensitive), ts(desc), name(ignore_case, 32))",
            &schema(),
        )
        .unwrap();
        assert!(idx.unique);
        assert_eq!(idx.name, "idx_x");
        let c = &idx.components;
        assert_eq!(c.len(), 3);
        assert_eq!(
            (c[0].field.as_str(), c[0].field_idx, c[0].str_len),
            ("order_id", 0, 64)
        );
        assert!(!c[0].desc && !c[0].ignore_case);
        assert_eq!(
            (c[1].field_type, c[1].desc, c[1].str_len),
            (FieldType::DateTime, true, 0)
        );
        assert_eq!(
            (c[2].field_idx, c[2].ignore_case, c[2].str_len),
            (3, true, 32)
        );
    }

    #[test]
    fn parses_non_unique_and_clamps_length() {
        let idx = parse_index("i", " non_unique( name ( 3 ) ) ", &schema()).unwrap();
        assert!(!idx.unique);
        assert_eq!(idx.components[0].str_len, MIN_STR_LEN);
    }

    #[test]
    fn parses_order_expressions() {
        let o = parse_order("total_value(desc),order_id", &schema()).unwrap();
        assert_eq!(o.len(), 2);
        assert!(o[0].desc);
        assert_eq!(o[1].field, "order_id");
        assert!(!o[1].desc);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let s = schema();
        assert_eq!(
            parse_index("i", "uniq(order_id)", &s).unwrap_err(),
            "column 1: an index definition starts with unique(...) or non_unique(...), e.g. unique(order_id) or non_unique(order_id(ignore_case, 32))"
        );
        let e = parse_index("i", "unique(order_idd)", &s).unwrap_err();
        assert!(
            e.starts_with("column 8: unknown field 'order_idd'; available: order_id (string)"),
            "{e}"
        );
        assert!(
            parse_index("i", "unique(ts(ignore_case))", &s)
                .unwrap_err()
                .contains("applies to string fields only")
        );
        assert!(
            parse_index("i", "unique(name(2000))", &s)
                .unwrap_err()
                .contains("above the maximum 1024")
        );
        assert!(
            parse_index("i", "unique(ts(asc,desc))", &s)
                .unwrap_err()
                .contains("conflicts")
        );
        assert!(
            parse_index("i", "unique(ts(sideways))", &s)
                .unwrap_err()
                .contains("unknown modifier 'sideways'")
        );
        assert!(
            parse_index("i", "unique(ts", &s)
                .unwrap_err()
                .contains("expected ')'")
        );
        assert!(
            parse_index("i", "unique()", &s)
                .unwrap_err()
                .contains("expected a field name")
        );
        assert!(
            parse_index("i", "unique(ts) x", &s)
                .unwrap_err()
                .contains("unexpected text")
        );
        assert!(
            parse_order("ts,ts", &s)
                .unwrap_err()
                .contains("listed twice")
        );
        assert!(
            parse_order("ts name", &s)
                .unwrap_err()
                .contains("expected ','")
        );
        assert!(
            parse_order("ts,", &s)
                .unwrap_err()
                .contains("ends with a comma")
        );
    }
}
