//! crosstrace as the OpenTelemetry API's tracer provider: any crate instrumented with the
//! `opentelemetry` API exports through crosstrace.
//!
//! ```
//! use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _, TracerProvider as _};
//! use opentelemetry::{global, KeyValue};
//!
//! let tracing = crosstrace::Tracing::new(crosstrace::TracingConfig {
//!     backend: crosstrace::Backend::None,
//!     ..Default::default()
//! })?;
//! crosstrace::otel::install(&tracing); // the global provider and propagator
//! let tracer = global::tracer("checkout");
//! tracer.in_span("order", |cx| {
//!     cx.span().set_attribute(KeyValue::new("order.id", 7));
//!     let child = tracer.start("charge"); // a child of "order": the API's current span
//!     assert_eq!(child.span_context().trace_id(), cx.span().span_context().trace_id());
//! });
//! # Ok::<(), crosstrace::Error>(())
//! ```
//!
//! Spans are crosstrace's ([`crate::Span`], wrapped in [`Span`]): the limits, redaction,
//! sampling, correlation, metrics and export of every other crosstrace span apply. A tracer's
//! name, version and schema URL become its spans' [`Scope`] (scope attributes are not kept).
//!
//! **Parents.** OpenTelemetry's [`Context`](opentelemetry::Context) is not crosstrace's
//! [`Context`]. A span started with an OpenTelemetry context (`start` and
//! `in_span` pass the API's current one) takes its parent from that context's span
//! (`TraceContextExt::span`: a span of this provider, or a remote span context), and its
//! baggage and correlation from a crosstrace context stored in it as a value
//! ([`to_otel_context`], the [`Propagator`]'s `extract`), else from crosstrace's current
//! context ([`crate::Context::current`]). Without a span in it, the parent is that crosstrace
//! context's: a span attached with [`crate::Span::attach`], or the `tracing` span entered (the
//! `tracing` layer attaches it), else none (a new trace). A span that context holds is the
//! parent instead when the context was made current inside the API context's span (a `tracing`
//! span entered in `in_span`): it is the innermost. So spans of the OpenTelemetry API,
//! crosstrace's own and `tracing`'s nest in one tree. To start a new trace whatever is
//! current, store an empty crosstrace context:
//! `opentelemetry::Context::new().with_value(crosstrace::Context::new())`. The other way
//! round, once a tracer or propagator of this module is made, crosstrace's own spans started
//! with no parent given (`Tracing::start`, `in_span`) and `inject_current` take the API's
//! current span as the parent, with crosstrace's current baggage and correlation, unless
//! crosstrace's current context was made current inside that span: the one made current last
//! is the parent.
//!
//! **Recording.** While span metrics are on (the default), a span the sampler dropped still
//! records for them (OpenTelemetry's RECORD_ONLY): `is_recording()` is true and only
//! `span_context().is_sampled()` says it will not be exported. Code that guards costly
//! attributes with `is_recording()` should test `is_sampled()` too, or turn metrics off.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::propagation::{text_map_propagator::FieldIter, Extractor, Injector};
use opentelemetry::trace::{self as api, Link, SpanContext, SpanKind, Status, TraceContextExt};
use opentelemetry::{InstrumentationScope, KeyValue};

use crate::context::Context;
use crate::global::with_global;
use crate::propagation::Carrier;
use crate::scope::Scope;
use crate::tracing::Tracing;

/// The tracing instance spans go to: a given one, or the process-wide one ([`crate::global`]),
/// found when each span starts (so a provider made before [`crate::init`] follows it).
#[derive(Debug, Clone, Default)]
struct Target(Option<Tracing>);

impl Target {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&Tracing) -> R) -> R {
        match &self.0 {
            Some(t) => f(t),
            None => with_global(f),
        }
    }
}

