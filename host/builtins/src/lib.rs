//! The plugins that ship inside Vessel, as Wasm component bytes.
//!
//! They are built from `plugins/` by this crate's build script whenever the binary is built:
//! `tag_and_denormalize` with cargo for `wasm32-wasip2`, `py_calc` with componentize-py. So
//! `vessel run` (and a daemon) finds them with no further step, and never builds or installs
//! anything, even on a machine without network access:
//!
//! ```
//! let bytes = vessel_builtins::get("py_calc").expect("built in");
//! assert_eq!(&bytes[..4], b"\0asm");
//! ```

/// One built-in plugin.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// The name scripts use in `custom_proc_type`.
    pub name: &'static str,
    /// The component.
    pub bytes: &'static [u8],
}

/// Every built-in plugin.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "tag_and_denormalize",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/vessel_tag_and_denormalize.wasm")),
    },
    Builtin {
        name: "py_calc",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/py_calc.wasm")),
    },
];

/// The component of built-in plugin `name`, if there is one.
pub fn get(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|b| b.name == name).map(|b| b.bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_is_a_component() {
        for b in super::BUILTINS {
            // A component has the Wasm magic and layer 1 (core modules have layer 0).
            assert_eq!(&b.bytes[..4], b"\0asm", "{}", b.name);
            assert_eq!(b.bytes[6..8], [1, 0], "{} is not a component", b.name);
        }
        let names: Vec<&str> = super::BUILTINS.iter().map(|b| b.name).collect();
        assert_eq!(names, ["tag_and_denormalize", "py_calc"]);
        assert!(super::get("no_such_plugin").is_none());
    }
}
