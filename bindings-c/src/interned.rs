//! Interned strings by number (`ct_intern`): a span name or attribute key registered once and
//! then passed as a `uint32_t`. A call that takes one looks it up in a table (two loads) instead
//! of comparing the bytes a `const char *` points at, which C may have changed since the last
//! call. Like the core's interned strings they live for the process; the core's bound
//! ([`crosstrace::binding::intern`]) bounds them too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::ffi::{self, FfiError};

/// Ids per chunk of the table; chunks are allocated as ids reach them.
const CHUNK: usize = 1024;
/// Chunks: ids 1 ..= `CHUNK * CHUNKS - 1` (the core interns at most 32,768 strings).
const CHUNKS: usize = 32;

type Chunk = [OnceLock<&'static str>; CHUNK];

/// The strings by id. Written under [`IDS`]'s lock, read without it.
static TABLE: [AtomicPtr<Chunk>; CHUNKS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];

/// The id of each interned string, and the next id (ids start at 1: 0 is never one).
static IDS: Mutex<Option<(HashMap<&'static str, u32>, u32)>> = Mutex::new(None);

/// The id of `s`, interning it on first sight (the same string always gets the same id, on
/// any thread).
pub(crate) fn intern(s: &str) -> Result<u32, FfiError> {
    let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
    let (by_str, next) = ids.get_or_insert_with(|| (HashMap::new(), 1));
    if let Some(&id) = by_str.get(s) {
        return Ok(id);
    }
    if s.len() > crosstrace::binding::intern::MAX_LEN {
        return Err(ffi::invalid(
            "s",
            s,
            "at most 128 bytes (longer names and keys are not interned)",
        ));
    }
    let (chunk, i) = (*next as usize / CHUNK, *next as usize % CHUNK);
    // (The process-wide table, not this thread's cache, which may be full.)
    let (Some(s), true) = (crosstrace::binding::intern::global(s), chunk < CHUNKS) else {
        return Err(ffi::invalid(
            "s",
            s,
            "room for another interned string (the process holds 32,767 at most)",
        ));
    };
    let mut c = TABLE[chunk].load(Ordering::Acquire);
    if c.is_null() {
        c = Box::into_raw(Box::new([const { OnceLock::new() }; CHUNK]));
        // Under the lock: no other writer; readers see the chunk with its entries.
        TABLE[chunk].store(c, Ordering::Release);
    }
    // SAFETY: chunks are never freed; `c` is one.
    let _ = unsafe { &*c }[i].set(s);
    let id = *next;
    by_str.insert(s, id);
    *next += 1;
    Ok(id)
}

/// The string `id` names; `what` (the argument) names it in the error.
#[inline(always)]
pub(crate) fn lookup(id: u32, what: &'static str) -> Result<&'static str, FfiError> {
    let (chunk, i) = (id as usize / CHUNK, id as usize % CHUNK);
    if let Some(c) = TABLE.get(chunk) {
        let c = c.load(Ordering::Acquire);
        if !c.is_null() {
            // SAFETY: chunks are never freed; `c` is one.
            if let Some(s) = unsafe { &*c }[i].get() {
                return Ok(s);
            }
        }
    }
    Err(not_interned(id, what))
}

#[cold]
#[inline(never)]
fn not_interned(id: u32, what: &'static str) -> FfiError {
    ffi::invalid(what, &id.to_string(), "an id from ct_intern")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU32};

    use super::*;

    /// Threads interning the same and their own strings while a reader looks up ids it learns
    /// through a relaxed atomic, without the lock: every id names the string it was given for,
    /// on every thread, a string has one id, and the reader sees an entry whole or not at all. Run under miri too (`scripts/c.sh miri`): the
    /// table is read without a lock, so a chunk published before its entries are initialised,
    /// or an entry read before it is set, is a data race there.
    #[test]
    fn interned_ids_name_one_string_on_every_thread() {
        let (threads, per) = if cfg!(miri) { (2, 40) } else { (8, 1500) };
        let shared: Vec<String> = (0..per).map(|i| format!("shared-{i}")).collect();
        let last = AtomicU32::new(0);
        let done = AtomicBool::new(false);
        let ids: Vec<Vec<(String, u32)>> = std::thread::scope(|scope| {
            scope.spawn(|| {
                // The reader: an id seen is an interned string, whatever the lock's state.
                while !done.load(Ordering::Relaxed) {
                    let id = last.load(Ordering::Relaxed);
                    // Relaxed: the reader may not see the id's entry yet (then an error),
                    // but what it sees must be whole.
                    if let Ok(s) = lookup(id, "id") {
                        assert!(
                            s.starts_with("shared-") || s.starts_with("own-"),
                            "{id}: {s}"
                        );
                    }
                    std::thread::yield_now();
                }
            });
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (shared, last) = (&shared, &last);
                    scope.spawn(move || {
                        let mut got = Vec::new();
                        for (i, s) in shared.iter().enumerate() {
                            let own = format!("own-{t}-{i}");
                            for s in [s.as_str(), own.as_str()] {
                                let id = intern(s).expect("room in the table");
                                last.store(id, Ordering::Relaxed);
                                assert_eq!(lookup(id, "id").ok(), Some(s));
                                got.push((s.to_owned(), id));
                            }
                        }
                        got
                    })
                })
                .collect();
            let ids = handles.into_iter().map(|h| h.join().unwrap()).collect();
            done.store(true, Ordering::Relaxed);
            ids
        });
        let mut by_string: HashMap<&str, u32> = HashMap::new();
        let mut by_id: HashMap<u32, &str> = HashMap::new();
        for (s, id) in ids.iter().flatten() {
            assert_eq!(*by_string.entry(s).or_insert(*id), *id, "{s} has two ids");
            assert_eq!(
                *by_id.entry(*id).or_insert(s),
                s.as_str(),
                "{id} names two strings"
            );
        }
        assert_eq!(by_string.len(), per * (threads + 1));
        assert!(lookup(0, "id").is_err(), "0 is never an id");
    }
}
