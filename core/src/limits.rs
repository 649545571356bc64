//! The limits every span is held to, whichever binding made it: how many events and links it
//! keeps, how long a string value may be, and the check that lets a span's attributes skip
//! the replace-by-key path when no key repeats.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use opentelemetry::{KeyValue, StringValue, Value};

use crate::intern::FxHasher;

/// Most events per span (the OpenTelemetry default); further ones are dropped and counted.
pub const MAX_EVENTS_PER_SPAN: usize = 128;

/// Most links a span keeps (the OpenTelemetry default of `OTEL_SPAN_LINK_COUNT_LIMIT`); further
/// ones are dropped and counted in the span's `dropped_count`.
pub const MAX_LINKS_PER_SPAN: usize = 128;

/// Truncates a string value to at most `limit` bytes on a char boundary; `true` if cut.
#[inline]
pub(crate) fn truncate_value(value: &mut Value, limit: usize) -> bool {
    match value {
        Value::String(s) if s.as_str().len() <= limit => false,
        Value::String(_) | Value::Array(opentelemetry::Array::String(_)) => cut_value(value, limit),
        _ => false,
    }
}

/// [`truncate_value`] for a string value that may be too long, or an array of strings.
#[inline(never)]
fn cut_value(value: &mut Value, limit: usize) -> bool {
    fn cut(s: &str, limit: usize) -> Option<String> {
        if s.len() <= limit {
            return None;
        }
        let mut end = limit;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Some(s[..end].to_owned())
    }
    match value {
        Value::String(s) => match cut(s.as_str(), limit) {
            Some(short) => {
                *s = StringValue::from(short);
                true
            }
            None => false,
        },
        Value::Array(opentelemetry::Array::String(items)) => {
            let mut any = false;
            for s in items.iter_mut() {
                if let Some(short) = cut(s.as_str(), limit) {
                    *s = StringValue::from(short);
                    any = true;
                }
            }
            any
        }
        _ => false,
    }
}

/// Up to this many attributes, keys are compared pairwise (at most 28 comparisons, no
/// allocation); above it, through a hash set, so the check stays linear in the count.
const PAIRWISE_MAX: usize = 8;

/// Whether two attributes share a key (then the later one must replace the earlier).
pub(crate) fn has_duplicate_keys(attrs: &[KeyValue]) -> bool {
    if attrs.len() <= PAIRWISE_MAX {
        return attrs
            .iter()
            .enumerate()
            .any(|(i, a)| attrs[..i].iter().any(|b| b.key == a.key));
    }
    let mut seen: HashSet<&str, BuildHasherDefault<FxHasher>> =
        HashSet::with_capacity_and_hasher(attrs.len(), Default::default());
    !attrs.iter().all(|a| seen.insert(a.key.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        let mut v = Value::from("héllo");
        assert!(truncate_value(&mut v, 2));
        assert_eq!(v.as_str(), "h");
        let mut v = Value::from("short");
        assert!(!truncate_value(&mut v, 10));
    }

    #[test]
    fn duplicate_keys_found_at_every_count() {
        for n in [1, 2, 3, PAIRWISE_MAX, PAIRWISE_MAX + 1, 20, 128] {
            let mut attrs: Vec<KeyValue> =
                (0..n).map(|i| KeyValue::new(format!("k{i}"), 1)).collect();
            assert!(!has_duplicate_keys(&attrs), "{n} distinct keys");
            if n > 1 {
                // A repeat at either end, and in the middle.
                for (at, of) in [(n - 1, 0), (n / 2, n / 2 - 1), (n - 1, n - 2)] {
                    let saved = attrs[at].clone();
                    attrs[at] = KeyValue::new(attrs[of].key.clone(), 2);
                    assert!(has_duplicate_keys(&attrs), "{n} keys, {at} repeats {of}");
                    attrs[at] = saved;
                }
            }
        }
    }
}
