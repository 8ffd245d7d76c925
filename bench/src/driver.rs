//! The driver: servers in child processes, workloads interleaved, medians and ratios.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::{Value, json};

use crate::{
    child::ServerChild,
    load, median_f64, procstat, sections,
    server::Kind,
    workload::{Plan, Workload},
};

/// The driver's options (`appservice-bench [--quick] [--reps N] [--json FILE] [--dir DIR]
/// [--alt BIN]`).
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// One repetition of smaller workloads (CI smoke test).
    #[arg(long)]
    quick: bool,
    /// Repetitions of every pairing (default 7; 1 with --quick).
    #[arg(long = "reps", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    reps_given: Option<u64>,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Where the file stores and the fsync floor write (default: the system temp dir).
    #[arg(long, value_name = "DIR", default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Also run `BIN server ours-memory` (another build of appservice-bench, e.g. with a
    /// proposed change) as server `alt-memory`, side by side with the others.
    #[arg(long, value_name = "BIN")]
    alt: Option<PathBuf>,
}

impl Options {
    /// The repetitions: `--reps`, or the default for `--quick` or not.
    fn reps(&self) -> usize {
        let default = if self.quick { 1 } else { 7 };
        self.reps_given.map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
    }
}

/// The label of the two `ours-postgres` replicas that share one database (client-side
/// round-robin per request, as a load balancer would spread them).
const PG_REPLICAS: &str = "ours-pg-x2";

/// Transactions per workload and run.
fn size(workload: Workload, quick: bool) -> usize {
    match (workload, quick) {
        (Workload::A, false) => 2000,
        (Workload::B, false) => 3200,
        (Workload::C, false) => 10000,
        (Workload::D, false) => 1900,
        (Workload::A, true) => 60,
        (Workload::B, true) => 160,
        (Workload::C, true) => 300,
        (Workload::D, true) => 95,
    }
}

/// One workload run against one server.
#[derive(Clone, Debug)]
struct Run {
    events_per_s: f64,
    txns_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_txn: f64,
    /// Server CPU seconds (per-thread schedstat, ns precision).
    cpu: f64,
    /// The same from `/proc/<pid>/stat` (clock ticks; includes exited threads).
    tick_cpu: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_nanos() as f64 / 1000.0
}

/// What `/count` must have grown by after `plan` ran against `kind`.
fn expected(kind: Kind, plan: &Plan) -> u64 {
    if kind.counts_events() {
        // Ours and the parse floor dedupe: events of distinct transactions.
        plan.unique_events
    } else {
        // The HTTP floor parses nothing: one per request read (duplicates included).
        plan.sent
    }
}

