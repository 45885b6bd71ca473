#[vessel_plugin::processor(name = "My Plugin", version = "0.1.0", kind = "map")]
struct P;

fn main() {}
