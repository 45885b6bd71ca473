//! {{name}}: Vessel functions for script expressions, called as `<namespace>.<name>(...)`,
//! the namespace being the one the script's `functions` section gives the component:
//! `functions: {txt: path/to/{{name}}.wasm}`, then `txt.upper(r.name)`.
//!
//! Build it with `vessel plugin build` and try it with
//! `vessel plugin test {{name}}.wasm --input sample.csv`.

/// The functions; each `pub fn` is callable from expressions.
#[vessel_plugin::functions]
pub mod functions {
    /// The text in upper case.
    pub fn upper(s: &str) -> String {
        s.to_uppercase()
    }

    /// The integer plus one.
    pub fn add_one(x: i64) -> Result<i64, String> {
        x.checked_add(1).ok_or_else(|| format!("{x} + 1 does not fit an int"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn work() {
        assert_eq!(super::functions::upper("ab"), "AB");
        assert_eq!(super::functions::add_one(1), Ok(2));
    }
}