pub(crate) fn main(options: Options) -> Result<()> {
    let started = Instant::now();
    let ticks = procstat::clock_ticks();
    let machine = machine();
    println!("appservice-bench: {}", machine_line(&machine));
    println!(
        "mode: {}, {} repetition(s) of every pairing, interleaved; CPU clock ticks/s: {ticks}",
        if options.quick { "quick" } else { "full" },
        options.reps()
    );

    let plans: Vec<Plan> =
        Workload::ALL.iter().map(|&w| Plan::new(w, size(w, options.quick))).collect();
    for plan in &plans {
        let events = plan.sent as usize * plan.workload.events_per_txn();
        println!(
            "workload {}: {}: {} requests ({} distinct), {} events, {:.0} bytes/event avg",
            plan.workload.name(),
            plan.workload.describe(),
            plan.sent,
            plan.unique,
            events,
            plan.bytes() as f64 / events as f64
        );
    }

    // PostgreSQL from the machine's packages, in a temporary cluster; without it the two
    // PostgreSQL servers are left out, loudly.
    let postgres = appservice_test_pg::installed().then(appservice_test_pg::Postgres::start);
    if postgres.is_none() {
        println!("!!! PostgreSQL is not installed: ours-postgres and postgres-floor are SKIPPED");
    }
    let mut servers = Vec::new();
    for kind in Kind::ALL {
        if kind.needs_postgres() && postgres.is_none() {
            continue;
        }
        servers.push(ServerChild::spawn(kind, &options.dir, None, postgres.as_ref())?);
    }
    if let Some(pg) = &postgres {
        servers.push(ServerChild::spawn_replicas(Kind::OursPostgres, PG_REPLICAS, 2, pg)?);
    }
    if let Some(alt) = &options.alt {
        servers.push(ServerChild::spawn(Kind::OursMemory, &options.dir, Some(alt), None)?);
    }
    let labels: Vec<&str> = servers.iter().map(|s| s.label).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // (workload, server) -> runs, in repetition order.
    let mut runs: BTreeMap<(usize, usize), Vec<Run>> = BTreeMap::new();
    for rep in 0..options.reps() {
        for (w, plan) in plans.iter().enumerate() {
            // Rotate the server order per repetition and workload: no server always goes first.
            for i in 0..servers.len() {
                let s = (i + rep + w) % servers.len();
                let server = &servers[s];
                let prefix = format!("r{rep}{}", plan.workload.name());
                let (pids, ports) = (server.pids(), server.ports());
                let run = runtime.block_on(async {
                    let before = load::count(&ports).await?;
                    let ticks_before = procstat::cpu_time_all(&pids, ticks)?;
                    let cpu_before = pids
                        .iter()
                        .map(|&pid| procstat::thread_cpu(pid))
                        .collect::<Result<Vec<_>>>()?;
                    let client = load::run(&ports, plan, &prefix).await?;
                    let mut cpu = Duration::ZERO;
                    for (&pid, before) in pids.iter().zip(&cpu_before) {
                        cpu += procstat::cpu_delta(before, &procstat::thread_cpu(pid)?);
                    }
                    let tick_cpu = procstat::cpu_time_all(&pids, ticks)? - ticks_before;
                    let after = load::count(&ports).await?;
                    let want = expected(server.kind, plan);
                    ensure!(
                        after.checked_sub(before) == Some(want),
                        "{} counted {} for workload {}, expected {want}",
                        server.label,
                        after.wrapping_sub(before),
                        plan.workload.name()
                    );
                    let secs = client.wall.as_secs_f64();
                    let events = (plan.sent as usize * plan.workload.events_per_txn()) as f64;
                    anyhow::Ok(Run {
                        events_per_s: events / secs,
                        txns_per_s: plan.sent as f64 / secs,
                        p50_us: percentile(&client.latencies, 0.50),
                        p99_us: percentile(&client.latencies, 0.99),
                        cpu_us_per_txn: cpu.as_nanos() as f64 / 1000.0 / plan.sent as f64,
                        cpu: cpu.as_secs_f64(),
                        tick_cpu: tick_cpu.as_secs_f64(),
                    })
                })?;
                runs.entry((w, s)).or_default().push(run);
            }
        }
    }
    let mut peak_rss = Vec::new();
    for server in &servers {
        // The largest of a server's replicas.
        let mut peak = 0;
        for pid in server.pids() {
            peak = peak.max(procstat::status_kib(&pid.to_string(), "VmHWM")?);
        }
        peak_rss.push(peak);
    }
    drop(servers);
    println!("all servers counted exactly the expected events in every run");

    let mut out = String::new();
    let mut json_workloads = Vec::new();
    let index = |k: Kind| labels.iter().position(|&x| x == k.name()).unwrap_or_default();
    let (parse_i, http_i) = (index(Kind::ParseFloor), index(Kind::HttpFloor));
    let mut target_a = None;
    let mut sqlite_a = None;
    let (sqlite_i, sqlite_floor_i) = (index(Kind::OursSqlite), index(Kind::SqliteFloor));
    let sqlite_tx_floor_i = index(Kind::SqliteTxFloor);
    let mut sqlite_tx_a = None;
    let position = |k: Kind| labels.iter().position(|&x| x == k.name());
    let postgres_floor = position(Kind::PostgresFloor);
    let postgres_ours =
        [position(Kind::OursPostgres), labels.iter().position(|&x| x == PG_REPLICAS)];
    let mut postgres_ratios = Vec::new();
    for (w, plan) in plans.iter().enumerate() {
        let _ = writeln!(
            out,
            "\nWorkload {}: {} (medians of {} runs; ratios are medians of per-repetition ratios)",
            plan.workload.name(),
            plan.workload.describe(),
            options.reps()
        );
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:>9} {:>9} {:>9} {:>11} | {:>13} {:>13} | {:>13} {:>13}",
            "server",
            "events/s",
            "txn/s",
            "p50 µs",
            "p99 µs",
            "CPU µs/txn",
            "evt/s÷parse",
            "evt/s÷http",
            "CPU÷parse",
            "CPU÷http"
        );
        let mut json_servers = Vec::new();
        for (s, label) in labels.iter().enumerate() {
            let list = &runs[&(w, s)];
            let med = |f: &dyn Fn(&Run) -> f64| median_f64(list.iter().map(f).collect());
            let ratio = |other: usize, f: &dyn Fn(&Run) -> f64| {
                median_f64(list.iter().zip(&runs[&(w, other)]).map(|(a, b)| f(a) / f(b)).collect())
            };
            let eps = |r: &Run| r.events_per_s;
            let cpu = |r: &Run| r.cpu_us_per_txn;
            let (e_parse, e_http) = (ratio(parse_i, &eps), ratio(http_i, &eps));
            let (c_parse, c_http) = (ratio(parse_i, &cpu), ratio(http_i, &cpu));
            let _ = writeln!(
                out,
                "{:<12} {:>10.0} {:>9.0} {:>9.0} {:>9.0} {:>11.1} | {:>13.3} {:>13.3} | {:>13.3} {:>13.3}",
                label,
                med(&eps),
                med(&|r| r.txns_per_s),
                med(&|r| r.p50_us),
                med(&|r| r.p99_us),
                med(&cpu),
                e_parse,
                e_http,
                c_parse,
                c_http
            );
            if plan.workload == Workload::A && *label == Kind::OursMemory.name() {
                target_a = Some((c_parse, e_parse));
            }
            if let Some(floor) = postgres_floor
                && postgres_ours.contains(&Some(s))
                && matches!(plan.workload, Workload::A | Workload::B)
            {
                let tps = |r: &Run| r.txns_per_s;
                postgres_ratios.push((
                    plan.workload.name(),
                    *label,
                    ratio(floor, &cpu),
                    ratio(floor, &tps),
                ));
            }
            if plan.workload == Workload::A && s == sqlite_i {
                // Ours on SQLite against the INSERT + COMMIT floor: CPU per transaction and
                // wall time per transaction (the inverse of transactions per second).
                let wall = |r: &Run| 1.0 / r.txns_per_s;
                sqlite_a = Some((ratio(sqlite_floor_i, &cpu), ratio(sqlite_floor_i, &wall)));
                sqlite_tx_a =
                    Some((ratio(sqlite_tx_floor_i, &cpu), ratio(sqlite_tx_floor_i, &wall)));
            }
            json_servers.push(json!({
                "server": label,
                "events_per_s": med(&eps),
                "txns_per_s": med(&|r| r.txns_per_s),
                "p50_us": med(&|r| r.p50_us),
                "p99_us": med(&|r| r.p99_us),
                "cpu_us_per_txn": med(&cpu),
                "ratio_events_per_s_vs_parse_floor": e_parse,
                "ratio_events_per_s_vs_http_floor": e_http,
                "ratio_cpu_per_txn_vs_parse_floor": c_parse,
                "ratio_cpu_per_txn_vs_http_floor": c_http,
                "runs": list.iter().map(|r| json!({
                    "events_per_s": r.events_per_s,
                    "cpu_us_per_txn": r.cpu_us_per_txn,
                    "p50_us": r.p50_us,
                    "p99_us": r.p99_us,
                    "cpu_s": r.cpu,
                    "stat_cpu_s": r.tick_cpu,
                })).collect::<Vec<_>>(),
            }));
        }
        json_workloads.push(json!({
            "workload": plan.workload.name(),
            "description": plan.workload.describe(),
            "requests": plan.sent,
            "distinct_transactions": plan.unique,
            "servers": json_servers,
        }));
    }
    let _ = writeln!(out, "\nPeak RSS (VmHWM) of each server process over the whole run:");
    for (label, kib) in labels.iter().zip(&peak_rss) {
        let _ = writeln!(out, "  {label:<12} {kib:>8} KiB");
    }
    let _ = writeln!(
        out,
        "Server CPU cross-check over all runs (per-thread schedstat vs /proc/<pid>/stat ticks):"
    );
    for (s, label) in labels.iter().enumerate() {
        let all = runs.iter().filter(|((_, server), _)| *server == s).flat_map(|(_, l)| l);
        let (a, b) = all.fold((0.0, 0.0), |(a, b), r| (a + r.cpu, b + r.tick_cpu));
        let _ = writeln!(out, "  {label:<12} {a:>8.3} s vs {b:>8.3} s");
    }
    print!("{out}");

    // The measured sections.
    let (rounds, fsync_n, big) =
        if options.quick { (3, 50, 100_000) } else { (20, 300, 1_000_000) };
    let typed = sections::typed_vs_ruma(options.reps().max(3), rounds)?;
    println!(
        "\nTyped access (median of {} interleaved repetitions, 1000 events, ns/event):\n  \
         envelope only (read at the spans the parse found)  {:>8.0}\n  \
         envelope + ruma OriginalRoomMessageEvent for m.room.message  {:>8.0}\n  \
         ruma AnyTimelineEvent for every event     {:>8.0}\n  \
         AnyTimelineEvent ÷ (envelope + typed) = {:.2}×  (target ≥ 2×)",
        options.reps().max(3),
        typed[0],
        typed[1],
        typed[2],
        typed[2] / typed[1]
    );
    let parse = sections::parse(options.reps().max(3), rounds * 50)?;
    println!(
        "\nTransaction parse (one 50-event body, median of {} interleaved repetitions, µs/body):\n  \
         Transaction::from_slice + envelopes                {:>7.1}\n  \
         parse floor: Vec<Box<RawValue>> only               {:>7.1}",
        options.reps().max(3),
        parse[0],
        parse[1]
    );
    let (routing_blocks, routing_n) = if options.quick { (30, 10) } else { (500, 20) };
    let routing = crate::routing::routing(routing_blocks, routing_n)?;
    crate::routing::print(routing_blocks, routing_n, &routing);
    let fsync = sections::fsync(options.reps().max(3), fsync_n, &options.dir)?;
    println!(
        "\nPersistent store ({} records per repetition, in {}):\n  \
         FileStore::record        {:>8.1} µs/record\n  \
         append + sync_data floor {:>8.1} µs/record\n  \
         ours ÷ floor rate = {:.2}×  (target ≥ 0.8×)",
        fsync_n,
        options.dir.display(),
        fsync[0],
        fsync[1],
        fsync[1] / fsync[0]
    );
    let small = memory(10_000)?;
    let large = memory(big)?;
    let growth = large.0 as f64 / small.0 as f64;
    println!(
        "\nMemory (dispatcher + bounded MemoryStore, in-process, peak RSS / RSS in KiB):\n  \
         {:>9} transactions  {:>8} / {:>8}\n  \
         {:>9} transactions  {:>8} / {:>8}\n  \
         peak RSS ratio {:.3}  (target within ±10 %)",
        10_000, small.0, small.1, big, large.0, large.1, growth
    );
    let client = crate::client::run(options.quick)?;
    client.print();
    println!("\nTargets (this run):");
    if let Some((cpu, wall)) = sqlite_a {
        println!(
            "  A, ours-sqlite vs sqlite-floor (INSERT + COMMIT, WAL, synchronous = FULL): CPU/txn \
             {cpu:.2}×, wall/txn {wall:.2}× (≤ 1.25× each: {})",
            met(cpu <= 1.25 && wall <= 1.25)
        );
    }
    if let Some((cpu, wall)) = sqlite_tx_a {
        println!(
            "  A, ours-sqlite vs sqlite-txfloor (BEGIN IMMEDIATE + INSERT + COMMIT, the statements \
             of a unit of work): CPU/txn {cpu:.2}×, wall/txn {wall:.2}× (figures: the cost of \
             the dispatcher and sqlx's Any driver above the same statements)"
        );
    }
    for (workload, label, cpu, tps) in &postgres_ratios {
        println!(
            "  {workload}, {label} vs postgres-floor (autocommit INSERT, same server): CPU/txn \
             {cpu:.2}×, transactions/s {tps:.2}× (figures only, no target)"
        );
    }
    if let Some((cpu, eps)) = target_a {
        println!(
            "  A, ours-memory vs parse floor: CPU/txn {cpu:.2}× (≤ 1.1×: {}); events/s {eps:.2}× \
             (≥ 0.9×: {})",
            met(cpu <= 1.1),
            met(eps >= 0.9)
        );
    }
    let speedup = typed[2] / typed[1];
    println!("  typed access vs AnyTimelineEvent: {speedup:.2}× (≥ 2×: {})", met(speedup >= 2.0));
    let store = fsync[1] / fsync[0];
    println!("  FileStore vs append+fsync floor: {store:.2}× (≥ 0.8×: {})", met(store >= 0.8));
    println!(
        "  memory 10 k → {big} transactions: peak RSS {growth:.3}× (within ±10 %: {})",
        met((0.9..=1.1).contains(&growth))
    );
    println!(
        "  namespace matching ≥ 10 M checks/s: see `cargo bench -p appservice-bench namespace`"
    );
    println!(
        "  client sends vs a bare hyper client: CPU/request {:.2}× (≤ 1.3×: {})",
        client.ratio(),
        met(client.ratio() <= 1.3)
    );
    let elapsed = started.elapsed();
    println!("\ntotal time: {:.1} s", elapsed.as_secs_f64());

    if let Some(path) = &options.json {
        let report = json!({
            "machine": machine,
            "quick": options.quick,
            "reps": options.reps(),
            "clock_ticks_per_s": ticks,
            "workloads": json_workloads,
            "peak_rss_kib": labels.iter().zip(&peak_rss)
                .map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "typed_ns_per_event": {
                "envelope": typed[0],
                "envelope_and_typed": typed[1],
                "ruma_any_timeline_event": typed[2],
                "speedup": typed[2] / typed[1],
            },
            "parse_us_per_50_event_body": {
                "from_slice_and_envelopes": parse[0],
                "floor_raw_values": parse[1],
            },
            "routing": routing.to_json(),
            "fsync_us_per_record": { "file_store": fsync[0], "floor": fsync[1], "ratio": fsync[1] / fsync[0] },
            "memory_kib": {
                "small": { "transactions": 10_000, "peak_rss": small.0, "rss": small.1 },
                "large": { "transactions": big, "peak_rss": large.0, "rss": large.1 },
                "peak_ratio": growth,
            },
            "target_a": target_a.map(|(cpu, eps)| json!({ "cpu_ratio": cpu, "events_per_s_ratio": eps })),
            "sqlite_a": sqlite_a.map(|(cpu, wall)| json!({ "cpu_ratio": cpu, "wall_ratio": wall })),
            "sqlite_tx_a": sqlite_tx_a.map(|(cpu, wall)| json!({ "cpu_ratio": cpu, "wall_ratio": wall })),
            "seconds": elapsed.as_secs_f64(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("JSON written to {}", path.display());
    }
    Ok(())
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// Peak and current RSS (KiB) of a child that ran `n` transactions.
fn memory(n: usize) -> Result<(u64, u64)> {
    let output = Command::new(std::env::current_exe()?)
        .arg("memory")
        .arg(n.to_string())
        .stderr(Stdio::inherit())
        .output()?;
    ensure!(output.status.success(), "memory {n} failed");
    let text = String::from_utf8(output.stdout)?;
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next()) {
        (Some(Ok(hwm)), Some(Ok(rss))) => Ok((hwm, rss)),
        _ => bail!("memory {n}: unexpected output {text:?}"),
    }
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({ "cpus": cpus, "model": model, "kernel": kernel.trim() })
}

fn machine_line(machine: &Value) -> String {
    format!(
        "{} CPU(s) available, {}, Linux {}",
        machine["cpus"],
        machine["model"].as_str().unwrap_or_default(),
        machine["kernel"].as_str().unwrap_or_default()
    )
}
