//! Script parameters: params files and `{name|type}` substitution on the raw script text.
//!
//! Substitution follows Capillaries (spec §1.2): it happens on the text, before the script is
//! parsed, in both formats.
//!
//! * `{ name }` and `{name}` are normalised to `{name|string}`, spaces inside braces dropped.
//! * `{name|string}` is replaced by the value anywhere. The value is escaped for where it lands
//!   so that the script stays valid: in JSON (always inside a string literal) quotes,
//!   backslashes and control characters are JSON-escaped; in YAML the escaping follows the
//!   enclosing scalar (double-quoted: JSON escapes, single-quoted: `'` doubled, plain: none).
//!   Newlines become the two characters `\n` as in Capillaries. Escaping quotes and backslashes
//!   is a deliberate fix: Capillaries pastes them raw, which breaks the JSON.
//! * `"{name|number}"`, `"{name|bool}"`, `"{name|stringlist}"` must be a whole quoted scalar
//!   (YAML may use `'` quotes); the quotes are replaced too. Numbers with an integral value
//!   print as integers, others as `%f` (six decimals); a string list becomes a JSON array.
//! * `{batch_idx}` and `{run_id}` are reserved: they stay in the text for the file writer.
//!   Capillaries' loader rejects a leftover `{run_id}` although its file writer expands it; we
//!   accept it (a deliberate fix).
//! * Parameters that the script does not use are not an error.

use crate::error::{ScriptError, ScriptErrors};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

/// Reserved references expanded by the file writer, never by the params file.
pub const RESERVED_PARAMS: [&str; 2] = ["batch_idx", "run_id"];

/// Format of a script or params file, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptFormat {
    /// `.json`
    Json,
    /// `.yaml` or `.yml`
    Yaml,
}

impl ScriptFormat {
    /// Format of `path` by its extension.
    ///
    /// # Errors
    /// A message naming the file when the extension is neither `.json`, `.yaml` nor `.yml`.
    pub fn from_path(path: &Path) -> Result<ScriptFormat, String> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("json") => Ok(ScriptFormat::Json),
            Some("yaml" | "yml") => Ok(ScriptFormat::Yaml),
            _ => Err(format!(
                "cannot tell the format of '{}': the file name must end with .json, .yaml or .yml",
                path.display()
            )),
        }
    }

    /// Parses text of this format into a JSON value (YAML is converted, as Capillaries does).
    ///
    /// # Errors
    /// The parser's message, with line and column.
    pub fn parse_value(self, text: &str) -> Result<serde_json::Value, String> {
        match self {
            ScriptFormat::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
            ScriptFormat::Yaml => {
                check_yaml_flow_nesting(text)?;
                serde_norway::from_str(text).map_err(|e| e.to_string())
            }
        }
    }
}

/// Deepest nesting of YAML flow collections (`[...]`, `{...}`) accepted.
///
/// The YAML parser (serde_norway, on libyaml) refuses more than 128 nested levels anyway, but
/// only after libyaml has scanned the whole text, and libyaml's scanner takes time quadratic in
/// the flow nesting: 100,000
/// nested `[` (200 KB) keep it busy for most of a minute, a megabyte for hours. Counting first
/// turns such a hostile file into an immediate error.
const MAX_YAML_FLOW_NESTING: usize = 128;

/// Fails when flow collections nest deeper than [`MAX_YAML_FLOW_NESTING`]. Brackets inside
/// quoted scalars and comments do not count; a bracket inside a plain scalar may, which can
/// only make the count too high for a text that nests about 128 levels already.
fn check_yaml_flow_nesting(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    let mut line = 1usize;
    // Quotes and comments start only after a blank or an indicator, not inside a word.
    let mut boundary = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' if boundary => {
                if chars.by_ref().any(|c| c == '\n') {
                    line += 1;
                }
                boundary = true;
                continue;
            }
            '"' | '\'' if boundary => {
                let mut escaped = false;
                while let Some(q) = chars.next() {
                    if q == '\n' {
                        line += 1;
                    }
                    if c == '"' && q == '\\' && !escaped {
                        escaped = true;
                        continue;
                    }
                    if q == c && !escaped {
                        // `''` inside a single-quoted scalar is a quote, not the end.
                        if c == '\'' && chars.peek() == Some(&'\'') {
                            chars.next();
                            continue;
                        }
                        break;
                    }
                    escaped = false;
                }
                boundary = false;
                continue;
            }
            '[' | '{' => {
                depth += 1;
                if depth > MAX_YAML_FLOW_NESTING {
                    return Err(format!(
                        "line {line}: [ ] and {{ }} nest more than {MAX_YAML_FLOW_NESTING} \
                         levels deep; flatten the structure"
                    ));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            '\n' => line += 1,
            _ => {}
        }
        boundary = c.is_whitespace() || matches!(c, '[' | ']' | '{' | '}' | ',' | ':' | '-');
    }
    Ok(())
}

