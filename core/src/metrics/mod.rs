//! Span-derived metrics: request rate, errors and duration (RED) per service, span name, kind and
//! status, the service map, and the sampling rate actually applied — computed from **every**
//! ended span, before sampling drops anything, so the numbers are exact at any sampling rate.
//!
//! A span the sampler drops is not recorded (no attributes, events or export), but while metrics
//! are on it keeps a small "metrics-only" record — name, kind, start time, status and the few
//! attributes that label metrics — and is counted when it ends.
//!
//! Labels: `service_name`, `span_name`, `span_kind`, `status` (`ok` / `error` / `unset`), plus
//! `http_route` on server spans that have an `http.route`, and `target_service` on client and
//! producer spans (from `peer.service`, else `server.address`): the service map's edges.
//! Cardinality is bounded twice: id-like path segments of span names (`/orders/123`,
//! UUIDs, long hex) become `{id}`, and past `metrics_max_series` label sets new ones are counted
//! in one overflow series per kind and status (`otel_metric_overflow="true"`), which keeps totals
//! and error rates exact (a label set admitted before the cap still gets its other statuses, so
//! its own error rate is exact too); how many spans went there is `metrics_overflow_total`.
//!
//! Exposition is the Prometheus text format ([`MetricsSnapshot::prometheus_text`]); durations are in
//! milliseconds, as the specification's `HighLatency` alert (`> 1000`) implies.

#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub(crate) mod files;
mod local;
mod sketch;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{KeyValue, Value};

use crate::platform::Stamp;

pub use sketch::{Sketch, RELATIVE_ACCURACY};

/// Default histogram bucket upper bounds, milliseconds.
pub(crate) const DEFAULT_BUCKETS_MS: &[f64] = &[
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];
/// Default cap on label sets.
pub(crate) const DEFAULT_MAX_SERIES: usize = 2000;
/// The quantiles exposed as `duration_quantile`.
pub(crate) const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];
/// The `span_name` of overflow series.
pub(crate) const OVERFLOW_NAME: &str = "_overflow";

/// What a pipeline holds its span metrics by. Without the `span-metrics` feature a type with no
/// values: a pipeline's `Option<Metrics>` is then always `None`, the compiler knows it, and
/// every path through the metrics compiles away (with only a few `cfg`s: construction, and
/// [`MetricsOnly`], which holds a [`Live`] to be as impossible).
#[cfg(feature = "span-metrics")]
pub(crate) type Metrics = Arc<SpanMetrics>;

/// See the other definition: the metrics' handle when they are compiled out (no values).
#[cfg(not(feature = "span-metrics"))]
#[derive(Debug)]
pub(crate) enum Metrics {}

#[cfg(not(feature = "span-metrics"))]
impl std::ops::Deref for Metrics {
    type Target = Arc<SpanMetrics>;
    fn deref(&self) -> &Arc<SpanMetrics> {
        match *self {}
    }
}

/// Held by a [`MetricsOnly`]: nothing, or without the `span-metrics` feature a value that
/// cannot exist (so neither can a metrics-only span, nor the code that ends one).
#[cfg(feature = "span-metrics")]
type Live = ();
#[cfg(not(feature = "span-metrics"))]
type Live = Metrics;

#[cfg(feature = "span-metrics")]
fn live(_: &Metrics) -> Live {}
#[cfg(not(feature = "span-metrics"))]
fn live(m: &Metrics) -> Live {
    match *m {}
}

/// Attribute keys that label metrics.
pub(crate) mod keys {
    /// Server route template (`http_route` label of server spans).
    pub(crate) const HTTP_ROUTE: &str = "http.route";
    /// The called service (`target_service` of client/producer spans).
    pub(crate) const PEER_SERVICE: &str = "peer.service";
    /// The called host, when `peer.service` is absent.
    pub(crate) const SERVER_ADDRESS: &str = "server.address";
}

const STATUS_LABELS: [&str; 3] = ["unset", "ok", "error"];

fn status_index(s: &Status) -> u8 {
    match s {
        Status::Unset => 0,
        Status::Ok => 1,
        Status::Error { .. } => 2,
    }
}

fn kind_index(k: &SpanKind) -> u8 {
    match k {
        SpanKind::Internal => 0,
        SpanKind::Server => 1,
        SpanKind::Client => 2,
        SpanKind::Producer => 3,
        SpanKind::Consumer => 4,
    }
}

const KIND_LABELS: [&str; 5] = ["internal", "server", "client", "producer", "consumer"];

/// The kinds in the order of [`kind_index`].
const KINDS: [SpanKind; 5] = [
    SpanKind::Internal,
    SpanKind::Server,
    SpanKind::Client,
    SpanKind::Producer,
    SpanKind::Consumer,
];

/// Whether attributes can label the metrics of a span of `kind` (see [`keys`]).
pub(crate) fn labels_from_attributes(kind: &SpanKind) -> bool {
    Hints::labelled(kind)
}

/// The attributes that label a span's metrics: borrowed from a recorded span's attributes at
/// its end (no allocation on that path), owned by a metrics-only span while it runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hints<'a> {
    route: Option<Cow<'a, str>>,
    peer_service: Option<Cow<'a, str>>,
    server_address: Option<Cow<'a, str>>,
}

