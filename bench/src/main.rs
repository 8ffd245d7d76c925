//! `appservice-bench`: the load test behind `cargo xtask bench` (see `docs/performance.md`).
//!
//! Modes:
//!
//! * `appservice-bench [--quick] [--reps N] [--json FILE]`: the driver. It starts each server
//!   kind in a child process of its own (ours with the memory, file, SQLite and PostgreSQL
//!   stores, the HTTP, parse, SQLite and PostgreSQL floors), drives each with the same workloads A–D from the load
//!   generator in this process, repetitions interleaved, verifies every server's event count,
//!   and prints medians and ratios of ours to the floors; then the measured sections (typed
//!   access vs ruma, file store vs an fsync floor, memory flatness).
//! * `appservice-bench server KIND [DIR|URL]`: one server (what the driver spawns).
//! * `appservice-bench memory-sqlite N DIR`: N transactions through a dispatcher with the SQLite
//!   store in DIR (pruning on, the defaults), then print peak and current RSS and the records
//!   kept (run by hand: at one fsync per transaction, 1 M transactions take minutes).
//! * `appservice-bench memory N`: N transactions through a dispatcher with the bounded store,
//!   then print peak and current RSS (what the driver spawns for the flatness check).
//! * `appservice-bench dispatch-loop N EVENTS`: N transactions of EVENTS events through a
//!   dispatcher in process (no HTTP), for instruction counts under callgrind.
//! * `appservice-bench routing [BLOCKS [N]]`: the event-routing section alone (a plain handler
//!   against an `EventRouter`, in process).
//! * `appservice-bench queue N`: N transactions dispatched at once on tasks of a tokio runtime,
//!   all but one waiting for their turn; prints the CPU time (the turn queue's cost).
//! * `appservice-bench client [--quick]`: the client benchmark alone (our sends vs a bare hyper
//!   client; also a section of the driver's report).

// A command-line tool: printing its report to stdout is its job.
#![allow(clippy::print_stdout)]

mod child;
mod client;
mod driver;
mod load;
mod procstat;
mod routing;
mod sections;
mod server;
mod workload;

use std::{path::PathBuf, process::ExitCode};

use clap::Parser as _;

/// The load test behind `cargo xtask bench` (docs/performance.md). Without a subcommand: the
/// driver.
#[derive(Debug, clap::Parser)]
#[command(name = "appservice-bench", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    driver: driver::Options,
}

/// What the driver spawns, and the modes run by hand.
#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// One server of KIND (what the driver spawns); a store directory or database URL for the
    /// kinds that need one.
    Server {
        /// The server kind (e.g. ours-memory, http-floor).
        kind: String,
        /// Its directory or database URL.
        #[arg(value_name = "DIR|URL")]
        target: Option<String>,
    },
    /// N transactions through a dispatcher with the bounded memory store; prints peak and
    /// current RSS.
    Memory {
        /// Transactions.
        n: usize,
    },
    /// N transactions through a dispatcher with the SQLite store in DIR; prints peak and
    /// current RSS and the records kept.
    MemorySqlite {
        /// Transactions.
        n: usize,
        /// The database's directory.
        dir: PathBuf,
    },
    /// N transactions of EVENTS events through a dispatcher in process, for callgrind.
    DispatchLoop {
        /// Transactions.
        n: usize,
        /// Events per transaction.
        events: usize,
    },
    /// N transactions dispatched at once on a tokio runtime; prints the CPU time.
    Queue {
        /// Transactions.
        n: usize,
    },
    /// The event-routing section alone: a plain handler against an `EventRouter`, in process.
    Routing {
        /// Interleaved blocks per variant.
        #[arg(default_value_t = 500)]
        blocks: usize,
        /// Transactions per block.
        #[arg(default_value_t = 20)]
        n: usize,
    },
    /// The client benchmark alone: our client's sends against a bare hyper client's.
    Client {
        /// Fewer sends (a smoke run).
        #[arg(long)]
        quick: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Some(Mode::Server { kind, target }) => {
            let args: Vec<String> = std::iter::once(kind).chain(target).collect();
            server::main(&args)
        }
        Some(Mode::Memory { n }) => sections::memory_child(n),
        Some(Mode::MemorySqlite { n, dir }) => sections::memory_sqlite(n, &dir),
        Some(Mode::DispatchLoop { n, events }) => sections::dispatch_loop(n, events),
        Some(Mode::Queue { n }) => sections::queue(n),
        Some(Mode::Routing { blocks, n }) => {
            routing::routing(blocks, n).map(|r| routing::print(blocks, n, &r))
        }
        Some(Mode::Client { quick }) => client::run(quick).map(|report| report.print()),
        None => driver::main(cli.driver),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count; NaN if empty).
pub(crate) fn median_f64(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::{Cli, Mode};
    use crate::workload::{Plan, Rng, Workload, event};

    #[test]
    fn the_command_line_is_consistent_and_parses_every_mode() {
        Cli::command().debug_assert();
        let parse = |args: &[&str]| Cli::try_parse_from(["b"].iter().chain(args));
        let cli = parse(&["--quick", "--reps", "2", "--json", "f", "--dir", "d", "--alt", "a"]);
        assert!(cli.unwrap().mode.is_none());
        assert!(matches!(
            parse(&["server", "ours-file", "/tmp/x"]).unwrap().mode,
            Some(Mode::Server { target: Some(_), .. })
        ));
        assert!(matches!(
            parse(&["dispatch-loop", "20", "5"]).unwrap().mode,
            Some(Mode::DispatchLoop { n: 20, events: 5 })
        ));
        assert!(matches!(parse(&["queue", "3"]).unwrap().mode, Some(Mode::Queue { n: 3 })));
        for bad in
            [&["--fast"][..], &["--reps", "0"], &["queue", "many"], &["--quick", "queue", "3"]]
        {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn events_are_realistic_json_of_300_to_600_bytes() {
        let mut rng = Rng::new(7);
        for serial in 0..2000 {
            let e = event(&mut rng, serial);
            assert!((300..=600).contains(&e.len()), "{} bytes: {e}", e.len());
            let v: serde_json::Value = serde_json::from_str(&e).unwrap();
            assert!(v["type"].is_string() && v["room_id"].is_string(), "{e}");
        }
    }

    #[test]
    fn d_has_five_percent_duplicates() {
        let plan = Plan::new(Workload::D, 380);
        assert_eq!(plan.unique, 380);
        assert_eq!(plan.sent, 400);
    }

    #[test]
    fn median() {
        assert_eq!(super::median_f64(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median_f64(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(super::median_f64(vec![]).is_nan());
    }
}
