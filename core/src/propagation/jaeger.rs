//! Jaeger: `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}` and `uberctx-{key}`
//! baggage headers.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

use super::{is_hex, Carrier, Extracted};

const HEADER: &str = "uber-trace-id";
const BAGGAGE_PREFIX: &str = "uberctx-";
const MAX_BAGGAGE: usize = 180;

pub(super) fn inject(s: &SpanContext, baggage: &[(String, String)], carrier: &mut dyn Carrier) {
    let flags = if s.is_sampled() { 1 } else { 0 };
    carrier.set(
        HEADER,
        format!("{}:{}:0:{flags}", s.trace_id(), s.span_id()),
    );
    for (k, v) in baggage.iter().take(MAX_BAGGAGE) {
        let key = k.to_ascii_lowercase();
        if key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            carrier.set(
                &format!("{BAGGAGE_PREFIX}{key}"),
                utf8_percent_encode(v, NON_ALPHANUMERIC).to_string(),
            );
        }
    }
}

fn parse(v: &str) -> Option<SpanContext> {
    // Some clients percent-encode the separators.
    let v = percent_decode_str(v.trim()).decode_utf8().ok()?;
    let parts: Vec<&str> = v.split(':').collect();
    let [t, s, p, f] = parts.as_slice() else {
        return None;
    };
    if t.is_empty() || t.len() > 32 || s.is_empty() || s.len() > 16 || p.len() > 16 {
        return None;
    }
    if !is_hex(t) || !is_hex(s) || !is_hex(p) || f.is_empty() || f.len() > 2 || !is_hex(f) {
        return None;
    }
    let trace = TraceId::from_hex(&t.to_ascii_lowercase()).ok()?;
    let span = SpanId::from_hex(&s.to_ascii_lowercase()).ok()?;
    if trace == TraceId::INVALID || span == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(f, 16).ok()?;
    // Bit 1 is sampled, bit 2 debug (which implies sampled).
    let sampled = flags & 0x03 != 0;
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Some(SpanContext::new(trace, span, flags, true, TraceState::NONE))
}

pub(super) fn extract(carrier: &dyn Carrier) -> Extracted {
    let span = carrier.get(HEADER).and_then(parse);
    let mut baggage = Vec::new();
    for key in carrier.keys() {
        let lower = key.to_ascii_lowercase();
        if let Some(name) = lower.strip_prefix(BAGGAGE_PREFIX) {
            if name.is_empty() || baggage.len() == MAX_BAGGAGE {
                continue;
            }
            if let Some(v) = carrier
                .get(key)
                .and_then(|v| percent_decode_str(v).decode_utf8().ok())
            {
                baggage.push((name.to_owned(), v.into_owned()));
            }
        }
    }
    baggage.sort();
    Extracted { span, baggage }
}
