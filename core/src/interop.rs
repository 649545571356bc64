//! The JSON shapes of the shared vectors (`tests/vectors/`), in one place, so every binding reads
//! and writes contexts the same way: `{"trace_id", "span_id", "sampled", "tracestate",
//! "baggage": {k: v}, "correlation": {"id", "user_id", "operation", "fields": {k: v}}}` in,
//! the parent as a `span` object out (read back in too).

use std::collections::BTreeMap;

use opentelemetry::trace::{SpanContext, TraceFlags, TraceState};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::{Context, Correlation};
use crate::error::{Error, Result};
use crate::propagation::parse_span_context;
use crate::value::FieldValue;

/// A context in the vectors' shape, as written: `span` is `None` without a parent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextShape {
    /// The parent span.
    pub span: Option<SpanShape>,
    /// The baggage, by key.
    pub baggage: BTreeMap<String, String>,
    /// The correlation.
    pub correlation: Option<CorrelationShape>,
}

/// A context's parent span in the vectors' shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanShape {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The sampled flag.
    pub sampled: bool,
    /// The trace-flags byte, two hex digits.
    pub flags: String,
    /// The B3/Jaeger debug state.
    pub debug: bool,
    /// Whether the span came from another process.
    pub remote: bool,
    /// The `tracestate` header ("" when empty).
    pub tracestate: String,
}

/// A correlation in the vectors' shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CorrelationShape {
    /// The correlation id.
    pub id: Option<String>,
    /// The user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Further fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// A context in the vectors' flat input shape: `trace_id`, `span_id`, `sampled`, `flags` (two
/// hex digits; `sampled` decides bit 0), `debug`, `tracestate`, `baggage`, `correlation`, all
/// optional; other fields are ignored. The parent may also come as [`context_to_json`] writes
/// it, a `span` object of those fields (and `remote`), so a context written is read back.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
pub struct ContextInput {
    /// The parent as [`context_to_json`] writes it (the flat fields win over it).
    pub span: Option<SpanInput>,
    /// 32 hex digits (with `span_id`: the parent).
    pub trace_id: Option<String>,
    /// 16 hex digits.
    pub span_id: Option<String>,
    /// The sampled flag (true when absent).
    pub sampled: Option<bool>,
    /// The trace-flags byte, two hex digits.
    pub flags: Option<String>,
    /// The B3/Jaeger debug state.
    pub debug: Option<bool>,
    /// A `tracestate` header.
    pub tracestate: Option<String>,
    /// Baggage.
    pub baggage: Option<BTreeMap<String, String>>,
    /// Correlation.
    pub correlation: Option<CorrelationShape>,
}

/// A parent span as [`context_to_json`] writes it, each field optional.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
pub struct SpanInput {
    /// 32 hex digits.
    pub trace_id: Option<String>,
    /// 16 hex digits.
    pub span_id: Option<String>,
    /// The sampled flag.
    pub sampled: Option<bool>,
    /// The trace-flags byte, two hex digits.
    pub flags: Option<String>,
    /// The B3/Jaeger debug state.
    pub debug: Option<bool>,
    /// Whether the span came from another process (false when absent).
    pub remote: Option<bool>,
    /// A `tracestate` header.
    pub tracestate: Option<String>,
}

fn invalid(value: String, expected: &'static str) -> Error {
    Error::InvalidArgument {
        argument: "context json",
        value,
        expected,
    }
}

/// The correlation in the vectors' shape.
pub fn correlation_shape(c: Option<&Correlation>) -> Option<CorrelationShape> {
    let c = c?;
    Some(CorrelationShape {
        id: Some(c.id().to_owned()),
        user_id: c.user_id().map(str::to_owned),
        operation: c.operation().map(str::to_owned),
        fields: map_of(c.fields().iter().cloned()),
    })
}

/// A map of pairs, inserted one by one by `extend` (a later key replaces an earlier one, as
/// with `collect`, which sorts them first: an instance of the standard library's sort, which
/// the browser build otherwise has none of, see `crate::sort`).
fn map_of(pairs: impl Iterator<Item = (String, String)>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    map.extend(pairs);
    map
}

