//! `Tracing`: the provider built from a config — resource, sampler, limits, processor,
//! propagators and health — and span creation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{
    Sampler, SamplingDecision, ShouldSample, SpanData, SpanEvents, SpanExporter, SpanLinks,
};
use opentelemetry_sdk::Resource;

use crate::config::{Backend, SamplerKind, TracingConfig};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::export::{BatchProcessor, Export, ExporterFactory, ShutdownReport};
use crate::health::{Counters, Health};
use crate::metrics::{MetricsOnly, MetricsSnapshot, SpanMetrics};
use crate::platform::Stamp;
use crate::propagation::{Carrier, Propagators};
use crate::span::{truncate_value, Parent, Span};

/// The instrumentation scope of spans crosstrace creates.
pub const SCOPE_NAME: &str = "crosstrace";

/// Most distinct scopes [`Scope::new`] keeps; past them a new one is crosstrace's own.
pub const MAX_SCOPES: usize = 1024;

/// Most links a span keeps (the OpenTelemetry default of `OTEL_SPAN_LINK_COUNT_LIMIT`); further
/// ones are dropped and counted in the span's `dropped_count`.
pub const MAX_LINKS_PER_SPAN: usize = 128;

/// An instrumentation scope spans start in: the name, version and schema URL of the library
/// (a tracer) that made them, which OTLP groups spans by. Interned for the process: a span
/// copies two pointers, not the strings (a tracer chooses its scope once, its spans on the hot
/// path take it for free). At most [`MAX_SCOPES`] distinct scopes; past them (a program making
/// tracers from request data) new ones are crosstrace's own, with a warning on stderr.
/// Scope attributes are not kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scope(&'static InstrumentationScope);

/// Scopes made so far, by (name, version, schema URL).
type ScopeKey = (String, Option<String>, Option<String>);
static SCOPES: Mutex<Option<HashMap<ScopeKey, &'static InstrumentationScope>>> = Mutex::new(None);

impl Scope {
    /// The scope named `name`, at `version`, with `schema_url` (the same one for the same
    /// three).
    pub fn new(name: &str, version: Option<&str>, schema_url: Option<&str>) -> Scope {
        let key: ScopeKey = (
            name.to_owned(),
            version.map(str::to_owned),
            schema_url.map(str::to_owned),
        );
        let mut g = SCOPES.lock().unwrap_or_else(|e| e.into_inner());
        let all = g.get_or_insert_with(HashMap::new);
        if let Some(s) = all.get(&key) {
            return Scope(s);
        }
        if all.len() >= MAX_SCOPES {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                crate::diag::log(
                    crate::config::LogLevel::Warn,
                    &format!(
                        "more than {MAX_SCOPES} instrumentation scopes (tracer names): spans of \
                         further ones are given crosstrace's scope"
                    ),
                );
            }
            return Scope::crosstrace();
        }
        let leak = |s: &str| -> &'static str { Box::leak(s.into()) };
        let mut b = InstrumentationScope::builder(leak(name));
        if let Some(v) = version {
            b = b.with_version(leak(v));
        }
        if let Some(u) = schema_url {
            b = b.with_schema_url(leak(u));
        }
        let scope: &'static InstrumentationScope = Box::leak(Box::new(b.build()));
        all.insert(key, scope);
        Scope(scope)
    }

    /// crosstrace's own scope ([`SCOPE_NAME`], the crate's version): what spans start in
    /// unless given another.
    pub fn crosstrace() -> Scope {
        static OWN: OnceLock<InstrumentationScope> = OnceLock::new();
        Scope(OWN.get_or_init(|| {
            InstrumentationScope::builder(SCOPE_NAME)
                .with_version(env!("CARGO_PKG_VERSION"))
                .build()
        }))
    }

    /// The scope as OpenTelemetry's type.
    pub fn instrumentation_scope(&self) -> &'static InstrumentationScope {
        self.0
    }
}

impl Default for Scope {
    fn default() -> Scope {
        Scope::crosstrace()
    }
}

