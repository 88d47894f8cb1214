//! `grpc-exporter`: see the library for everything; this only runs it.

fn main() -> std::process::ExitCode {
    grpc_exporter::run_cli()
}
