#[vessel_plugin::processor(name = "p", version = "0.1.0", kind = "flat_map")]
struct P;

fn main() {}
