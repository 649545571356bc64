//! B3: the single `b3` header and the `X-B3-*` headers. Extraction accepts both forms, the
//! single header first. Debug (`d` in the single header, `X-B3-Flags: 1`) means sampled and is
//! passed on as it came.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use super::{first_value, is_lower_hex, Carrier, Extracted};

/// The sampling state to write: debug only with an accept decision (B3 cannot say debug
/// without it; a Jaeger trace can, and it goes out as `0`).
fn state(s: &SpanContext, debug: bool) -> &'static str {
    match (s.is_sampled(), debug) {
        (true, true) => "d",
        (true, false) => "1",
        (false, _) => "0",
    }
}

pub(super) fn inject_single(s: &SpanContext, debug: bool, carrier: &mut dyn Carrier) {
    carrier.set(
        "b3",
        format!("{}-{}-{}", s.trace_id(), s.span_id(), state(s, debug)),
    );
}

pub(super) fn inject_multi(s: &SpanContext, debug: bool, carrier: &mut dyn Carrier) {
    carrier.set("x-b3-traceid", s.trace_id().to_string());
    carrier.set("x-b3-spanid", s.span_id().to_string());
    if state(s, debug) == "d" {
        // Debug implies the accept decision: no X-B3-Sampled beside it.
        carrier.set("x-b3-flags", "1".to_owned());
    } else {
        carrier.set("x-b3-sampled", state(s, debug).to_owned());
    }
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

/// The single header's sampling state: one character, `1`, `0` or `d` (debug, sampled).
/// Returns (sampled, debug).
fn single_state(s: &str) -> Option<(bool, bool)> {
    match s {
        "1" => Some((true, false)),
        "0" => Some((false, false)),
        "d" => Some((true, true)),
        _ => None,
    }
}

fn context(trace: TraceId, span: SpanId, sampled: bool, debug: bool) -> Extracted {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Extracted {
        span: Some(SpanContext::new(trace, span, flags, true, TraceState::NONE)),
        debug,
        ..Extracted::default()
    }
}

fn extract_single(v: &str) -> Option<Extracted> {
    let parts: Vec<&str> = v.trim().split('-').collect();
    // `b3: 0` / `b3: 1` / `b3: d` alone carries no parent.
    let (t, s, (sampled, debug)) = match parts.as_slice() {
        [t, s] => (t, s, (true, false)),
        [t, s, f] => (t, s, single_state(f)?),
        [t, s, f, p] => {
            span_id(p)?;
            (t, s, single_state(f)?)
        }
        _ => return None,
    };
    Some(context(trace_id(t)?, span_id(s)?, sampled, debug))
}

fn extract_multi(carrier: &dyn Carrier) -> Option<Extracted> {
    let t = trace_id(first_value(carrier, "x-b3-traceid")?)?;
    let s = span_id(first_value(carrier, "x-b3-spanid")?)?;
    // `X-B3-Flags: 1` is debug, which implies the accept decision whatever X-B3-Sampled says.
    let debug = first_value(carrier, "x-b3-flags") == Some("1");
    let sampled = match first_value(carrier, "x-b3-sampled") {
        _ if debug => true,
        // The multi header is lenient (the B3 specification lists `true` and `false`).
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "d" => true,
            "0" | "false" => false,
            _ => return None,
        },
        None => true,
    };
    Some(context(t, s, sampled, debug))
}

pub(super) fn extract(carrier: &dyn Carrier) -> Extracted {
    first_value(carrier, "b3")
        .and_then(extract_single)
        .or_else(|| extract_multi(carrier))
        .unwrap_or_default()
}
