//! Counters and the health report. Every span that does not reach the backend is counted under
//! one reason, so `spans_ended = spans_exported + spans_dropped_queue_full + spans_export_failed
//! + queue_depth (+ in flight)` holds at any quiet moment.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::diag;
use crate::diag::LogLevel;
use crate::value::FieldValue;

/// Keeps a group of counters on cache lines of its own, so the application threads (span start)
/// and the export thread never write the same line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Written by application threads.
#[derive(Debug, Default)]
pub(crate) struct AppCounters {
    /// Recording spans started (sampled-out ones are counted apart).
    pub(crate) started: AtomicU64,
    pub(crate) sampled_out: AtomicU64,
    pub(crate) after_shutdown: AtomicU64,
    pub(crate) attributes_truncated: AtomicU64,
    pub(crate) attributes_redacted: AtomicU64,
    pub(crate) attributes_dropped: AtomicU64,
    pub(crate) events_dropped: AtomicU64,
    pub(crate) links_dropped: AtomicU64,
    /// Baggage entries left out at the W3C limits (or undecodable), extracting or injecting.
    pub(crate) baggage_dropped: AtomicU64,
}

/// Written by the export thread (or the host's export loop on wasm).
#[derive(Debug, Default)]
pub(crate) struct ExportCounters {
    pub(crate) exported: AtomicU64,
    pub(crate) export_failed: AtomicU64,
    pub(crate) export_failures: AtomicU64,
    last_success_unix_ms: AtomicU64,
}

/// What the export queue counts under its own lock: spans ended (each pushed once), dropped
/// because it was full, and waiting (queued or in flight).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Spans ended.
    pub ended: u64,
    /// Dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Queued or being exported.
    pub depth: u64,
}

/// Counters shared by spans, the processor and the exporter.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) app: Padded<AppCounters>,
    pub(crate) export: Padded<ExportCounters>,
    warned_queue_full: AtomicBool,
    last_error: Mutex<LastErrors>,
    warned_kinds: Mutex<Vec<String>>,
    /// Health's `warnings`: found at startup, or added while running.
    warnings: Mutex<Vec<String>>,
}

/// The last error of any kind (health's), and the last one that lost spans (a flush's).
#[derive(Debug, Default)]
struct LastErrors {
    any: Option<ExportErrorRecord>,
    lost: Option<ExportErrorRecord>,
}