/// The value of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// Text, used as `{name}` / `{name|string}`.
    String(String),
    /// A number, used as `"{name|number}"`.
    Number(serde_json::Number),
    /// A boolean, used as `"{name|bool}"`.
    Bool(bool),
    /// A list of strings, used as `"{name|stringlist}"`.
    StringList(Vec<String>),
}

impl ParamValue {
    /// The reference type that uses this value (`string`, `number`, `bool`, `stringlist`).
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamValue::String(_) => "string",
            ParamValue::Number(_) => "number",
            ParamValue::Bool(_) => "bool",
            ParamValue::StringList(_) => "stringlist",
        }
    }

    /// The text that replaces a typed reference (quotes included): integral numbers as
    /// integers, other numbers as `%f`, lists as a JSON array. `None` for strings.
    fn typed_text(&self) -> Option<String> {
        match self {
            ParamValue::String(_) => None,
            ParamValue::Number(n) => Some(format_number(n)),
            ParamValue::Bool(b) => Some(b.to_string()),
            ParamValue::StringList(v) => serde_json::to_string(v).ok(),
        }
    }
}

fn format_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    // Go: `f == float64(int64(f))` prints `%d`, otherwise `%f`.
    if f.fract() == 0.0 && f.abs() < 9.2e18 {
        format!("{}", f as i64)
    } else {
        format!("{f:.6}")
    }
}

/// A params file: a flat map of parameter name → value.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    values: BTreeMap<String, ParamValue>,
    source: String,
}

/// Source name of [`Params::default`]: no params file was given.
const NO_PARAMS_FILE: &str = "(no params file)";

impl Default for Params {
    fn default() -> Self {
        Params::new(NO_PARAMS_FILE)
    }
}

impl Params {
    /// No parameters; `source` names the params file in error messages.
    pub fn new(source: &str) -> Params {
        Params {
            values: BTreeMap::new(),
            source: source.to_string(),
        }
    }

    /// Reads a params file (`.json`, `.yaml` or `.yml`).
    ///
    /// # Errors
    /// Unreadable file, unknown extension, not a flat map, or values of unsupported types.
    pub fn load(path: &Path) -> Result<Params, ScriptErrors> {
        let source = path.display().to_string();
        let format = ScriptFormat::from_path(path).map_err(|m| ScriptError::file(&source, m))?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScriptError::file(&source, format!("cannot read params file: {e}")))?;
        Params::parse(&text, format, &source)
    }

    /// Parses params text; `source` names the file in error messages.
    ///
    /// # Errors
    /// Syntax errors, a top level that is not a map, values that are not a string, number,
    /// bool or array of strings (all reported at once).
    pub fn parse(text: &str, format: ScriptFormat, source: &str) -> Result<Params, ScriptErrors> {
        let value = format
            .parse_value(text)
            .map_err(|m| ScriptError::file(source, format!("cannot parse params file: {m}")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(ScriptError::file(
                source,
                "a params file must be a map of parameter name to value",
            )
            .into());
        };
        let mut params = Params::new(source);
        let mut errors = Vec::new();
        for (name, v) in map {
            let value = match v {
                serde_json::Value::String(s) => ParamValue::String(s),
                serde_json::Value::Number(n) => ParamValue::Number(n),
                serde_json::Value::Bool(b) => ParamValue::Bool(b),
                serde_json::Value::Array(items) => {
                    let strings: Option<Vec<String>> = items
                        .into_iter()
                        .map(|i| match i {
                            serde_json::Value::String(s) => Some(s),
                            _ => None,
                        })
                        .collect();
                    match strings {
                        Some(s) => ParamValue::StringList(s),
                        None => {
                            errors.push(ScriptError::field(
                                source,
                                &name,
                                "an array parameter must hold only strings",
                            ));
                            continue;
                        }
                    }
                }
                other => {
                    errors.push(ScriptError::field(
                        source,
                        &name,
                        format!(
                            "unsupported parameter value {other}; use a string, number, bool or \
                             array of strings"
                        ),
                    ));
                    continue;
                }
            };
            if RESERVED_PARAMS.contains(&name.as_str()) {
                errors.push(ScriptError::field(
                    source,
                    &name,
                    format!(
                        "'{name}' is reserved: the file writer expands {{{name}}} itself; rename \
                         the parameter"
                    ),
                ));
                continue;
            }
            params.values.insert(name, value);
        }
        if errors.is_empty() {
            Ok(params)
        } else {
            Err(errors.into())
        }
    }

    /// Adds or replaces a parameter (builder style).
    pub fn with(mut self, name: &str, value: ParamValue) -> Params {
        self.insert(name, value);
        self
    }

    /// Adds or replaces a parameter.
    pub fn insert(&mut self, name: &str, value: ParamValue) {
        self.values.insert(name.to_string(), value);
    }

    /// The value of a parameter.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.values.get(name)
    }

    /// Parameter names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The params file name used in error messages.
    pub fn source(&self) -> &str {
        &self.source
    }
}

