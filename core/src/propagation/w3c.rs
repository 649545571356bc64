//! W3C Trace Context (`traceparent`, `tracestate`, level 2) and W3C Baggage.

use std::sync::Arc;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use super::{combined, is_lower_hex, Carrier, Extracted};

/// The trace flag saying the trace id's right 7 bytes are random (level 2). crosstrace does
/// not act on it: it keeps it for the trace it came with and sets it on trace ids it makes.
pub(crate) const RANDOM: u8 = 0x02;
/// The flags this version knows (sampled, random); the others are written as zero.
const KNOWN_FLAGS: u8 = 0x03;

const MAX_TRACESTATE_MEMBERS: usize = 32;
/// A guard against hostile input: far above the longest valid list (32 members of a 256-byte
/// key and a 256-byte value, 16,447 bytes, plus whitespace).
const MAX_TRACESTATE_INPUT: usize = 64 * 1024;
pub(crate) const MAX_BAGGAGE_BYTES: usize = 8192;
pub(crate) const MAX_BAGGAGE_MEMBERS: usize = 180;

pub(super) fn inject_traceparent(
    s: &SpanContext,
    trace_state: Option<&str>,
    carrier: &mut dyn Carrier,
) {
    carrier.set(
        "traceparent",
        format!(
            "00-{}-{}-{:02x}",
            s.trace_id(),
            s.span_id(),
            s.trace_flags().to_u8() & KNOWN_FLAGS
        ),
    );
    if let Some(ts) = trace_state.filter(|t| !t.is_empty()) {
        carrier.set("tracestate", ts.to_owned());
    }
}

/// Parses `traceparent` by the W3C rules: lowercase hex, version `ff` invalid, version 00
/// exactly 55 characters, a future version at least 55 with a `-` after the flags, ids not all
/// zero. Of the flags, the known ones are kept (sampled, random).
pub(crate) fn parse_traceparent(tp: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    let tp = tp.trim_matches([' ', '\t']);
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
    Some((trace_id, span_id, TraceFlags::new(flags & KNOWN_FLAGS)))
}

/// A `tracestate` key: 1 to 256 characters, the first `a-z` or a digit, the rest also `_`, `-`,
/// `*`, `/` and `@` (the current W3C grammar: `tenant@system` is no longer a structure).
fn valid_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(c))
}

/// A `tracestate` value: 1 to 256 printable ASCII characters but `,` and `=`, not ending in a
/// space (leading spaces are part of it).
fn valid_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && !v.ends_with(' ')
        && v.bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