/// The scope registry's lock, held across a fork (see [`crate::fork`]).
#[cfg(unix)]
pub(crate) fn hold_scopes_for_fork() -> std::sync::MutexGuard<'static, impl Sized> {
    SCOPES.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a span starts with besides its name, kind, parent and attributes (rarely anything but
/// the defaults).
#[derive(Debug, Default)]
struct Extras {
    start_time: Option<SystemTime>,
    scope: Scope,
    links: Vec<Link>,
}

/// Everything a recording span needs, shared.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) counters: Arc<Counters>,
    root_sampler: Sampler,
    parent_based: bool,
    pub(crate) value_limit: usize,
    count_limit: usize,
    /// The redaction policy (`TracingConfig::redact_keys`), applied to every attribute.
    pub(crate) redaction: crate::redact::Policy,
    processor: BatchProcessor,
    shut_down: AtomicBool,
    /// Span-derived metrics, when on.
    pub(crate) metrics: Option<Arc<SpanMetrics>>,
}

impl Pipeline {
    /// The sampler's decision for a span under `parent` when it needs neither the trace id
    /// nor the attributes (a parent-based sampler under a parent, or a constant sampler, which
    /// decide without building a `SamplingResult`); `None` when the sampler must be asked.
    fn known_decision(&self, parent: Option<&SpanContext>) -> Option<bool> {
        match parent {
            Some(ps) if self.parent_based => Some(ps.is_sampled()),
            _ => match self.root_sampler {
                Sampler::AlwaysOn => Some(true),
                Sampler::AlwaysOff => Some(false),
                _ => None,
            },
        }
    }

    /// Redacts an attribute's value by the policy (a URL's userinfo and secret parameters,
    /// a body's secret fields, credential headers), then truncates it to the length limit
    /// (in that order: a cut must not split a `password=` from its value), counting both.
    #[inline]
    pub(crate) fn sanitize(&self, kv: &mut KeyValue) {
        if self.redaction.attribute(kv.key.as_str(), &mut kv.value) {
            Counters::add(&self.counters.app.attributes_redacted, 1);
        }
        if truncate_value(&mut kv.value, self.value_limit) {
            Counters::add(&self.counters.app.attributes_truncated, 1);
        }
    }

    /// Adds or replaces an attribute under the limits.
    pub(crate) fn push_attribute(
        &self,
        attrs: &mut Vec<KeyValue>,
        dropped: &mut u32,
        mut kv: KeyValue,
    ) {
        self.sanitize(&mut kv);
        if let Some(existing) = attrs.iter_mut().find(|e| e.key == kv.key) {
            *existing = kv;
        } else if attrs.len() < self.count_limit {
            attrs.push(kv);
        } else {
            *dropped += 1;
            Counters::add(&self.counters.app.attributes_dropped, 1);
        }
    }

    /// A span's links under the limits: see [`Pipeline::push_link`].
    fn links(&self, links: Vec<Link>) -> SpanLinks {
        let mut out = SpanLinks::default();
        for link in links {
            self.push_link(&mut out, link);
        }
        out
    }

    /// Adds a link under the limits: at most [`MAX_LINKS_PER_SPAN`] (further ones counted in
    /// `dropped_count`), its attributes sanitized and limited as a span's are. A link to an
    /// invalid span context is kept only when it says something (attributes or a
    /// tracestate), as the specification asks.
    pub(crate) fn push_link(&self, links: &mut SpanLinks, mut link: Link) {
        if !link.span_context.is_valid()
            && link.attributes.is_empty()
            && link.span_context.trace_state().header().is_empty()
        {
            return;
        }
        if links.links.len() >= MAX_LINKS_PER_SPAN {
            links.dropped_count += 1;
            return;
        }
        let mut attrs = Vec::with_capacity(link.attributes.len());
        let mut dropped = link.dropped_attributes_count;
        for kv in link.attributes.drain(..) {
            self.push_attribute(&mut attrs, &mut dropped, kv);
        }
        link.attributes = attrs;
        link.dropped_attributes_count = dropped;
        links.links.push(link);
    }

