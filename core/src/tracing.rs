//! `Tracing`: the provider built from a config — resource, sampler, limits, processor,
//! propagators and health — and span creation.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{
    SamplingDecision, ShouldSample, SpanEvents, SpanExporter, SpanLinks,
};
use opentelemetry_sdk::Resource;

use crate::config::TracingConfig;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::export::{BatchProcessor, Export, ExporterFactory, ShutdownReport};
use crate::health::{Counters, Health};
use crate::metrics::{MetricsOnly, MetricsSnapshot};
use crate::pipeline::Pipeline;
use crate::platform::Stamp;
use crate::propagation::{Carrier, Propagators};
use crate::record::SpanRecord;
use crate::scope::Scope;
use crate::span::{Parent, Span};

/// What a span starts with besides its name, kind, parent and attributes (rarely anything but
/// the defaults).
#[derive(Debug, Default)]
struct Extras {
    start_time: Option<SystemTime>,
    scope: Scope,
    links: Vec<Link>,
}

#[derive(Debug)]
struct Inner {
    config: TracingConfig,
    propagators: Propagators,
    resource: Resource,
    /// `None` when tracing is disabled.
    pipeline: Option<Arc<Pipeline>>,
    /// Counters also exist when disabled, so health always answers.
    counters: Arc<Counters>,
}

/// The tracing provider: cheap to clone, shareable across threads.
#[derive(Debug, Clone)]
pub struct Tracing {
    inner: Arc<Inner>,
}

impl Tracing {
    /// Builds tracing from a config: validates it, builds the resource, sampler, processor and
    /// exporter. With `enabled = false` spans are non-recording no-ops.
    pub fn new(config: TracingConfig) -> Result<Tracing> {
        Self::build(config, None)
    }