static RE_BARE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{[ ]*([a-zA-Z0-9_]+)[ ]*\}").expect("valid regex"));
static RE_SPACED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{[ ]*([a-zA-Z0-9_]+)[ ]*\|[ ]*(string|number|bool|stringlist)[ ]*\}")
        .expect("valid regex")
});
static RE_REF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{([a-zA-Z0-9_]+)\|(string|number|bool|stringlist)\}").expect("valid regex")
});

/// Normalises references to `{name|type}`.
pub fn normalize_refs(text: &str) -> String {
    let t = RE_BARE.replace_all(text, "{${1}|string}");
    RE_SPACED.replace_all(&t, "{${1}|${2}}").into_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Problem {
    Missing,
    WrongType,
    NotWholeScalar,
    ReservedTyped,
}

/// Substitutes `params` into the raw script text (spec §1.2, see the module docs).
///
/// # Errors
/// Every unresolved, mistyped or misplaced reference, one error per parameter and problem,
/// naming the lines it occurs on and how to fix it.
pub fn substitute(
    text: &str,
    format: ScriptFormat,
    params: &Params,
    script_name: &str,
) -> Result<String, ScriptErrors> {
    let text = normalize_refs(text);
    let mut out = String::with_capacity(text.len());
    let mut problems: BTreeMap<(String, String, Problem), Vec<usize>> = BTreeMap::new();
    let mut last = 0;
    for caps in RE_REF.captures_iter(&text) {
        let m = caps.get(0).expect("whole match");
        let name = &caps[1];
        let ty = &caps[2];
        let line = text[..m.start()].matches('\n').count() + 1;
        let mut problem = |p: Problem| {
            problems
                .entry((name.to_string(), ty.to_string(), p))
                .or_default()
                .push(line);
        };
        if ty == "string" {
            if RESERVED_PARAMS.contains(&name) {
                continue;
            }
            match params.get(name) {
                Some(ParamValue::String(s)) => {
                    out.push_str(&text[last..m.start()]);
                    out.push_str(&escape_for(format, &text, m.start(), s));
                    last = m.end();
                }
                Some(_) => problem(Problem::WrongType),
                None => problem(Problem::Missing),
            }
            continue;
        }
        if RESERVED_PARAMS.contains(&name) {
            problem(Problem::ReservedTyped);
            continue;
        }
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        let quoted = match (before, after) {
            (Some('"'), Some('"')) => true,
            (Some('\''), Some('\'')) => format == ScriptFormat::Yaml,
            _ => false,
        };
        if !quoted {
            problem(Problem::NotWholeScalar);
            continue;
        }
        match params.get(name) {
            Some(v) if v.type_name() == ty => {
                out.push_str(&text[last..m.start() - 1]);
                out.push_str(&v.typed_text().unwrap_or_default());
                last = m.end() + 1;
            }
            Some(_) => problem(Problem::WrongType),
            None => problem(Problem::Missing),
        }
    }
    out.push_str(&text[last..]);
    if problems.is_empty() {
        return Ok(out);
    }
    let errors = problems
        .into_iter()
        .map(|((name, ty, p), lines)| {
            let lines = format_lines(&lines);
            let src = params.source();
            let msg = match p {
                Problem::Missing if src == NO_PARAMS_FILE => format!(
                    "{lines}: parameter '{name}' is used by the script but no params file was \
                     given; pass a params file that defines it"
                ),
                Problem::Missing => format!(
                    "{lines}: parameter '{name}' is used by the script but not defined in params \
                     file {src}; add it"
                ),
                Problem::WrongType => {
                    let actual = params.get(&name).map_or("?", ParamValue::type_name);
                    format!(
                        "{lines}: parameter '{name}' is a {actual} in params file {src} but the \
                         script uses it as {{{name}|{ty}}}; change the value in the params file \
                         to a {ty}, or reference it as {}",
                        reference_for(&name, actual, format)
                    )
                }
                Problem::NotWholeScalar => format!(
                    "{lines}: {{{name}|{ty}}} must be a whole quoted value such as \
                     \"{{{name}|{ty}}}\", with nothing else between the quotes and the braces; \
                     to put the value inside text, make '{name}' a string parameter and write \
                     {{{name}}}"
                ),
                Problem::ReservedTyped => format!(
                    "{lines}: '{name}' is reserved for the file writer and can only be used as \
                     {{{name}}}"
                ),
            };
            ScriptError::file(script_name, msg)
        })
        .collect::<Vec<_>>();
    Err(errors.into())
}

fn reference_for(name: &str, ty: &str, format: ScriptFormat) -> String {
    match ty {
        "string" => format!("{{{name}}}"),
        _ if format == ScriptFormat::Yaml => format!("\"{{{name}|{ty}}}\" (or '{{{name}|{ty}}}')"),
        _ => format!("\"{{{name}|{ty}}}\""),
    }
}

fn format_lines(lines: &[usize]) -> String {
    let mut lines = lines.to_vec();
    lines.dedup();
    let list = lines
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if lines.len() == 1 {
        format!("line {list}")
    } else {
        format!("lines {list}")
    }
}

/// Where a string value lands in YAML text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum YamlCtx {
    Plain,
    Single,
    Double,
}

