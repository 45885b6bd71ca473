//! Host bindings generated from `wit/` (the `vessel:plugin@0.1.0` package); the only `bindgen!` calls.

/// The `processor-plugin` world: imports `host`, exports `processor`.
pub(crate) mod processor_world {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "vessel:plugin/processor-plugin",
    });
}

/// The `function-plugin` world. It shares the `types` and `host` bindings of the processor
/// world, so that one `Host` implementation and one linker serve both worlds.
pub(crate) mod function_world {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "vessel:plugin/function-plugin",
        with: {
            "vessel:plugin/types": super::processor_world::vessel::plugin::types,
            "vessel:plugin/host": super::processor_world::vessel::plugin::host,
        },
    });
}

pub(crate) use processor_world::vessel::plugin::host as wit_host;
pub(crate) use processor_world::vessel::plugin::types as wit_types;
