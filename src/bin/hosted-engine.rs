fn main() {
    std::process::exit(hosted_engine::cli::main());
}