impl<'a> Hints<'a> {
    /// The slot `key` fills, if it labels the metrics of a span of `kind` (a route labels
    /// server spans, a target client and producer spans; nothing labels the others).
    #[inline]
    fn slot(&mut self, kind: &SpanKind, key: &str) -> Option<&mut Option<Cow<'a, str>>> {
        match (kind, key) {
            (SpanKind::Server, keys::HTTP_ROUTE) => Some(&mut self.route),
            (SpanKind::Client | SpanKind::Producer, keys::PEER_SERVICE) => {
                Some(&mut self.peer_service)
            }
            (SpanKind::Client | SpanKind::Producer, keys::SERVER_ADDRESS) => {
                Some(&mut self.server_address)
            }
            _ => None,
        }
    }

    /// Whether any attribute can label a span of `kind`.
    #[inline]
    fn labelled(kind: &SpanKind) -> bool {
        !matches!(kind, SpanKind::Internal | SpanKind::Consumer)
    }

    fn is_empty(&self) -> bool {
        self.route.is_none() && self.peer_service.is_none() && self.server_address.is_none()
    }

    /// An empty value is no label (Prometheus treats `l=""` as absent: two series would
    /// collide), and must not hide the next source of a target.
    fn set(slot: &mut Option<Cow<'a, str>>, v: Cow<'a, str>) {
        *slot = (!v.is_empty()).then_some(v);
    }

    pub(crate) fn from_attributes(kind: &SpanKind, attrs: &'a [KeyValue]) -> Hints<'a> {
        let mut h = Hints::default();
        if Self::labelled(kind) {
            for kv in attrs {
                if let Some(slot) = h.slot(kind, kv.key.as_str()) {
                    Self::set(slot, kv.value.as_str());
                }
            }
        }
        h
    }
}

impl Hints<'static> {
    /// The hints among `attrs`, owning their text, each cut to the value-length limit (so that
    /// a measured-only span lands in the series a recorded one would). Only the labelling
    /// values are copied or cut; other attributes are not touched.
    /// `None` when there are none (the common case: no allocation).
    pub(crate) fn owned(
        limit: usize,
        kind: &SpanKind,
        attrs: &[KeyValue],
    ) -> Option<Box<Hints<'static>>> {
        let mut h = None;
        if Self::labelled(kind) {
            for kv in attrs {
                note(&mut h, limit, kind, kv.key.as_str(), &kv.value);
            }
        }
        h
    }

    /// Notes `key = value` (set on a running metrics-only span of `kind`) if it labels its
    /// metrics.
    #[inline]
    pub(crate) fn note(&mut self, limit: usize, kind: &SpanKind, key: &str, value: &Value) {
        if let Some(slot) = self.slot(kind, key) {
            let mut v = value.clone();
            crate::limits::truncate_value(&mut v, limit);
            Self::set(slot, Cow::Owned(v.as_str().into_owned()));
        }
    }
}

/// Notes `key = value` in `hints` (allocated on the first labelling attribute).
fn note(
    hints: &mut Option<Box<Hints<'static>>>,
    limit: usize,
    kind: &SpanKind,
    key: &str,
    value: &Value,
) {
    if Hints::default().slot(kind, key).is_some() {
        hints
            .get_or_insert_with(Box::default)
            .note(limit, kind, key, value);
    }
}

/// What the metrics of an unsampled span need; see the module docs. Small, held inline in the
/// span: measuring an unsampled span allocates nothing unless it has labelling attributes, and
/// holds no reference to the pipeline (no reference count to move): its metrics are found by
/// their id when it ends, in the ending thread's shard (see [`local`]).
#[derive(Debug)]
pub(crate) struct MetricsOnly {
    pub(crate) name: Cow<'static, str>,
    /// 8 bytes where a `SystemTime` takes 16, and usually a counter read (see [`Stamp`]).
    start: Stamp,
    /// [`SpanMetrics::id`] of the metrics that count it.
    metrics: u64,
    /// The attribute value-length limit, which labelling values are cut to.
    value_limit: u32,
    pub(crate) kind: SpanKind,
    /// Unset, ok or error, as [`status_index`] numbers them.
    status: u8,
    hints: Option<Box<Hints<'static>>>,
    _live: Live,
}

impl MetricsOnly {
    /// A span of `metrics` that started at `start`; counts it as sampled out.
    pub(crate) fn new(
        counters: &crate::health::Counters,
        value_limit: usize,
        metrics: &Metrics,
        name: Cow<'static, str>,
        kind: SpanKind,
        start: Stamp,
        attrs: &[KeyValue],
    ) -> MetricsOnly {
        if !local::count_sampled_out(metrics) {
            crate::health::Counters::add(&counters.app.sampled_out, 1);
        }
        let value_limit = u32::try_from(value_limit).unwrap_or(u32::MAX);
        MetricsOnly {
            hints: Hints::owned(value_limit as usize, &kind, attrs),
            name,
            start,
            metrics: metrics.id,
            value_limit,
            kind,
            status: 0,
            _live: live(metrics),
        }
    }