/// A context in the vectors' shape.
pub fn context_shape(cx: &Context) -> ContextShape {
    ContextShape {
        span: cx.span_context().map(|s| SpanShape {
            trace_id: s.trace_id().to_string(),
            span_id: s.span_id().to_string(),
            sampled: s.is_sampled(),
            flags: format!("{:02x}", s.trace_flags().to_u8()),
            debug: cx.debug(),
            remote: s.is_remote(),
            tracestate: cx
                .trace_state_header()
                .map(|h| h.into_owned())
                .unwrap_or_default(),
        }),
        baggage: map_of(cx.baggage().iter().cloned()),
        correlation: correlation_shape(cx.correlation()),
    }
}

/// The correlation as JSON (`null` when absent).
pub fn correlation_to_json(c: Option<&Correlation>) -> Value {
    serde_json::to_value(correlation_shape(c)).unwrap_or(Value::Null)
}

/// A context as JSON. `span` is `null` without a parent.
pub fn context_to_json(cx: &Context) -> Value {
    serde_json::to_value(context_shape(cx)).unwrap_or(Value::Null)
}

/// Builds a context from the vectors' flat shape ([`ContextInput`]).
pub fn context_from_json(v: &Value) -> Result<Context> {
    if !v.is_object() {
        return Err(invalid(v.to_string(), "an object"));
    }
    let input = ContextInput::deserialize(v).map_err(|_| {
        invalid(
            v.to_string(),
            "the vectors' context shape (ids, flags and tracestate as strings, sampled and debug \
             as booleans, baggage and correlation fields as objects of strings)",
        )
    })?;
    context_from_input(input)
}

/// Builds a context from the vectors' flat shape, however the binding read it.
pub fn context_from_input(mut v: ContextInput) -> Result<Context> {
    let mut remote = false;
    if let Some(s) = v.span.take() {
        remote = s.remote.unwrap_or(false);
        v.trace_id = v.trace_id.or(s.trace_id);
        v.span_id = v.span_id.or(s.span_id);
        v.sampled = v.sampled.or(s.sampled);
        v.flags = v.flags.or(s.flags);
        v.debug = v.debug.or(s.debug);
        v.tracestate = v.tracestate.or(s.tracestate);
    }
    let mut cx = Context::new();
    if let Some(t) = &v.trace_id {
        let s = v.span_id.as_deref().ok_or_else(|| {
            invalid(
                format!("trace_id {t} without a span_id"),
                "span_id as a string",
            )
        })?;
        let sampled = v.sampled.unwrap_or(true);
        let flags = match v.flags.as_deref() {
            Some(f) => u8::from_str_radix(f, 16)
                .ok()
                .filter(|_| f.len() == 2)
                .ok_or_else(|| invalid(format!("flags {f}"), "flags as two hex digits"))?,
            None => 0,
        };
        let sc = parse_span_context(t, s, sampled)?;
        let flags = TraceFlags::new((flags & !1) | u8::from(sampled));
        let list = match v.tracestate.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => Some(
                crate::propagation::parse_tracestate(h)
                    .ok_or_else(|| invalid(format!("tracestate {h}"), "a valid tracestate"))?,
            ),
            None => None,
        };
        let sdk_state = list
            .as_deref()
            .map(crate::propagation::sdk_trace_state)
            .unwrap_or(TraceState::NONE);
        cx = cx
            .with_span_context(SpanContext::new(
                sc.trace_id(),
                sc.span_id(),
                flags,
                remote,
                sdk_state,
            ))
            .with_propagated(list.as_deref(), v.debug.unwrap_or(false));
    }
    if let Some(b) = v.baggage {
        cx = cx.with_baggage(b.into_iter().collect());
    }
    if let Some(c) = v.correlation {
        cx = cx.with_correlation(Correlation::new(c.id, c.user_id, c.operation, c.fields)?);
    }
    Ok(cx)
}

