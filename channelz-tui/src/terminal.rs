//! Terminal setup behind a guard: raw mode and the alternate screen go on
//! when the guard is made and come off when it drops, on every way out
//! (quit, error, panic through the hook, SIGTERM through the main loop).

use std::io::{self, IsTerminal, Stdout};

use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// Why the terminal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// Standard input or output is not a terminal.
    #[error(
        "stdout is not a terminal; use --json (or --json --watch) for output to a pipe or file"
    )]
    NotATty,
    /// The terminal refused a mode change.
    #[error("cannot set up the terminal: {0}")]
    Io(#[from] io::Error),
}

/// The ratatui terminal this program draws on.
pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Restores the terminal when dropped.
#[derive(Debug)]
pub struct Guard(());

fn restore() {
    // Best effort: on the way out there is nobody left to report to.
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Enters raw mode and the alternate screen; the guard undoes both. Also
/// installs a panic hook that restores the terminal before the panic
/// message prints, so the message is readable and the shell usable.
pub fn setup() -> Result<(Guard, Term), TerminalError> {
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err(TerminalError::NotATty);
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    let guard = Guard(());
    execute!(io::stdout(), EnterAlternateScreen)?;
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((guard, terminal))
}

/// How an interactive loop's end becomes the exit status, after the
/// terminal is restored: a failure (the terminal could not be drawn or read)
/// is one escaped line on `err` and exit 1.
pub fn ended(result: Result<(), String>, err: &mut dyn io::Write) -> crate::exit::ExitStatus {
    match result {
        Ok(()) => crate::exit::ExitStatus::Ok,
        Err(e) => {
            let _ = writeln!(
                err,
                "channelz-tui: {}",
                grpc_toolkit_conn::escape::escape(&e)
            );
            crate::exit::ExitStatus::Usage
        }
    }
}
