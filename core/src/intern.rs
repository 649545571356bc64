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
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Map<V> = HashMap<Box<str>, V, BuildHasherDefault<Fnv>>;

thread_local! {
    static KEYS: RefCell<Map<Key>> = RefCell::new(Map::default());
    static NAMES: RefCell<Map<&'static str>> = RefCell::new(Map::default());
}

/// Keeps leaked names reachable (for leak checkers) and bounds them across threads.
static ALL_NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
const MAX_NAMES_TOTAL: usize = 16 * MAX_ENTRIES;

/// An attribute key for `s`, shared with earlier keys of the same text on this thread.
pub fn key(s: &str) -> Key {
    if s.len() > MAX_LEN {
        return Key::new(s.to_owned());
    }
    KEYS.try_with(|m| {
        let mut m = m.borrow_mut();
        if let Some(k) = m.get(s) {
            return k.clone();
        }
        let k = Key::from(Arc::<str>::from(s));
        if m.len() < MAX_ENTRIES {
            m.insert(s.into(), k.clone());
        }
        k
    })
    .unwrap_or_else(|_| Key::new(s.to_owned()))
}

/// A span name for `s`: an interned `&'static str` when the caches have room, else a copy.
pub fn name(s: &str) -> Cow<'static, str> {
    if s.len() > MAX_LEN {
        return Cow::Owned(s.to_owned());
    }
    NAMES
        .try_with(|m| {
            let mut m = m.borrow_mut();
            if let Some(n) = m.get(s) {
                return Cow::Borrowed(*n);
            }
            if m.len() >= MAX_ENTRIES {
                return Cow::Owned(s.to_owned());
            }
            let mut all = ALL_NAMES.lock().unwrap_or_else(|e| e.into_inner());
            let interned: &'static str = match all.iter().find(|n| **n == s) {
                Some(n) => n,
                None if all.len() < MAX_NAMES_TOTAL => {
                    let leaked: &'static str = Box::leak(s.into());
                    all.push(leaked);
                    leaked
                }
                None => return Cow::Owned(s.to_owned()),
            };
            m.insert(s.into(), interned);
            Cow::Borrowed(interned)
        })
        .unwrap_or_else(|_| Cow::Owned(s.to_owned()))
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
}
