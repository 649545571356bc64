//! Interning of attribute keys and span names that arrive as borrowed strings from bindings
//! (C, Python, JS). The same few keys and names recur on every span; interning turns an
//! allocation on the caller's thread plus a free on the export thread into nothing: an interned
//! string is a `&'static str` (no reference count to bump on one core and drop on another).
//!
//! The cache is per thread (no lock on the hot path) and bounded: past [`MAX_ENTRIES`] distinct
//! strings on a thread, or `15 × MAX_ENTRIES` in the process, new ones are simply copied (the
//! last `MAX_ENTRIES` of the process's room are kept for strings interned on request, [`global`]).
//! Interned strings live for the process, which the bound keeps small; a global list keeps them
//! reachable.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{LazyLock, Mutex};

use opentelemetry::Key;

use crate::platform::fork::Rank;

/// Most distinct strings kept per cache and thread.
pub(crate) const MAX_ENTRIES: usize = 2048;
/// Longer strings are not interned.
pub const MAX_LEN: usize = 128;

/// FxHash-style mixing (rotate, xor, multiply), eight bytes at a time: fast for the short
/// strings hashed here. Not DoS-resistant: every table it keys is bounded.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
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
type Map = HashMap<Box<[u8]>, &'static str, BuildHasherDefault<FxHasher>>;

thread_local! {
    /// Keyed by bytes, so a binding can look up what it was handed before validating it as
    /// UTF-8: only strings not seen before on the thread are validated. Keys and names share
    /// one map: both become `&'static str`.
    static STRINGS: RefCell<Map> = RefCell::new(Map::default());
}

/// [`RECENT`] has 128 sets of two slots (6 KiB per thread). Two, because with one slot per
/// address two of a span's 20 keys share it more often than not (the birthday bound: 256
/// single slots give 21 strings a shared one 56% of the time), and then evict each other on
/// every span.
const RECENT_SET_BITS: u32 = 7;
const RECENT_WAYS: usize = 2;
type Recent = [Cell<(usize, &'static str)>; RECENT_WAYS << RECENT_SET_BITS];

thread_local! {
    /// The strings last interned on this thread by the address their bytes came at: a binding
    /// hands over the same name or key from the same place (a Python `str` object, a C
    /// literal) on every span, and one comparison of the bytes there is cheaper than hashing
    /// them. (No destructor: no registration check on access.)
    static RECENT: Recent = const { [const { Cell::new((0, "")) }; RECENT_WAYS << RECENT_SET_BITS] };
}

/// The first slot of the set of [`RECENT`] for bytes at `addr`: the top bits of a multiply,
/// which every bit of the address moves (objects of one size sit a fixed stride apart, which
/// the address's low bits alone would map to a few sets).
#[inline]
fn recent_set(addr: usize) -> usize {
    ((addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - RECENT_SET_BITS)) as usize
        * RECENT_WAYS
}

/// The string interned last from `bytes`' address, if those bytes are still there.
#[inline]
fn recent_find(r: &Recent, bytes: &[u8]) -> Option<&'static str> {
    let addr = bytes.as_ptr() as usize;
    let set = recent_set(addr);
    r[set..set + RECENT_WAYS].iter().find_map(|slot| {
        let (a, s) = slot.get();
        // The bytes are compared: what is at an address may have changed since.
        (a == addr && s.as_bytes() == bytes).then_some(s)
    })
}

/// Notes `s`, interned from bytes at `addr`, first in its set; the others move down one and the
/// last one leaves (two strings sharing a set both stay). A slot that held `addr` (its bytes
/// have changed since) is taken over in place: one address is never in two slots.
fn recent_put(r: &Recent, addr: usize, s: &'static str) {
    let set = &r[recent_set(addr)..][..RECENT_WAYS];
    let last = (set.iter())
        .position(|slot| slot.get().0 == addr)
        .unwrap_or(RECENT_WAYS - 1);
    for i in (1..=last).rev() {
        set[i].set(set[i - 1].get());
    }
    set[0].set((addr, s));
}

/// Keeps leaked strings reachable (for leak checkers), shares them across threads (a string
/// new to a thread but known to the process is found in O(1)) and bounds them.
static ALL: LazyLock<Mutex<HashSet<&'static str, BuildHasherDefault<FxHasher>>>> =
    LazyLock::new(Mutex::default);
const MAX_TOTAL: usize = 16 * MAX_ENTRIES;
/// Of [`MAX_TOTAL`], what only [`global`] may take: strings a binding interns on request (C's
/// `ct_intern`) still find room when the names and keys spans passed have filled the rest.
const RESERVED: usize = MAX_ENTRIES;

/// An attribute key for `s`: a `'static` key (cloned and dropped without touching memory)
/// when the caches have room, else a copy.
pub fn key(s: &str) -> Key {
    key_from_bytes(s.as_bytes()).unwrap_or_else(|_| Key::new(s.to_owned()))
}

/// An attribute key for `bytes` (UTF-8 checked only when not already interned on this thread).
pub fn key_from_bytes(bytes: &[u8]) -> Result<Key, std::str::Utf8Error> {
    Ok(match interned(bytes)? {
        Cow::Borrowed(s) => Key::from_static_str(s),
        Cow::Owned(s) => Key::new(s),
    })
}

/// The thread's cache of recently interned strings, reached once for a run of strings: a
/// binding converting a span's attributes interns every key through one [`with_keys`] where
/// [`key`] reaches the thread's caches once per key.
#[derive(Debug)]
pub struct Keys<'a> {
    recent: &'a Recent,
}