    /// Notes an attribute set while the span runs, if it labels the metrics.
    pub(crate) fn note(&mut self, key: &str, value: &Value) {
        note(
            &mut self.hints,
            self.value_limit as usize,
            &self.kind,
            key,
            value,
        );
    }

    /// Counts the span, ended at `end`, in its metrics (if they still exist).
    pub(crate) fn record(&self, end: Stamp) {
        let none = Hints::default();
        let h = self.hints.as_deref().unwrap_or(&none);
        let (ki, si) = (kind_index(&self.kind), self.status);
        let nanos = self.start.nanos_until(end);
        if let Some(k) = StaticName::of(&self.name, ki, si, h) {
            if local::record(
                self.metrics,
                || local::resolve(self.metrics),
                &self.name,
                k,
                nanos,
            ) {
                return;
            }
        }
        if let Some(m) = local::resolve(self.metrics) {
            m.record_locked(&self.name, ki, si, h, nanos);
        }
    }

    /// Moves the start time.
    pub(crate) fn set_start(&mut self, start: SystemTime) {
        self.start = Stamp::at(start);
    }

    /// Sets the status with the span's rules: ok is final, unset never replaces.
    pub(crate) fn set_status(&mut self, status: &Status) {
        let si = status_index(status);
        if self.status != 1 && si != 0 {
            self.status = si;
        }
    }
}

/// One label set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// The span name, id-like segments templated (or `_overflow` past the series bound).
    pub span_name: String,
    /// `internal`, `server`, `client`, `producer` or `consumer`.
    pub span_kind: &'static str,
    /// `ok`, `error` or `unset`.
    pub status: &'static str,
    /// The route template, server spans only.
    pub http_route: Option<String>,
    /// The called service, client and producer spans only.
    pub target_service: Option<String>,
    /// Whether this is the overflow series.
    pub overflow: bool,
    /// `span_kind` and `status` as small numbers, for the lookup.
    kind_status: (u8, u8),
}

impl SeriesKey {
    /// The overflow series of a kind and status (past the series cap).
    pub(crate) fn overflow(ki: u8, si: u8) -> SeriesKey {
        SeriesKey {
            span_name: OVERFLOW_NAME.to_owned(),
            span_kind: KIND_LABELS[ki as usize],
            status: STATUS_LABELS[si as usize],
            http_route: None,
            target_service: None,
            overflow: true,
            kind_status: (ki, si),
        }
    }
}

/// The numbers of one label set.
#[derive(Debug, Clone)]
pub struct SeriesStats {
    /// Spans ended.
    pub count: u64,
    /// Their total duration, ms.
    pub sum_ms: f64,
    /// The shortest of them, ms (`+inf` while `count` is 0).
    pub min_ms: f64,
    /// The longest of them, ms (`-inf` while `count` is 0).
    pub max_ms: f64,
    /// Per bucket (non-cumulative), the last one for values above every bound.
    pub buckets: Vec<u64>,
    /// The durations' quantile sketch.
    pub sketch: Sketch,
}

#[derive(Debug)]
struct Table {
    index: HashMap<u64, Vec<u32>, BuildHasherDefault<Identity>>,
    /// The series of a `'static` span name (a literal, or a binding's interned name) with no
    /// labelling attributes, found by the name's address: no templating, hashing or comparing
    /// of text on the common path. A `'static` str never changes, so its address identifies it.
    statics: HashMap<StaticName, u32, BuildHasherDefault<Identity>>,
    series: Vec<(SeriesKey, SeriesStats)>,
    /// Every thread's pending spans (see [`local`]).
    shards: Vec<Arc<local::Shard>>,
    /// Spans sampled out that were counted in shards since forgotten.
    retired_sampled_out: u64,
}

impl SeriesStats {
    /// No span yet, with `bounds` histogram bounds.
    pub(crate) fn empty(bounds: usize) -> SeriesStats {
        SeriesStats {
            count: 0,
            sum_ms: 0.0,
            min_ms: f64::INFINITY,
            max_ms: f64::NEG_INFINITY,
            buckets: vec![0; bounds + 1],
            sketch: Sketch::default(),
        }
    }

    /// Adds `other`'s spans (same histogram bounds): counts, sums and buckets add, min and max
    /// are the extremes of both, the sketches merge exactly.
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    pub(crate) fn merge(&mut self, other: &SeriesStats) {
        self.count += other.count;
        self.sum_ms += other.sum_ms;
        self.min_ms = self.min_ms.min(other.min_ms);
        self.max_ms = self.max_ms.max(other.max_ms);
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.sketch.merge(&other.sketch);
    }

    /// Back to no span, keeping the memory (no allocation: a fork handler calls it).
    #[cfg(unix)]
    fn clear(&mut self) {
        self.count = 0;
        self.sum_ms = 0.0;
        self.min_ms = f64::INFINITY;
        self.max_ms = f64::NEG_INFINITY;
        self.buckets.iter_mut().for_each(|b| *b = 0);
        self.sketch.clear();
    }
}

