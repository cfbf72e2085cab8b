//! The `card-agent` command.
fn main() -> std::process::ExitCode {
    card_agent::cli::main()
}