/// The last export error.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExportErrorRecord {
    /// A short stable kind (`connection`, `http_503`, `timeout`, `misconfigured_endpoint`...).
    pub kind: String,
    /// The message.
    pub message: String,
    /// When, in ms since the Unix epoch.
    pub unix_ms: u64,
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Counters {
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Warns once that the queue is full (the drop itself is counted by the queue).
    pub(crate) fn warn_queue_full(&self) {
        if !self.warned_queue_full.swap(true, Ordering::Relaxed) {
            diag::log(
                LogLevel::Warn,
                "export queue full: spans are being dropped (counted in health \
                 spans_dropped_queue_full; raise OTEL_BSP_MAX_QUEUE_SIZE or check the backend)",
            );
        }
    }

    /// An export of `spans` spans failed: counted, the first of each kind logged once, kept as
    /// the latest error.
    pub(crate) fn export_failed(&self, spans: u64, kind: &str, message: &str) {
        Self::add(&self.export.export_failed, spans);
        Self::add(&self.export.export_failures, 1);
        self.record(kind, message, true);
    }

    /// Records an error (also one that loses no span, like a misconfiguration warning). The
    /// message is redacted first: it reaches stderr and health, and an exporter's error text
    /// can quote a URL with credentials.
    pub(crate) fn record_error(&self, kind: &str, message: &str) {
        self.record(kind, message, false);
    }

    fn record(&self, kind: &str, message: &str, lost_spans: bool) {
        let message = &*crate::redact::Policy::builtin().text(message);
        let first = {
            let mut seen = self.warned_kinds.lock().unwrap_or_else(|e| e.into_inner());
            if seen.iter().any(|k| k == kind) {
                false
            } else {
                seen.push(kind.to_owned());
                true
            }
        };
        if first {
            diag::log(
                LogLevel::Error,
                &format!("export error ({kind}): {message} (further ones are counted in health)"),
            );
        }
        let record = ExportErrorRecord {
            kind: kind.to_owned(),
            message: message.to_owned(),
            unix_ms: unix_ms(crate::platform::now()),
        };
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if lost_spans {
            last.lost = Some(record.clone());
        }
        last.any = Some(record);
    }

    /// Adds a warning (redacted) unless it is there already, logging it at `warn` when `log`
    /// (a startup warning is logged as an error by `record_error` instead). Whether it was new.
    pub(crate) fn add_warning(&self, message: &str, log: bool) -> bool {
        let message = crate::redact::Policy::builtin().text(message).into_owned();
        {
            let mut w = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
            if w.contains(&message) {
                return false;
            }
            w.push(message.clone());
        }
        if log {
            diag::log(LogLevel::Warn, &message);
        }
        true
    }

    pub(crate) fn warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn export_succeeded(&self, spans: u64) {
        Self::add(&self.export.exported, spans);
        self.export
            .last_success_unix_ms
            .store(unix_ms(crate::platform::now()), Ordering::Relaxed);
    }

    /// A snapshot of the counters, with the queue's own counts and the spans sampled out
    /// that the span metrics counted (in their per-thread shards).
    pub fn snapshot(&self, queue: QueueCounts, metrics_sampled_out: u64) -> SpanCounts {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let sampled_out = g(&self.app.sampled_out) + metrics_sampled_out;
        SpanCounts {
            spans_started: g(&self.app.started) + sampled_out,
            spans_ended: queue.ended,
            spans_sampled_out: sampled_out,
            spans_exported: g(&self.export.exported),
            spans_dropped_queue_full: queue.dropped_queue_full,
            spans_export_failed: g(&self.export.export_failed),
            export_failures: g(&self.export.export_failures),
            spans_started_after_shutdown: g(&self.app.after_shutdown),
            attributes_truncated: g(&self.app.attributes_truncated),
            attributes_redacted: g(&self.app.attributes_redacted),
            attributes_dropped: g(&self.app.attributes_dropped),
            events_dropped: g(&self.app.events_dropped),
            links_dropped: g(&self.app.links_dropped),
            baggage_entries_dropped: g(&self.app.baggage_dropped),
            queue_depth: queue.depth,
        }
    }

    /// The last error, whatever it was (health's `last_export_error`).
    pub(crate) fn last_error(&self) -> Option<ExportErrorRecord> {
        self.last_errors().any.clone()
    }

    /// The last error that lost spans (not a warning that lost none, nor a setup error).
    /// Read by a native flush (elsewhere the host's flush reports nothing).
    #[cfg_attr(
        not(all(feature = "native", not(target_arch = "wasm32"))),
        allow(dead_code)
    )]
    pub(crate) fn last_loss(&self) -> Option<ExportErrorRecord> {
        self.last_errors().lost.clone()
    }

    fn last_errors(&self) -> std::sync::MutexGuard<'_, LastErrors> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn last_success_unix_ms(&self) -> Option<u64> {
        Some(self.export.last_success_unix_ms.load(Ordering::Relaxed)).filter(|v| *v > 0)
    }

    /// Takes the counters' locks for a fork (see [`crate::platform::fork`]).
    #[cfg(unix)]
    pub(crate) fn hold_for_fork(&self) -> ForkHold<'_> {
        ForkHold {
            counters: self,
            warned_kinds: self.warned_kinds.lock().unwrap_or_else(|e| e.into_inner()),
            last_error: self.last_error.lock().unwrap_or_else(|e| e.into_inner()),
            _warnings: self.warnings.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
}

