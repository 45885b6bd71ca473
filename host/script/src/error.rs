//! Script errors: every problem found while loading a script, each naming file, node and field.

use std::fmt;

/// One problem in a script (or in its params file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// The script or params file the problem is in (as given to the loader).
    pub file: String,
    /// The node the problem is in, if any.
    pub node: Option<String>,
    /// Path of the offending field inside the node (`w.fields.value.expression`) or script
    /// (`dependency_policies.p.rules[2].expression`), if any.
    pub field: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ScriptError {
    /// A problem of the file as a whole.
    pub fn file(file: &str, message: impl Into<String>) -> ScriptError {
        ScriptError {
            file: file.to_string(),
            node: None,
            field: None,
            message: message.into(),
        }
    }

    /// A problem of one node, optionally of one of its fields.
    pub fn node(file: &str, node: &str, field: Option<&str>, message: impl Into<String>) -> Self {
        ScriptError {
            file: file.to_string(),
            node: Some(node.to_string()),
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    /// A problem of a field outside any node (e.g. a dependency policy).
    pub fn field(file: &str, field: &str, message: impl Into<String>) -> ScriptError {
        ScriptError {
            file: file.to_string(),
            node: None,
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

/// `script.yaml: node 'read_orders', field w.having: column 34: unknown field ...`
impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        match (&self.node, &self.field) {
            (Some(n), Some(fl)) => write!(f, "node '{n}', field {fl}: ")?,
            (Some(n), None) => write!(f, "node '{n}': ")?,
            (None, Some(fl)) => write!(f, "field {fl}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScriptError {}

/// Every problem found in a script, reported together so that all can be fixed in one pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScriptErrors {
    /// The problems, in the order they were found (nodes by name).
    pub errors: Vec<ScriptError>,
}

impl ScriptErrors {
    /// Wraps one error.
    pub fn one(e: ScriptError) -> ScriptErrors {
        ScriptErrors { errors: vec![e] }
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Iterates over the problems.
    pub fn iter(&self) -> std::slice::Iter<'_, ScriptError> {
        self.errors.iter()
    }
}

/// One problem per line.
impl fmt::Display for ScriptErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScriptErrors {}

impl From<ScriptError> for ScriptErrors {
    fn from(e: ScriptError) -> Self {
        ScriptErrors::one(e)
    }
}

impl From<Vec<ScriptError>> for ScriptErrors {
    fn from(errors: Vec<ScriptError>) -> Self {
        ScriptErrors { errors }
    }
}

impl<'a> IntoIterator for &'a ScriptErrors {
    type Item = &'a ScriptError;
    type IntoIter = std::slice::Iter<'a, ScriptError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_node_and_field() {
        let e = ScriptError::node(
            "script.yaml",
            "read_orders",
            Some("w.having"),
            "column 34: unknown field w.order_ts",
        );
        assert_eq!(
            e.to_string(),
            "script.yaml: node 'read_orders', field w.having: column 34: unknown field w.order_ts"
        );
        assert_eq!(
            ScriptError::node("s.json", "n", None, "bad").to_string(),
            "s.json: node 'n': bad"
        );
        assert_eq!(
            ScriptError::field("s.json", "dependency_policies.p", "bad").to_string(),
            "s.json: field dependency_policies.p: bad"
        );
        assert_eq!(
            ScriptError::file("s.json", "bad").to_string(),
            "s.json: bad"
        );
    }

    #[test]
    fn errors_print_one_per_line() {
        let errs = ScriptErrors::from(vec![
            ScriptError::file("a", "one"),
            ScriptError::file("a", "two"),
        ]);
        assert_eq!(errs.to_string(), "a: one\na: two");
        assert_eq!(errs.len(), 2);
        assert!(!errs.is_empty());
    }
}
