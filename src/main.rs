fn main() -> std::process::ExitCode {
    imagebump::cli::main()
}