/// The counters' locks, held across a fork.
#[cfg(unix)]
pub(crate) struct ForkHold<'a> {
    counters: &'a Counters,
    warned_kinds: std::sync::MutexGuard<'a, Vec<String>>,
    last_error: std::sync::MutexGuard<'a, LastErrors>,
    /// Held, not cleared: what was wrong in the parent still is in the child.
    _warnings: std::sync::MutexGuard<'a, Vec<String>>,
}

#[cfg(unix)]
impl ForkHold<'_> {
    /// In the child: a new process counts from zero (what the parent started, ended and
    /// exported is the parent's), and logs its first error of each kind again.
    pub(crate) fn in_child(&mut self) {
        let c = self.counters;
        let (app, export) = (&c.app, &c.export);
        for a in [
            &app.started,
            &app.sampled_out,
            &app.after_shutdown,
            &app.attributes_truncated,
            &app.attributes_redacted,
            &app.attributes_dropped,
            &app.events_dropped,
            &app.links_dropped,
            &app.baggage_dropped,
            &export.exported,
            &export.export_failed,
            &export.export_failures,
            &export.last_success_unix_ms,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        c.warned_queue_full.store(false, Ordering::Relaxed);
        self.warned_kinds.clear();
        *self.last_error = LastErrors::default();
    }
}

/// Span counters at one moment.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct SpanCounts {
    /// Spans started: sampled plus sampled out (after shutdown excluded).
    pub spans_started: u64,
    /// Recorded spans ended (each once).
    pub spans_ended: u64,
    /// Spans the sampler did not keep (never recorded, never exported).
    pub spans_sampled_out: u64,
    /// Spans the backend accepted.
    pub spans_exported: u64,
    /// Spans dropped because the export queue was full.
    pub spans_dropped_queue_full: u64,
    /// Spans in batches whose export failed.
    pub spans_export_failed: u64,
    /// Failed export calls.
    pub export_failures: u64,
    /// Spans started after shutdown (no-ops).
    pub spans_started_after_shutdown: u64,
    /// Attribute values cut to the length limit.
    pub attributes_truncated: u64,
    /// Attribute values in which the redaction policy replaced a secret.
    pub attributes_redacted: u64,
    /// Attributes dropped at the count limit.
    pub attributes_dropped: u64,
    /// Events dropped at the count limit.
    pub events_dropped: u64,
    /// Links dropped at the count limit.
    pub links_dropped: u64,
    /// Baggage entries left out at the W3C limits (8192 bytes, 180 entries) or undecodable,
    /// from any source (`baggage`, `uberctx-*`), extracting or injecting.
    pub baggage_entries_dropped: u64,
    /// Spans waiting for export now.
    pub queue_depth: u64,
}

/// The health report, serialisable with the specification's field names.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    /// Whether tracing is on.
    pub tracing_enabled: bool,
    /// Whether `shutdown` ran.
    pub shut_down: bool,
    /// `service.name`.
    pub service_name: String,
    /// `service.version`.
    pub service_version: String,
    /// `deployment.environment`.
    pub environment: String,
    /// The backend.
    pub backend: String,
    /// The URL spans go to, if any.
    pub endpoint: Option<String>,
    /// The OTLP transport, if OTLP is spoken.
    pub protocol: Option<String>,
    /// The sampler.
    pub sampler: String,
    /// The configured ratio.
    pub sampling_rate: f64,
    /// The propagators, in order.
    pub propagators: Vec<String>,
    /// The export queue's capacity.
    pub queue_capacity: usize,
    /// The counters.
    #[serde(flatten)]
    pub counts: SpanCounts,
    /// The latest export error.
    pub last_export_error: Option<ExportErrorRecord>,
    /// When an export last succeeded, ms since the Unix epoch.
    pub last_export_success_unix_ms: Option<u64>,
    /// Problems that lose no span yet but will: found at startup (OTLP pointed at Jaeger's
    /// Thrift path), or while running ([`crate::Tracing::add_warning`]). Each once.
    pub warnings: Vec<String>,
    /// Whether span-derived metrics are on.
    pub metrics_enabled: bool,
    /// Metric label sets in use.
    pub metrics_series: usize,
    /// Spans counted in overflow series because the label-set cap was reached.
    pub metrics_overflowed: u64,
    /// The directory whose metrics files the host's processes share (`metrics_dir`), when
    /// metrics are on.
    pub metrics_dir: Option<String>,
    /// Metrics files skipped while merging them (unreadable, damaged, other histogram
    /// bounds): counted each time one is.
    pub metrics_files_skipped: u64,
    /// Writes of this process's metrics file that failed.
    pub metrics_file_write_failures: u64,
}

