//! Owned span handles. A [`Span`] records straight into its boxed [`SpanRecord`] and hands it
//! to the pipeline's processor when it ends. A span needs no thread-local state (span metrics use
//! the ending thread's shard when there is one, and a lock when not), so bindings can hold
//! spans across threads, tasks and FFI calls.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{Event, Link, SpanContext, SpanKind, Status};
use opentelemetry::KeyValue;

use crate::context::{Carried, Context};
use crate::health::Counters;
use crate::metrics::MetricsOnly;
use crate::pipeline::Pipeline;
use crate::platform::Stamp;
use crate::record::SpanRecord;

/// Attribute names of the exception event (OpenTelemetry semantic conventions).
pub mod exception {
    /// Event name.
    pub const EVENT: &str = "exception";
    /// The exception's type.
    pub const TYPE: &str = "exception.type";
    /// The message.
    pub const MESSAGE: &str = "exception.message";
    /// The stack trace.
    pub const STACKTRACE: &str = "exception.stacktrace";
    /// Whether the exception was escaping the span's scope when recorded.
    pub const ESCAPED: &str = "exception.escaped";
}

/// Where a new span's parent comes from.
#[derive(Debug, Clone, Copy, Default)]
pub enum Parent<'a> {
    /// The thread's current context ([`Context::current`]); once `crosstrace::otel` is in use,
    /// the OpenTelemetry API's current span when it was made current after that context.
    #[default]
    Current,
    /// No parent: a new trace (baggage and correlation of the current context are kept).
    Root,
    /// An explicit context: a local span's, or one extracted from headers.
    Context(&'a Context),
}

/// An owned span. Ending is idempotent; dropping an un-ended span ends it.
#[derive(Debug)]
pub struct Span {
    context: SpanContext,
    /// The baggage and correlation the span started in; children inherit them. (Not the whole
    /// parent context: a span handle stays at 128 bytes, moved without a `memcpy` call.)
    carried: Option<Arc<Carried>>,
    state: State,
}

/// What a span holds while it runs. The span data is boxed: a span handle stays small to move
/// (bindings move it into their own handles), and the box is freed on the thread that ended the
/// span. An unsampled span's small metrics record is inline: no allocation.
#[derive(Debug)]
enum State {
    /// Sampled: the data that will be exported, a stamp of its start time (the end time is
    /// the start time plus the stamps' difference: one wall-clock read per span, not two),
    /// and the pipeline it goes to.
    Recording(Box<SpanRecord>, Stamp, Arc<Pipeline>),
    /// Unsampled while span metrics are on: what the metrics need (no pipeline reference:
    /// see [`MetricsOnly`]).
    Measured(MetricsOnly),
    /// Ended, or never recording.
    Done,
}

impl Span {
    pub(crate) fn recording(
        context: SpanContext,
        parent_cx: &Context,
        data: Box<SpanRecord>,
        started: Stamp,
        pipeline: Arc<Pipeline>,
    ) -> Span {
        Span {
            context,
            carried: parent_cx.carried(),
            state: State::Recording(data, started, pipeline),
        }
    }

    pub(crate) fn metrics_only(
        context: SpanContext,
        parent_cx: &Context,
        only: MetricsOnly,
    ) -> Span {
        Span {
            context,
            carried: parent_cx.carried(),
            state: State::Measured(only),
        }
    }

    pub(crate) fn non_recording(context: SpanContext, parent_cx: &Context) -> Span {
        Span {
            context,
            carried: parent_cx.carried(),
            state: State::Done,
        }
    }

    /// The span's identity.
    pub fn span_context(&self) -> &SpanContext {
        &self.context
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        self.context.trace_id().to_string()
    }