    /// Like [`Tracing::new`], but spans go to `exporter` (any OpenTelemetry SDK
    /// `SpanExporter`) instead of the configured backend. A forked child's export thread
    /// uses the same exporter (its copy of it): the configured backends build a fresh one.
    pub fn with_exporter<E: SpanExporter + 'static>(
        config: TracingConfig,
        mut exporter: E,
    ) -> Result<Tracing> {
        // The resource spans are exported with (`Tracing::resource`): the config's service
        // fields filled from its resource attributes first, as `build` does.
        let resource = crate::resource::build(&config.clone().with_resource_fields());
        exporter.set_resource(&resource);
        let exporter = Arc::new(exporter);
        Self::build(
            config,
            Some(Arc::new(move || {
                Ok(Box::new(crate::export::SharedSdk(exporter.clone())) as Box<dyn Export>)
            })),
        )
    }

    /// Like [`Tracing::with_exporter`], with crosstrace's own exporter interface
    /// ([`Export`]): batches of the spans' records as they were queued, with no conversion to
    /// the SDK's `SpanData`, and the outcome of every span said. A forked child's export
    /// thread uses the same exporter. The resource is [`Tracing::resource`].
    pub fn with_export<E: Export + 'static>(config: TracingConfig, exporter: E) -> Result<Tracing> {
        let exporter = Arc::new(exporter);
        Self::build(
            config,
            Some(Arc::new(move || {
                Ok(Box::new(exporter.clone()) as Box<dyn Export>)
            })),
        )
    }

    fn build(config: TracingConfig, exporter: Option<ExporterFactory>) -> Result<Tracing> {
        config.validate()?;
        let config = config.with_resource_fields();
        crate::diag::set_level(config.log_level);
        let counters = Arc::new(Counters::default());
        let resource = crate::resource::build(&config);
        let propagators = Propagators::new(&config.propagators);
        let mut warnings = Vec::new();
        let pipeline = if config.enabled {
            let exporter = match exporter {
                Some(e) => e,
                None => crate::export::build_exporter(&config, &resource, &mut warnings)?,
            };
            for w in &warnings {
                counters.record_error("misconfigured_endpoint", w);
                counters.add_warning(w, false);
            }
            // The usual OpenTelemetry deployment sets only the endpoint (the specification's
            // default exporter is OTLP; crosstrace's is the console): say where spans go.
            if config.backend == crate::config::Backend::Console && config.endpoint.is_some() {
                counters.add_warning(
                    "an endpoint is set but the backend is console, so spans are printed, not \
                     sent: set OTEL_TRACES_EXPORTER=otlp (or OTEL_BACKEND, or the config's \
                     backend) to send them",
                    true,
                );
            }
            let processor = BatchProcessor::start(&config, exporter, counters.clone())?;
            let pipeline = Arc::new(Pipeline::new(&config, processor, counters.clone())?);
            pipeline.start_metrics_writer();
            #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
            if pipeline.metrics_files.is_some() {
                // The writer thread is not in a forked child: the child starts its own.
                let weak = Arc::downgrade(&pipeline);
                pipeline.processor.on_child(Box::new(move || {
                    if let Some(p) = weak.upgrade() {
                        p.start_metrics_writer();
                    }
                }));
            }
            #[cfg(not(feature = "span-metrics"))]
            if config.metrics_enabled && config.sets_span_metrics() {
                counters.add_warning(
                    "the span metrics settings have no effect: span metrics are not in this build \
                     (the core's `span-metrics` feature; the npm package's full build has them)",
                    false,
                );
            }
            #[cfg(not(all(feature = "native", not(target_arch = "wasm32"))))]
            if config.metrics_dir.is_some() {
                counters.add_warning(
                    "metrics_dir has no effect here: a WebAssembly instance is one process",
                    false,
                );
            }
            Some(pipeline)
        } else {
            None
        };
        #[cfg(unix)]
        if let Some(p) = &pipeline {
            crate::platform::fork::register(Arc::downgrade(p) as _);
        }
        Ok(Tracing {
            inner: Arc::new(Inner {
                config,
                propagators,
                resource,
                pipeline,
                counters,
            }),
        })
    }

    /// Reads the config from the environment and builds tracing.
    pub fn from_env() -> Result<Tracing> {
        Tracing::new(TracingConfig::from_env()?)
    }

    /// Tracing that records nothing (what [`global`](crate::global) returns before [`init`](crate::init)).
    pub fn disabled() -> Tracing {
        static DISABLED: OnceLock<Tracing> = OnceLock::new();
        DISABLED
            .get_or_init(|| {
                Tracing::new(TracingConfig {
                    enabled: false,
                    ..TracingConfig::default()
                })
                .expect("the default config is valid")
            })
            .clone()
    }

    /// The config in use.
    pub fn config(&self) -> &TracingConfig {
        &self.inner.config
    }

    /// The resource spans are exported with.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// The propagators in use.
    pub fn propagators(&self) -> &Propagators {
        &self.inner.propagators
    }

    /// Starts building a span.
    pub fn span(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder<'_> {
        SpanBuilder {
            tracing: self,
            name: name.into(),
            kind: SpanKind::Internal,
            attributes: Vec::new(),
            parent: Parent::Current,
            extras: Extras::default(),
        }
    }

    /// Starts a span with the current context as parent.
    pub fn start(&self, name: impl Into<Cow<'static, str>>) -> Span {
        self.span(name).start()
    }

    /// Runs `f` inside a new span (made current for its duration) and ends it. A returned
    /// `Err` is recorded on the span (an `exception` event whose type is `E`'s name, and the
    /// error status), unless `f` ended the span itself; so is a panic, which then goes on
    /// unwinding.
    pub fn in_span<T, E: std::fmt::Display>(
        &self,
        name: impl Into<Cow<'static, str>>,
        f: impl FnOnce(&mut Span) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut span = self.start(name);
        let result = {
            let _guard = span.attach();
            // The span is ended below either way; `f`'s state is not used after a panic.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut span)))
        };
        match result {
            Ok(result) => {
                if let Err(e) = &result {
                    span.record_exception(std::any::type_name::<E>(), &e.to_string(), None);
                }
                span.end();
                result
            }
            Err(panic) => {
                span.record_exception("panic", crate::diag::panic_message(&*panic), None);
                span.end();
                std::panic::resume_unwind(panic)
            }
        }
    }

    fn start_span(&self, b: SpanBuilder<'_>) -> Span {
        let SpanBuilder {
            name,
            kind,
            mut attributes,
            parent,
            extras,
            ..
        } = b;
        match parent {
            Parent::Context(cx) => self.start_in(cx, false, name, kind, &mut attributes, extras),
            Parent::Current => Context::with_current_parent(false, |cx| {
                self.start_in(cx, false, name, kind, &mut attributes, extras)
            }),
            Parent::Root => Context::with_current(|cx| {
                self.start_in(cx, true, name, kind, &mut attributes, extras)
            }),
        }
    }

    fn start_in(
        &self,
        cx: &Context,
        root: bool,
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: &mut Vec<KeyValue>,
        extras: Extras,
    ) -> Span {
        let Extras {
            start_time,
            scope,
            links,
        } = extras;
        let inner = &*self.inner;
        let parent = if root { None } else { cx.span_context() };
        let Some(p) = &inner.pipeline else {
            // Disabled: propagate what came in, record nothing.
            let sc = parent.cloned().unwrap_or(SpanContext::NONE);
            return Span::non_recording(sc, cx);
        };
        if p.shut_down.load(Ordering::Relaxed) {
            // Like disabled: what came in still propagates through the no-op span.
            Counters::add(&p.counters.app.after_shutdown, 1);
            let sc = parent.cloned().unwrap_or(SpanContext::NONE);
            return Span::non_recording(sc, cx);
        }

        let (trace_id, span_id) = match parent {
            Some(p) => (p.trace_id(), crate::platform::span_id()),
            None => crate::platform::ids(),
        };
        let trace_state = parent
            .map(|s| s.trace_state().clone())
            .unwrap_or(TraceState::NONE);

        let sampled = match p.known_decision(parent) {
            Some(sampled) => sampled,
            None => {
                let r = p
                    .root_sampler
                    .should_sample(None, trace_id, &name, &kind, attributes, &links);
                if r.decision == SamplingDecision::RecordAndSample {
                    attributes.extend(r.attributes);
                    true
                } else {
                    false
                }
            }
        };
        // The random flag: set on trace ids made here, kept as it came on a continued trace.
        let random = parent.map_or(crate::propagation::RANDOM, |p| {
            p.trace_flags().to_u8() & crate::propagation::RANDOM
        });
        let flags = TraceFlags::new(u8::from(sampled) | random);
        let context = SpanContext::new(trace_id, span_id, flags, false, trace_state);
        if !sampled {
            if let Some(m) = &p.metrics {
                // Not recorded, but counted in the metrics when it ends (and counted as
                // sampled out in this thread's shard of them).
                let start = start_time.map_or_else(crate::platform::stamp, Stamp::at);
                let only =
                    MetricsOnly::new(&p.counters, p.value_limit, m, name, kind, start, attributes);
                return Span::metrics_only(context, cx, only);
            }
            Counters::add(&p.counters.app.sampled_out, 1);
            return Span::non_recording(context, cx);
        }

        Counters::add(&p.counters.app.started, 1);
        let mut dropped = 0;
        let correlation = cx.correlation();
        let attrs = match correlation {
            // The common case: the builder's vector becomes the span's, no copy.
            None => p.limited(attributes, &mut dropped),
            // Correlation attributes first, then the span's, by key.
            Some(correlation) => {
                let extra = correlation.attributes().len();
                let mut attrs = Vec::with_capacity(attributes.len() + extra);
                for kv in correlation.attributes() {
                    p.push_attribute(&mut attrs, &mut dropped, kv.clone());
                }
                for kv in attributes.drain(..) {
                    p.push_attribute(&mut attrs, &mut dropped, kv);
                }
                attrs
            }
        };
        let (start, started) = match start_time {
            // Before 1970 is no time a span can be exported at (OTLP counts from the epoch,
            // unsigned): the epoch, so that the end, the start moved on by the stamps' gap, is
            // now.
            Some(t) => {
                let t = t.max(std::time::SystemTime::UNIX_EPOCH);
                (t, Stamp::at(t))
            }
            None => crate::platform::start_now(),
        };
        let data = Box::new(SpanRecord {
            span_context: context.clone(),
            parent_span_id: parent.map(SpanContext::span_id).unwrap_or(SpanId::INVALID),
            parent_span_is_remote: parent.is_some_and(SpanContext::is_remote),
            span_kind: kind,
            name,
            start_time: start,
            end_time: start,
            attributes: attrs,
            dropped_attributes_count: dropped,
            events: SpanEvents::default(),
            links: if links.is_empty() {
                SpanLinks::default()
            } else {
                p.links(links)
            },
            status: Status::Unset,
            instrumentation_scope: scope.0,
        });
        Span::recording(context, cx, data, started, p.clone())
    }

    /// Writes `cx` into `carrier` with the configured propagators (and `x-correlation-id`).
    /// Baggage entries left out at the W3C limits are counted in health.
    pub fn inject(&self, cx: &Context, carrier: &mut dyn Carrier) {
        let dropped = self.inner.propagators.inject_counted(cx, carrier);
        self.count_baggage_dropped(dropped);
    }

    /// Writes the thread's current context into `carrier` (the OpenTelemetry API's current
    /// span when it was made current after it, once `crosstrace::otel` is in use: the context
    /// a span started now would have as its parent).
    pub fn inject_current(&self, carrier: &mut dyn Carrier) {
        Context::with_current_parent(false, |cx| self.inject(cx, carrier));
    }

    /// Reads a context from `carrier`. Never fails: bad headers give an empty context.
    /// Baggage entries left out at the W3C limits are counted in health.
    pub fn extract(&self, carrier: &dyn Carrier) -> Context {
        let (cx, dropped) = self.inner.propagators.extract_counted(carrier);
        self.count_baggage_dropped(dropped);
        cx
    }

    fn count_baggage_dropped(&self, n: u64) {
        if n > 0 {
            Counters::add(&self.inner.counters.app.baggage_dropped, n);
        }
    }

    /// Spans waiting for export (queued or in flight); cheaper than [`Tracing::health`].
    pub fn queue_depth(&self) -> u64 {
        self.inner
            .pipeline
            .as_ref()
            .map_or(0, |p| p.processor.counts().depth)
    }

    /// Exports everything queued, waiting at most `timeout`.
    /// With `metrics_dir`, this process's metrics file is written too.
    ///
    /// [`Error::Export`] when spans could not be exported while it waited (a backend that
    /// refused them, or could not be reached, until the retries ran out): they are lost, and
    /// counted in health's `spans_export_failed` as well. [`Error::Timeout`] when the export
    /// took longer than `timeout`; the spans still go out, or fail, afterwards.
    /// [`Error::AlreadyShutdown`] when tracing was shut down, or a shutdown gave up on the
    /// queue while this waited.
    pub fn force_flush(&self, timeout: Duration) -> Result<()> {
        match &self.inner.pipeline {
            Some(p) => {
                p.sync_metrics_file();
                p.processor.force_flush(timeout)
            }
            None => Ok(()),
        }
    }

    /// Exports what is queued within `timeout`, then stops; new spans become no-ops. A timeout
    /// is not an error (unlike `opentelemetry_sdk`'s shutdown): the report says it ran out
    /// (`timed_out`) and how many spans were not yet exported (`unsent`), which health counts
    /// as failed before it returns. A second call returns [`Error::AlreadyShutdown`].
    pub fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport> {
        let Some(p) = &self.inner.pipeline else {
            return Ok(ShutdownReport::default());
        };
        if p.shut_down.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyShutdown);
        }
        let report = p.processor.shutdown(timeout);
        // With `metrics_dir`: the file written a last time (its spans keep counting in the
        // other processes' scrapes after this one exits).
        p.stop_metrics_writer();
        Ok(report)
    }

    /// This process's span-derived metrics (see [`MetricsSnapshot`]); `None` when tracing or
    /// metrics are off. With `metrics_dir`, [`Tracing::merged_metrics`] has the host's.
    pub fn metrics(&self) -> Option<MetricsSnapshot> {
        self.inner.pipeline.as_ref()?.metrics_snapshot()
    }

    /// The span-derived metrics of every process sharing `metrics_dir` (this one's written to
    /// its file first, then merged with every file in the directory, those of exited
    /// processes included: exact counts, sums, buckets, min and max, exactly merged
    /// sketches); without `metrics_dir`, [`Tracing::metrics`]. `None` when tracing or metrics
    /// are off.
    pub fn merged_metrics(&self) -> Option<MetricsSnapshot> {
        self.inner.pipeline.as_ref()?.merged_metrics()
    }

    /// The span-derived metrics in the Prometheus text format ([`Tracing::merged_metrics`]:
    /// with `metrics_dir`, those of every process sharing it); empty when tracing or metrics
    /// are off.
    pub fn metrics_text(&self) -> String {
        self.merged_metrics()
            .map(|m| m.prometheus_text())
            .unwrap_or_default()
    }

    /// The redaction policy in force (the built-in one while tracing is off): what bindings
    /// apply to what they record themselves (a request body, a URL).
    pub fn redaction(&self) -> &crate::redact::Policy {
        match &self.inner.pipeline {
            Some(p) => &p.redaction,
            None => crate::redact::Policy::builtin(),
        }
    }

    /// Adds a warning to health's `warnings` and logs it (at `warn`, on stderr): a problem
    /// found while running that loses no span now but will lose or misplace some — a binding's
    /// bridge to its language's tracing API that another SDK has taken, say. Each message is
    /// kept and logged once; the message is redacted first. Returns whether it was new.
    pub fn add_warning(&self, message: &str) -> bool {
        self.inner.counters.add_warning(message, true)
    }

    /// The health report.
    pub fn health(&self) -> Health {
        let c = &self.inner.config;
        let resolved = c.resolved_endpoint();
        let queue = self
            .inner
            .pipeline
            .as_ref()
            .map(|p| p.processor.counts())
            .unwrap_or_default();
        let counts = self.inner.counters.snapshot(
            queue,
            (self.inner.pipeline.as_ref())
                .and_then(|p| p.metrics.as_ref())
                .map_or(0, |m| m.sampled_out()),
        );
        let metrics = self
            .inner
            .pipeline
            .as_ref()
            .and_then(|p| p.metrics.as_ref());
        let files = self.metrics_files_counts();
        Health {
            tracing_enabled: c.enabled,
            shut_down: self
                .inner
                .pipeline
                .as_ref()
                .is_some_and(|p| p.shut_down.load(Ordering::Relaxed)),
            service_name: c.service_name.clone(),
            service_version: c.service_version.clone(),
            environment: c.environment.clone(),
            backend: c.backend.to_string(),
            endpoint: resolved
                .as_ref()
                .map(|r| self.redaction().url(&r.url).into_owned()),
            protocol: resolved
                .and_then(|r| r.otlp_protocol)
                .map(|p| p.as_str().to_owned()),
            sampler: c.sampler.as_str().to_owned(),
            sampling_rate: c.sampling_rate,
            propagators: c
                .propagators
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            queue_capacity: c.max_queue_size,
            counts,
            last_export_error: self.inner.counters.last_error(),
            last_export_success_unix_ms: self.inner.counters.last_success_unix_ms(),
            warnings: self.inner.counters.warnings(),
            metrics_enabled: metrics.is_some(),
            metrics_series: metrics.map_or(0, |m| m.series_count()),
            metrics_overflowed: metrics.map_or(0, |m| m.overflowed()),
            metrics_dir: c.metrics_dir.clone().filter(|_| metrics.is_some()),
            metrics_files_skipped: files.0,
            metrics_file_write_failures: files.1,
        }
    }

    /// The metrics files' counters: skipped, write failures (0 without them).
    fn metrics_files_counts(&self) -> (u64, u64) {
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        if let Some(f) = (self.inner.pipeline.as_ref()).and_then(|p| p.metrics_files.as_ref()) {
            return (
                f.skipped.load(Ordering::Relaxed),
                f.write_failures.load(Ordering::Relaxed),
            );
        }
        (0, 0)
    }
}

