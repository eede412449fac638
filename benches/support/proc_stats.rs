//! Reads a process's peak resident set and CPU time from `/proc`, the figures the kernel keeps.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Which process to read: this one, or another by pid.
#[derive(Debug, Clone, Copy)]
pub enum Process {
    Current,
    Pid(u32),
}

impl Process {
    fn file(self, name: &str) -> PathBuf {
        match self {
            Self::Current => PathBuf::from("/proc/self").join(name),
            Self::Pid(pid) => PathBuf::from(format!("/proc/{pid}")).join(name),
        }
    }
}

/// Bytes of a `kB` line of `/proc/PID/status` such as `VmHWM` (peak) or `VmRSS` (now).
pub fn status_bytes(process: Process, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(process.file("status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// Peak resident set size so far.
pub fn peak_rss(process: Process) -> Option<u64> {
    status_bytes(process, "VmHWM")
}

/// Resident set size now.
pub fn rss(process: Process) -> Option<u64> {
    status_bytes(process, "VmRSS")
}

/// Lets the peak resident set start again from the current one (Linux `clear_refs` value 5).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// User plus system CPU time of a process, from fields 14 and 15 of `/proc/PID/stat`.
pub fn cpu_time(process: Process) -> Option<Duration> {
    let text = std::fs::read_to_string(process.file("stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it start past its `)`.
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so fields 14 and 15 are indices 11 and 12.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (user + system) as f64 / clock_ticks_per_second() as f64,
    ))
}

/// `getconf CLK_TCK`, read once; 100 on every Linux this runs on, used when getconf fails.
fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Bytes as MiB with one decimal, for tables.
pub fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
