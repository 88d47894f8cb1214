//! `grpc-probe`: a drop-in `grpc_health_probe` replacement. All logic lives
//! in the library so tests run it in-process; this only binds the process's
//! argv, stdout and stderr, and turns the status into the exit code.

use std::process::ExitCode;

use grpc_probe::arena::Arena;

/// Half a MiB of `.bss`: room for a whole check (~230 KB allocated), TLS
/// included; resident only as far as it is used. See `grpc_probe::arena`.
#[global_allocator]
static ALLOCATOR: Arena<{ 512 * 1024 }> = Arena::new();

fn main() -> ExitCode {
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    grpc_probe::run_cli(std::env::args_os(), &mut stdout.lock(), &mut stderr.lock()).into()
}
