//! A [`tracing_subscriber::Layer`] that records `tracing` spans and events as crosstrace
//! spans (feature `tracing`, on by default; not on wasm32).
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let tracing = crosstrace::Tracing::new(crosstrace::TracingConfig {
//!     backend: crosstrace::Backend::None,
//!     ..Default::default()
//! })?;
//! let subscriber = tracing_subscriber::registry().with(tracing.layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     let _order = tracing::info_span!("order", order.id = 7).entered();
//!     tracing::info!(sku = "SKU-APPLE", "reserved"); // an event on "order"
//! });
//! # Ok::<(), crosstrace::Error>(())
//! ```
//!
//! What becomes what:
//!
//! - A span becomes a crosstrace span when `tracing` creates it, named by its name (or its
//!   `otel.name` field), of kind `otel.kind` (`server`, `client`, `producer`, `consumer`, else
//!   internal; given when the span is made: a kind recorded later is not applied, where
//!   `tracing-opentelemetry` applies one until the first enter), with its fields as attributes
//!   (recorded later: set then); `otel.status_code`
//!   (`ok`, `error`) and `otel.status_description` set its status. It ends when `tracing`
//!   closes it (its last handle dropped).
//! - Parent: the span's `tracing` parent (explicit, or the current span), across `.await` with
//!   `Instrument` as `tracing` carries it. A span with none — a root, or `parent: None` —
//!   continues the OpenTelemetry API's current span if there is one, else crosstrace's current
//!   [`Context`]: attach a context extracted from a request's headers
//!   (`tracing.extract(&headers).attach()`) around creating a server span and it continues
//!   the caller's trace, baggage and correlation. Children inherit baggage and correlation.
//! - Entering a span makes its context crosstrace's current one (until it exits), so
//!   crosstrace spans, [`Tracing::inject_current`] and OpenTelemetry API spans (see
//!   [`crate::otel`]) started inside land under it.
//! - An event becomes an event of its span (none outside a span), named by its message (else
//!   its callsite name), with its other fields, `level` and `target` as attributes. An event at
//!   level ERROR, or with an `error` field (`#[instrument(err)]` records one), is recorded as
//!   an exception — an `exception` event with `exception.message` (the error, else the
//!   message), its fields kept — and sets the span's status to error with that message.
//! - `follows_from` becomes a link.
//! - Nothing is recorded on crosstrace's export threads: the exporters' libraries (h2, tower)
//!   make `tracing` spans there, which would otherwise be exported by the next export, and so on.
//!
//! The layer records every level; to keep a library's TRACE and DEBUG spans out, filter it
//! (`tracing.layer().with_filter(LevelFilter::INFO)`, `tracing_subscriber`'s per-layer filters).
//!
//! # Why a layer of crosstrace's own, not `tracing-opentelemetry`
//!
//! `tracing-opentelemetry` works on any OpenTelemetry tracer, crosstrace's
//! ([`crate::otel::TracerProvider`]) included, but per span it fills an OpenTelemetry
//! `SpanBuilder` (a vector of attributes, events and links), keeps it until the span is first
//! entered, then starts the span through an OpenTelemetry `Context` (a type map, allocated),
//! and attaches that context on every enter. This layer starts the crosstrace span at once,
//! with the fields recorded straight into the span's own attribute vector, and on enter swaps
//! crosstrace's small thread-local context. Measured by `cargo bench --bench tracing_layer`
//! (a `tracing` span with 3 fields, entered and closed; and one under a parent with an
//! event), on a 2-core VM: this layer about 1.0 µs of CPU and 4 allocations per span,
//! `tracing-opentelemetry` 2.6–3.7 µs and 12 on crosstrace's provider, 3.0–3.3 µs and 11 on
//! `opentelemetry_sdk`; with the event 3.1 µs and 7 allocations against 4.0–6.2 µs and 16–17
//! (docs/benchmarks.md). `tracing-opentelemetry` gets parents and fields (and the same
//! `otel.*` fields) right too, but not all the rest: an ERROR event sets its status with no
//! description and is no exception unless it carries a `dyn Error` field, and the span it
//! enters is the OpenTelemetry API's current span only, not crosstrace's; this layer does both,
//! at about half the cost.

use std::any::TypeId;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use opentelemetry::trace::{Link, SpanKind, Status};
use opentelemetry::{Key, KeyValue, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Event, Level, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;

use crate::context::Context;
use crate::global::with_global;
use crate::scope::Scope;
use crate::span::exception;
use crate::tracing::Tracing;

/// The crosstrace span of a `tracing` span, in its extensions.
struct Recorded(crate::Span);

/// Finds a span's [`Recorded`] through the dispatcher (for [`SpanExt`]): the layer's
/// monomorphised lookup, handed out by `downcast_raw`.
#[derive(Clone, Copy)]
struct WithSpan(LookUp);

/// Runs a function on the crosstrace span of a span id, through a dispatcher.
type LookUp = fn(&Dispatch, &Id, &mut dyn FnMut(&mut crate::Span));

/// The `tracing_subscriber` layer: see the [module documentation](self). Make one with
/// [`Tracing::layer`], [`CrosstraceLayer::new`] or [`CrosstraceLayer::global`].
pub struct CrosstraceLayer<S> {
    tracing: Option<Tracing>,
    scope: Scope,
    with_span: WithSpan,
    _subscriber: PhantomData<fn(S)>,
}

impl<S> fmt::Debug for CrosstraceLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrosstraceLayer")
            .field(
                "tracing",
                &self.tracing.as_ref().map(|t| &t.config().service_name),
            )
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The instrumentation scope of the layer's spans unless given another: `tracing`.
fn default_scope() -> Scope {
    static SCOPE: std::sync::OnceLock<Scope> = std::sync::OnceLock::new();
    *SCOPE.get_or_init(|| Scope::new("tracing", None, None))
}

impl<S> CrosstraceLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    /// A layer whose spans go to `tracing`.
    pub fn new(tracing: Tracing) -> Self {
        Self::make(Some(tracing))
    }

    /// A layer whose spans go to the process-wide instance ([`crate::global`]; nowhere before
    /// [`crate::init`]), found as each span starts.
    pub fn global() -> Self {
        Self::make(None)
    }

    fn make(tracing: Option<Tracing>) -> Self {
        CrosstraceLayer {
            tracing,
            scope: default_scope(),
            with_span: WithSpan(Self::with_span),
            _subscriber: PhantomData,
        }
    }

    /// The instrumentation scope of the spans (default: `tracing`).
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    fn with_span(dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut crate::Span)) {
        let Some(subscriber) = dispatch.downcast_ref::<S>() else {
            return;
        };
        let Some(span) = subscriber.span(id) else {
            return;
        };
        let mut ext = span.extensions_mut();
        if let Some(Recorded(s)) = ext.get_mut::<Recorded>() {
            f(s);
        }
    }

    #[inline]
    fn target<R>(&self, f: impl FnOnce(&Tracing) -> R) -> R {
        match &self.tracing {
            Some(t) => f(t),
            None => with_global(f),
        }
    }
}

impl Tracing {
    /// A `tracing_subscriber` layer recording into this instance ([`CrosstraceLayer::new`]):
    /// `tracing_subscriber::registry().with(tracing.layer())`.
    pub fn layer<S>(&self) -> CrosstraceLayer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        CrosstraceLayer::new(self.clone())
    }
}

