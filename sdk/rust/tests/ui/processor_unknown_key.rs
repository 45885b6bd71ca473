#[vessel_plugin::processor(name = "p", version = "0.1.0", kind = "map", knd = "map")]
struct P;

fn main() {}
