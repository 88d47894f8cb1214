//! The exporter's own `/metrics`: probes by module and result, their
//! durations, probes in flight and refused, config reloads, and the
//! standard `process_*` series (read from `/proc/self` at scrape time, as
//! client_golang's process collector does).

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::expose::{self, Families};

type Labels = Vec<(String, String)>;

/// Live metrics shared by every request.
#[derive(Debug)]
pub struct SelfMetrics {
    registry: Registry,
    /// `grpc_exporter_probes_total{module,result}`.
    pub probes: Family<Labels, Counter>,
    /// `grpc_exporter_probe_duration_seconds{module}`.
    pub durations: Family<Labels, Histogram>,
    /// `grpc_exporter_probes_in_flight`.
    pub in_flight: Gauge,
    /// `grpc_exporter_requests_rejected_total{reason}`.
    pub rejected: Family<Labels, Counter>,
    /// `grpc_exporter_module_unknown_total`.
    pub module_unknown: Counter,
    /// `grpc_exporter_config_last_reload_successful`.
    pub reload_ok: Gauge,
    /// `grpc_exporter_config_last_reload_success_timestamp_seconds`.
    pub reload_time: Gauge<f64, AtomicU64>,
    /// `grpc_exporter_channelz_connections`.
    pub channelz_connections: Gauge,
    /// `grpc_exporter_config_last_reload_error_info{reason}`: why the last
    /// reload failed; no series after a successful one.
    pub reload_error: Family<Labels, Gauge>,
}

fn histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl SelfMetrics {
    /// Registers everything.
    pub fn new() -> SelfMetrics {
        let mut registry = Registry::default();
        let probes = Family::<Labels, Counter>::default();
        let durations =
            Family::<Labels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        let in_flight = Gauge::default();
        let rejected = Family::<Labels, Counter>::default();
        let module_unknown = Counter::default();
        let reload_ok = Gauge::default();
        let reload_time = Gauge::<f64, AtomicU64>::default();
        let channelz_connections = Gauge::default();
        let reload_error = Family::<Labels, Gauge>::default();
        registry.register(
            "grpc_exporter_probes",
            "Probes run, by module and result (success, failure)",
            probes.clone(),
        );
        registry.register(
            "grpc_exporter_probe_duration_seconds",
            "Probe durations by module",
            durations.clone(),
        );
        registry.register(
            "grpc_exporter_probes_in_flight",
            "Probes and Channelz scrapes running now",
            in_flight.clone(),
        );
        registry.register("grpc_exporter_requests_rejected", "Requests refused, by reason (busy, not_allowed, unknown_module, bad_request, unauthorized, too_large)", rejected.clone());
        registry.register(
            "grpc_exporter_module_unknown",
            "Probes naming a module the config does not have",
            module_unknown.clone(),
        );
        registry.register(
            "grpc_exporter_config_last_reload_successful",
            "Whether the last configuration load succeeded",
            reload_ok.clone(),
        );
        registry.register(
            "grpc_exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully",
            reload_time.clone(),
        );
        registry.register(
            "grpc_exporter_channelz_connections",
            "Connections kept open to Channelz targets between scrapes",
            channelz_connections.clone(),
        );
        registry.register(
            "grpc_exporter_config_last_reload_error_info",
            "Why the last configuration reload failed (file:line: reason); absent after a successful one",
            reload_error.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        SelfMetrics {
            registry,
            probes,
            durations,
            in_flight,
            rejected,
            module_unknown,
            reload_ok,
            reload_time,
            channelz_connections,
            reload_error,
        }
    }

    /// Records a (re)load now; `error` says why it failed.
    pub fn reloaded(&self, error: Option<&str>) {
        let ok = error.is_none();
        self.reload_error.clear();
        if let Some(reason) = error {
            self.reload_error
                .get_or_create(&vec![("reason".to_owned(), reason.to_owned())])
                .set(1);
        }
        self.reload_ok.set(i64::from(ok));
        if ok {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            self.reload_time.set(now);
        }
    }

    /// Counts a refused request.
    pub fn reject(&self, reason: &str) {
        self.rejected
            .get_or_create(&vec![("reason".to_owned(), reason.to_owned())])
            .inc();
    }

    /// The exposition.
    pub fn encode(&self, format: expose::Format) -> String {
        expose::encode(&self.registry, format)
    }
}

impl Default for SelfMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `process_*` from `/proc/self`; absent (not zero) where `/proc` is not.
#[derive(Debug)]
struct ProcessCollector;

/// Clock ticks per second: `sysconf(_SC_CLK_TCK)` is 100 on every Linux
/// we run on; reading it would take `libc` and `unsafe`.
const TICKS: f64 = 100.0;
const PAGE: f64 = 4096.0;

fn process_families() -> Families {
    let mut f = Families::default();
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return f;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // Indices: field N of proc(5) is fields[N - 3].
    if let (Some(utime), Some(stime)) = (num(11), num(12)) {
        f.add(
            expose::Family::counter(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
            )
            .sample(&[], (utime + stime) / TICKS),
        );
    }
    if let Some(vsize) = num(20) {
        f.add(
            expose::Family::gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            )
            .sample(&[], vsize),
        );
    }
    if let Some(rss) = num(21) {
        f.add(
            expose::Family::gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            )
            .sample(&[], rss * PAGE),
        );
    }
    if let (Some(start), Ok(uptime)) = (num(19), std::fs::read_to_string("/proc/uptime")) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        if let Some(up) = uptime
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            f.add(
                expose::Family::gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                )
                .sample(&[], (now - up + start / TICKS).floor()),
            );
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        f.add(
            expose::Family::gauge("process_open_fds", "Number of open file descriptors.")
                .sample(&[], dir.count() as f64),
        );
    }
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<f64>().ok())
        });
    if let Some(max) = max_fds {
        f.add(
            expose::Family::gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
            )
            .sample(&[], max),
        );
    }
    f
}

impl Collector for ProcessCollector {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        process_families().encode(encoder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_and_process_series() {
        let m = SelfMetrics::new();
        m.probes
            .get_or_create(&vec![
                ("module".into(), "grpc".into()),
                ("result".into(), "success".into()),
            ])
            .inc();
        m.reloaded(None);
        let text = m.encode(expose::Format::Classic);
        assert!(
            text.contains("grpc_exporter_probes_total{module=\"grpc\",result=\"success\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("grpc_exporter_config_last_reload_successful 1"),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
        assert!(text.contains("process_cpu_seconds_total"), "{text}");
    }
}
