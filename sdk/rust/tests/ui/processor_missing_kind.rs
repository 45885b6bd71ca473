#[vessel_plugin::processor(name = "p", version = "0.1.0")]
struct P;

fn main() {}
