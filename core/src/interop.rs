//! The JSON shapes of the shared vectors (`tests/vectors/`), in one place, so every binding reads
//! and writes contexts the same way: `{"trace_id", "span_id", "sampled", "tracestate",
//! "baggage": {k: v}, "correlation": {"id", "user_id", "operation", "fields": {k: v}}}`.

use std::collections::BTreeMap;

use opentelemetry::trace::{SpanContext, TraceFlags, TraceState};
use serde_json::{json, Map, Value};

use crate::context::{Context, Correlation};
use crate::error::{Error, Result};
use crate::propagation::parse_span_context;

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
            "flags": format!("{:02x}", s.trace_flags().to_u8()),
            "debug": cx.debug(),
            "remote": s.is_remote(),
            "tracestate": cx.trace_state_header().unwrap_or_default(),
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

/// Builds a context from the vectors' flat shape (`trace_id`, `span_id`, `sampled`, `flags`
/// (two hex digits; `sampled` decides bit 0), `debug`, `tracestate`, `baggage`, `correlation`
/// at the top level, all optional).
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
        let flags = match v.get("flags").and_then(Value::as_str) {
            Some(f) => u8::from_str_radix(f, 16)
                .ok()
                .filter(|_| f.len() == 2)
                .ok_or_else(|| invalid(v, "flags as two hex digits"))?,
            None => 0,
        };
        let sc = parse_span_context(t, s, sampled)?;
        let flags = TraceFlags::new((flags & !1) | u8::from(sampled));
        let trace_state = v.get("tracestate").and_then(Value::as_str);
        let list = match trace_state.filter(|h| !h.is_empty()) {
            Some(h) => Some(
                crate::propagation::parse_tracestate(h)
                    .ok_or_else(|| invalid(v, "a valid tracestate"))?,
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
                false,
                sdk_state,
            ))
            .with_propagated(
                list.as_deref(),
                v.get("debug").and_then(Value::as_bool).unwrap_or(false),
            );
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
