fn main() {
    std::process::exit(hosted_engine::agent_main());
}
