//! `channelz-tui`: a live terminal dashboard for any gRPC Channelz service.
//! A thin shell over the library; see `channelz_tui::app`.

fn main() -> std::process::ExitCode {
    channelz_tui::app::main_with(std::env::args_os().collect())
}
