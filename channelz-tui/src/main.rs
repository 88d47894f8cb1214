//! `channelz-tui`: a live terminal dashboard for any gRPC Channelz service.
//! A thin shell over the library; see `channelz_tui::run_cli`.

fn main() -> std::process::ExitCode {
    channelz_tui::run_cli(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
    .into()
}