    /// The span id, 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        self.context.span_id().to_string()
    }

    /// Whether the span is recording: sampled, or — while span metrics are on — measured for
    /// them (OpenTelemetry's RECORD_ONLY: its status and labelling attributes reach the metrics,
    /// nothing is exported). `span_context().is_sampled()` tells the two apart. False once
    /// ended, when tracing is off, and after shutdown.
    pub fn is_recording(&self) -> bool {
        !matches!(self.state, State::Done)
    }

    /// Whether `end` was called, or the span never recorded anything.
    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The context for children of this span: this span as parent, with the baggage and
    /// correlation it started in. Valid (for propagation) even when not recording.
    pub fn context(&self) -> Context {
        Context::assemble(self.context.clone(), self.carried.clone())
    }

    /// Makes this span's context the thread's current one until the guard drops.
    pub fn attach(&self) -> crate::context::ContextGuard {
        self.context().attach()
    }

    /// Sets an attribute, applying the value-length and count limits.
    pub fn set_attribute(&mut self, kv: KeyValue) {
        match &mut self.state {
            State::Recording(data, _, p) => {
                p.push_attribute(&mut data.attributes, &mut data.dropped_attributes_count, kv)
            }
            State::Measured(only) => only.note(kv.key.as_str(), &kv.value),
            State::Done => {}
        }
    }

    /// Sets several attributes.
    pub fn set_attributes(&mut self, kvs: impl IntoIterator<Item = KeyValue>) {
        for kv in kvs {
            self.set_attribute(kv);
        }
    }

    /// Adds an event now.
    pub fn add_event(&mut self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        if let State::Recording(..) = self.state {
            self.add_event_at(name, crate::platform::now(), attributes);
        }
    }

    /// Adds an event at a given time.
    pub fn add_event_at(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        time: SystemTime,
        mut attributes: Vec<KeyValue>,
    ) {
        let State::Recording(data, _, p) = &mut self.state else {
            return;
        };
        if data.events.events.len() >= p.event_limit {
            data.events.dropped_count += 1;
            Counters::add(&p.counters.app.events_dropped, 1);
            return;
        }
        let mut dropped = 0;
        let attributes = p.limited(&mut attributes, &mut dropped);
        data.events
            .events
            .push(Event::new(name, time, attributes, dropped));
    }

    /// Adds a link to another span after the start (OpenTelemetry's `add_link`: the sampler
    /// saw only the links given at start), under the limits of links given at start.
    pub fn add_link(&mut self, link: Link) {
        if let State::Recording(data, _, p) = &mut self.state {
            p.push_link(&mut data.links, link);
        }
    }

    /// Records an exception: an `exception` event with type, message and stack trace, and sets
    /// the status to error with the message.
    pub fn record_exception(&mut self, type_name: &str, message: &str, stacktrace: Option<&str>) {
        self.add_exception_event(type_name, message, stacktrace);
        self.set_status(Status::error(message.to_owned()));
    }

    /// The `exception` event of [`Span::record_exception`] alone, the status left as it is
    /// (OpenTelemetry's `record_exception`, whose callers set the status themselves, or not).
    pub fn add_exception_event(
        &mut self,
        type_name: &str,
        message: &str,
        stacktrace: Option<&str>,
    ) {
        self.add_exception_event_with(type_name, message, stacktrace, Vec::new(), None);
    }

    /// [`Span::add_exception_event`] with the caller's `attributes` added, each replacing the
    /// exception's own of its key (OpenTelemetry's `record_exception(attributes=...)`), at
    /// `at` (`None`: now).
    pub fn add_exception_event_with(
        &mut self,
        type_name: &str,
        message: &str,
        stacktrace: Option<&str>,
        attributes: Vec<KeyValue>,
        at: Option<SystemTime>,
    ) {
        let mut attrs = vec![
            KeyValue::new(exception::TYPE, type_name.to_owned()),
            KeyValue::new(exception::MESSAGE, message.to_owned()),
        ];
        if let Some(st) = stacktrace {
            attrs.push(KeyValue::new(exception::STACKTRACE, st.to_owned()));
        }
        // The event's limits keep one attribute per key, the later value.
        attrs.extend(attributes);
        match at {
            Some(t) => self.add_event_at(exception::EVENT, t, attrs),
            None => self.add_event(exception::EVENT, attrs),
        }
    }

    /// Records a Rust error (type name from `std::any::type_name`, message from `Display`, the
    /// source chain as the stack trace).
    pub fn record_error<E: std::error::Error + ?Sized>(&mut self, err: &E) {
        let mut chain = String::new();
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str("caused by: ");
            chain.push_str(&s.to_string());
            chain.push('\n');
            source = s.source();
        }
        let ty = std::any::type_name::<E>();
        self.record_exception(ty, &err.to_string(), (!chain.is_empty()).then_some(&chain));
    }

    /// Sets the status. `Ok` is final (a later error does not replace it, as OpenTelemetry
    /// specifies); `Unset` never replaces a set status.
    pub fn set_status(&mut self, status: Status) {
        match &mut self.state {
            State::Recording(data, _, p) => match (&data.status, &status) {
                (Status::Ok, _) | (_, Status::Unset) => {}
                _ => {
                    data.status = match status {
                        // An error's description is often an exception message: redacted.
                        Status::Error { description } => match p.redaction.text(&description) {
                            Cow::Borrowed(_) => Status::Error { description },
                            Cow::Owned(clean) => Status::error(clean),
                        },
                        other => other,
                    }
                }
            },
            State::Measured(only) => only.set_status(&status),
            State::Done => {}
        }
    }

    /// Renames the span.
    pub fn update_name(&mut self, name: impl Into<Cow<'static, str>>) {
        match &mut self.state {
            State::Recording(data, _, _) => data.name = name.into(),
            State::Measured(only) => only.name = name.into(),
            State::Done => {}
        }
    }

    /// Moves the start time, for a span created after its work began (a timestamp carried in
    /// the data, or one measured by the caller's own clock). No effect once ended.
    pub fn set_start_time(&mut self, time: SystemTime) {
        match &mut self.state {
            State::Recording(data, started, _) => {
                data.start_time = time;
                *started = Stamp::at(time);
            }
            State::Measured(only) => only.set_start(time),
            State::Done => {}
        }
    }

    /// Ends the span now. Idempotent.
    pub fn end(&mut self) {
        self.finish(None);
    }

    /// Ends the span at `time`. Idempotent.
    pub fn end_at(&mut self, time: SystemTime) {
        self.finish(Some(time));
    }

    fn finish(&mut self, time: Option<SystemTime>) {
        // Drop calls this too: an ended or non-recording span reads no clock.
        match std::mem::replace(&mut self.state, State::Done) {
            State::Recording(mut data, started, p) => {
                // The end, and the duration for the metrics: the start moved on by the time
                // between the two stamps (one clock read, no conversion), or the time given.
                let (end, nanos) = match time {
                    None => {
                        let nanos = started.nanos_until(started.now_alike());
                        (data.start_time + Duration::from_nanos(nanos), nanos)
                    }
                    Some(t) => {
                        let end = t.max(data.start_time);
                        let d = end.duration_since(data.start_time).unwrap_or_default();
                        (end, d.as_nanos() as u64)
                    }
                };
                data.end_time = end;
                p.on_end(data, nanos);
            }
            State::Measured(only) => {
                only.record(time.map_or_else(crate::platform::stamp, Stamp::at));
            }
            State::Done => {}
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.end();
    }
}