/// What a span's fields say besides attributes.
#[derive(Default)]
struct Special {
    name: Option<String>,
    kind: Option<SpanKind>,
    status: Option<bool>,
    description: Option<String>,
}

impl Special {
    /// `otel.status_code`, with `otel.status_description` as an error's; a description alone
    /// is an error (as tracing-opentelemetry reads it).
    fn status(&self) -> Option<Status> {
        match (self.status, &self.description) {
            (Some(true), _) => Some(Status::Ok),
            (Some(false), d) => Some(Status::error(d.clone().unwrap_or_default())),
            (None, Some(d)) => Some(Status::error(d.clone())),
            (None, None) => None,
        }
    }
}

fn kind_of(s: &str) -> Option<SpanKind> {
    crate::span::parse_kind(s)
}

/// The value of a `tracing` field as an attribute value.
fn int(v: u64) -> Value {
    match i64::try_from(v) {
        Ok(i) => Value::I64(i),
        Err(_) => Value::String(v.to_string().into()),
    }
}

/// Collects a span's fields: attributes, and the `otel.*` fields.
struct SpanFields<'a> {
    attributes: &'a mut Vec<KeyValue>,
    special: &'a mut Special,
}

impl SpanFields<'_> {
    fn text(&mut self, field: &Field, value: Cow<'_, str>) {
        match field.name() {
            "otel.name" => self.special.name = Some(value.into_owned()),
            "otel.kind" => self.special.kind = kind_of(&value),
            "otel.status_code" => {
                self.special.status = match value.trim() {
                    s if s.eq_ignore_ascii_case("ok") => Some(true),
                    s if s.eq_ignore_ascii_case("error") => Some(false),
                    _ => None,
                }
            }
            "otel.status_description" => self.special.description = Some(value.into_owned()),
            name => self.attributes.push(KeyValue::new(
                Key::from_static_str(name),
                value.into_owned(),
            )),
        }
    }

    fn value(&mut self, field: &Field, value: Value) {
        self.attributes
            .push(KeyValue::new(Key::from_static_str(field.name()), value));
    }
}