    pub(crate) fn on_end(&self, data: Box<SpanData>) {
        if let Some(m) = &self.metrics {
            m.record_span(&data);
        }
        self.processor.push(data);
    }

    /// Takes the pipeline's locks for a fork (see [`crate::fork`]).
    #[cfg(unix)]
    pub(crate) fn hold_for_fork(&self) -> PipelineHold<'_> {
        PipelineHold {
            _metrics: self
                .metrics
                .as_ref()
                .map(|m| Box::new(m.hold_for_fork()) as _),
            processor: self.processor.hold_for_fork(),
            counters: self.counters.hold_for_fork(),
        }
    }
}

/// Anything held only to be dropped (a lock's guard).
#[cfg(unix)]
trait Held {}
#[cfg(unix)]
impl<T> Held for T {}

/// A pipeline's locks, held across a fork.
#[cfg(unix)]
pub(crate) struct PipelineHold<'a> {
    _metrics: Option<Box<dyn Held + 'a>>,
    processor: crate::export::ForkHold<'a>,
    counters: crate::health::ForkHold<'a>,
}

#[cfg(unix)]
impl PipelineHold<'_> {
    /// In the child, before the locks are let go: see the holders' `in_child`.
    pub(crate) fn in_child(&mut self) {
        self.processor.in_child();
        self.counters.in_child();
    }
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
        let resource = crate::resource::build(&config);
        exporter.set_resource(&resource);
        let exporter = Arc::new(exporter);
        Self::build(
            config,
            Some(Arc::new(move || {
                Ok(Box::new(crate::export::SharedSdk(exporter.clone())) as Box<dyn Export>)
            })),
        )
    }

    fn build(config: TracingConfig, exporter: Option<ExporterFactory>) -> Result<Tracing> {
        config.validate()?;
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
            let processor = BatchProcessor::start(&config, exporter, counters.clone())?;
            let (root_sampler, parent_based) = sampler_of(&config);
            Some(Arc::new(Pipeline {
                counters: counters.clone(),
                root_sampler,
                parent_based,
                value_limit: config.attribute_value_length_limit,
                count_limit: config.attribute_count_limit,
                // Valid: `validate` checked the names.
                redaction: crate::redact::Policy::new(&config.redact_keys).unwrap_or_default(),
                processor,
                shut_down: AtomicBool::new(false),
                metrics: config.metrics_enabled.then(|| {
                    SpanMetrics::new(
                        &config.service_name,
                        &config.metrics_buckets_ms,
                        config.metrics_max_series,
                    )
                    .shared()
                }),
            }))
        } else {
            None
        };
        #[cfg(unix)]
        if let Some(p) = &pipeline {
            crate::fork::register(p);
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

    /// Tracing that records nothing (what [`global`] returns before [`init`]).
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
    /// `Err` is recorded on the span.
    pub fn in_span<T, E: std::fmt::Display>(
        &self,
        name: impl Into<Cow<'static, str>>,
        f: impl FnOnce(&mut Span) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut span = self.start(name);
        let result = {
            let _guard = span.attach();
            f(&mut span)
        };
        if let Err(e) = &result {
            span.record_exception("error", &e.to_string(), None);
        }
        span.end();
        result
    }

    /// Starts a span now under `parent`, or under the thread's current context when `None`: a
    /// [`SpanBuilder`]'s common case, for bindings that start one per call from another
    /// language (no builder to fill and move).
    pub fn start_now(
        &self,
        parent: Option<&Context>,
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Span {
        self.start_now_in(Scope::crosstrace(), parent, name, kind, attributes)
    }

    /// [`Tracing::start_now`] in `scope` (a tracer's): for bindings whose tracers have names.
    pub fn start_now_in(
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
            None => Context::with_current(|cx| {
                self.start_in(cx, false, name, kind, &mut attributes, extras)
            }),
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
            Parent::Current => Context::with_current(|cx| {
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

        let trace_id = parent
            .map(SpanContext::trace_id)
            .unwrap_or_else(crate::platform::trace_id);
        let span_id = crate::platform::span_id();
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
                let only = MetricsOnly::new(p, m, name, kind, start, attributes);
                return Span::metrics_only(context, cx, only);
            }
            Counters::add(&p.counters.app.sampled_out, 1);
            return Span::non_recording(context, cx);
        }

        Counters::add(&p.counters.app.started, 1);
        let mut dropped = 0;
        let attrs = match cx.correlation() {
            // The common case: the builder's vector becomes the span's, no copy.
            None if attributes.len() <= p.count_limit && !has_duplicate_keys(attributes) => {
                for kv in attributes.iter_mut() {
                    p.sanitize(kv);
                }
                std::mem::take(attributes)
            }
            correlation => {
                let extra = correlation.map_or(0, |c| c.attributes().len());
                let mut attrs = Vec::with_capacity(attributes.len() + extra);
                for kv in correlation.into_iter().flat_map(|c| c.attributes()) {
                    p.push_attribute(&mut attrs, &mut dropped, kv.clone());
                }
                for kv in attributes.drain(..) {
                    p.push_attribute(&mut attrs, &mut dropped, kv);
                }
                attrs
            }
        };
        let (start, started) = match start_time {
            Some(t) => (t, Stamp::at(t)),
            None => {
                let now = crate::platform::now();
                (now, crate::platform::stamp_of(now))
            }
        };
        let data = Box::new(SpanData {
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
            // Borrowed strings and no attributes (`Scope::new`): no allocation.
            instrumentation_scope: scope.0.clone(),
        });
        Span::recording(context, cx, data, started, p.clone())
    }

    /// Whether a span of `kind` under `parent` will neither be recorded nor take a metrics
    /// label from its attributes, whatever they are: then a binding need not convert them
    /// (Python's dict of attributes costs more than the rest of a sampled-out span). Decided
    /// as the span's start decides: tracing off or shut down, a parent-based sampler under an
    /// unsampled parent, or a sampler that drops every root; a ratio decides by trace id, so
    /// it says `false`.
    pub fn ignores_attributes(&self, parent: &Context, kind: &SpanKind) -> bool {
        let Some(p) = &self.inner.pipeline else {
            return true;
        };
        if p.shut_down.load(Ordering::Relaxed) {
            return true;
        }
        p.known_decision(parent.span_context()) == Some(false)
            && (p.metrics.is_none() || !crate::metrics::labels_from_attributes(kind))
    }

    /// Writes `cx` into `carrier` with the configured propagators (and `x-correlation-id`).
    /// Baggage entries left out at the W3C limits are counted in health.
    pub fn inject(&self, cx: &Context, carrier: &mut dyn Carrier) {
        let dropped = self.inner.propagators.inject_counted(cx, carrier);
        self.count_baggage_dropped(dropped);
    }

    /// Writes the thread's current context into `carrier`.
    pub fn inject_current(&self, carrier: &mut dyn Carrier) {
        Context::with_current(|cx| self.inject(cx, carrier));
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

    /// Takes up to one batch of ended spans from the queue, for hosts without threads (wasm32)
    /// that export on their own event loop; report what became of them with
    /// [`Tracing::report_export`]. Natively the export thread does this.
    pub fn take_batch(&self) -> Vec<SpanData> {
        match &self.inner.pipeline {
            Some(p) => p.processor.drain(),
            None => Vec::new(),
        }
    }

    /// Spans waiting for export (queued or in flight); cheaper than [`Tracing::health`].
    pub fn queue_depth(&self) -> u64 {
        self.inner
            .pipeline
            .as_ref()
            .map_or(0, |p| p.processor.counts().depth)
    }

    /// Records the outcome of exporting `spans` spans taken with [`Tracing::take_batch`].
    pub fn report_export(&self, spans: usize, outcome: crate::export::Outcome) {
        if let Some(p) = &self.inner.pipeline {
            p.processor.report(spans, outcome);
        }
    }

    /// Exports everything queued, waiting at most `timeout`.
    pub fn force_flush(&self, timeout: Duration) -> Result<()> {
        match &self.inner.pipeline {
            Some(p) => p.processor.force_flush(timeout),
            None => Ok(()),
        }
    }

    /// Exports what is queued within `timeout`, then stops; new spans become no-ops. The report
    /// says how many spans could not be sent. A second call returns
    /// [`Error::AlreadyShutdown`].
    pub fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport> {
        let Some(p) = &self.inner.pipeline else {
            return Ok(ShutdownReport::default());
        };
        if p.shut_down.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyShutdown);
        }
        Ok(p.processor.shutdown(timeout))
    }

    /// The span-derived metrics (see [`crate::metrics`]); `None` when tracing or metrics are
    /// off.
    pub fn metrics(&self) -> Option<MetricsSnapshot> {
        let p = self.inner.pipeline.as_ref()?;
        let m = p.metrics.as_ref()?;
        let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        Some(m.snapshot(
            self.inner.config.sampling_rate_in_effect(),
            g(&p.counters.app.started),
            g(&p.counters.app.sampled_out) + m.sampled_out(),
        ))
    }

    /// The span-derived metrics in the Prometheus text format; empty when tracing or metrics
    /// are off.
    pub fn metrics_text(&self) -> String {
        self.metrics()
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
    /// sampler): each a span context and attributes, under the limits of
    /// [`MAX_LINKS_PER_SPAN`] and the attribute limits.
    pub fn links(mut self, links: impl IntoIterator<Item = Link>) -> Self {
        self.extras.links.extend(links);
        self
    }
    /// Starts the span.
    pub fn start(self) -> Span {
        self.tracing.start_span(self)
    }
}

/// Whether two attributes share a key (then the later one must replace the earlier).
fn has_duplicate_keys(attrs: &[KeyValue]) -> bool {
    attrs
        .iter()
        .enumerate()
        .any(|(i, a)| attrs[..i].iter().any(|b| b.key == a.key))
}

fn sampler_of(c: &TracingConfig) -> (Sampler, bool) {
    // A ratio of 1 (the default) or 0 decides like the constant samplers, which decide inline.
    let ratio = match c.sampling_rate {
        r if r >= 1.0 => Sampler::AlwaysOn,
        r if r <= 0.0 => Sampler::AlwaysOff,
        r => Sampler::TraceIdRatioBased(r),
    };
    match c.sampler {
        SamplerKind::AlwaysOn => (Sampler::AlwaysOn, false),
        SamplerKind::AlwaysOff => (Sampler::AlwaysOff, false),
        SamplerKind::TraceIdRatio => (ratio, false),
        SamplerKind::ParentBasedAlwaysOn => (Sampler::AlwaysOn, true),
        SamplerKind::ParentBasedAlwaysOff => (Sampler::AlwaysOff, true),
        SamplerKind::ParentBasedTraceIdRatio => (ratio, true),
    }
}

static GLOBAL: RwLock<Option<Tracing>> = RwLock::new(None);
/// Bumped by every [`init`]: how a thread's cached instance knows it is stale.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// One thread's copy of the process-wide instance ([`global`]) and the [`init`] generation it
/// is of: refreshed when `init` installs another, so a binding that starts a span per call
/// finds the instance without the lock and the reference count of [`global`]. Keep it in a
/// thread-local ([`with_global`] has its own; a binding may keep one beside other per-thread
/// state, to read one thread-local per call). The instance it holds stays alive until the
/// thread calls again after an `init`, or exits.
#[derive(Debug, Default)]
pub struct GlobalCopy(std::cell::RefCell<Option<(u64, Tracing)>>);

impl GlobalCopy {
    /// An empty copy (filled on first use).
    pub const fn new() -> GlobalCopy {
        GlobalCopy(std::cell::RefCell::new(None))
    }

    /// Runs `f` with the instance, refreshed first if [`init`] installed another since. (A
    /// call from inside `f` on the same copy, when stale, runs with a fresh clone it does not
    /// keep.)
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&Tracing) -> R) -> R {
        let generation = GENERATION.load(Ordering::Acquire);
        if let Ok(c) = self.0.try_borrow() {
            if let Some((g, t)) = &*c {
                if *g == generation {
                    return f(t);
                }
            }
        }
        // Read after `generation`: at worst a newer instance under an older number, replaced
        // again on the next call.
        let t = global();
        // The replaced copy is dropped after `f` (dropping the last clone of an instance
        // flushes it).
        let old = self
            .0
            .try_borrow_mut()
            .ok()
            .map(|mut c| c.replace((generation, t.clone())));
        let r = f(&t);
        drop(old);
        r
    }

    /// Lets go of the instance held (unless the copy is in use further up the stack).
    pub fn clear(&self) {
        let old = self.0.try_borrow_mut().ok().and_then(|mut c| c.take());
        drop(old);
    }
}