impl Keys<'_> {
    /// [`key`]`(s)`: the same key, found here when `s` is where this thread last interned it.
    #[inline]
    pub fn key(&self, s: &str) -> Key {
        match recent_find(self.recent, s.as_bytes()) {
            Some(k) => Key::from_static_str(k),
            None => key(s),
        }
    }
}

/// Runs `f` with this thread's [`Keys`].
pub fn with_keys<R>(f: impl FnOnce(&Keys<'_>) -> R) -> R {
    // The cache has no destructor: where thread-locals are native (every target the bindings
    // ship for) `with` cannot find it gone, even while the thread exits. (Where they are OS keys
    // it could, after the thread's destructors ran: no binding converts attributes then.)
    RECENT.with(|recent| f(&Keys { recent }))
}

/// `s` interned for the process, whatever this thread's cache holds: `None` when `s` is longer
/// than [`MAX_LEN`] or the process's bound is reached. For bindings that hand out their own
/// handles to interned strings (the C binding's ids).
pub fn global(s: &str) -> Option<&'static str> {
    global_within(s, MAX_TOTAL)
}

/// [`global`] while the process holds fewer than `bound` strings.
fn global_within(s: &str, bound: usize) -> Option<&'static str> {
    if s.len() > MAX_LEN {
        return None;
    }
    let mut all = all();
    if let Some(n) = all.get(s) {
        return Some(n);
    }
    if all.len() >= bound {
        return None;
    }
    let leaked: &'static str = Box::leak(s.into());
    all.insert(leaked);
    Some(leaked)
}

/// The process-wide set's lock, taken here only: registered with the fork handlers before its
/// first use (see [`crate::platform::fork`]).
fn all() -> std::sync::MutexGuard<'static, HashSet<&'static str, BuildHasherDefault<FxHasher>>> {
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::platform::fork::register_static(&REGISTERED, Rank::Intern, || {
        Box::new(ALL.lock().unwrap_or_else(|e| e.into_inner()))
    });
    ALL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `s` (a span name, an event name, a string value): an interned `&'static str` when the caches have room, else a copy.
pub fn string(s: &str) -> Cow<'static, str> {
    string_from_bytes(s.as_bytes()).unwrap_or_else(|_| Cow::Owned(s.to_owned()))
}

/// [`string`] for `bytes` (UTF-8 checked only when not already interned on this thread).
pub fn string_from_bytes(bytes: &[u8]) -> Result<Cow<'static, str>, std::str::Utf8Error> {
    interned(bytes)
}

