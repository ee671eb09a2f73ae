//! Delivery metrics: counters the request paths bump, the commit-to-write
//! latency histogram, a per-second history for the status page's
//! sparklines, and the Prometheus text of `/metrics`. Server only.
//!
//! The atomics here (and the hub's counters) are the one source of truth;
//! the Prometheus recorder lives in this struct rather than as the process's
//! global recorder, and its counters and gauges are brought up to date from
//! the atomics just before each render. Only the latency histogram records
//! into both, because a Prometheus histogram is built from observations.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Key, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::model::status::{HistogramBin, History, LatencyPercentiles};

/// Sub-buckets per power of two: about 19 % resolution.
const SUB_BUCKETS: u32 = 4;
/// Microseconds up to 2^27 (about 134 s); slower lands in the last bucket.
const OCTAVES: u32 = 28;
const BUCKETS: usize = (OCTAVES * SUB_BUCKETS) as usize;

/// Seconds of per-second history kept (15 minutes).
pub const HISTORY_SECONDS: usize = 900;
/// Latency percentiles cover this many one-minute snapshots.
const LATENCY_WINDOW_MINUTES: usize = 15;

/// Bucket boundaries (seconds) of the Prometheus latency histogram.
const PROMETHEUS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const LATENCY_METRIC: &str = "herald_delivery_latency_seconds";

/// Bars of the status page's histogram: upper bounds in milliseconds.
const DISPLAY_BOUNDS_MS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

/// A lock-free log-scale histogram of microseconds.
struct LatencyHistogram {
    counts: Vec<AtomicU64>,
}

impl LatencyHistogram {
    fn new() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn bucket(micros: u64) -> usize {
        if micros < u64::from(SUB_BUCKETS) {
            return micros as usize;
        }
        let octave = 63 - micros.leading_zeros();
        let sub = (micros >> (octave - 2)) & u64::from(SUB_BUCKETS - 1);
        ((octave * SUB_BUCKETS) as usize + sub as usize).min(BUCKETS - 1)
    }

    /// The range of bucket `index`, in microseconds.
    fn range(index: usize) -> (f64, f64) {
        if index < SUB_BUCKETS as usize {
            return (index as f64, index as f64 + 1.0);
        }
        let octave = index as u32 / SUB_BUCKETS;
        let sub = index as u64 % u64::from(SUB_BUCKETS);
        let width = 1u64 << (octave - 2);
        let low = (u64::from(SUB_BUCKETS) + sub) * width;
        (low as f64, (low + width) as f64)
    }

    fn record(&self, micros: u64) {
        self.counts[Self::bucket(micros)].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

/// Percentiles of bucket counts, in milliseconds (bucket midpoints).
fn percentiles(counts: &[u64]) -> LatencyPercentiles {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return LatencyPercentiles::default();
    }
    let at = |q: f64| {
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = LatencyHistogram::range(index);
                return Some(((low + high) / 2.0).round() / 1000.0);
            }
        }
        None
    };
    LatencyPercentiles {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
    }
}

fn display_label(low: Option<f64>, high: Option<f64>) -> String {
    let ms = |v: f64| {
        if v >= 1000.0 {
            format!("{} s", v / 1000.0)
        } else {
            format!("{v} ms")
        }
    };
    match (low, high) {
        (None, Some(high)) => format!("< {}", ms(high)),
        (Some(low), Some(high)) if high >= 1000.0 && low >= 1000.0 => {
            format!("{}–{}", low / 1000.0, ms(high))
        }
        (Some(low), Some(high)) if high >= 1000.0 => format!("{}–{}", ms(low), ms(high)),
        (Some(low), Some(high)) => format!("{low}–{}", ms(high)),
        (Some(low), None) => format!("≥ {}", ms(low)),
        (None, None) => String::new(),
    }
}