/// The table's lock, held across a fork.
#[cfg(unix)]
pub(crate) struct ForkHold<'a> {
    metrics: &'a SpanMetrics,
    table: MutexGuard<'a, Table>,
}

#[cfg(unix)]
impl ForkHold<'_> {
    /// In the child, before the lock is let go: a new process counts its own spans, as its
    /// health does (the parent's are the parent's: in its file with `metrics_dir`, in its own
    /// scrape without; counted again in each worker, a sum over the workers would count the
    /// spans before the fork once per worker). Every count goes back to zero — series kept,
    /// pending spans of the threads' rings let go, memory kept (nothing is allocated in a fork
    /// handler).
    pub(crate) fn in_child(&mut self) {
        let t = &mut *self.table;
        for (_, s) in &mut t.series {
            s.clear();
        }
        for shard in &t.shards {
            shard.discard();
        }
        t.retired_sampled_out = 0;
        self.metrics.overflowed.store(0, Ordering::Relaxed);
    }
}

/// See [`Table::statics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StaticName {
    addr: usize,
    len: usize,
    kind_status: (u8, u8),
}

impl StaticName {
    /// The key of a `'static` name with no labelling attributes; `None` for any other span.
    // `&Cow`, not `&str`: whether the name is `'static` decides.
    #[allow(clippy::ptr_arg)]
    #[inline]
    fn of(name: &Cow<'static, str>, ki: u8, si: u8, h: &Hints<'_>) -> Option<StaticName> {
        match name {
            Cow::Borrowed(s) if h.is_empty() => Some(StaticName {
                addr: s.as_ptr() as usize,
                len: s.len(),
                kind_status: (ki, si),
            }),
            _ => None,
        }
    }
}

impl Hash for StaticName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ks = (u64::from(self.kind_status.0) << 8) | u64::from(self.kind_status.1);
        // Addresses share their high bits and their low ones: mix the word (the table's
        // `Identity` hasher takes it as is).
        let w = (self.addr as u64) ^ ((self.len as u64) << 32) ^ (ks << 48);
        let m = u128::from(w) * 0x9e37_79b9_7f4a_7c15;
        state.write_u64((m as u64) ^ ((m >> 64) as u64));
    }
}

/// A consistent copy of every series of the span-derived metrics, for tests and custom
/// exposition: request rate, errors and duration per service, span name, kind and status (and
/// `http_route` on server spans, `target_service` on client and producer spans), counted from
/// every ended span before sampling drops any.
#[derive(Debug, Clone)]
pub struct MetricsSnapshot {
    /// `service.name`.
    pub service_name: String,
    /// Histogram upper bounds, ms.
    pub buckets_ms: Vec<f64>,
    /// Every series, sorted by key.
    pub series: Vec<(SeriesKey, SeriesStats)>,
    /// The configured sampling ratio.
    pub sampling_rate: f64,
    /// Spans the sampler kept.
    pub sampled: u64,
    /// Spans the sampler dropped.
    pub sampled_out: u64,
    /// Spans counted in overflow series.
    pub overflowed: u64,
}

/// The span metrics of one [`crate::Tracing`].
#[derive(Debug)]
pub(crate) struct SpanMetrics {
    /// Unique in the process: names this instance in threads' shards.
    id: u64,
    service_name: String,
    buckets_ms: Box<[f64]>,
    max_series: usize,
    table: Mutex<Table>,
    overflowed: AtomicU64,
}

/// The span name with a URL's query string cut and id-like path segments replaced by `{id}`;
/// borrowed when nothing changes (the common case, no allocation). A `?` cuts only after a URL
/// path (`GET /orders?page=2`, `https://host/x?y`): in a SQL statement (`... WHERE id = ?`) it is
/// a placeholder, and the name stays whole.
pub(crate) fn template_name(name: &str) -> Cow<'_, str> {
    let bytes = name.as_bytes();
    // Fast path, no allocation: nothing to template without a '/' or a '?'.
    if !bytes.iter().any(|b| *b == b'/' || *b == b'?') {
        return Cow::Borrowed(name);
    }
    let base = match name.split_once('?') {
        Some((before, _)) => {
            let word = before.rsplit(' ').next().unwrap_or(before);
            if word.starts_with('/') || word.contains("://") {
                before
            } else {
                name
            }
        }
        None => name,
    };
    if base.len() == name.len() && !base.split('/').skip(1).any(|seg| id_part(seg).is_some()) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(base.len());
    for (i, seg) in base.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match id_part(seg).filter(|_| i > 0) {
            // `{id}`, then what followed the id in the segment (an extension: `123.json`).
            Some(rest) => {
                out.push_str("{id}");
                out.push_str(rest);
            }
            None => out.push_str(seg),
        }
    }
    Cow::Owned(out)
}

