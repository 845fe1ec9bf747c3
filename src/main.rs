fn main() -> std::process::ExitCode {
    sparklink::run(std::env::args_os())
}