/// The span kinds' names, in the order of their numbers ([`kind_from_number`]).
const KIND_NAMES: [&str; 5] = ["internal", "server", "client", "producer", "consumer"];

/// Span kinds by name, for bindings: `internal`, `server`, `client`, `producer`, `consumer`
/// (any case, surrounding spaces ignored). No allocation: bindings call it per span.
pub fn parse_kind(name: &str) -> Option<SpanKind> {
    // The lowercase names, exactly, first: what bindings pass on nearly every span.
    match name {
        "internal" => return Some(SpanKind::Internal),
        "server" => return Some(SpanKind::Server),
        "client" => return Some(SpanKind::Client),
        _ => {}
    }
    let name = name.trim();
    let n = KIND_NAMES
        .iter()
        .position(|k| k.eq_ignore_ascii_case(name))?;
    kind_from_number(n as u32)
}

/// A span kind's name (lowercase, as [`parse_kind`] reads it).
pub fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => KIND_NAMES[0],
        SpanKind::Server => KIND_NAMES[1],
        SpanKind::Client => KIND_NAMES[2],
        SpanKind::Producer => KIND_NAMES[3],
        SpanKind::Consumer => KIND_NAMES[4],
    }
}

/// A status by name, for bindings: `"ok"`, `"error"` (with `description`) or `"unset"`.
pub fn parse_status(code: &str, description: Option<String>) -> Option<Status> {
    Some(match code {
        "ok" => Status::Ok,
        "error" => Status::error(description.unwrap_or_default()),
        "unset" => Status::Unset,
        _ => return None,
    })
}

/// Span kinds by number, for bindings that pass them as integers (C's `ct_span_kind`, the
/// wasm package): 0 internal, 1 server, 2 client, 3 producer, 4 consumer.
pub fn kind_from_number(n: u32) -> Option<SpanKind> {
    Some(match n {
        0 => SpanKind::Internal,
        1 => SpanKind::Server,
        2 => SpanKind::Client,
        3 => SpanKind::Producer,
        4 => SpanKind::Consumer,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn kinds_and_statuses_by_name() {
        for n in 0..5 {
            let k = kind_from_number(n).unwrap();
            assert_eq!(parse_kind(kind_name(&k)), Some(k.clone()));
            assert_eq!(
                parse_kind(&format!(" {} ", kind_name(&k).to_uppercase())),
                Some(k)
            );
        }
        assert_eq!(parse_kind("sideways"), None);
        assert_eq!(parse_status("ok", None), Some(Status::Ok));
        assert_eq!(
            parse_status("error", Some("boom".into())),
            Some(Status::error("boom"))
        );
        assert_eq!(parse_status("unset", None), Some(Status::Unset));
        assert_eq!(parse_status("OK", None), None);
    }
}
