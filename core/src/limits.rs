//! The limits every span is held to, whichever binding made it: how many events and links it
//! keeps, how long a string value may be, and the check that lets a span's attributes skip
//! the replace-by-key path when no key repeats.

use opentelemetry::{KeyValue, StringValue, Value};

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
/// table to clear).
const PAIRWISE_MAX: usize = 8;

/// Slots of the table [`has_duplicate_keys`] uses above [`PAIRWISE_MAX`]: on the stack, one
/// byte each (an attribute's index + 1), at most half full.
const SLOTS: usize = 256;

/// Whether two attributes share a key (then the later one must replace the earlier). Linear in
/// the count above [`PAIRWISE_MAX`]: each key is hashed once into an open-addressing table on
/// the stack, and compared only with keys of the same slot chain. Past `SLOTS / 2` attributes
/// (more than the default count limit), pairwise again.
pub(crate) fn has_duplicate_keys(attrs: &[KeyValue]) -> bool {
    if attrs.len() <= PAIRWISE_MAX || attrs.len() > SLOTS / 2 {
        return attrs
            .iter()
            .enumerate()
            .any(|(i, a)| attrs[..i].iter().any(|b| b.key == a.key));
    }
    let mut table = [0u8; SLOTS];
    for (i, a) in attrs.iter().enumerate() {
        let key = a.key.as_str();
        let mut slot = slot_of(key);
        loop {
            match table[slot] {
                0 => {
                    // `i < SLOTS / 2`: fits in a byte.
                    table[slot] = (i + 1) as u8;
                    break;
                }
                j if attrs[usize::from(j) - 1].key.as_str() == key => return true,
                _ => slot = (slot + 1) % SLOTS,
            }
        }
    }
    false
}

/// A key's first slot: its length and its first and last eight bytes, mixed (keys differ there
/// far more often than in the middle).
#[inline]
fn slot_of(key: &str) -> usize {
    let b = key.as_bytes();
    let word = |s: &[u8]| {
        let mut w = [0u8; 8];
        w[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(w)
    };
    let (head, tail) = if b.len() <= 8 {
        (word(b), 0)
    } else {
        (word(&b[..8]), word(&b[b.len() - 8..]))
    };
    let h = (head ^ tail.rotate_left(29) ^ b.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 56) as usize % SLOTS
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
        for n in [
            1,
            2,
            3,
            PAIRWISE_MAX,
            PAIRWISE_MAX + 1,
            20,
            SLOTS / 2,
            SLOTS / 2 + 1,
            300,
        ] {
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

    #[test]
    fn keys_alike_at_both_ends_are_told_apart() {
        // Same length, same first and last eight bytes: one slot chain.
        let mut attrs: Vec<KeyValue> = (0..40)
            .map(|i| KeyValue::new(format!("service.{i:03}.attribute.name"), 1))
            .collect();
        assert!(attrs
            .iter()
            .all(|a| slot_of(a.key.as_str()) == slot_of(&attrs_key(0))));
        assert!(!has_duplicate_keys(&attrs));
        attrs.push(KeyValue::new(attrs_key(17), 2));
        assert!(has_duplicate_keys(&attrs));

        fn attrs_key(i: usize) -> String {
            format!("service.{i:03}.attribute.name")
        }
    }
}