/// Bucket counts folded into the status page's bars.
fn display_bins(counts: &[u64]) -> Vec<HistogramBin> {
    let mut bins: Vec<HistogramBin> = (0..=DISPLAY_BOUNDS_MS.len())
        .map(|i| HistogramBin {
            label: display_label(
                i.checked_sub(1).map(|j| DISPLAY_BOUNDS_MS[j]),
                DISPLAY_BOUNDS_MS.get(i).copied(),
            ),
            count: 0,
        })
        .collect();
    for (index, count) in counts.iter().enumerate() {
        if *count == 0 {
            continue;
        }
        let (low, high) = LatencyHistogram::range(index);
        let mid_ms = (low + high) / 2.0 / 1000.0;
        let bin = DISPLAY_BOUNDS_MS
            .iter()
            .position(|bound| mid_ms < *bound)
            .unwrap_or(DISPLAY_BOUNDS_MS.len());
        bins[bin].count += count;
    }
    bins
}

/// One per-second sample.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    published: u32,
    delivered: u32,
    connections: u32,
}

/// What the sampler keeps between ticks.
#[derive(Default)]
struct Samples {
    seconds: VecDeque<Sample>,
    last_published: u64,
    last_delivered: u64,
    /// Cumulative latency counts, one per minute, oldest first.
    minutes: VecDeque<Vec<u64>>,
    /// Trivial-query round trips over the last minute (ms), oldest first.
    query_latency: VecDeque<f64>,
}

/// Totals from outside this struct that a sample needs.
#[derive(Debug, Clone, Copy)]
pub struct Totals {
    pub published: u64,
    pub connections: u64,
}

struct PrometheusHandles {
    handle: PrometheusHandle,
    latency: Histogram,
    recorder: metrics_exporter_prometheus::PrometheusRecorder,
}

struct Inner {
    started_at: Instant,
    events_delivered: AtomicU64,
    replays_served: AtomicU64,
    resets: AtomicU64,
    rate_limited: AtomicU64,
    latency: LatencyHistogram,
    samples: Mutex<Samples>,
    prometheus: PrometheusHandles,
}

/// The process's delivery metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()))
}

