#[vessel_plugin::functions]
mod f {
    pub fn Shout(s: &str) -> String {
        s.to_uppercase()
    }

    pub fn nothing(x: i64) {
        let _ = x;
    }
}

fn main() {}