/// Notes that the OpenTelemetry API bridge is in use (see [`crate::context::API_BRIDGED`]).
fn bridged() {
    crate::context::API_BRIDGED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// crosstrace as an OpenTelemetry [`TracerProvider`](api::TracerProvider): its tracers start
/// crosstrace spans. Install it with [`install`] or `opentelemetry::global::set_tracer_provider`.
#[derive(Debug, Clone, Default)]
pub struct TracerProvider {
    target: Target,
}

impl TracerProvider {
    /// A provider whose spans go to `tracing`.
    pub fn new(tracing: Tracing) -> TracerProvider {
        TracerProvider {
            target: Target(Some(tracing)),
        }
    }

    /// A provider whose spans go to the process-wide instance ([`crate::global`]; nowhere
    /// before [`crate::init`]), found when each span starts.
    pub fn global() -> TracerProvider {
        TracerProvider::default()
    }
}

impl api::TracerProvider for TracerProvider {
    type Tracer = Tracer;

    fn tracer_with_scope(&self, scope: InstrumentationScope) -> Tracer {
        bridged();
        // An empty name: crosstrace's own scope (the API lets the provider choose).
        let scope = if scope.name().is_empty() {
            Scope::crosstrace()
        } else {
            Scope::new(scope.name(), scope.version(), scope.schema_url())
        };
        Tracer {
            target: self.target.clone(),
            scope,
        }
    }
}

/// An OpenTelemetry [`Tracer`](api::Tracer) on crosstrace: made by [`TracerProvider`].
#[derive(Debug, Clone)]
pub struct Tracer {
    target: Target,
    scope: Scope,
}

impl Tracer {
    /// The instrumentation scope of this tracer's spans.
    pub fn scope(&self) -> Scope {
        self.scope
    }
}

impl api::Tracer for Tracer {
    type Span = Span;

    fn build_with_context(
        &self,
        builder: api::SpanBuilder,
        parent_cx: &opentelemetry::Context,
    ) -> Span {
        let api::SpanBuilder {
            span_kind,
            name,
            start_time,
            attributes,
            events,
            links,
        } = builder;
        let parent = from_otel_context(parent_cx);
        if crate::export::on_export_thread() {
            // An exporter's own instrumentation: not traced (or each export would be traced
            // and exported in turn); what came in still propagates.
            let sc = parent.span_context().cloned().unwrap_or(SpanContext::NONE);
            return Span(crate::Span::non_recording(sc, &parent));
        }
        let mut span = self.target.with(|t| {
            let mut b = t
                .span(name)
                .kind(span_kind.unwrap_or(SpanKind::Internal))
                .parent_context(&parent)
                .scope(self.scope);
            if let Some(a) = attributes {
                b = b.attributes(a);
            }
            if let Some(s) = start_time {
                b = b.start_time(s);
            }
            if let Some(l) = links {
                b = b.links(l);
            }
            b.start()
        });
        for e in events.into_iter().flatten() {
            span.add_event_at(e.name, e.timestamp, e.attributes);
        }
        Span(span)
    }
}

/// A crosstrace span seen through the OpenTelemetry API's [`Span`](api::Span) trait (what
/// [`Tracer`] starts). Ends when dropped, as the SDK's spans do.
#[derive(Debug)]
pub struct Span(crate::Span);

impl Span {
    /// Wraps a crosstrace span, to put it in an OpenTelemetry context
    /// (`Context::current_with_span`) or hand it to OpenTelemetry-instrumented code.
    pub fn new(span: crate::Span) -> Span {
        Span(span)
    }

    /// The crosstrace span.
    pub fn inner(&self) -> &crate::Span {
        &self.0
    }

    /// The crosstrace span, to record through crosstrace's API (`record_error`, ...).
    pub fn inner_mut(&mut self) -> &mut crate::Span {
        &mut self.0
    }

    /// The crosstrace span, unwrapped.
    pub fn into_inner(self) -> crate::Span {
        self.0
    }
}

impl From<crate::Span> for Span {
    fn from(span: crate::Span) -> Span {
        Span(span)
    }
}

impl api::Span for Span {
    fn add_event<T>(&mut self, name: T, attributes: Vec<KeyValue>)
    where
        T: Into<Cow<'static, str>>,
    {
        self.0.add_event(name, attributes);
    }

    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        self.0.add_event_at(name, timestamp, attributes);
    }

    fn span_context(&self) -> &SpanContext {
        self.0.span_context()
    }

    fn is_recording(&self) -> bool {
        self.0.is_recording()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        self.0.set_attribute(attribute);
    }

    fn set_status(&mut self, status: Status) {
        self.0.set_status(status);
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        self.0.update_name(new_name);
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        self.0.add_link(Link::new(span_context, attributes, 0));
    }

    fn end(&mut self) {
        self.0.end();
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        self.0.end_at(timestamp);
    }
}

/// The crosstrace context an OpenTelemetry context stands for: the parent span is its span
/// (`TraceContextExt::span`, when it has a valid one), baggage and correlation those of the
/// crosstrace context stored in it ([`to_otel_context`]), else of crosstrace's current one —
/// which also gives the parent when the OpenTelemetry context has no span. What a span started
/// through [`Tracer`] under `cx` starts under; what [`Propagator`] injects.
pub fn from_otel_context(cx: &opentelemetry::Context) -> Context {
    let stored = cx.get::<Context>();
    let base = match stored {
        Some(stored) => stored.clone(),
        None => Context::current(),
    };
    if cx.has_active_span() {
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            // crosstrace's current context made current inside this span (a `tracing` span
            // entered, a span attached) is the innermost: its span is the parent.
            if stored.is_none() && Context::current_is_inside(sc) {
                return base;
            }
            return base.with_span_context(sc.clone());
        }
    }
    base
}

/// An OpenTelemetry context for a crosstrace one: `cx` stored in it (its baggage and
/// correlation reach spans started under it through [`Tracer`]) and its parent span, if any,
/// as the context's span (a span context only: `TraceContextExt::span` reads it, nothing can
/// record on it). For OpenTelemetry-instrumented code that should continue a context
/// extracted by crosstrace (`tracing.extract(&headers)`). Nothing of the API's current context
/// is kept: without a parent in `cx`, spans under it start new traces.
pub fn to_otel_context(cx: &Context) -> opentelemetry::Context {
    let otel = opentelemetry::Context::new().with_value(cx.clone());
    match cx.span_context() {
        Some(sc) => otel.with_remote_span_context(sc.clone()),
        None => otel,
    }
}

