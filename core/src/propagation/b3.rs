//! B3: the single `b3` header and the `X-B3-*` headers. Extraction accepts both forms, the
//! single header first.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use super::{is_lower_hex, Carrier, Extracted};

pub(super) fn inject_single(s: &SpanContext, carrier: &mut dyn Carrier) {
    let sampled = if s.is_sampled() { "1" } else { "0" };
    carrier.set("b3", format!("{}-{}-{sampled}", s.trace_id(), s.span_id()));
}

pub(super) fn inject_multi(s: &SpanContext, carrier: &mut dyn Carrier) {
    carrier.set("x-b3-traceid", s.trace_id().to_string());
    carrier.set("x-b3-spanid", s.span_id().to_string());
    carrier.set(
        "x-b3-sampled",
        if s.is_sampled() { "1" } else { "0" }.to_owned(),
    );
}

/// A 16- or 32-character lowercase hex trace id (16 is left-padded), not all zero.
fn trace_id(s: &str) -> Option<TraceId> {
    if !(s.len() == 16 || s.len() == 32) || !is_lower_hex(s) {
        return None;
    }
    TraceId::from_hex(s).ok().filter(|t| *t != TraceId::INVALID)
}

fn span_id(s: &str) -> Option<SpanId> {
    if s.len() != 16 || !is_lower_hex(s) {
        return None;
    }
    SpanId::from_hex(s).ok().filter(|t| *t != SpanId::INVALID)
}

/// `Some(flags)` for a valid sampling state; `d` (debug) means sampled.
fn sampled(s: &str) -> Option<TraceFlags> {
    match s {
        "1" | "d" | "true" => Some(TraceFlags::SAMPLED),
        "0" | "false" => Some(TraceFlags::default()),
        _ => None,
    }
}

fn context(trace: TraceId, span: SpanId, flags: TraceFlags) -> Extracted {
    Extracted {
        span: Some(SpanContext::new(trace, span, flags, true, TraceState::NONE)),
        baggage: Vec::new(),
    }
}

fn extract_single(v: &str) -> Option<Extracted> {
    let parts: Vec<&str> = v.trim().split('-').collect();
    // `b3: 0` / `b3: 1` / `b3: d` alone carries no parent.
    let (t, s, flags) = match parts.as_slice() {
        [t, s] => (t, s, TraceFlags::SAMPLED),
        [t, s, f] => (t, s, sampled(f)?),
        [t, s, f, p] => {
            span_id(p)?;
            (t, s, sampled(f)?)
        }
        _ => return None,
    };
    Some(context(trace_id(t)?, span_id(s)?, flags))
}

fn extract_multi(carrier: &dyn Carrier) -> Option<Extracted> {
    let t = trace_id(carrier.get("x-b3-traceid")?.trim())?;
    let s = span_id(carrier.get("x-b3-spanid")?.trim())?;
    let debug = carrier.get("x-b3-flags").map(str::trim) == Some("1");
    let flags = match carrier.get("x-b3-sampled").map(str::trim) {
        _ if debug => TraceFlags::SAMPLED,
        Some(v) => sampled(&v.to_ascii_lowercase())?,
        None => TraceFlags::SAMPLED,
    };
    Some(context(t, s, flags))
}

pub(super) fn extract(carrier: &dyn Carrier) -> Extracted {
    carrier
        .get("b3")
        .and_then(extract_single)
        .or_else(|| extract_multi(carrier))
        .unwrap_or_default()
}
