/// Forgot `impl Processor for Forgotten`.
#[vessel_plugin::processor(name = "p", version = "0.1.0", kind = "map")]
struct Forgotten;

fn main() {}
