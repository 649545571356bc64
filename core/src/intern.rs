//! Interning of attribute keys and span names that arrive as borrowed strings from bindings
//! (C, Python, JS). The same few keys and names recur on every span; interning turns an
//! allocation on the caller's thread plus a free on the export thread into a reference-count
//! increment (keys) or nothing (names).
//!
//! Both caches are per thread (no lock on the hot path) and bounded: past [`MAX_ENTRIES`]
//! distinct strings, new ones are simply copied. Interned names live for the process (they
//! become `&'static str`), which the bound keeps small; a global list keeps them reachable.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use opentelemetry::Key;

/// Most distinct strings kept per cache and thread.
pub const MAX_ENTRIES: usize = 2048;
/// Longer strings are not interned.
pub const MAX_LEN: usize = 128;

/// FNV-1a: fast for the short strings interned here.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    /// Eight bytes at a time (FxHash's mixing): keys and names are short, and this runs on
    /// every attribute a binding sets.
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        let r = chunks.remainder();
        let mut tail = (r.len() as u64) << 59;
        for (i, b) in r.iter().enumerate() {
            tail |= u64::from(*b) << (8 * i);
        }
        self.0 = (h.rotate_left(5) ^ tail).wrapping_mul(K);
    }
}

/// Keyed by bytes, so a binding can look up what it was handed before validating it as UTF-8:
/// only strings not seen before on the thread are validated.
type Map<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<Fnv>>;

thread_local! {
    static KEYS: RefCell<Map<Key>> = RefCell::new(Map::default());
    static NAMES: RefCell<Map<&'static str>> = RefCell::new(Map::default());
}

/// Keeps leaked names reachable (for leak checkers) and bounds them across threads.
static ALL_NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
const MAX_NAMES_TOTAL: usize = 16 * MAX_ENTRIES;

/// An attribute key for `s`, shared with earlier keys of the same text on this thread.
pub fn key(s: &str) -> Key {
    key_from_bytes(s.as_bytes()).unwrap_or_else(|_| Key::new(s.to_owned()))
}

/// An attribute key for `bytes` (UTF-8 checked only when not already interned on this thread).
pub fn key_from_bytes(bytes: &[u8]) -> Result<Key, std::str::Utf8Error> {
    if bytes.len() > MAX_LEN {
        return Ok(Key::new(std::str::from_utf8(bytes)?.to_owned()));
    }
    KEYS.try_with(|m| {
        let mut m = m.borrow_mut();
        if let Some(k) = m.get(bytes) {
            return Ok(k.clone());
        }
        let s = std::str::from_utf8(bytes)?;
        let k = Key::from(Arc::<str>::from(s));
        if m.len() < MAX_ENTRIES {
            m.insert(bytes.into(), k.clone());
        }
        Ok(k)
    })
    .unwrap_or_else(|_| Ok(Key::new(std::str::from_utf8(bytes)?.to_owned())))
}

/// A span name for `s`: an interned `&'static str` when the caches have room, else a copy.
pub fn name(s: &str) -> Cow<'static, str> {
    name_from_bytes(s.as_bytes()).unwrap_or_else(|_| Cow::Owned(s.to_owned()))
}

/// A span name for `bytes` (UTF-8 checked only when not already interned on this thread).
pub fn name_from_bytes(bytes: &[u8]) -> Result<Cow<'static, str>, std::str::Utf8Error> {
    if bytes.len() > MAX_LEN {
        return Ok(Cow::Owned(std::str::from_utf8(bytes)?.to_owned()));
    }
    NAMES
        .try_with(|m| {
            let mut m = m.borrow_mut();
            if let Some(n) = m.get(bytes) {
                return Ok(Cow::Borrowed(*n));
            }
            let s = std::str::from_utf8(bytes)?;
            if m.len() >= MAX_ENTRIES {
                return Ok(Cow::Owned(s.to_owned()));
            }
            let mut all = ALL_NAMES.lock().unwrap_or_else(|e| e.into_inner());
            let interned: &'static str = match all.iter().find(|n| **n == s) {
                Some(n) => n,
                None if all.len() < MAX_NAMES_TOTAL => {
                    let leaked: &'static str = Box::leak(s.into());
                    all.push(leaked);
                    leaked
                }
                None => return Ok(Cow::Owned(s.to_owned())),
            };
            m.insert(bytes.into(), interned);
            Ok(Cow::Borrowed(interned))
        })
        .unwrap_or_else(|_| Ok(Cow::Owned(std::str::from_utf8(bytes)?.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_keys_and_names_are_shared() {
        let (a, b) = (key("order.id"), key("order.id"));
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "order.id");
        let (n1, n2) = (name("checkout"), name("checkout"));
        assert!(matches!((&n1, &n2), (Cow::Borrowed(x), Cow::Borrowed(y)) if std::ptr::eq(*x, *y)));
        let long = "x".repeat(MAX_LEN + 1);
        assert!(matches!(name(&long), Cow::Owned(_)));
    }

    #[test]
    fn bytes_are_checked_before_they_are_interned() {
        assert!(key_from_bytes(b"bad\xff").is_err());
        assert!(name_from_bytes(b"bad\xff").is_err());
        // Still refused the second time: nothing invalid was cached.
        assert!(key_from_bytes(b"bad\xff").is_err());
        assert_eq!(key_from_bytes(b"store").unwrap().as_str(), "store");
        assert_eq!(name_from_bytes(b"checkout").unwrap(), "checkout");
        assert!(key_from_bytes(&[b'x'; MAX_LEN + 1]).is_ok());
    }
}
