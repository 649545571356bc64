//! The limits every span is held to, whichever binding made it: how many events and links it
//! keeps, how long a string value may be, and the one pass over a span's attributes that lets
//! them skip the replace-by-key path when no key repeats and the sanitizing one when no value
//! needs it.

use opentelemetry::{KeyValue, StringValue, Value};

/// Most events per span by default (OpenTelemetry's; `event_count_limit`,
/// `OTEL_SPAN_EVENT_COUNT_LIMIT`); further ones are dropped and counted.
pub const MAX_EVENTS_PER_SPAN: usize = 128;

/// Most links a span keeps by default (OpenTelemetry's; `link_count_limit`,
/// `OTEL_SPAN_LINK_COUNT_LIMIT`); further ones are dropped and counted in the span's
/// `dropped_count` and in health.
pub const MAX_LINKS_PER_SPAN: usize = 128;

/// Truncates a string value to at most `limit` bytes on a char boundary; `true` if cut.
#[inline]
pub(crate) fn truncate_value(value: &mut Value, limit: usize) -> bool {
    may_truncate(value, limit) && cut_value(value, limit)
}

/// Whether [`truncate_value`] may cut `value`: a string over `limit` bytes, or an array of
/// strings (its items are checked one by one).
#[inline]
fn may_truncate(value: &Value, limit: usize) -> bool {
    match value {
        Value::String(s) => s.as_str().len() > limit,
        Value::Array(opentelemetry::Array::String(_)) => true,
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

/// Slots of the table [`sanitize_in_place`] finds repeated keys with: on the stack, one byte
/// each (an attribute's index + 1), at most half full.
const SLOTS: usize = 256;

/// A key repeats in a span's attributes (then the later attribute must replace the earlier):
/// first at index `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub(crate) at: usize,
}

/// One pass over a span's attributes, for the path that keeps them in place: finds whether a
/// key repeats, and hands `fix` each attribute whose value may need the redaction hook (its key
/// is routed, see [`crate::redact::may_route`]) or cutting to `value_limit` bytes; the others
/// are not touched. Linear: each key is hashed once into an open-addressing table on the stack
/// and compared only with keys of its slot chain (past `SLOTS / 2` attributes, more than the
/// default count limit, pairwise).
///
/// On [`Duplicate`], the attributes before the repeat (their keys distinct) have been through
/// `fix` and the others not: a caller must not fix the first ones again (redacting, then
/// cutting, then redacting again is not idempotent: a cut can end inside `REDACTED`).
///
/// Not inlined: in the span's start it would crowd out what is inlined there (the id draws).
#[inline(never)]
pub(crate) fn sanitize_in_place(
    attrs: &mut [KeyValue],
    value_limit: usize,
    mut fix: impl FnMut(&mut KeyValue),
) -> Result<(), Duplicate> {
    let pairwise = attrs.len() > SLOTS / 2;
    let mut table = [0u8; SLOTS];
    for i in 0..attrs.len() {
        let key = attrs[i].key.as_str();
        if pairwise {
            if attrs[..i].iter().any(|b| b.key.as_str() == key) {
                return Err(Duplicate { at: i });
            }
        } else {
            let mut slot = slot_of(key);
            loop {
                match table[slot] {
                    0 => {
                        // `i < SLOTS / 2`: fits in a byte.
                        table[slot] = (i + 1) as u8;
                        break;
                    }
                    j if attrs[usize::from(j) - 1].key.as_str() == key => {
                        return Err(Duplicate { at: i })
                    }
                    _ => slot = (slot + 1) % SLOTS,
                }
            }
        }
        if may_truncate(&attrs[i].value, value_limit) || crate::redact::may_route(key) {
            fix(&mut attrs[i]);
        }
    }
    Ok(())
}

/// A key's first slot: its length and its first and last bytes (up to eight of each, read
/// as whole words), mixed. Keys differ at their ends far more often than in the middle.
#[inline]
fn slot_of(key: &str) -> usize {
    let b = key.as_bytes();
    let n = b.len();
    let (head, tail) = if n >= 8 {
        (word::<8>(&b[..8]), word::<8>(&b[n - 8..]))
    } else if n >= 4 {
        (word::<4>(&b[..4]), word::<4>(&b[n - 4..]))
    } else if n > 0 {
        let (x, y, z) = (b[0], b[n / 2], b[n - 1]);
        (u64::from(x) | u64::from(y) << 8 | u64::from(z) << 16, 0)
    } else {
        (0, 0)
    };
    let h = (head ^ tail.rotate_left(29) ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 56) as usize % SLOTS
}

/// `N` bytes (4 or 8) as a little-endian word: one load.
#[inline]
fn word<const N: usize>(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..N].copy_from_slice(&b[..N]);
    u64::from_le_bytes(w)
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
        // Where the first repeat is, if any.
        let dup = |attrs: &[KeyValue]| {
            sanitize_in_place(&mut attrs.to_vec(), usize::MAX, |_| {})
                .err()
                .map(|d| d.at)
        };
        for n in [0, 1, 2, 3, 8, 9, 20, SLOTS / 2, SLOTS / 2 + 1, 300] {
            let mut attrs: Vec<KeyValue> =
                (0..n).map(|i| KeyValue::new(format!("k{i}"), 1)).collect();
            assert_eq!(dup(&attrs), None, "{n} distinct keys");
            if n > 1 {
                // A repeat at either end, and in the middle.
                for (at, of) in [(n - 1, 0), (n / 2, n / 2 - 1), (n - 1, n - 2)] {
                    let saved = attrs[at].clone();
                    attrs[at] = KeyValue::new(attrs[of].key.clone(), 2);
                    assert_eq!(dup(&attrs), Some(at), "{n} keys, {at} repeats {of}");
                    attrs[at] = saved;
                }
            }
        }
    }

    #[test]
    fn keys_alike_at_both_ends_are_told_apart() {
        // Same length, same first and last eight bytes: one slot chain.
        let mut attrs: Vec<KeyValue> = (0..40)
            .map(|i| KeyValue::new(format!("service.{i:03}.attribute.name"), 1))
            .collect();
        assert!(attrs
            .iter()
            .all(|a| slot_of(a.key.as_str()) == slot_of(&attrs_key(0))));
        assert_eq!(sanitize_in_place(&mut attrs, usize::MAX, |_| {}), Ok(()));
        attrs.push(KeyValue::new(attrs_key(17), 2));
        assert_eq!(
            sanitize_in_place(&mut attrs, usize::MAX, |_| {}),
            Err(Duplicate { at: 40 })
        );

        fn attrs_key(i: usize) -> String {
            format!("service.{i:03}.attribute.name")
        }
    }

    #[test]
    fn only_values_that_may_need_work_are_handed_to_fix() {
        // The keys handed to `fix`, or the duplicate.
        let fixed = |attrs: &mut Vec<KeyValue>, limit| {
            let mut keys = Vec::new();
            sanitize_in_place(attrs, limit, |kv| keys.push(kv.key.to_string())).map(|()| keys)
        };
        let mut plain = vec![
            KeyValue::new("order.id", 12345_i64),
            KeyValue::new("store", "berlin-01"),
            KeyValue::new("h", true),
        ];
        assert_eq!(fixed(&mut plain, 9), Ok(vec![]));
        // A value over the limit; a string array (its items are checked by `fix`).
        assert_eq!(fixed(&mut plain, 8), Ok(vec!["store".to_owned()]));
        plain.push(KeyValue::new(
            "tags",
            Value::Array(opentelemetry::Array::String(vec!["x".into()])),
        ));
        assert_eq!(fixed(&mut plain, 9), Ok(vec!["tags".to_owned()]));
        // A key the redaction hook rewrites, however short its value, among few keys or many.
        for n in [3, 20, 200] {
            let mut a: Vec<KeyValue> = (0..n).map(|i| KeyValue::new(format!("k{i}"), 1)).collect();
            assert_eq!(fixed(&mut a, 9), Ok(vec![]), "{n}");
            a.push(KeyValue::new("url.full", "x"));
            assert_eq!(fixed(&mut a, 9), Ok(vec!["url.full".to_owned()]), "{n}");
            a.push(KeyValue::new("k0", "y"));
            assert_eq!(fixed(&mut a, 9), Err(Duplicate { at: n + 1 }), "{n}");
        }
    }
}