impl Metrics {
    /// Fresh metrics with a random instance id.
    pub fn new() -> Self {
        // The bucket list is a non-empty constant: building cannot fail.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(LATENCY_METRIC.into()), &PROMETHEUS_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        recorder.describe_histogram(
            LATENCY_METRIC.into(),
            Some(metrics::Unit::Seconds),
            "Time from an event's commit to its write on a client connection.".into(),
        );
        let latency =
            recorder.register_histogram(&Key::from_static_name(LATENCY_METRIC), &metadata());
        Self {
            inner: Arc::new(Inner {
                started_at: Instant::now(),
                events_delivered: AtomicU64::new(0),
                replays_served: AtomicU64::new(0),
                resets: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                latency: LatencyHistogram::new(),
                samples: Mutex::new(Samples::default()),
                prometheus: PrometheusHandles {
                    handle,
                    latency,
                    recorder,
                },
            }),
        }
    }

    /// Seconds since these metrics (the process) started.
    pub fn uptime(&self) -> Duration {
        self.inner.started_at.elapsed()
    }

    /// `count` stored events written to a client.
    pub fn delivered(&self, count: u64) {
        self.inner
            .events_delivered
            .fetch_add(count, Ordering::Relaxed);
    }

    /// One live event written `latency` after its commit.
    pub fn delivered_live(&self, latency: Duration) {
        self.inner
            .latency
            .record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        self.inner.prometheus.latency.record(latency.as_secs_f64());
    }

    /// A stream resumed with a backlog.
    pub fn replay_served(&self) {
        self.inner.replays_served.fetch_add(1, Ordering::Relaxed);
    }

    /// A client was told to refetch.
    pub fn reset_sent(&self) {
        self.inner.resets.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was answered 429.
    pub fn rate_limited(&self) {
        self.inner.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Stored events written to clients since start.
    pub fn delivered_total(&self) -> u64 {
        self.inner.events_delivered.load(Ordering::Relaxed)
    }

    /// Streams resumed with a backlog since start.
    pub fn replays_total(&self) -> u64 {
        self.inner.replays_served.load(Ordering::Relaxed)
    }

    /// Resets sent since start.
    pub fn resets_total(&self) -> u64 {
        self.inner.resets.load(Ordering::Relaxed)
    }

    /// 429 answers since start.
    pub fn rate_limited_total(&self) -> u64 {
        self.inner.rate_limited.load(Ordering::Relaxed)
    }

    fn samples(&self) -> std::sync::MutexGuard<'_, Samples> {
        // Each critical section leaves the samples consistent.
        self.inner.samples.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one second: deltas of the totals since the last tick.
    pub fn tick(&self, totals: Totals) {
        let delivered = self.delivered_total();
        let mut samples = self.samples();
        let sample = Sample {
            published: saturate(totals.published.saturating_sub(samples.last_published)),
            delivered: saturate(delivered.saturating_sub(samples.last_delivered)),
            connections: saturate(totals.connections),
        };
        samples.last_published = totals.published;
        samples.last_delivered = delivered;
        if samples.seconds.len() == HISTORY_SECONDS {
            samples.seconds.pop_front();
        }
        samples.seconds.push_back(sample);
    }

    /// Takes the minute's latency snapshot the percentiles are relative to.
    pub fn tick_minute(&self) {
        let snapshot = self.inner.latency.snapshot();
        let mut samples = self.samples();
        if samples.minutes.len() == LATENCY_WINDOW_MINUTES {
            samples.minutes.pop_front();
        }
        samples.minutes.push_back(snapshot);
    }

    /// Records a trivial query's round trip.
    pub fn query_latency(&self, latency: Duration) {
        let mut samples = self.samples();
        if samples.query_latency.len() == 60 {
            samples.query_latency.pop_front();
        }
        samples
            .query_latency
            .push_back(latency.as_secs_f64() * 1000.0);
    }

    /// The latest query round trip and the slowest of the last minute (ms).
    pub fn query_latency_ms(&self) -> (Option<f64>, Option<f64>) {
        let samples = self.samples();
        let last = samples.query_latency.back().copied();
        let max = samples.query_latency.iter().copied().reduce(f64::max);
        (last, max)
    }

    /// Latency counts of the window: now minus the oldest minute kept
    /// (since start while the process is younger than the window).
    fn window_counts(&self) -> Vec<u64> {
        let now = self.inner.latency.snapshot();
        let samples = self.samples();
        match samples.minutes.front() {
            Some(oldest) if samples.minutes.len() == LATENCY_WINDOW_MINUTES => now
                .iter()
                .zip(oldest)
                .map(|(n, o)| n.saturating_sub(*o))
                .collect(),
            _ => now,
        }
    }

    /// Percentiles and histogram bars of the last 15 minutes.
    pub fn latency(&self) -> (LatencyPercentiles, Vec<HistogramBin>) {
        let counts = self.window_counts();
        (percentiles(&counts), display_bins(&counts))
    }

    /// The per-second history, oldest first.
    pub fn history(&self) -> History {
        let samples = self.samples();
        History {
            interval_s: 1,
            published: samples.seconds.iter().map(|s| s.published).collect(),
            delivered: samples.seconds.iter().map(|s| s.delivered).collect(),
            connections: samples.seconds.iter().map(|s| s.connections).collect(),
        }
    }

    /// Drains histogram observations into the exporter's summaries, so
    /// they do not pile up between scrapes.
    pub fn upkeep(&self) {
        self.inner.prometheus.handle.run_upkeep();
    }

    fn counter(&self, name: &'static str, help: &'static str) -> Counter {
        let recorder = &self.inner.prometheus.recorder;
        recorder.describe_counter(name.into(), None, help.into());
        recorder.register_counter(&Key::from_static_name(name), &metadata())
    }

    fn gauge(&self, name: &'static str, unit: Option<metrics::Unit>, help: &'static str) -> Gauge {
        let recorder = &self.inner.prometheus.recorder;
        recorder.describe_gauge(name.into(), unit, help.into());
        recorder.register_gauge(&Key::from_static_name(name), &metadata())
    }

    /// The Prometheus text, with counters and gauges set from `values`.
    pub fn render_prometheus(&self, values: &PrometheusValues) -> String {
        let counters: [(&'static str, &'static str, u64); 13] = [
            (
                "herald_events_published_total",
                "Stored events committed (one per recipient).",
                values.published,
            ),
            (
                "herald_events_delivered_total",
                "Stored events written to clients (one per connection).",
                self.delivered_total(),
            ),
            (
                "herald_replays_served_total",
                "Event streams that resumed with a backlog.",
                self.replays_total(),
            ),
            (
                "herald_resets_total",
                "Clients told to refetch their state.",
                self.resets_total(),
            ),
            (
                "herald_slow_consumers_dropped_total",
                "Connections dropped because their queue was full.",
                values.slow_consumers_dropped,
            ),
            (
                "herald_connections_refused_total",
                "Event streams refused (too many for one user).",
                values.connections_refused,
            ),
            (
                "herald_rate_limited_total",
                "Requests answered 429.",
                self.rate_limited_total(),
            ),
            (
                "herald_push_sent_total",
                "Web Push requests a push service accepted.",
                values.push.sent_total,
            ),
            (
                "herald_push_failed_total",
                "Web Push deliveries given up on.",
                values.push.failed_total,
            ),
            (
                "herald_push_subscriptions_removed_total",
                "Push subscriptions forgotten (gone, or refused too often).",
                values.push.subscriptions_removed_total,
            ),
            (
                "herald_push_dropped_total",
                "Pushes dropped because the sender's queue was full.",
                values.push.dropped_total,
            ),
            (
                "herald_topic_values_published_total",
                "Topic values handed to this instance's streams (from any instance).",
                values.topic_values_published,
            ),
            (
                "herald_topic_values_delivered_total",
                "Topic values queued for a stream (a newer one may replace it unwritten).",
                values.topic_values_delivered,
            ),
        ];
        for (name, help, value) in counters {
            self.counter(name, help).absolute(value);
        }
        let bytes = Some(metrics::Unit::Bytes);
        let gauges: [(
            &'static str,
            Option<metrics::Unit>,
            &'static str,
            Option<f64>,
        ); 11] = [
            (
                "herald_connections",
                None,
                "Live event streams.",
                Some(values.connections as f64),
            ),
            (
                "herald_online_users",
                None,
                "Users with a live event stream.",
                Some(values.online_users as f64),
            ),
            (
                "herald_uptime_seconds",
                Some(metrics::Unit::Seconds),
                "Seconds since the process started.",
                Some(self.uptime().as_secs_f64()),
            ),
            (
                "herald_database_size_bytes",
                bytes,
                "Database size on disk.",
                Some(values.database_size_bytes as f64),
            ),
            (
                "herald_database_pool_connections",
                None,
                "Open database connections.",
                Some(f64::from(values.pool_size)),
            ),
            (
                "herald_database_pool_idle",
                None,
                "Idle database connections.",
                Some(f64::from(values.pool_idle)),
            ),
            (
                "herald_process_resident_memory_bytes",
                bytes,
                "Resident memory.",
                values.resident_memory_bytes.map(|v| v as f64),
            ),
            (
                "herald_process_open_fds",
                None,
                "Open file descriptors.",
                values.open_fds.map(|v| v as f64),
            ),
            (
                "herald_push_queue_depth",
                None,
                "Notifications and Web Push deliveries waiting or in flight.",
                Some(values.push.queue_depth as f64),
            ),
            (
                "herald_push_subscriptions",
                None,
                "Devices subscribed to Web Push.",
                Some(values.push.subscriptions as f64),
            ),
            (
                "herald_topics_subscribed",
                None,
                "Live topics with a subscriber on this instance.",
                Some(values.topics_subscribed as f64),
            ),
        ];
        for (name, unit, help, value) in gauges {
            if let Some(value) = value {
                self.gauge(name, unit, help).set(value);
            }
        }
        self.inner.prometheus.handle.render()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The numbers `/metrics` needs from outside this struct.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrometheusValues {
    pub published: u64,
    pub slow_consumers_dropped: u64,
    pub connections_refused: u64,
    pub connections: u64,
    pub online_users: u64,
    pub database_size_bytes: u64,
    pub pool_size: u32,
    pub pool_idle: u32,
    pub resident_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub push: crate::model::status::PushStatus,
    /// Topic values published through this instance's hub, and handed to
    /// streams (after coalescing).
    pub topic_values_published: u64,
    pub topic_values_delivered: u64,
    /// Distinct topics with a subscriber here.
    pub topics_subscribed: u64,
}

fn saturate(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The process's resident memory and open descriptors (Linux; `None`
/// elsewhere), and its descriptor limit.
pub fn process_figures() -> (Option<u64>, Option<u64>, Option<u64>) {
    let page = 4096u64;
    let resident = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page);
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|entries| entries.count() as u64);
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3)?.parse::<u64>().ok())
        });
    (resident, fds, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_their_values() {
        for micros in [
            0u64, 1, 3, 4, 5, 7, 8, 100, 999, 1000, 1500, 65_000, 1_000_000,
        ] {
            let (low, high) = LatencyHistogram::range(LatencyHistogram::bucket(micros));
            assert!(
                low <= micros as f64 && (micros as f64) < high,
                "{micros}: {low}..{high}"
            );
        }
        assert_eq!(LatencyHistogram::bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_follow_the_distribution() {
        let histogram = LatencyHistogram::new();
        for _ in 0..90 {
            histogram.record(1_000); // 1 ms
        }
        for _ in 0..10 {
            histogram.record(100_000); // 100 ms
        }
        let p = percentiles(&histogram.snapshot());
        let p50 = p.p50.unwrap_or_default();
        let p99 = p.p99.unwrap_or_default();
        assert!((0.9..1.2).contains(&p50), "p50 {p50}");
        assert!((90.0..120.0).contains(&p99), "p99 {p99}");
        assert_eq!(percentiles(&[0; BUCKETS]), LatencyPercentiles::default());
    }

    #[test]
    fn display_bins_count_everything_once() {
        let histogram = LatencyHistogram::new();
        for micros in [200, 1_500, 3_000, 40_000, 2_000_000] {
            histogram.record(micros);
        }
        let bins = display_bins(&histogram.snapshot());
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 5);
        assert_eq!(bins[0].label, "< 1 ms");
        assert_eq!(bins[1].label, "1–2 ms");
        assert_eq!(bins.last().map(|b| b.label.as_str()), Some("≥ 1 s"));
    }

    #[test]
    fn history_holds_per_second_deltas() {
        let metrics = Metrics::new();
        metrics.tick(Totals {
            published: 5,
            connections: 2,
        });
        metrics.delivered(7);
        metrics.tick(Totals {
            published: 15,
            connections: 3,
        });
        let history = metrics.history();
        assert_eq!(history.published, vec![5, 10]);
        assert_eq!(history.delivered, vec![0, 7]);
        assert_eq!(history.connections, vec![2, 3]);
    }

    #[test]
    fn prometheus_text_has_the_counters_and_the_histogram() {
        let metrics = Metrics::new();
        metrics.delivered_live(Duration::from_millis(3));
        let text = metrics.render_prometheus(&PrometheusValues {
            published: 42,
            ..PrometheusValues::default()
        });
        assert!(text.contains("herald_events_published_total 42"), "{text}");
        assert!(
            text.contains("herald_delivery_latency_seconds_bucket"),
            "{text}"
        );
    }
}