/// Quote context at byte `pos` of YAML text, judged from the start of its line (multi-line
/// quoted scalars are not tracked).
fn yaml_context(text: &str, pos: usize) -> YamlCtx {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let prefix: Vec<char> = text[line_start..pos].chars().collect();
    let mut ctx = YamlCtx::Plain;
    let mut sig: Option<char> = None;
    let mut i = 0;
    while i < prefix.len() {
        let c = prefix[i];
        let prev_space = i == 0 || prefix[i - 1].is_whitespace();
        match ctx {
            YamlCtx::Plain => {
                if c == '#' && prev_space {
                    return YamlCtx::Plain;
                }
                let starts_scalar = match sig {
                    None => true,
                    Some(':' | '-' | '?') => prev_space,
                    Some('[' | '{' | ',') => true,
                    _ => false,
                };
                if (c == '"' || c == '\'') && starts_scalar {
                    ctx = if c == '"' {
                        YamlCtx::Double
                    } else {
                        YamlCtx::Single
                    };
                } else if !c.is_whitespace() {
                    sig = Some(c);
                }
            }
            YamlCtx::Double => {
                if c == '\\' {
                    i += 1;
                } else if c == '"' {
                    ctx = YamlCtx::Plain;
                    sig = Some('"');
                }
            }
            YamlCtx::Single => {
                if c == '\'' {
                    if prefix.get(i + 1) == Some(&'\'') {
                        i += 1;
                    } else {
                        ctx = YamlCtx::Plain;
                        sig = Some('\'');
                    }
                }
            }
        }
        i += 1;
    }
    ctx
}

fn escape_for(format: ScriptFormat, text: &str, pos: usize, value: &str) -> String {
    match format {
        ScriptFormat::Json => escape_json(value),
        ScriptFormat::Yaml => match yaml_context(text, pos) {
            YamlCtx::Double => escape_json(value),
            YamlCtx::Single => value.replace('\'', "''").replace('\n', "\\n"),
            YamlCtx::Plain => value.replace('\n', "\\n"),
        },
    }
}

