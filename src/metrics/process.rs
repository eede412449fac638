//! The standard `process_*` metrics every Prometheus client exports, read from `/proc/self` on
//! each scrape: CPU time, memory, file descriptors and start time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second of `/proc/<pid>/stat`: `USER_HZ`, 100 on every Linux architecture
/// the operator is built for (reading `sysconf` would need `unsafe`).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;
/// Bytes per page of `/proc/<pid>/stat`'s resident set size.
const PAGE_SIZE: f64 = 4096.0;

/// Encodes `process_*` metrics; on systems without `/proc` it encodes nothing.
#[derive(Debug, Default)]
pub struct ProcessCollector;

/// What `/proc/self` says now.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ProcessSample {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: Option<f64>,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
}

impl ProcessSample {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| boot_time(&text));
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| count_as_f64(entries.count()));
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|text| max_open_files(&text));
        let mut sample = parse_stat(&stat, boot_time)?;
        sample.open_fds = open_fds;
        sample.max_fds = max_fds;
        Some(sample)
    }
}

/// Fields of `/proc/<pid>/stat`, after the command name (which may hold spaces and parentheses).
fn parse_stat(stat: &str, boot_time: Option<f64>) -> Option<ProcessSample> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Numbered as in proc(5), where the state is field 3: utime 14, stime 15, starttime 22,
    // vsize 23, rss 24.
    let field = |number: usize| -> Option<f64> { fields.get(number - 3)?.parse().ok() };
    let ticks = field(14)? + field(15)?;
    Some(ProcessSample {
        cpu_seconds: ticks / CLOCK_TICKS_PER_SECOND,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * PAGE_SIZE,
        start_time_seconds: boot_time
            .zip(field(22))
            .map(|(boot, start)| boot + start / CLOCK_TICKS_PER_SECOND),
        open_fds: None,
        max_fds: None,
    })
}

fn boot_time(proc_stat: &str) -> Option<f64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[allow(clippy::cast_precision_loss)] // file descriptor counts are far below 2^52
fn count_as_f64(count: usize) -> f64 {
    count as f64
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sample) = ProcessSample::read() else {
            return Ok(());
        };
        let cpu = encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(sample.cpu_seconds).encode(cpu)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                Some(sample.resident_bytes),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                Some(sample.virtual_bytes),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                sample.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                sample.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                sample.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let gauge = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(value).encode(gauge)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_a_command_name_with_spaces() {
        let stat = "4242 (ontap (ipsec) op) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 \
                    8 0 12345 104857600 2560 18446744073709551615";
        let sample = parse_stat(stat, Some(1_700_000_000.0)).expect("parsed");
        assert!((sample.cpu_seconds - 3.0).abs() < f64::EPSILON);
        assert!((sample.virtual_bytes - 104_857_600.0).abs() < f64::EPSILON);
        assert!((sample.resident_bytes - 2560.0 * 4096.0).abs() < f64::EPSILON);
        assert_eq!(sample.start_time_seconds, Some(1_700_000_123.45));
    }

    #[test]
    fn limits_and_boot_time_are_found() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1048576              1048576              files\n";
        assert_eq!(max_open_files(limits), Some(1_048_576.0));
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000.0)
        );
    }

    #[test]
    fn this_process_is_readable_on_linux() {
        let sample = ProcessSample::read().expect("/proc/self is readable");
        assert!(sample.resident_bytes > 0.0);
        assert!(sample.open_fds.is_some_and(|fds| fds > 0.0));
    }
}
