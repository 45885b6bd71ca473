#[vessel_plugin::functions]
mod f {
    pub fn small(x: u8) -> i64 {
        i64::from(x)
    }
}

fn main() {}
