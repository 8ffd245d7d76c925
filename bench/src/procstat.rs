//! Server CPU time and peak RSS from `/proc/<pid>/stat` and `/proc/<pid>/status`.

use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context as _, Result};

/// Clock ticks per second of `/proc/<pid>/stat`'s `utime`/`stime`: `getconf CLK_TCK`, or 100
/// (the value on every Linux architecture we run on) if `getconf` is missing.
pub(crate) fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// User + system CPU time of process `pid` so far (all its threads, also those that exited).
pub(crate) fn cpu_time(pid: u32, ticks_per_second: u64) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may contain spaces: fields start after the last ')'.
    let rest = stat.rsplit_once(')').context("malformed /proc/<pid>/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    let ticks = utime + stime;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / ticks_per_second.max(1)))
}

/// On-CPU nanoseconds of each live thread of process `pid` (`/proc/<pid>/task/*/schedstat`,
/// first field: nanosecond precision, unlike `stat`'s clock ticks).
pub(crate) fn thread_cpu(pid: u32) -> Result<BTreeMap<u32, u64>> {
    let mut threads = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else { continue };
        // A thread may exit between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) else { continue };
        let ns = stat.split_whitespace().next().context("empty schedstat")?.parse()?;
        threads.insert(tid, ns);
    }
    Ok(threads)
}

/// CPU time spent between two [`thread_cpu`] snapshots by the threads alive at the second (a
/// thread started in between counts from zero). A thread that exited in between is missed: the
/// servers' runtime threads live as long as the process, and the file store's fsync threads
/// exit only after being idle; [`cpu_time`] (which includes exited threads, in clock ticks)
/// cross-checks the total.
pub(crate) fn cpu_delta(before: &BTreeMap<u32, u64>, after: &BTreeMap<u32, u64>) -> Duration {
    let ns = after
        .iter()
        .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    Duration::from_nanos(ns)
}

/// A `kB` field of `/proc/<pid>/status` (`VmHWM` = peak RSS, `VmRSS` = current RSS), in KiB.
pub(crate) fn status_kib(pid: &str, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("malformed {field}"))
}

/// [`cpu_time`] summed over `pids`.
pub(crate) fn cpu_time_all(pids: &[u32], ticks_per_second: u64) -> Result<Duration> {
    let mut total = Duration::ZERO;
    for &pid in pids {
        total += cpu_time(pid, ticks_per_second)?;
    }
    Ok(total)
}
