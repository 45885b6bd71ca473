#[vessel_plugin::processor(name = "p", version = "1.0", kind = "map")]
struct P;

fn main() {}
