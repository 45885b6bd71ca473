//! A processor that also imports an interface the sandbox does not offer (`test:net/dial`), so
//! the host must reject it at load.

wit_bindgen::generate!({
    inline: "
        package test:net;

        interface dial {
            connect: func(address: string) -> bool;
        }

        world incompatible {
            import dial;
            include vessel:plugin/processor-plugin@0.1.0;
        }
    ",
    path: "../../../wit",
    world: "test:net/incompatible",
    generate_all,
});

use exports::vessel::plugin::processor::{
    BatchResult, Binding, Guest, GuestInstance, Instance, Kind, OpenArgs, PluginInfo,
};
use vessel::plugin::types::{Batch, Error};

struct Component;

struct Dialer;

impl Guest for Component {
    type Instance = Dialer;

    fn describe() -> PluginInfo {
        PluginInfo {
            name: "incompatible".into(),
            version: "0.1.0".into(),
            kind: Kind::Map,
            description: "Wants the network".into(),
            params_schema: None,
        }
    }
}

impl GuestInstance for Dialer {
    fn open(_args: OpenArgs) -> Result<Instance, Error> {
        Ok(Instance::new(Dialer))
    }

    fn binding(&self) -> Binding {
        Binding {
            output_schema: Vec::new(),
            reads: Vec::new(),
        }
    }

    fn process(&self, input: Batch) -> Result<BatchResult, Error> {
        let connected = test::net::dial::connect("127.0.0.1:5672");
        Ok(BatchResult {
            output: Batch {
                row_count: if connected { input.row_count } else { 0 },
                columns: Vec::new(),
            },
            keep: None,
            parents: None,
            row_errors: Vec::new(),
        })
    }
}

export!(Component);