/// Parses a `tracestate` value (its lines already combined with `,`). Empty and
/// whitespace-only members are skipped; a member that is not `key=value` by the grammar, or
/// more than 32 members, drop the whole list (as the W3C test suite requires). Duplicate keys
/// are kept as received: the specification lets a receiver keep or drop them. Returns the
/// members joined with `,`; `None` when none remain.
pub(crate) fn parse_tracestate(ts: &str) -> Option<Arc<str>> {
    if ts.len() > MAX_TRACESTATE_INPUT {
        return None;
    }
    let mut out = String::with_capacity(ts.len());
    let mut count = 0;
    for m in ts.split(',') {
        let m = m.trim_matches([' ', '\t']);
        if m.is_empty() {
            continue;
        }
        let (k, v) = m.split_once('=')?;
        if !valid_key(k) || !valid_value(v) {
            return None;
        }
        count += 1;
        if count > MAX_TRACESTATE_MEMBERS {
            return None;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(m);
    }
    (!out.is_empty()).then(|| Arc::from(out))
}

/// The SDK's `TraceState` of a validated list, for what reads the span context (exporters,
/// OpenTelemetry API consumers): every member it accepts (its key check is older and stricter
/// than the W3C grammar). Propagation uses the list itself.
pub(crate) fn sdk_trace_state(list: &str) -> TraceState {
    let members: Vec<(&str, &str)> = list.split(',').filter_map(|m| m.split_once('=')).collect();
    if let Ok(ts) = TraceState::from_key_value(members.iter().copied()) {
        return ts;
    }
    // `insert` puts a member first: from the last to the first keeps the order.
    members.iter().rev().fold(TraceState::NONE, |ts, (k, v)| {
        ts.insert(*k, *v).unwrap_or_else(|_| ts.clone())
    })
}

pub(super) fn extract_traceparent(carrier: &dyn Carrier) -> Extracted {
    // Two `traceparent` lines: no way to tell which is meant, so neither is.
    let lines = carrier.get_all("traceparent");
    let [line] = lines.as_slice() else {
        return Extracted::default();
    };
    let Some((trace_id, span_id, flags)) = parse_traceparent(line) else {
        return Extracted::default();
    };
    let trace_state = combined(carrier, "tracestate").and_then(|ts| parse_tracestate(&ts));
    let sdk_state = trace_state
        .as_deref()
        .map(sdk_trace_state)
        .unwrap_or(TraceState::NONE);
    Extracted {
        span: Some(SpanContext::new(trace_id, span_id, flags, true, sdk_state)),
        trace_state,
        ..Extracted::default()
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

/// Parses `baggage` (its lines already combined with `,`). Over 8192 bytes, over 180 members
/// or any malformed member: no baggage. A value's percent-encoded bytes that are not UTF-8
/// become U+FFFD (the member is kept).
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
        let v = percent_decode_str(v).decode_utf8_lossy();
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
    let header = combined(carrier, "baggage");
    let baggage = header.as_deref().map(parse_baggage).unwrap_or_default();
    // A header that was there and gave nothing was over the limits or malformed.
    let dropped = u64::from(header.is_some_and(|h| !h.trim().is_empty()) && baggage.is_empty());
    Extracted {
        baggage,
        dropped,
        ..Extracted::default()
    }
}

/// The length of `key=value` as a `baggage` member (the value percent-encoded).
pub(crate) fn member_len(k: &str, v: &str) -> usize {
    k.len()
        + 1
        + utf8_percent_encode(v, BAGGAGE_VALUE)
            .map(str::len)
            .sum::<usize>()
}

/// Baggage being gathered from several sources (the `baggage` header, `uberctx-*`) within the
/// W3C limits: 180 members and 8192 bytes as one header.
#[derive(Debug, Default)]
pub(crate) struct BaggageBudget {
    entries: Vec<(String, String)>,
    /// Per entry: whether its source lowercases keys.
    folded: Vec<bool>,
    bytes: usize,
}

impl BaggageBudget {
    /// Adds a source's entries, all or none (none when they would pass a limit). An entry whose
    /// key is already there is skipped: the same key, or one that differs only in case when
    /// either source lowercases keys (Jaeger's `tenant` is W3C's `Tenant`). Returns how many
    /// entries were left out.
    pub(crate) fn take_all(&mut self, entries: Vec<(String, String)>, folded_case: bool) -> u64 {
        let taken = |k: &str| {
            self.entries
                .iter()
                .zip(&self.folded)
                .any(|((e, _), f)| e == k || ((folded_case || *f) && e.eq_ignore_ascii_case(k)))
        };
        let new: Vec<(String, String)> = entries.into_iter().filter(|(k, _)| !taken(k)).collect();
        let bytes: usize = new.iter().map(|(k, v)| member_len(k, v) + 1).sum();
        if self.entries.len() + new.len() > MAX_BAGGAGE_MEMBERS
            || self.bytes + bytes > MAX_BAGGAGE_BYTES + 1
        {
            return new.len() as u64;
        }
        self.bytes += bytes;
        self.folded
            .extend(std::iter::repeat_n(folded_case, new.len()));
        self.entries.extend(new);
        0
    }

    pub(crate) fn into_entries(self) -> Vec<(String, String)> {
        self.entries
    }
}

/// Writes `baggage`, skipping invalid keys and the entries that would pass the W3C limits;
/// returns how many were left out.
pub(super) fn inject_baggage(entries: &[(String, String)], carrier: &mut dyn Carrier) -> u64 {
    let mut header = String::new();
    let mut count = 0;
    let mut dropped = 0;
    for (k, v) in entries {
        if !is_token(k) {
            continue;
        }
        let member = format!("{k}={}", utf8_percent_encode(v, BAGGAGE_VALUE));
        let extra = member.len() + usize::from(!header.is_empty());
        if count == MAX_BAGGAGE_MEMBERS || header.len() + extra > MAX_BAGGAGE_BYTES {
            dropped += 1;
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
    dropped
}
