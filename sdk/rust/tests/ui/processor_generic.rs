#[vessel_plugin::processor(name = "p", version = "0.1.0", kind = "map")]
struct P<T>(T);

fn main() {}
