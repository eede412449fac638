//! Describes where and when a benchmark ran: CPU, memory, kernel, load, toolchain and date.

use std::process::Command;

/// One line per fact, as Markdown list items.
pub fn describe() -> String {
    let cpu = first_value("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory = first_value("/proc/meminfo", "MemTotal")
        .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .map_or_else(
            || "unknown".into(),
            |kib| format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)),
        );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |text| text.trim().to_owned());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map_or_else(|| "unknown".into(), |text| text.trim().to_owned());
    format!(
        "- date: {}\n- commit: {}\n- machine: {cpu}, {cores} cores, {memory} RAM, Linux {kernel}\n- toolchain: {rustc}, release profile\n- load average when it started: {}\n",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        commit(),
        load_average(),
    )
}

/// The commit measured, and whether the code differed from it.
pub fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| String::from_utf8(output.stdout).ok())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown (not a git checkout)".into();
    };
    let changed = git(&[
        "status",
        "--porcelain",
        "--",
        "src",
        "benches",
        "tests",
        "Cargo.toml",
        "Cargo.lock",
    ])
    .is_some_and(|text| !text.trim().is_empty());
    if changed {
        format!("`{}` with uncommitted changes to the code", head.trim())
    } else {
        format!("`{}`", head.trim())
    }
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` has them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

/// The value of the first `key: value` line of a `/proc` file.
fn first_value(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == key).then(|| value.trim().to_owned())
    })
}