/// The entry points [`TracingBinding`](crate::binding::TracingBinding) gives the bindings.
impl Tracing {
    /// Starts a span now under `parent`, or under the thread's current context when `None`: a
    /// [`SpanBuilder`]'s common case, for bindings that start one per call from another
    /// language (no builder to fill and move).
    pub(crate) fn start_now(
        &self,
        parent: Option<&Context>,
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Span {
        self.start_now_in(Scope::crosstrace(), parent, name, kind, attributes)
    }

    /// [`TracingBinding::start_now`] in `scope` (a tracer's): for bindings whose tracers have names.
    pub(crate) fn start_now_in(
        &self,
        scope: Scope,
        parent: Option<&Context>,
        name: Cow<'static, str>,
        kind: SpanKind,
        mut attributes: Vec<KeyValue>,
    ) -> Span {
        let extras = Extras {
            scope,
            ..Extras::default()
        };
        match parent {
            Some(cx) => self.start_in(cx, false, name, kind, &mut attributes, extras),
            None => Context::with_current_parent(false, |cx| {
                self.start_in(cx, false, name, kind, &mut attributes, extras)
            }),
        }
    }

    /// Whether a span of `kind` under `parent` will neither be recorded nor take a metrics
    /// label from its attributes, whatever they are: then a binding need not convert them
    /// (Python's dict of attributes costs more than the rest of a sampled-out span). Decided
    /// as the span's start decides: tracing off or shut down, a parent-based sampler under an
    /// unsampled parent, or a sampler that drops every root; a ratio decides by trace id, so
    /// it says `false`.
    pub(crate) fn ignores_attributes(&self, parent: &Context, kind: &SpanKind) -> bool {
        let Some(p) = &self.inner.pipeline else {
            return true;
        };
        if p.shut_down.load(Ordering::Relaxed) {
            return true;
        }
        p.known_decision(parent.span_context()) == Some(false)
            && (p.metrics.is_none() || !crate::metrics::labels_from_attributes(kind))
    }

    /// Takes up to one batch of ended spans from the queue, for hosts without threads (wasm32)
    /// that export on their own event loop; report what became of them with
    /// [`TracingBinding::report_export`]. Natively the export thread does this.
    pub(crate) fn take_batch(&self) -> crate::record::Batch {
        match &self.inner.pipeline {
            Some(p) => p.processor.drain(),
            None => Vec::new(),
        }
    }

    /// Records the outcome of exporting `spans` spans taken with [`Tracing::take_batch`].
    pub(crate) fn report_export(&self, spans: usize, outcome: crate::export::Outcome) {
        if let Some(p) = &self.inner.pipeline {
            p.processor.report(spans, outcome);
        }
    }
}

/// Builds a span; see [`Tracing::span`].
#[derive(Debug)]
#[must_use = "call .start() to start the span"]
pub struct SpanBuilder<'a> {
    tracing: &'a Tracing,
    name: Cow<'static, str>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    parent: Parent<'a>,
    extras: Extras,
}