thread_local! {
    /// This thread's copy of the process-wide instance, for [`with_global`].
    static CACHED: GlobalCopy = const { GlobalCopy::new() };
}

/// Builds tracing from `config` and installs it as the process-wide instance used by
/// [`global`] and the bindings. Replaces (without shutting down) any previous one.
pub fn init(config: TracingConfig) -> Result<Tracing> {
    let t = Tracing::new(config)?;
    let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    *g = Some(t.clone());
    GENERATION.fetch_add(1, Ordering::Release);
    Ok(t)
}

/// The number [`init`] bumps each time it installs an instance: a binding that keeps its own
/// per-thread copy of [`global`] (beside other per-thread state) checks it against this. Read
/// it before [`global`]: at worst a newer instance is kept under an older number, and replaced
/// again.
pub fn global_generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Runs `f` with the process-wide instance (a disabled one before [`init`]), without the
/// lock and the reference counting of [`global`]: through this thread's [`GlobalCopy`]. For
/// bindings, which find the instance on every span.
pub fn with_global<R>(f: impl FnOnce(&Tracing) -> R) -> R {
    match CACHED.try_with(|c| c as *const GlobalCopy) {
        // SAFETY: this thread's copy, which lives until the thread's thread-locals are torn
        // down; that does not start during this call. (A pointer rather than a closure for
        // `try_with`: `f` need not be kept aside for the case below.)
        Ok(c) => unsafe { &*c }.with(f),
        // The thread's thread-locals are torn down: the instance by its lock.
        Err(_) => f(&global()),
    }
}