/// Whether a path segment is an id, and if so what follows the id in it (`.json` of
/// `123.json`, else ""). Ids: digits; a UUID; hex of 8 or more with a digit (`3f9a2b1c`); a ULID
/// (26 of Crockford's base 32, a digit among them); a prefixed id (`cus_9s6XKzkNRiz8i3`,
/// `ORD-10023`: letters, `_` or `-`, then 4 or more digits or 10 or more letters and digits with
/// a digit); anything with an `@` (an email address).
fn id_part(seg: &str) -> Option<&str> {
    let (id, rest) = match seg.find('.') {
        // An extension after digits (`123.json`); other dotted segments (a version `4.17.21`,
        // an address, a file name) are not split.
        Some(i)
            if i > 0
                && seg[..i].bytes().all(|b| b.is_ascii_digit())
                && seg.len() > i + 1
                && seg[i + 1..].bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            seg.split_at(i)
        }
        _ => (seg, ""),
    };
    let n = id.len();
    let digit = id.bytes().any(|b| b.is_ascii_digit());
    let is_id = n > 0
        && (id.bytes().all(|b| b.is_ascii_digit())
            || (n == 36
                && id.bytes().enumerate().all(|(i, b)| match i {
                    8 | 13 | 18 | 23 => b == b'-',
                    _ => b.is_ascii_hexdigit(),
                }))
            || (n >= 8 && digit && id.bytes().all(|b| b.is_ascii_hexdigit()))
            || (n == 26
                && digit
                && id.bytes().all(|b| {
                    b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b))
                }))
            || id.contains('@')
            || prefixed(id));
    is_id.then_some(rest)
}

/// `cus_9s6XKzkNRiz8i3`, `ORD-10023`: a short word of letters, `_` or `-`, then an id part (4 or
/// more digits, or 10 or more letters and digits with a digit).
fn prefixed(seg: &str) -> bool {
    let Some(at) = seg.find(['_', '-']) else {
        return false;
    };
    let (word, id) = (&seg[..at], &seg[at + 1..]);
    let digits = id.bytes().filter(u8::is_ascii_digit).count();
    (1..=8).contains(&word.len())
        && word.bytes().all(|b| b.is_ascii_alphabetic())
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && (digits >= 4 && digits == id.len() || (id.len() >= 10 && digits > 0))
}

/// A hash of the label parts (intern's word-at-a-time hasher; each part ends with its length).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h = crate::intern::FxHasher::default();
    for p in parts {
        h.write(p);
    }
    h.finish()
}

/// The table's keys are hashes already.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

impl SpanMetrics {
    /// Metrics for `service_name` with histogram bounds `buckets_ms` (ascending) and at most
    /// `max_series` label sets.
    #[cfg_attr(not(feature = "span-metrics"), allow(dead_code))]
    pub(crate) fn new(service_name: &str, buckets_ms: &[f64], max_series: usize) -> SpanMetrics {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        SpanMetrics {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            service_name: service_name.to_owned(),
            buckets_ms: buckets_ms.into(),
            max_series: max_series.max(1),
            table: Mutex::new(Table {
                index: HashMap::default(),
                statics: HashMap::default(),
                series: Vec::new(),
                shards: Vec::new(),
                retired_sampled_out: 0,
            }),
            overflowed: AtomicU64::new(0),
        }
    }

    /// Shares these metrics with spans: an unsampled span holds only their id and finds
    /// them by it when it ends (on another thread, or after its thread's shard was evicted).
    #[cfg_attr(not(feature = "span-metrics"), allow(dead_code))]
    pub(crate) fn shared(self) -> Arc<SpanMetrics> {
        let m = Arc::new(self);
        local::register(&m);
        m
    }

    /// Counts a recorded span at its end, `nanos` long.
    pub(crate) fn record_span(self: &Arc<Self>, data: &crate::record::SpanRecord, nanos: u64) {
        let hints = Hints::from_attributes(&data.span_kind, &data.attributes);
        let (ki, si) = (kind_index(&data.span_kind), status_index(&data.status));
        // The common span: through this thread's shard, no lock.
        if let Some(k) = StaticName::of(&data.name, ki, si, &hints) {
            if local::record(self.id, || Some(self.clone()), &data.name, k, nanos) {
                return;
            }
        }
        self.record_locked(&data.name, ki, si, &hints, nanos);
    }

    /// Counts a span under the table's lock.
    // `&Cow`, not `&str`: whether the name is `'static` decides the lookup.
    #[allow(clippy::ptr_arg)]
    fn record_locked(&self, name: &Cow<'static, str>, ki: u8, si: u8, h: &Hints<'_>, nanos: u64) {
        let mut t = self.lock();
        let i = match StaticName::of(name, ki, si, h) {
            Some(k) => self.static_series(&mut t, name, k).0,
            None => self.find(&mut t, name, ki, si, h),
        };
        self.add(&mut t, i, nanos);
    }

    /// Spans counted as sampled out by threads' shards.
    pub(crate) fn sampled_out(&self) -> u64 {
        let t = self.lock();
        t.retired_sampled_out + t.shards.iter().map(|s| s.sampled_out()).sum::<u64>()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The table's lock, held across a fork (see [`crate::platform::fork`]). The child keeps the
    /// parent's series, its counts back to zero ([`ForkHold::in_child`]).
    #[cfg(unix)]
    pub(crate) fn hold_for_fork(&self) -> ForkHold<'_> {
        ForkHold {
            metrics: self,
            table: self.lock(),
        }
    }