impl Visit for SpanFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, Cow::Borrowed(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, Cow::Owned(format!("{value:?}")));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, Cow::Owned(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.value(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.value(field, int(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.value(field, Value::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.value(field, Value::Bool(value));
    }
}

/// Collects an event's fields: its message, its error, the rest as attributes.
struct EventFields {
    message: Option<String>,
    error: Option<String>,
    attributes: Vec<KeyValue>,
}

impl EventFields {
    fn text(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = Some(value),
            "error" => self.error = Some(value),
            name => self
                .attributes
                .push(KeyValue::new(Key::from_static_str(name), value)),
        }
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format!("{value:?}"));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        self.text(field, text);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attributes
            .push(KeyValue::new(Key::from_static_str(field.name()), value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.attributes.push(KeyValue::new(
            Key::from_static_str(field.name()),
            int(value),
        ));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attributes
            .push(KeyValue::new(Key::from_static_str(field.name()), value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.attributes
            .push(KeyValue::new(Key::from_static_str(field.name()), value));
    }
}

thread_local! {
    /// The spans this thread entered, innermost last, each with the crosstrace context that
    /// was current before it.
    static ENTERED: RefCell<Vec<(Id, Option<crate::context::Current>)>> = const { RefCell::new(Vec::new()) };
}

impl<S> tracing_subscriber::Layer<S> for CrosstraceLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        if crate::export::on_export_thread() {
            // The exporters' own instrumentation: not traced (see `on_export_thread`).
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut attributes = Vec::with_capacity(attrs.fields().len());
        let mut special = Special::default();
        attrs.record(&mut SpanFields {
            attributes: &mut attributes,
            special: &mut special,
        });
        let name: Cow<'static, str> = match special.name.take() {
            Some(n) => Cow::Owned(n),
            None => Cow::Borrowed(attrs.metadata().name()),
        };
        let kind = special.kind.take().unwrap_or(SpanKind::Internal);
        // The tracing parent's context, when it has a crosstrace span.
        let parent = attrs
            .parent()
            .cloned()
            .or_else(|| {
                attrs
                    .is_contextual()
                    .then(|| ctx.current_span().id().cloned())
                    .flatten()
            })
            .and_then(|p| ctx.span(&p))
            .and_then(|p| p.extensions().get::<Recorded>().map(|r| r.0.context()));
        let mut started = self.target(|t| {
            let b = t
                .span(name)
                .kind(kind)
                .attributes(attributes)
                .scope(self.scope);
            match &parent {
                Some(cx) => b.parent_context(cx).start(),
                // No tracing parent: the OpenTelemetry API's current span, else crosstrace's
                // current context (the one made current last).
                None => Context::with_current_parent(true, |cx| b.parent_context(cx).start()),
            }
        });
        if let Some(status) = special.status() {
            started.set_status(status);
        }
        span.extensions_mut().insert(Recorded(started));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(Recorded(s)) = ext.get_mut::<Recorded>() else {
            return;
        };
        if !s.is_recording() {
            return;
        }
        let mut attributes = Vec::new();
        let mut special = Special::default();
        values.record(&mut SpanFields {
            attributes: &mut attributes,
            special: &mut special,
        });
        s.set_attributes(attributes);
        if let Some(name) = special.name.take() {
            s.update_name(name);
        }
        if let Some(status) = special.status() {
            s.set_status(status);
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: LayerContext<'_, S>) {
        let Some(other) = ctx.span(follows).and_then(|f| {
            f.extensions()
                .get::<Recorded>()
                .map(|r| r.0.span_context().clone())
        }) else {
            return;
        };
        if let Some(span) = ctx.span(id) {
            if let Some(Recorded(s)) = span.extensions_mut().get_mut::<Recorded>() {
                s.add_link(Link::with_context(other));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let span = match event.parent() {
            Some(p) => ctx.span(p),
            None if event.is_contextual() => ctx.lookup_current(),
            None => None,
        };
        let Some(span) = span else { return };
        let mut ext = span.extensions_mut();
        let Some(Recorded(s)) = ext.get_mut::<Recorded>() else {
            return;
        };
        if !s.is_recording() {
            return;
        }
        let meta = event.metadata();
        let mut fields = EventFields {
            message: None,
            error: None,
            attributes: Vec::with_capacity(meta.fields().len() + 2),
        };
        fields.attributes.push(KeyValue::new(
            Key::from_static_str("level"),
            Value::String(meta.level().as_str().into()),
        ));
        fields.attributes.push(KeyValue::new(
            Key::from_static_str("target"),
            Value::String(meta.target().into()),
        ));
        event.record(&mut fields);
        let EventFields {
            message,
            error,
            mut attributes,
        } = fields;
        if error.is_some() || *meta.level() == Level::ERROR {
            // An exception: the error's text, else the message.
            let text = match (error, message) {
                (Some(e), Some(m)) => {
                    attributes.push(KeyValue::new("message", m));
                    e
                }
                (Some(e), None) => e,
                (None, m) => m.unwrap_or_else(|| meta.name().to_owned()),
            };
            attributes.push(KeyValue::new(exception::MESSAGE, text.clone()));
            s.add_event(exception::EVENT, attributes);
            s.set_status(Status::error(text));
        } else {
            let name: Cow<'static, str> = match message {
                Some(m) => Cow::Owned(m),
                None => Cow::Borrowed(meta.name()),
            };
            s.add_event(name, attributes);
        }
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(cx) = span.extensions().get::<Recorded>().map(|r| r.0.context()) else {
            return;
        };
        let previous = Context::swap_current(cx);
        let _ = ENTERED.try_with(|e| e.borrow_mut().push((id.clone(), previous)));
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        let _ = ENTERED.try_with(|e| {
            let mut e = e.borrow_mut();
            let Some(i) = e.iter().rposition(|(entered, _)| entered == id) else {
                return;
            };
            let (_, previous) = e.remove(i);
            if i == e.len() {
                // The innermost: what was current before it is current again.
                if let Some(previous) = previous {
                    Context::restore_current(previous);
                }
            } else {
                // Exited out of order: the span entered after it now restores what was
                // current before it.
                e[i].1 = previous;
            }
        });
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let recorded = span.extensions_mut().remove::<Recorded>();
        if let Some(Recorded(mut s)) = recorded {
            s.end();
        }
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else if id == TypeId::of::<WithSpan>() {
            Some(&self.with_span as *const WithSpan as *const ())
        } else {
            None
        }
    }
}

/// crosstrace's view of a `tracing` span recorded by [`CrosstraceLayer`] (nothing happens for
/// spans it did not record: disabled, or under another subscriber).
pub trait SpanExt {
    /// The span's crosstrace context (for [`Tracing::inject`] into an outgoing request, or to
    /// start crosstrace spans under it); an empty one when the layer did not record it.
    fn context(&self) -> Context;
    /// Sets an attribute.
    fn set_attribute(&self, kv: KeyValue);
    /// Sets the status (`Ok` is final, as on every crosstrace span).
    fn set_status(&self, status: Status);
    /// Adds a link to another span.
    fn add_link(&self, link: Link);
    /// Records an error: an `exception` event, and the status set to error
    /// ([`crate::Span::record_error`]).
    fn record_error<E: std::error::Error + ?Sized>(&self, err: &E);
}

/// Runs `f` on the crosstrace span behind `span`, if the layer recorded one.
fn with_recorded(span: &::tracing::Span, mut f: impl FnMut(&mut crate::Span)) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(with) = dispatch.downcast_ref::<WithSpan>() {
            (with.0)(dispatch, id, &mut f);
        }
    });
}

impl SpanExt for ::tracing::Span {
    fn context(&self) -> Context {
        let mut cx = Context::new();
        with_recorded(self, |s| cx = s.context());
        cx
    }
    fn set_attribute(&self, kv: KeyValue) {
        let mut kv = Some(kv);
        with_recorded(self, |s| {
            if let Some(kv) = kv.take() {
                s.set_attribute(kv);
            }
        });
    }
    fn set_status(&self, status: Status) {
        let mut status = Some(status);
        with_recorded(self, |s| {
            if let Some(st) = status.take() {
                s.set_status(st);
            }
        });
    }
    fn add_link(&self, link: Link) {
        let mut link = Some(link);
        with_recorded(self, |s| {
            if let Some(l) = link.take() {
                s.add_link(l);
            }
        });
    }
    fn record_error<E: std::error::Error + ?Sized>(&self, err: &E) {
        with_recorded(self, |s| s.record_error(err));
    }
}
