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
//! * `appservice-bench routing [REPS [N]]`: the event-routing section alone (a plain handler
//!   against an `EventRouter`, in process).
//! * `appservice-bench queue N`: N transactions dispatched at once on tasks of a tokio runtime,
//!   all but one waiting for their turn; prints the CPU time (the turn queue's cost).

// A command-line tool: printing its report to stdout is its job.
#![allow(clippy::print_stdout)]

mod child;
mod driver;
mod load;
mod procstat;
mod routing;
mod sections;
mod server;
mod workload;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("server") => server::main(&args[1..]),
        Some("memory") => sections::memory_child(&args[1..]),
        Some("memory-sqlite") => sections::memory_sqlite(&args[1..]),
        Some("dispatch-loop") => sections::dispatch_loop(&args[1..]),
        Some("queue") => sections::queue(&args[1..]),
        Some("routing") => routing::main(&args[1..]),
        Some("help" | "-h" | "--help") => {
            print!("{}", driver::USAGE);
            Ok(())
        }
        _ => driver::main(&args),
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
    use crate::workload::{Plan, Rng, Workload, event};

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
