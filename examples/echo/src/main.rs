//! `echo-appservice`: see the library's documentation, or `echo-appservice --help`.

use std::process::ExitCode;

use clap::Parser as _;
use echo_appservice::Args;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // A bad command line prints clap's usage error and exits 2; `--help` exits 0.
    let args = Args::parse();
    // Colours only on a terminal (and never with NO_COLOR): log files get plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(colour)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(echo_appservice::run(args, appservice::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
