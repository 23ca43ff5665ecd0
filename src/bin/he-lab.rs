fn main() {
    std::process::exit(hosted_engine::lab::main());
}