/// Escapes text for the inside of a JSON (or YAML double-quoted) string literal.
fn escape_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_yaml_flow_nesting_is_refused_before_parsing() {
        let deep = |n: usize| format!("a: 1\nb: {}{}\n", "[".repeat(n), "]".repeat(n));
        assert!(ScriptFormat::Yaml.parse_value(&deep(100)).is_ok());
        let e = ScriptFormat::Yaml.parse_value(&deep(129)).unwrap_err();
        assert_eq!(
            e,
            "line 2: [ ] and { } nest more than 128 levels deep; flatten the structure"
        );
        // A megabyte of brackets is refused at once (libyaml would scan it for hours).
        assert!(ScriptFormat::Yaml.parse_value(&deep(1_000_000)).is_err());
        // Brackets in quoted scalars and comments do not count; apostrophes inside words do
        // not start a quoted scalar.
        let quoted = format!(
            "a: '{0}'\nb: \"{0}\\\" {0}\"\n# {0}\nc: it's [x, it's]\nd: {{e: [1, 'x''{0}']}}\n",
            "[".repeat(300)
        );
        let v = ScriptFormat::Yaml.parse_value(&quoted).unwrap();
        assert_eq!(v["c"], "it's [x, it's]");
        assert_eq!(v["d"]["e"][1], format!("x'{}", "[".repeat(300)));
    }

    fn params() -> Params {
        Params::new("params.json")
            .with("dir", ParamValue::String("/tmp/in".into()))
            .with("n", ParamValue::Number(10.into()))
            .with(
                "rate",
                ParamValue::Number(serde_json::Number::from_f64(1.5).unwrap()),
            )
            .with("flag", ParamValue::Bool(true))
            .with(
                "urls",
                ParamValue::StringList(vec!["a.csv".into(), "b.csv".into()]),
            )
            .with("q", ParamValue::String("say \"hi\"\\ \nbye".into()))
    }

    fn sub(text: &str, f: ScriptFormat) -> Result<String, ScriptErrors> {
        substitute(text, f, &params(), "script.json")
    }

    #[test]
    fn string_params_are_textual_and_normalised() {
        let out = sub(
            r#"{"u": "{ dir }/x.csv", "v": "{dir|string}", "w": "{ dir | string }"}"#,
            ScriptFormat::Json,
        )
        .unwrap();
        assert_eq!(
            out,
            r#"{"u": "/tmp/in/x.csv", "v": "/tmp/in", "w": "/tmp/in"}"#
        );
    }

    #[test]
    fn typed_params_replace_the_quotes() {
        let out = sub(
            r#"{"a": "{n|number}", "b": "{rate|number}", "c": "{flag|bool}", "d": "{urls|stringlist}"}"#,
            ScriptFormat::Json,
        )
        .unwrap();
        assert_eq!(
            out,
            r#"{"a": 10, "b": 1.500000, "c": true, "d": ["a.csv","b.csv"]}"#
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["d"][1], "b.csv");
    }

    #[test]
    fn integral_floats_print_as_ints() {
        let n = serde_json::Number::from_f64(10.0).unwrap();
        assert_eq!(format_number(&n), "10");
        let n = serde_json::Number::from_f64(0.1).unwrap();
        assert_eq!(format_number(&n), "0.100000");
    }

    #[test]
    fn yaml_typed_params_accept_single_quotes() {
        let out = sub("a: '{n|number}'\nb: \"{flag|bool}\"\n", ScriptFormat::Yaml).unwrap();
        assert_eq!(out, "a: 10\nb: true\n");
        // In JSON single quotes are not string delimiters.
        assert!(sub("{\"a\": '{n|number}'}", ScriptFormat::Json).is_err());
    }

    #[test]
    fn string_values_are_escaped_for_json() {
        let out = sub(r#"{"x": "<{q}>"}"#, ScriptFormat::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["x"], "<say \"hi\"\\ \nbye>");
    }

    #[test]
    fn string_values_are_escaped_by_yaml_context() {
        let p = Params::new("p.yaml").with("q", ParamValue::String("it's \"x\"".into()));
        let t = "a: \"<{q}>\"\nb: '<{q}>'\nc: <{q}>\n";
        let out = substitute(t, ScriptFormat::Yaml, &p, "s.yaml").unwrap();
        let v: serde_json::Value = serde_norway::from_str(&out).unwrap();
        assert_eq!(v["a"], "<it's \"x\">");
        assert_eq!(v["b"], "<it's \"x\">");
        assert_eq!(v["c"], "<it's \"x\">");
    }

    #[test]
    fn yaml_context_detection() {
        let t = "k: 'a' {x}";
        assert_eq!(yaml_context(t, t.find('{').unwrap()), YamlCtx::Plain);
        let t = "k: don't {x}";
        assert_eq!(yaml_context(t, t.find('{').unwrap()), YamlCtx::Plain);
        let t = "  - \"a \\\" {x}";
        assert_eq!(yaml_context(t, t.find('{').unwrap()), YamlCtx::Double);
        let t = "k: 'it''s {x}";
        assert_eq!(yaml_context(t, t.find('{').unwrap()), YamlCtx::Single);
    }

    #[test]
    fn reserved_refs_stay() {
        let out = sub(
            r#"{"u": "{dir}/out_{batch_idx}_{ run_id }.csv"}"#,
            ScriptFormat::Json,
        )
        .unwrap();
        assert_eq!(
            out,
            r#"{"u": "/tmp/in/out_{batch_idx|string}_{run_id|string}.csv"}"#
        );
    }

    #[test]
    fn all_problems_are_reported_with_fixes() {
        let t = "{\"a\": \"{missing}\",\n\"b\": \"x{n|number}\",\n\"c\": \"{dir|number}\",\n\"d\": \"{missing}\"}";
        let errs = sub(t, ScriptFormat::Json).unwrap_err();
        let text = errs.to_string();
        assert_eq!(errs.len(), 3, "{text}");
        assert!(text.contains(
            "lines 1, 4: parameter 'missing' is used by the script but not defined in params file params.json; add it"
        ), "{text}");
        assert!(
            text.contains("line 2: {n|number} must be a whole quoted value"),
            "{text}"
        );
        assert!(text.contains("line 3: parameter 'dir' is a string in params file params.json but the script uses it as {dir|number}"), "{text}");
    }

    #[test]
    fn missing_params_file_is_named() {
        let e = substitute(
            "{\"a\": \"{x}\"}",
            ScriptFormat::Json,
            &Params::default(),
            "s.json",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.json: line 1: parameter 'x' is used by the script but no params file was given; \
             pass a params file that defines it"
        );
    }

    #[test]
    fn unused_params_are_fine() {
        assert_eq!(sub("{}", ScriptFormat::Json).unwrap(), "{}");
    }

    #[test]
    fn params_files_parse_both_formats() {
        let p = Params::parse(
            "a: x\nn: 10\nb: false\nl: [u, v]\n",
            ScriptFormat::Yaml,
            "p.yaml",
        )
        .unwrap();
        assert_eq!(p.get("a"), Some(&ParamValue::String("x".into())));
        assert_eq!(p.get("n"), Some(&ParamValue::Number(10.into())));
        assert_eq!(p.get("b"), Some(&ParamValue::Bool(false)));
        assert_eq!(
            p.get("l"),
            Some(&ParamValue::StringList(vec!["u".into(), "v".into()]))
        );
        let p = Params::parse(r#"{"a": "x"}"#, ScriptFormat::Json, "p.json").unwrap();
        assert_eq!(p.names().collect::<Vec<_>>(), vec!["a"]);
        let e = Params::parse(
            "a: {b: 1}\nc: [1]\nbatch_idx: x\n",
            ScriptFormat::Yaml,
            "p.yaml",
        )
        .unwrap_err();
        assert_eq!(e.len(), 3, "{e}");
    }

    #[test]
    fn format_by_extension() {
        assert_eq!(
            ScriptFormat::from_path(Path::new("a/b.JSON")),
            Ok(ScriptFormat::Json)
        );
        assert_eq!(
            ScriptFormat::from_path(Path::new("b.yml")),
            Ok(ScriptFormat::Yaml)
        );
        assert!(ScriptFormat::from_path(Path::new("b.txt")).is_err());
    }
}