impl ContextShape {
    /// The shape as a [`FieldValue`] map, as its `Serialize` writes it (for bindings without
    /// serde: the npm package's browser build); `context_from_value_agrees_with_serde` in
    /// tests/vectors.rs holds the two equal.
    pub fn to_value(&self) -> FieldValue {
        let text = |s: &str| FieldValue::Str(s.to_owned());
        let texts = |m: &BTreeMap<String, String>| {
            FieldValue::Map(m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        };
        let span = self.span.as_ref().map_or(FieldValue::Null, |s| {
            FieldValue::Map(vec![
                ("trace_id".into(), text(&s.trace_id)),
                ("span_id".into(), text(&s.span_id)),
                ("sampled".into(), FieldValue::Bool(s.sampled)),
                ("flags".into(), text(&s.flags)),
                ("debug".into(), FieldValue::Bool(s.debug)),
                ("remote".into(), FieldValue::Bool(s.remote)),
                ("tracestate".into(), text(&s.tracestate)),
            ])
        });
        let correlation = self.correlation.as_ref().map_or(FieldValue::Null, |c| {
            let mut m = vec![(
                "id".to_owned(),
                c.id.as_deref().map_or(FieldValue::Null, text),
            )];
            if let Some(u) = &c.user_id {
                m.push(("user_id".into(), text(u)));
            }
            if let Some(o) = &c.operation {
                m.push(("operation".into(), text(o)));
            }
            if !c.fields.is_empty() {
                m.push(("fields".into(), texts(&c.fields)));
            }
            FieldValue::Map(m)
        });
        FieldValue::Map(vec![
            ("span".into(), span),
            ("baggage".into(), texts(&self.baggage)),
            ("correlation".into(), correlation),
        ])
    }
}

impl ContextInput {
    /// The vectors' shape from a value a binding read from its language's objects (a JS object),
    /// without serde (whose deserializers the npm package's browser build leaves out); `None`
    /// when a field has the wrong kind. Other fields are ignored, as serde's reading does; the
    /// two agree (`context_from_value_agrees_with_serde` in tests/vectors.rs).
    pub fn from_value(v: &FieldValue) -> Option<ContextInput> {
        let FieldValue::Map(fields) = v else {
            return None;
        };
        let mut c = ContextInput::default();
        for (k, v) in fields {
            match k.as_str() {
                "span" => c.span = optional(v, span)?,
                "trace_id" => c.trace_id = optional(v, text)?,
                "span_id" => c.span_id = optional(v, text)?,
                "sampled" => c.sampled = optional(v, FieldValue::as_bool)?,
                "flags" => c.flags = optional(v, text)?,
                "debug" => c.debug = optional(v, FieldValue::as_bool)?,
                "tracestate" => c.tracestate = optional(v, text)?,
                "baggage" => c.baggage = optional(v, FieldValue::text_map)?,
                "correlation" => c.correlation = optional(v, correlation)?,
                _ => {}
            }
        }
        Some(c)
    }
}

/// `null` as `None`, else `some(v)` (`None`: the wrong kind).
fn optional<T>(v: &FieldValue, some: impl FnOnce(&FieldValue) -> Option<T>) -> Option<Option<T>> {
    match v.non_null() {
        None => Some(None),
        Some(v) => some(v).map(Some),
    }
}

fn text(v: &FieldValue) -> Option<String> {
    v.as_text().map(str::to_owned)
}

fn span(v: &FieldValue) -> Option<SpanInput> {
    let FieldValue::Map(fields) = v else {
        return None;
    };
    let mut s = SpanInput::default();
    for (k, v) in fields {
        match k.as_str() {
            "trace_id" => s.trace_id = optional(v, text)?,
            "span_id" => s.span_id = optional(v, text)?,
            "sampled" => s.sampled = optional(v, FieldValue::as_bool)?,
            "flags" => s.flags = optional(v, text)?,
            "debug" => s.debug = optional(v, FieldValue::as_bool)?,
            "remote" => s.remote = optional(v, FieldValue::as_bool)?,
            "tracestate" => s.tracestate = optional(v, text)?,
            _ => {}
        }
    }
    Some(s)
}

fn correlation(v: &FieldValue) -> Option<CorrelationShape> {
    let FieldValue::Map(fields) = v else {
        return None;
    };
    let mut c = CorrelationShape::default();
    for (k, v) in fields {
        match k.as_str() {
            "id" => c.id = optional(v, text)?,
            "user_id" => c.user_id = optional(v, text)?,
            "operation" => c.operation = optional(v, text)?,
            "fields" => c.fields = v.text_map()?,
            _ => {}
        }
    }
    Some(c)
}