impl Health {
    /// The report as a [`FieldValue`] map, field for field what its `Serialize` writes (for
    /// bindings without serde: the npm package's browser build);
    /// `health_to_value_agrees_with_serde` (tests/vectors.rs) holds the two equal.
    pub fn to_value(&self) -> FieldValue {
        let text = |s: &str| FieldValue::Str(s.to_owned());
        let optional = |s: &Option<String>| s.as_deref().map_or(FieldValue::Null, text);
        let whole = FieldValue::Whole;
        let c = &self.counts;
        let fields: [(&str, FieldValue); 36] = [
            ("tracing_enabled", FieldValue::Bool(self.tracing_enabled)),
            ("shut_down", FieldValue::Bool(self.shut_down)),
            ("service_name", text(&self.service_name)),
            ("service_version", text(&self.service_version)),
            ("environment", text(&self.environment)),
            ("backend", text(&self.backend)),
            ("endpoint", optional(&self.endpoint)),
            ("protocol", optional(&self.protocol)),
            ("sampler", text(&self.sampler)),
            ("sampling_rate", FieldValue::Number(self.sampling_rate)),
            (
                "propagators",
                FieldValue::List(self.propagators.iter().map(|p| text(p)).collect()),
            ),
            ("queue_capacity", whole(self.queue_capacity as u64)),
            ("spans_started", whole(c.spans_started)),
            ("spans_ended", whole(c.spans_ended)),
            ("spans_sampled_out", whole(c.spans_sampled_out)),
            ("spans_exported", whole(c.spans_exported)),
            (
                "spans_dropped_queue_full",
                whole(c.spans_dropped_queue_full),
            ),
            ("spans_export_failed", whole(c.spans_export_failed)),
            ("export_failures", whole(c.export_failures)),
            (
                "spans_started_after_shutdown",
                whole(c.spans_started_after_shutdown),
            ),
            ("attributes_truncated", whole(c.attributes_truncated)),
            ("attributes_redacted", whole(c.attributes_redacted)),
            ("attributes_dropped", whole(c.attributes_dropped)),
            ("events_dropped", whole(c.events_dropped)),
            ("links_dropped", whole(c.links_dropped)),
            ("baggage_entries_dropped", whole(c.baggage_entries_dropped)),
            ("queue_depth", whole(c.queue_depth)),
            (
                "last_export_error",
                self.last_export_error
                    .as_ref()
                    .map_or(FieldValue::Null, |e| {
                        FieldValue::Map(vec![
                            ("kind".into(), text(&e.kind)),
                            ("message".into(), text(&e.message)),
                            ("unix_ms".into(), whole(e.unix_ms)),
                        ])
                    }),
            ),
            (
                "last_export_success_unix_ms",
                self.last_export_success_unix_ms
                    .map_or(FieldValue::Null, whole),
            ),
            (
                "warnings",
                FieldValue::List(self.warnings.iter().map(|w| text(w)).collect()),
            ),
            ("metrics_enabled", FieldValue::Bool(self.metrics_enabled)),
            ("metrics_series", whole(self.metrics_series as u64)),
            ("metrics_overflowed", whole(self.metrics_overflowed)),
            ("metrics_dir", optional(&self.metrics_dir)),
            ("metrics_files_skipped", whole(self.metrics_files_skipped)),
            (
                "metrics_file_write_failures",
                whole(self.metrics_file_write_failures),
            ),
        ];
        FieldValue::Map(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// As a JSON string.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