/// crosstrace's propagators as the OpenTelemetry API's [`TextMapPropagator`]
/// (`opentelemetry::global::set_text_map_propagator`): code instrumented with the API injects
/// and extracts what crosstrace would — the configured formats (`OTEL_PROPAGATORS`) and
/// `X-Correlation-ID` — with crosstrace's baggage and correlation (see [`from_otel_context`]
/// and [`to_otel_context`]).
///
/// [`TextMapPropagator`]: opentelemetry::propagation::TextMapPropagator
#[derive(Debug, Clone)]
pub struct Propagator {
    target: Target,
    fields: Vec<String>,
}

impl Propagator {
    /// Propagation as `tracing` is configured (its propagators; baggage dropped at the W3C
    /// limits is counted in its health).
    pub fn new(tracing: Tracing) -> Propagator {
        bridged();
        let fields = fields_of(&tracing);
        Propagator {
            target: Target(Some(tracing)),
            fields,
        }
    }

    /// Propagation as the process-wide instance ([`crate::global`]) is configured when each
    /// call is made. (Its [`fields`](opentelemetry::propagation::TextMapPropagator::fields)
    /// are those of the instance installed when this was made.)
    pub fn global() -> Propagator {
        bridged();
        Propagator {
            fields: with_global(fields_of),
            target: Target(None),
        }
    }
}

fn fields_of(t: &Tracing) -> Vec<String> {
    let mut f: Vec<String> = t
        .propagators()
        .fields()
        .into_iter()
        .map(str::to_owned)
        .collect();
    f.dedup();
    f
}

/// An OpenTelemetry injector as a crosstrace carrier (write only).
struct Inject<'a>(&'a mut dyn Injector);

impl Carrier for Inject<'_> {
    fn get(&self, _key: &str) -> Option<&str> {
        None
    }
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key, value);
    }
    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// An OpenTelemetry extractor as a crosstrace carrier (read only).
struct Extract<'a>(&'a dyn Extractor);

impl Carrier for Extract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }
    fn get_all(&self, key: &str) -> Vec<&str> {
        match self.0.get_all(key) {
            Some(all) => all,
            None => self.0.get(key).into_iter().collect(),
        }
    }
    fn set(&mut self, _key: &str, _value: String) {}
    fn keys(&self) -> Vec<&str> {
        self.0.keys()
    }
}

impl opentelemetry::propagation::TextMapPropagator for Propagator {
    fn inject_context(&self, cx: &opentelemetry::Context, injector: &mut dyn Injector) {
        use opentelemetry::baggage::BaggageExt as _;
        let mut ours = from_otel_context(cx);
        // The API's baggage (`Context::current_with_baggage`) travels too, over crosstrace's
        // entries of the same keys: it is what the caller set last.
        let api = cx.baggage();
        if !api.is_empty() {
            let mut entries: Vec<(String, String)> = ours
                .baggage()
                .iter()
                .filter(|(k, _)| api.get(k.as_str()).is_none())
                .cloned()
                .collect();
            entries.extend(
                api.into_iter()
                    .map(|(k, (v, _))| (k.to_string(), v.as_str().to_owned())),
            );
            ours = ours.with_baggage(entries);
        }
        self.target.with(|t| t.inject(&ours, &mut Inject(injector)));
    }

    fn extract_with_context(
        &self,
        cx: &opentelemetry::Context,
        extractor: &dyn Extractor,
    ) -> opentelemetry::Context {
        use opentelemetry::baggage::BaggageExt as _;
        let extracted = self.target.with(|t| t.extract(&Extract(extractor)));
        // Everything continuing a caller comes from the caller (`Context::continuing`).
        let span = extracted.span_context().cloned();
        // The baggage as the API's too, where API code reads it (`cx.baggage()`).
        let baggage: Vec<KeyValue> = extracted
            .baggage()
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        let out = match baggage.is_empty() {
            true => cx.with_value(extracted),
            false => cx.with_baggage(baggage).with_value(extracted),
        };
        match span {
            Some(sc) => out.with_remote_span_context(sc),
            None => out,
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

/// Makes crosstrace the OpenTelemetry API's global tracer provider and propagator, both on
/// `tracing`: what `opentelemetry::global::tracer(..)` and the API's `get_text_map_propagator`
/// then give. (For the process-wide instance, whichever [`crate::init`] installs:
/// `global::set_tracer_provider(TracerProvider::global())` and
/// `global::set_text_map_propagator(Propagator::global())`.)
pub fn install(tracing: &Tracing) {
    opentelemetry::global::set_tracer_provider(TracerProvider::new(tracing.clone()));
    opentelemetry::global::set_text_map_propagator(Propagator::new(tracing.clone()));
}

impl Tracing {
    /// This instance as an OpenTelemetry tracer provider ([`TracerProvider::new`]).
    pub fn tracer_provider(&self) -> TracerProvider {
        TracerProvider::new(self.clone())
    }
}