impl<'a> SpanBuilder<'a> {
    /// The name the span will have (bindings that show it without asking the span).
    pub fn name(&self) -> &Cow<'static, str> {
        &self.name
    }

    /// The kind the span will have.
    pub fn span_kind(&self) -> &SpanKind {
        &self.kind
    }

    /// The span kind (default internal).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }
    /// Adds an attribute (visible to the sampler).
    pub fn attribute(mut self, kv: KeyValue) -> Self {
        self.attributes.push(kv);
        self
    }
    /// Adds attributes.
    pub fn attributes(mut self, kvs: impl IntoIterator<Item = KeyValue>) -> Self {
        if self.attributes.is_empty() {
            // One exact allocation (or, from a `Vec`, none: collecting reuses its buffer).
            self.attributes = kvs.into_iter().collect();
        } else {
            self.attributes.extend(kvs);
        }
        self
    }
    /// The parent (default: the thread's current context).
    pub fn parent(mut self, parent: Parent<'a>) -> Self {
        self.parent = parent;
        self
    }
    /// An explicit parent context.
    pub fn parent_context(self, cx: &'a Context) -> Self {
        self.parent(Parent::Context(cx))
    }
    /// An explicit start time.
    pub fn start_time(mut self, t: SystemTime) -> Self {
        self.extras.start_time = Some(t);
        self
    }
    /// The instrumentation scope (default: crosstrace's own): a tracer's.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.extras.scope = scope;
        self
    }
    /// Links to other spans (given at start, as OpenTelemetry's API does; visible to the
    /// sampler): each a span context and attributes, under the config's `link_count_limit` and
    /// the attribute limits.
    pub fn links(mut self, links: impl IntoIterator<Item = Link>) -> Self {
        self.extras.links.extend(links);
        self
    }
    /// Starts the span.
    pub fn start(self) -> Span {
        self.tracing.start_span(self)
    }
}