    /// The series of a `'static` name with no labelling attributes, and whether it may be
    /// cached by the name's address (not an overflow series: those are found again each time,
    /// so that [`SpanMetrics::find`] counts every span that lands there).
    fn static_series(&self, t: &mut Table, name: &str, k: StaticName) -> (usize, bool) {
        if let Some(i) = t.statics.get(&k) {
            return (*i as usize, true);
        }
        let (ki, si) = k.kind_status;
        let i = self.find(t, name, ki, si, &Hints::default());
        let cacheable = !t.series[i].0.overflow;
        if cacheable && t.statics.len() < self.max_series.saturating_mul(4) {
            t.statics.insert(k, i as u32);
        }
        (i, cacheable)
    }

    /// Adds one span of `nanos` to series `i`.
    fn add(&self, t: &mut Table, i: usize, nanos: u64) {
        let ms = nanos as f64 / 1e6;
        // The first bound at or above `ms`. A scan from the smallest bound, not a binary
        // search: most spans are short, so it stops at the first compare or two, predictably.
        let bucket = (self.buckets_ms.iter())
            .position(|b| *b >= ms)
            .unwrap_or(self.buckets_ms.len());
        let s = &mut t.series[i].1;
        s.count += 1;
        s.sum_ms += ms;
        s.min_ms = s.min_ms.min(ms);
        s.max_ms = s.max_ms.max(ms);
        s.buckets[bucket] += 1;
        s.sketch.add(ms);
    }

    /// Folds one thread's pending spans into the table.
    fn fold(&self, t: &mut Table, shard: &local::Shard) {
        shard.fold(|i, nanos| self.add(t, i, nanos));
    }

    /// The series of a label set: found by its hash, else created, else (past the cap) the
    /// overflow series of its kind and status.
    fn find(&self, t: &mut Table, name: &str, ki: u8, si: u8, h: &Hints<'_>) -> usize {
        let name = template_name(name);
        let kind = &KINDS[ki as usize];
        let route = match kind {
            SpanKind::Server => h.route.as_deref(),
            _ => None,
        };
        let target = match kind {
            SpanKind::Client | SpanKind::Producer => {
                h.peer_service.as_deref().or(h.server_address.as_deref())
            }
            _ => None,
        };
        let hash = fnv(&[
            name.as_bytes(),
            &[ki, si],
            route.unwrap_or("\u{0}").as_bytes(),
            target.unwrap_or("\u{0}").as_bytes(),
        ]);
        let found = t.index.get(&hash).and_then(|ids| {
            ids.iter().copied().find(|i| {
                let k = &t.series[*i as usize].0;
                k.kind_status == (ki, si)
                    && !k.overflow
                    && k.span_name == name
                    && k.http_route.as_deref() == route
                    && k.target_service.as_deref() == target
            })
        });
        // Past the cap, a label set that has a series already still gets its other statuses:
        // an endpoint's errors keep its name, so its error rate stays exact (at most one
        // series per status of each admitted set, 3x the cap).
        let admitted = |t: &Table| {
            t.series.len() < self.max_series
                || (0..STATUS_LABELS.len() as u8).any(|other| {
                    let hash = fnv(&[
                        name.as_bytes(),
                        &[ki, other],
                        route.unwrap_or("\u{0}").as_bytes(),
                        target.unwrap_or("\u{0}").as_bytes(),
                    ]);
                    t.index.get(&hash).is_some_and(|ids| {
                        ids.iter().any(|i| {
                            let k = &t.series[*i as usize].0;
                            k.kind_status == (ki, other)
                                && !k.overflow
                                && k.span_name == name
                                && k.http_route.as_deref() == route
                                && k.target_service.as_deref() == target
                        })
                    })
                })
        };
        match found {
            Some(i) => i as usize,
            None if admitted(t) => self.insert(
                t,
                hash,
                SeriesKey {
                    span_name: name.into_owned(),
                    span_kind: KIND_LABELS[ki as usize],
                    status: STATUS_LABELS[si as usize],
                    http_route: route.map(str::to_owned),
                    target_service: target.map(str::to_owned),
                    overflow: false,
                    kind_status: (ki, si),
                },
            ),
            None => {
                self.overflowed.fetch_add(1, Ordering::Relaxed);
                self.overflow_index(t, ki, si)
            }
        }
    }

    fn insert(&self, t: &mut Table, hash: u64, key: SeriesKey) -> usize {
        let i = t.series.len();
        t.series
            .push((key, SeriesStats::empty(self.buckets_ms.len())));
        t.index.entry(hash).or_default().push(i as u32);
        i
    }

    /// The overflow series of a kind and status (created past the cap: at most 15 of them).
    fn overflow_index(&self, t: &mut Table, ki: u8, si: u8) -> usize {
        let hash = fnv(&[OVERFLOW_NAME.as_bytes(), &[ki, si], b"overflow"]);
        let existing = t.index.get(&hash).and_then(|ids| {
            ids.iter().copied().find(|i| {
                let k = &t.series[*i as usize].0;
                k.overflow && k.kind_status == (ki, si)
            })
        });
        match existing {
            Some(i) => i as usize,
            None => self.insert(t, hash, SeriesKey::overflow(ki, si)),
        }
    }

