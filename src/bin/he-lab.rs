use hosted_engine::lab::demo::{AGENT_NAME, HOSTED_ENGINE_NAME};

/// Run under the name `ovirt-ha-agent` or `hosted-engine` (a symlink to
/// `he-lab`), it is that program, as busybox does: `he-lab demo` runs its lab
/// this way, so that `cargo run --bin he-lab -- demo` needs no other binary and
/// never runs a stale one left from an older build.
fn main() {
    let code = match invoked_as().as_deref() {
        Some(AGENT_NAME) => hosted_engine::agent_main(),
        Some(HOSTED_ENGINE_NAME) => hosted_engine::cli::main(),
        _ => hosted_engine::lab::main(),
    };
    std::process::exit(code);
}

/// The file name this process was started under (`argv[0]`'s last part).
fn invoked_as() -> Option<String> {
    let argv0 = std::env::args_os().next()?;
    let name = std::path::Path::new(&argv0).file_name()?;
    Some(name.to_string_lossy().into_owned())
}

// The simulator allocates a slot's decoded text on every write it lands and
// every read it serves: mimalloc makes its fuzzing about a fifth faster than
// the system allocator (BENCHMARKS.md, the simulator section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
