//! Jaeger: `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}` and `uberctx-{key}`
//! baggage headers. Flags: 0x01 sampled, 0x02 debug (passed on as it came; debug alone is not
//! sampled). Baggage keeps to the W3C limits (180 entries, 8192 bytes), on the way in and out.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

use super::w3c::{member_len, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS};
use super::{is_hex, Carrier, Extracted};

const HEADER: &str = "uber-trace-id";
const BAGGAGE_PREFIX: &str = "uberctx-";

/// Writes `uber-trace-id` and the baggage as `uberctx-*` (keys lowercased; one header per key,
/// the first entry of keys that differ only in case); returns how many entries were left out
/// at the limits.
pub(super) fn inject(
    s: &SpanContext,
    debug: bool,
    baggage: &[(String, String)],
    carrier: &mut dyn Carrier,
) -> u64 {
    let flags = u8::from(s.is_sampled()) | (u8::from(debug) << 1);
    carrier.set(
        HEADER,
        format!("{}:{}:0:{flags:x}", s.trace_id(), s.span_id()),
    );
    let (mut written, mut bytes, mut dropped) = (Vec::<String>::new(), 0, 0);
    for (k, v) in baggage {
        let key = k.to_ascii_lowercase();
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            || written.contains(&key)
        {
            continue;
        }
        let len = member_len(&key, v) + 1;
        if written.len() == MAX_BAGGAGE_MEMBERS || bytes + len > MAX_BAGGAGE_BYTES + 1 {
            dropped += 1;
            continue;
        }
        bytes += len;
        carrier.set(
            &format!("{BAGGAGE_PREFIX}{key}"),
            utf8_percent_encode(v, NON_ALPHANUMERIC).to_string(),
        );
        written.push(key);
    }
    dropped
}

/// The span context and the debug flag.
fn parse(v: &str) -> Option<(SpanContext, bool)> {
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
    let trace_flags = if flags & 0x01 != 0 {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let sc = SpanContext::new(trace, span, trace_flags, true, TraceState::NONE);
    Some((sc, flags & 0x02 != 0))
}

pub(super) fn extract(carrier: &dyn Carrier) -> Extracted {
    let parsed = super::first_value(carrier, HEADER).and_then(parse);
    // Every `uberctx-*` name once (names match ignoring case), sorted: the result does not
    // depend on the carrier's order.
    let mut names: Vec<String> = carrier
        .keys()
        .into_iter()
        .filter_map(|k| {
            let lower = k.to_ascii_lowercase();
            let name = lower.strip_prefix(BAGGAGE_PREFIX)?;
            (!name.is_empty()).then(|| name.to_owned())
        })
        .collect();
    crate::sort::sort(&mut names);
    names.dedup();
    // Far past the limits before decoding anything (180 headers of a megabyte each): all out.
    let raw: usize = names
        .iter()
        .filter_map(|n| carrier.get(&format!("{BAGGAGE_PREFIX}{n}")))
        .map(|v| v.len() + 1)
        .sum();
    if raw > 3 * MAX_BAGGAGE_BYTES {
        return Extracted {
            span: parsed.as_ref().map(|(s, _)| s.clone()),
            debug: parsed.is_some_and(|(_, d)| d),
            dropped: names.len() as u64,
            ..Extracted::default()
        };
    }
    let (mut baggage, mut dropped) = (Vec::new(), 0);
    for name in names {
        // Form-encoded, as Jaeger's clients write them (Go's `url.QueryEscape`, Java's
        // `URLEncoder`): `+` is a space (a `+` itself comes as `%2B`, from crosstrace too).
        let value = carrier
            .get(&format!("{BAGGAGE_PREFIX}{name}"))
            .and_then(|v| {
                percent_decode_str(&v.replace('+', " "))
                    .decode_utf8()
                    .ok()
                    .map(std::borrow::Cow::into_owned)
            });
        match value {
            Some(v) => baggage.push((name, v)),
            None => dropped += 1,
        }
    }
    Extracted {
        span: parsed.as_ref().map(|(s, _)| s.clone()),
        debug: parsed.is_some_and(|(_, d)| d),
        baggage,
        folded_case: true,
        dropped,
        ..Extracted::default()
    }
}