/// The process-wide instance's lock, held across a fork (see [`crate::fork`]): a thread that
/// was reading it when the process forked would leave it locked in the child, where `init`
/// then waits forever.
#[cfg(unix)]
pub(crate) fn hold_global_for_fork() -> std::sync::RwLockWriteGuard<'static, impl Sized> {
    GLOBAL.write().unwrap_or_else(|e| e.into_inner())
}

/// The process-wide instance, or a disabled one before [`init`].
pub fn global() -> Tracing {
    GLOBAL
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(Tracing::disabled)
}

/// Checks that a parsed hex id pair is valid (for bindings that accept ids as strings).
pub fn parse_span_context(trace_id: &str, span_id: &str, sampled: bool) -> Result<SpanContext> {
    let bad = |argument, value: &str, expected| Error::InvalidArgument {
        argument,
        value: value.to_owned(),
        expected,
    };
    let t = (trace_id.len() == 32 && crate::propagation::is_lower_hex(trace_id))
        .then(|| TraceId::from_hex(trace_id).ok())
        .flatten()
        .filter(|t| *t != TraceId::INVALID)
        .ok_or_else(|| {
            bad(
                "trace_id",
                trace_id,
                "32 lowercase hex digits, not all zero",
            )
        })?;
    let s = (span_id.len() == 16 && crate::propagation::is_lower_hex(span_id))
        .then(|| SpanId::from_hex(span_id).ok())
        .flatten()
        .filter(|s| *s != SpanId::INVALID)
        .ok_or_else(|| bad("span_id", span_id, "16 lowercase hex digits, not all zero"))?;
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Ok(SpanContext::new(t, s, flags, true, TraceState::NONE))
}

impl Backend {
    /// Whether this backend sends spans anywhere.
    pub fn exports(self) -> bool {
        !matches!(self, Backend::None)
    }
}