    /// Spans counted in overflow series.
    pub(crate) fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Label sets in use.
    pub(crate) fn series_count(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .series
            .len()
    }

    /// A consistent copy of every series, sorted by key.
    pub(crate) fn snapshot(
        &self,
        sampling_rate: f64,
        sampled: u64,
        sampled_out: u64,
    ) -> MetricsSnapshot {
        let (mut series, overflowed) = {
            let mut t = self.lock();
            local::fold_all(self, &mut t);
            // Read under the lock: consistent with the overflow series' counts.
            (t.series.clone(), self.overflowed())
        };
        crate::sort::sort_by(&mut series, |a, b| a.0.cmp(&b.0));
        MetricsSnapshot {
            service_name: self.service_name.clone(),
            buckets_ms: self.buckets_ms.to_vec(),
            series,
            sampling_rate,
            sampled,
            sampled_out,
            overflowed,
        }
    }
}

impl MetricsSnapshot {
    /// The `q` quantile of the duration (ms) of every series matching `select`, merged over
    /// them (e.g. all statuses of one route); within [`RELATIVE_ACCURACY`] of the true value.
    pub fn quantile(&self, q: f64, select: impl Fn(&SeriesKey) -> bool) -> Option<f64> {
        let mut merged = Sketch::default();
        for (k, s) in &self.series {
            if select(k) {
                merged.merge(&s.sketch);
            }
        }
        merged.quantile(q)
    }

    /// Spans counted for series matching `select`.
    pub fn count(&self, select: impl Fn(&SeriesKey) -> bool) -> u64 {
        self.series
            .iter()
            .filter(|(k, _)| select(k))
            .map(|(_, s)| s.count)
            .sum()
    }

    /// The share of spans the sampler kept, `None` before any span.
    pub fn kept_ratio(&self) -> Option<f64> {
        let all = self.sampled + self.sampled_out;
        (all > 0).then(|| self.sampled as f64 / all as f64)
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn prometheus_text(&self) -> String {
        let mut out = String::with_capacity(256 + self.series.len() * 600);
        let svc = escape(&self.service_name);
        let labels = |k: &SeriesKey, with_status: bool| {
            let mut l = format!(
                "service_name=\"{svc}\",span_name=\"{}\",span_kind=\"{}\"",
                escape(&k.span_name),
                k.span_kind,
            );
            if with_status {
                let _ = write!(l, ",status=\"{}\"", k.status);
            }
            if let Some(r) = &k.http_route {
                let _ = write!(l, ",http_route=\"{}\"", escape(r));
            }
            if let Some(t) = &k.target_service {
                let _ = write!(l, ",target_service=\"{}\"", escape(t));
            }
            if k.overflow {
                l.push_str(",otel_metric_overflow=\"true\"");
            }
            l
        };
        let all: Vec<String> = self.series.iter().map(|(k, _)| labels(k, true)).collect();

        family(
            &mut out,
            "traces_total",
            "counter",
            "Spans ended (every span, sampled or not), by service, span name, kind and status; \
             client and producer spans carry the called service (target_service).",
        );
        for ((_, s), l) in self.series.iter().zip(&all) {
            let _ = writeln!(out, "traces_total{{{l}}} {}", s.count);
        }

        family(
            &mut out,
            "duration",
            "histogram",
            "Span duration in milliseconds (every span, sampled or not).",
        );
        for ((_, s), l) in self.series.iter().zip(&all) {
            let mut cumulative = 0;
            for (i, n) in s.buckets.iter().enumerate() {
                cumulative += n;
                let le = self
                    .buckets_ms
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |b| number(*b));
                let _ = writeln!(out, "duration_bucket{{{l},le=\"{le}\"}} {cumulative}");
            }
            let _ = writeln!(out, "duration_sum{{{l}}} {}", number(s.sum_ms));
            let _ = writeln!(out, "duration_count{{{l}}} {}", s.count);
        }

        family(
            &mut out,
            "duration_quantile",
            // Prometheus keeps the `quantile` label for summaries (promtool refuses it on a
            // gauge); the count and sum are `duration`'s.
            "summary",
            "Span duration quantiles in milliseconds over every status of a span name, from a \
             DDSketch; each is within 1% (1/128) of the true quantile.",
        );
        let mut groups: Vec<(&SeriesKey, Sketch)> = Vec::new();
        for (k, s) in &self.series {
            // The statuses of one name/kind/route/target need not be adjacent in key order.
            let same = |g: &SeriesKey| {
                g.span_name == k.span_name
                    && g.span_kind == k.span_kind
                    && g.http_route == k.http_route
                    && g.target_service == k.target_service
                    && g.overflow == k.overflow
            };
            match groups.iter_mut().find(|(g, _)| same(g)) {
                Some((_, sk)) => sk.merge(&s.sketch),
                None => groups.push((k, s.sketch.clone())),
            }
        }
        for (k, sk) in &groups {
            // No status label: the quantiles are over every status.
            let l = labels(k, false);
            for q in QUANTILES {
                if let Some(v) = sk.quantile(q) {
                    let _ = writeln!(
                        out,
                        "duration_quantile{{{l},quantile=\"{}\"}} {}",
                        number(q),
                        number(v)
                    );
                }
            }
        }

        family(
            &mut out,
            "sampling_rate_configured",
            "gauge",
            "The configured sampling ratio.",
        );
        let _ = writeln!(
            out,
            "sampling_rate_configured{{service_name=\"{svc}\"}} {}",
            number(self.sampling_rate)
        );
        family(
            &mut out,
            "sampling_kept_ratio",
            "gauge",
            "The share of spans the sampler kept (NaN before the first span).",
        );
        let _ = writeln!(
            out,
            "sampling_kept_ratio{{service_name=\"{svc}\"}} {}",
            self.kept_ratio().map_or_else(|| "NaN".to_owned(), number)
        );
        family(
            &mut out,
            "sampling_decisions_total",
            "counter",
            "Sampling decisions, by decision (kept or dropped).",
        );
        let _ = writeln!(
            out,
            "sampling_decisions_total{{service_name=\"{svc}\",decision=\"kept\"}} {}",
            self.sampled
        );
        let _ = writeln!(
            out,
            "sampling_decisions_total{{service_name=\"{svc}\",decision=\"dropped\"}} {}",
            self.sampled_out
        );
        family(
            &mut out,
            "metrics_overflow_total",
            "counter",
            "Spans counted in an overflow series because the label-set cap was reached.",
        );
        let _ = writeln!(
            out,
            "metrics_overflow_total{{service_name=\"{svc}\"}} {}",
            self.overflowed
        );
        out
    }
}