/// `bytes` as an interned `&'static str`, or (long strings, full caches, a thread being torn
/// down) an owned copy.
fn interned(bytes: &[u8]) -> Result<Cow<'static, str>, std::str::Utf8Error> {
    if bytes.len() > MAX_LEN {
        return Ok(Cow::Owned(std::str::from_utf8(bytes)?.to_owned()));
    }
    if let Ok(Some(s)) = RECENT.try_with(|r| recent_find(r, bytes)) {
        return Ok(Cow::Borrowed(s));
    }
    let got = STRINGS
        .try_with(|m| {
            let mut m = m.borrow_mut();
            if let Some(n) = m.get(bytes) {
                return Ok(Cow::Borrowed(*n));
            }
            let s = std::str::from_utf8(bytes)?;
            if m.len() >= MAX_ENTRIES {
                return Ok(Cow::Owned(s.to_owned()));
            }
            let Some(interned) = global_within(s, MAX_TOTAL - RESERVED) else {
                return Ok(Cow::Owned(s.to_owned()));
            };
            m.insert(bytes.into(), interned);
            Ok(Cow::Borrowed(interned))
        })
        .unwrap_or_else(|_| Ok(Cow::Owned(std::str::from_utf8(bytes)?.to_owned())))?;
    if let Cow::Borrowed(s) = got {
        let _ = RECENT.try_with(|r| recent_put(r, bytes.as_ptr() as usize, s));
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_keys_and_names_are_shared() {
        let (a, b) = (key("order.id"), key("order.id"));
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "order.id");
        let (n1, n2) = (string("checkout"), string("checkout"));
        assert!(matches!((&n1, &n2), (Cow::Borrowed(x), Cow::Borrowed(y)) if std::ptr::eq(*x, *y)));
        let long = "x".repeat(MAX_LEN + 1);
        assert!(matches!(string(&long), Cow::Owned(_)));
    }

    #[test]
    fn bytes_are_checked_before_they_are_interned() {
        assert!(key_from_bytes(b"bad\xff").is_err());
        assert!(string_from_bytes(b"bad\xff").is_err());
        // Still refused the second time: nothing invalid was cached.
        assert!(key_from_bytes(b"bad\xff").is_err());
        assert_eq!(key_from_bytes(b"store").unwrap().as_str(), "store");
        assert_eq!(string_from_bytes(b"checkout").unwrap(), "checkout");
        assert!(key_from_bytes(&[b'x'; MAX_LEN + 1]).is_ok());
    }

    #[test]
    fn global_interning_ignores_a_full_thread_cache() {
        std::thread::spawn(|| {
            for i in 0..MAX_ENTRIES + 10 {
                let _ = string(&format!("filler-{i}"));
            }
            assert!(matches!(string("fresh-after-fill"), Cow::Owned(_)));
            let g = global("fresh-after-fill").expect("room in the process");
            assert!(std::ptr::eq(g, global("fresh-after-fill").unwrap()));
            assert!(global(&"x".repeat(MAX_LEN + 1)).is_none());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_buffer_that_changes_is_read_again() {
        // One address, two strings: the recent-address cache must not answer with the first.
        let mut buf = *b"alpha";
        assert_eq!(string_from_bytes(&buf).unwrap(), "alpha");
        assert_eq!(string_from_bytes(&buf).unwrap(), "alpha");
        buf.copy_from_slice(b"omega");
        assert_eq!(string_from_bytes(&buf).unwrap(), "omega");
        assert_eq!(key_from_bytes(&buf[..3]).unwrap().as_str(), "ome");
        // Each string from that address took its slot over: it is in one slot, not three.
        let addr = buf.as_ptr() as usize;
        let slots = RECENT.with(|r| r.iter().filter(|s| s.get().0 == addr).count());
        assert_eq!(slots, 1, "one slot per address");
        buf[0] = 0xff;
        assert!(
            string_from_bytes(&buf).is_err(),
            "invalid UTF-8 is refused, not recalled"
        );
    }

    /// Two strings whose addresses share a set of the recent-address cache both stay found:
    /// with one slot per set they evicted each other, and the keys of a span that shared one
    /// were hashed again on every span.
    #[test]
    fn strings_sharing_a_recent_set_both_stay() {
        // Two places in one buffer that fall in one set.
        let buf = vec![b'k'; 1 << 16];
        let first = recent_set(buf.as_ptr() as usize);
        let other = (1..buf.len() - 8)
            .find(|&i| recent_set(buf[i..].as_ptr() as usize) == first)
            .expect("another offset in the same set");
        let (a, b) = (&buf[..8], &buf[other..other + 8]);
        RECENT.with(|r| {
            for cell in r {
                cell.set((0, ""));
            }
        });
        let (ka, kb) = (key_from_bytes(a).unwrap(), key_from_bytes(b).unwrap());
        assert_eq!((ka.as_str(), kb.as_str()), ("kkkkkkkk", "kkkkkkkk"));
        RECENT.with(|r| {
            assert_eq!(recent_find(r, a), Some("kkkkkkkk"), "the first one stays");
            assert_eq!(
                recent_find(r, b),
                Some("kkkkkkkk"),
                "the second one is found"
            );
        });
        // The binding's `Keys` give the same keys.
        with_keys(|k| {
            assert_eq!(k.key(std::str::from_utf8(a).unwrap()).as_str(), "kkkkkkkk");
            assert_eq!(k.key(std::str::from_utf8(b).unwrap()).as_str(), "kkkkkkkk");
        });
    }
}
