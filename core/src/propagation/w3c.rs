//! W3C Trace Context (`traceparent`, `tracestate`) and W3C Baggage.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use super::{is_lower_hex, Carrier, Extracted};

const MAX_TRACESTATE_MEMBERS: usize = 32;
const MAX_TRACESTATE_LEN: usize = 512 * 32;
const MAX_BAGGAGE_BYTES: usize = 8192;
const MAX_BAGGAGE_MEMBERS: usize = 180;

pub(super) fn inject_traceparent(s: &SpanContext, carrier: &mut dyn Carrier) {
    carrier.set(
        "traceparent",
        format!(
            "00-{}-{}-{:02x}",
            s.trace_id(),
            s.span_id(),
            s.trace_flags().to_u8() & 0x01
        ),
    );
    let ts = s.trace_state().header();
    if !ts.is_empty() {
        carrier.set("tracestate", ts);
    }
}

/// Parses `traceparent` by the W3C rules: lowercase hex, version `ff` invalid, version 00
/// exactly 55 characters, a future version at least 55 with a `-` after the flags, ids not all
/// zero.
pub(crate) fn parse_traceparent(tp: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    let tp = tp.trim();
    if tp.len() < 55 || !tp.is_ascii() {
        return None;
    }
    let version = &tp[0..2];
    if !is_lower_hex(version) || version == "ff" {
        return None;
    }
    if version == "00" && tp.len() != 55 {
        return None;
    }
    if tp.len() > 55 && tp.as_bytes()[55] != b'-' {
        return None;
    }
    let b = tp.as_bytes();
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let (trace, span, flags) = (&tp[3..35], &tp[36..52], &tp[53..55]);
    if !is_lower_hex(trace) || !is_lower_hex(span) || !is_lower_hex(flags) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((trace_id, span_id, TraceFlags::new(flags & 0x01)))
}

/// Parses `tracestate`; an invalid or oversized one is dropped whole (the parent stays).
pub(crate) fn parse_tracestate(ts: &str) -> TraceState {
    if ts.len() > MAX_TRACESTATE_LEN {
        return TraceState::NONE;
    }
    let mut members = Vec::new();
    for m in ts.split(',') {
        let m = m.trim_matches([' ', '\t']);
        if m.is_empty() {
            continue;
        }
        let Some((k, v)) = m.split_once('=') else {
            return TraceState::NONE;
        };
        if v.is_empty()
            || v.ends_with(' ')
            || !v
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
            || members.iter().any(|(mk, _): &(&str, &str)| *mk == k)
        {
            return TraceState::NONE;
        }
        members.push((k, v));
    }
    if members.len() > MAX_TRACESTATE_MEMBERS {
        return TraceState::NONE;
    }
    TraceState::from_key_value(members).unwrap_or(TraceState::NONE)
}

pub(super) fn extract_traceparent(carrier: &dyn Carrier) -> Extracted {
    let Some((trace_id, span_id, flags)) = carrier.get("traceparent").and_then(parse_traceparent)
    else {
        return Extracted::default();
    };
    let state = carrier
        .get("tracestate")
        .map(parse_tracestate)
        .unwrap_or(TraceState::NONE);
    Extracted {
        span: Some(SpanContext::new(trace_id, span_id, flags, true, state)),
        baggage: Vec::new(),
    }
}

/// Characters percent-encoded in baggage values: controls, space, `"`, `,`, `;`, `\`, `%`,
/// and everything non-ASCII (by the encoder).
const BAGGAGE_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%')
    .add(b'=');

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses `baggage`. Over 8192 bytes, over 180 members or any malformed member: no baggage.
pub(crate) fn parse_baggage(header: &str) -> Vec<(String, String)> {
    if header.len() > MAX_BAGGAGE_BYTES {
        return Vec::new();
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for member in header.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        // Properties (`;k=v`) are accepted and not kept.
        let kv = member.split(';').next().unwrap_or("");
        let Some((k, v)) = kv.split_once('=') else {
            return Vec::new();
        };
        let (k, v) = (k.trim_matches([' ', '\t']), v.trim_matches([' ', '\t']));
        if !is_token(k) {
            return Vec::new();
        }
        let Ok(v) = percent_decode_str(v).decode_utf8() else {
            return Vec::new();
        };
        if let Some(existing) = out.iter_mut().find(|(ek, _)| ek == k) {
            existing.1 = v.into_owned();
        } else {
            out.push((k.to_owned(), v.into_owned()));
        }
        if out.len() > MAX_BAGGAGE_MEMBERS {
            return Vec::new();
        }
    }
    out
}

pub(super) fn extract_baggage(carrier: &dyn Carrier) -> Extracted {
    Extracted {
        span: None,
        baggage: carrier
            .get("baggage")
            .map(parse_baggage)
            .unwrap_or_default(),
    }
}

/// Writes `baggage`, skipping invalid keys and stopping before the W3C limits are exceeded.
pub(super) fn inject_baggage(entries: &[(String, String)], carrier: &mut dyn Carrier) {
    let mut header = String::new();
    let mut count = 0;
    for (k, v) in entries {
        if !is_token(k) || count == MAX_BAGGAGE_MEMBERS {
            continue;
        }
        let member = format!("{k}={}", utf8_percent_encode(v, BAGGAGE_VALUE));
        let extra = member.len() + usize::from(!header.is_empty());
        if header.len() + extra > MAX_BAGGAGE_BYTES {
            continue;
        }
        if !header.is_empty() {
            header.push(',');
        }
        header.push_str(&member);
        count += 1;
    }
    if !header.is_empty() {
        carrier.set("baggage", header);
    }
}
