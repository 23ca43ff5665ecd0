//! The `hosted-engine` and `ovirt-ha-agent` command lines.

pub fn main() -> i32 {
    0
}

pub fn agent_main() -> i32 {
    0
}
