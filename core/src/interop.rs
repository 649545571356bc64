//! The JSON shapes of the shared vectors (`tests/vectors/`), in one place, so every binding reads
//! and writes contexts the same way: `{"trace_id", "span_id", "sampled", "tracestate",
//! "baggage": {k: v}, "correlation": {"id", "user_id", "operation", "fields": {k: v}}}`.

use std::collections::BTreeMap;

use opentelemetry::trace::{SpanContext, TraceState};
use serde_json::{json, Map, Value};

use crate::context::{Context, Correlation};
use crate::error::{Error, Result};
use crate::tracing::parse_span_context;

fn invalid(value: &Value, expected: &'static str) -> Error {
    Error::InvalidArgument {
        argument: "context json",
        value: value.to_string(),
        expected,
    }
}

fn string_map(v: &Value) -> Result<Vec<(String, String)>> {
    let Some(obj) = v.as_object() else {
        return Err(invalid(v, "an object of string values"));
    };
    obj.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_owned()))
                .ok_or_else(|| invalid(v, "string values"))
        })
        .collect()
}

/// The correlation as JSON (`null` when absent).
pub fn correlation_to_json(c: Option<&Correlation>) -> Value {
    let Some(c) = c else { return Value::Null };
    let mut o = json!({ "id": c.id() });
    if let Some(u) = c.user_id() {
        o["user_id"] = json!(u);
    }
    if let Some(op) = c.operation() {
        o["operation"] = json!(op);
    }
    if !c.fields().is_empty() {
        let f: BTreeMap<&str, &str> = c
            .fields()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        o["fields"] = json!(f);
    }
    o
}

/// A context as JSON. `span` is `null` without a parent.
pub fn context_to_json(cx: &Context) -> Value {
    let span = match cx.span_context() {
        None => Value::Null,
        Some(s) => json!({
            "trace_id": s.trace_id().to_string(),
            "span_id": s.span_id().to_string(),
            "sampled": s.is_sampled(),
            "remote": s.is_remote(),
            "tracestate": s.trace_state().header(),
        }),
    };
    let baggage: Map<String, Value> = cx
        .baggage()
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "span": span,
        "baggage": baggage,
        "correlation": correlation_to_json(cx.correlation()),
    })
}

/// Builds a context from the vectors' flat shape (`trace_id`, `span_id`, `sampled`,
/// `tracestate`, `baggage`, `correlation` at the top level, all optional).
pub fn context_from_json(v: &Value) -> Result<Context> {
    if !v.is_object() {
        return Err(invalid(v, "an object"));
    }
    let mut cx = Context::new();
    if let Some(t) = v.get("trace_id") {
        let t = t
            .as_str()
            .ok_or_else(|| invalid(v, "trace_id as a string"))?;
        let s = v["span_id"]
            .as_str()
            .ok_or_else(|| invalid(v, "span_id as a string"))?;
        let sampled = v["sampled"].as_bool().unwrap_or(true);
        let sc = parse_span_context(t, s, sampled)?;
        let ts = match v.get("tracestate").and_then(Value::as_str) {
            Some(h) => h
                .parse::<TraceState>()
                .map_err(|_| invalid(v, "a valid tracestate"))?,
            None => TraceState::NONE,
        };
        cx = cx.with_span_context(SpanContext::new(
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags(),
            false,
            ts,
        ));
    }
    if let Some(b) = v.get("baggage") {
        cx = cx.with_baggage(string_map(b)?);
    }
    if let Some(c) = v.get("correlation").filter(|c| !c.is_null()) {
        let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
        let fields = match c.get("fields") {
            Some(f) => string_map(f)?,
            None => Vec::new(),
        };
        cx = cx.with_correlation(Correlation::new(
            text("id"),
            text("user_id"),
            text("operation"),
            fields,
        )?);
    }
    Ok(cx)
}