fn family(out: &mut String, name: &str, ty: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {ty}");
}

/// A label value escaped for the text format.
fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n"),
    )
}

/// A sample value: shortest round-trip form, `+Inf`/`-Inf`/`NaN` as Prometheus spells them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_segments_are_templated() {
        assert_eq!(template_name("GET /orders/123"), "GET /orders/{id}");
        assert_eq!(template_name("GET /orders/123?x=1"), "GET /orders/{id}");
        assert_eq!(
            template_name("/u/3f2b8a4e-1c2d-4e5f-9a0b-123456789abc/cart"),
            "/u/{id}/cart"
        );
        assert_eq!(template_name("/blob/0123456789abcdef0123"), "/blob/{id}");
        assert!(matches!(
            template_name("GET /orders/{id}"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            template_name("etl.silver.clean"),
            Cow::Borrowed(_)
        ));
        assert_eq!(template_name("/v1/items/deadbeef"), "/v1/items/deadbeef");
        // The id formats of common APIs, each one series.
        for (path, templated) in [
            ("/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/orders/{id}"),
            ("/customers/cus_9s6XKzkNRiz8i3", "/customers/{id}"),
            ("/orders/123.json", "/orders/{id}.json"),
            ("/orders/ORD-10023", "/orders/{id}"),
            ("/commits/3f9a2b1c", "/commits/{id}"),
            ("/users/alice@example.com", "/users/{id}"),
        ] {
            assert_eq!(template_name(path), templated, "{path}");
        }
        // Words stay: versions, slugs, file names, short hex words.
        for path in [
            "/v2/users",
            "/api/users/me",
            "/blog/hello-world",
            "/static/app.v2.js",
            "/items/deadbeef",
            "/oauth/callback",
            "/reports/q3-summary",
            "/pkg/lodash/4.17.21",
        ] {
            assert!(matches!(template_name(path), Cow::Borrowed(_)), "{path}");
        }
        // A `?` cuts a URL's query string, not a SQL statement's placeholders.
        assert_eq!(
            template_name("https://api.example/v2/orders/77?expand=items"),
            "https://api.example/v2/orders/{id}"
        );
        for sql in [
            "SELECT * FROM users WHERE id = ?",
            "UPDATE users SET name = ? WHERE id = ?",
            "INSERT INTO t VALUES (?, ?)",
        ] {
            assert!(
                matches!(template_name(sql), Cow::Borrowed(s) if s == sql),
                "{sql}"
            );
        }
    }

    #[test]
    fn an_endpoint_past_the_series_cap_keeps_its_errors() {
        let m = SpanMetrics::new("svc", &[1.0], 2);
        let none = Hints::default();
        let mut t = m.lock();
        let ok_a = m.find(&mut t, "a", 0, 0, &none);
        let _b = m.find(&mut t, "b", 0, 0, &none);
        // The cap is reached: `a`'s error gets a series of its own, `c` goes to overflow.
        let err_a = m.find(&mut t, "a", 0, 2, &none);
        let c = m.find(&mut t, "c", 0, 2, &none);
        let key = |i: usize| t.series[i].0.clone();
        assert_ne!(ok_a, err_a);
        assert_eq!((&*key(err_a).span_name, key(err_a).status), ("a", "error"));
        assert!(key(c).overflow);
        assert_eq!(key(c).status, "error");
        drop(t);
        assert_eq!(m.overflowed(), 1);
    }

    #[test]
    fn escaping_and_numbers() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(1000.0), "1000");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
