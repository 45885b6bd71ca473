//! The plugins that ship inside Vessel, as Wasm component bytes.
//!
//! They are built from `plugins/` by this crate's build script whenever the binary is built,
//! so `vessel run` finds them with no further step:
//!
//! ```
//! let bytes = vessel_builtins::get("tag_and_denormalize").expect("built in");
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
pub const BUILTINS: &[Builtin] = &[Builtin {
    name: "tag_and_denormalize",
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/vessel_tag_and_denormalize.wasm")),
}];

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
        assert!(super::get("no_such_plugin").is_none());
    }
}
