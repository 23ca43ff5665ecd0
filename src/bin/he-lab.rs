fn main() {
    std::process::exit(hosted_engine::lab::main());
}

// The simulator allocates a slot's decoded text on every write it lands and
// every read it serves: mimalloc makes its fuzzing about a fifth faster than
// the system allocator (BENCHMARKS.md, the simulator section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
