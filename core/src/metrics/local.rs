//! Per-thread recording of the common span: a `'static` name and no labelling attributes.
//!
//! A thread keeps, per [`SpanMetrics`](super::SpanMetrics) it records into, a [`Shard`]: a ring
//! of `(series, nanoseconds)` pairs that only this thread writes, and a small cache from the
//! span's [`StaticName`] to its series. Recording is then two plain stores and a release store
//! of the ring's head — no lock, no read-modify-write, no hashing of text. The pairs are folded
//! into the shared table, under its lock, when the ring is full and before anything reads the
//! table, so a reader sees every span that ended before it read.
//!
//! Folding happens only under the table's lock, so the table's lock is also what makes one
//! folder at a time: the shard's `tail` is stored only there. The table holds every shard it has
//! given out (a thread that exits leaves its unfolded pairs there; the next fold takes them and
//! forgets the shard).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::{SpanMetrics, StaticName, Table};

use crate::platform::fork::Rank;

/// Pairs per ring: 4 KiB, a fold per 256 spans. (4 under miri, so that a test's few spans fill
/// the ring and wrap it.)
const CAP: u64 = if cfg!(miri) { 4 } else { 256 };
/// Entries of the per-thread name cache (direct-mapped).
const CACHE: usize = 64;
/// Metrics a thread keeps a shard for at once (a process usually has one).
const MAX_LOCALS: usize = 4;

/// One thread's pending pairs for one [`SpanMetrics`], and its count of sampled-out spans.
#[derive(Debug)]
pub(super) struct Shard {
    /// Pairs written; stored by the owning thread only.
    head: AtomicU64,
    /// Pairs folded; stored only under the table's lock.
    tail: AtomicU64,
    /// Spans this thread started unsampled; stored by the owning thread only.
    sampled_out: AtomicU64,
    /// `2 * CAP` words: series index, then nanoseconds.
    ring: Box<[AtomicU64]>,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            sampled_out: AtomicU64::new(0),
            ring: (0..2 * CAP).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Appends a pair; `false` when the ring is full (fold, then push again). Owner only.
    #[inline]
    fn push(&self, series: u32, nanos: u64) -> bool {
        let h = self.head.load(Ordering::Relaxed);
        // Acquire: the folder has read the slots it released.
        if h.wrapping_sub(self.tail.load(Ordering::Acquire)) >= CAP {
            return false;
        }
        let i = ((h % CAP) * 2) as usize;
        self.ring[i].store(u64::from(series), Ordering::Relaxed);
        self.ring[i + 1].store(nanos, Ordering::Relaxed);
        // Release: a folder that sees the head sees the pair.
        self.head.store(h.wrapping_add(1), Ordering::Release);
        true
    }

    /// Hands every pending pair to `add` and releases their slots. Under the table's lock only.
    pub(super) fn fold(&self, mut add: impl FnMut(usize, u64)) {
        let (tail, head) = (
            self.tail.load(Ordering::Relaxed),
            self.head.load(Ordering::Acquire),
        );
        let mut k = tail;
        while k != head {
            let i = ((k % CAP) * 2) as usize;
            add(
                self.ring[i].load(Ordering::Relaxed) as usize,
                self.ring[i + 1].load(Ordering::Relaxed),
            );
            k = k.wrapping_add(1);
        }
        self.tail.store(head, Ordering::Release);
    }

    pub(super) fn sampled_out(&self) -> u64 {
        self.sampled_out.load(Ordering::Relaxed)
    }

    /// Lets every pending pair go unfolded and the sampled-out count go back to zero: in a
    /// forked child, which starts its metrics from zero, under the table's lock (the only thread
    /// left, the forking one, is inside the fork handler: no push runs).
    #[cfg(unix)]
    pub(super) fn discard(&self) {
        self.tail
            .store(self.head.load(Ordering::Acquire), Ordering::Release);
        self.sampled_out.store(0, Ordering::Relaxed);
    }
}

/// A thread's state for one [`SpanMetrics`].
struct Local {
    id: u64,
    /// Upgraded only on a cache miss and a fold (once per [`CAP`] spans).
    metrics: Weak<SpanMetrics>,
    shard: Arc<Shard>,
    cache: Box<[Option<(StaticName, u32)>; CACHE]>,
}

impl Drop for Local {
    /// A thread that exits, or evicts this shard, hands what it holds to the table: its
    /// pending pairs are folded, its count of sampled-out spans kept, its shard forgotten (no
    /// memory kept per thread that ever made a span).
    fn drop(&mut self) {
        if let Some(m) = self.metrics.upgrade() {
            let mut t = m.lock();
            m.fold(&mut t, &self.shard);
            t.retired_sampled_out += self.shard.sampled_out();
            t.shards.retain(|s| !Arc::ptr_eq(s, &self.shard));
        }
    }
}

thread_local! {
    static LOCALS: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

/// Every shared [`SpanMetrics`], by id: how a span that holds only an id finds its metrics on
/// a thread with no shard for them.
static REGISTRY: Mutex<Vec<(u64, Weak<SpanMetrics>)>> = Mutex::new(Vec::new());

#[cfg_attr(not(feature = "span-metrics"), allow(dead_code))]
pub(super) fn register(m: &Arc<SpanMetrics>) {
    let mut r = registry();
    r.retain(|(_, w)| w.strong_count() > 0);
    r.push((m.id, Arc::downgrade(m)));
}

/// The registry's lock, taken here only: registered with the fork handlers before its first
/// use (see [`crate::platform::fork`]).
fn registry() -> std::sync::MutexGuard<'static, Vec<(u64, Weak<SpanMetrics>)>> {
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::platform::fork::register_static(&REGISTERED, Rank::MetricsRegistry, || {
        Box::new(REGISTRY.lock().unwrap_or_else(|e| e.into_inner()))
    });
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The metrics of `id`, while they exist: through this thread's shard for them (made from the
/// registry the first time, so the registry's lock is taken once per thread, not per span).
pub(super) fn resolve(id: u64) -> Option<Arc<SpanMetrics>> {
    with_local(id, || registered(id), |l| l.metrics.upgrade())
        .flatten()
        .or_else(|| registered(id))
}

fn registered(id: u64) -> Option<Arc<SpanMetrics>> {
    let r = registry();
    r.iter().find(|(i, _)| *i == id)?.1.upgrade()
}

/// The cache slot of a name (its hash's top bits).
fn slot(k: &StaticName) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = super::Identity::default();
    k.hash(&mut h);
    (h.finish() >> 58) as usize % CACHE
}

/// Runs `f` on this thread's state for the metrics `id`, made from `get()` when there is none;
/// `None` when that cannot be (the thread is exiting, the metrics are gone).
#[inline]
fn with_local<R>(
    id: u64,
    get: impl FnOnce() -> Option<Arc<SpanMetrics>>,
    f: impl FnOnce(&mut Local) -> R,
) -> Option<R> {
    LOCALS
        .try_with(|locals| {
            let mut locals = locals.try_borrow_mut().ok()?;
            let i = match locals.iter().position(|l| l.id == id) {
                Some(i) => i,
                None => {
                    let m = get()?;
                    // A shard the table no longer holds belongs to dropped metrics.
                    locals.retain(|l| Arc::strong_count(&l.shard) > 1);
                    if locals.len() >= MAX_LOCALS {
                        locals.remove(0);
                    }
                    let shard = Arc::new(Shard::new());
                    m.lock().shards.push(shard.clone());
                    locals.push(Local {
                        id,
                        metrics: Arc::downgrade(&m),
                        shard,
                        cache: Box::new([None; CACHE]),
                    });
                    locals.len() - 1
                }
            };
            Some(f(&mut locals[i]))
        })
        .ok()
        .flatten()
}

/// Counts a span started unsampled in this thread's shard; `false` when it cannot (the caller
/// counts it in the shared counter).
#[inline]
pub(super) fn count_sampled_out(m: &Arc<SpanMetrics>) -> bool {
    with_local(
        m.id,
        || Some(m.clone()),
        |l| {
            // One writer: a plain add, no read-modify-write.
            let c = &l.shard.sampled_out;
            c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        },
    )
    .is_some()
}

/// Records `nanos` for the series of `name` (whose [`StaticName`] is `key`) in the metrics
/// `id` through this thread's shard; `false` when it cannot (the thread is exiting, the metrics
/// are gone): the caller takes the locked path. A span of an overflow series is added under the
/// lock here.
#[inline]
pub(super) fn record(
    id: u64,
    get: impl FnOnce() -> Option<Arc<SpanMetrics>>,
    name: &str,
    key: StaticName,
    nanos: u64,
) -> bool {
    with_local(id, get, |local| {
        let s = slot(&key);
        let series = match local.cache[s] {
            Some((k, i)) if k == key => i,
            _ => {
                let Some(m) = local.metrics.upgrade() else {
                    return false;
                };
                let mut t = m.lock();
                let (i, cacheable) = m.static_series(&mut t, name, key);
                if !cacheable {
                    m.add(&mut t, i, nanos);
                    return true;
                }
                local.cache[s] = Some((key, i as u32));
                i as u32
            }
        };
        while !local.shard.push(series, nanos) {
            let Some(m) = local.metrics.upgrade() else {
                return false;
            };
            let mut t = m.lock();
            m.fold(&mut t, &local.shard);
        }
        true
    })
    .unwrap_or(false)
}

/// Folds every shard of `t`, and forgets any whose thread is gone (keeping its count). A
/// thread's `Local` normally forgets its shard itself when dropped; this is the safety net.
pub(super) fn fold_all(m: &SpanMetrics, t: &mut Table) {
    let shards = std::mem::take(&mut t.shards);
    let mut kept = Vec::with_capacity(shards.len());
    for s in shards {
        // Whether the owner is gone is read before the fold (then no push can follow it), and
        // the fence orders the owner's last stores before the fold's reads.
        let gone = Arc::strong_count(&s) == 1;
        std::sync::atomic::fence(Ordering::Acquire);
        m.fold(t, &s);
        if gone {
            t.retired_sampled_out += s.sampled_out();
        } else {
            kept.push(s);
        }
    }
    t.shards = kept;
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn key(name: &'static str) -> StaticName {
        StaticName {
            addr: name.as_ptr() as usize,
            len: name.len(),
            kind_status: (0, 0),
        }
    }

    /// A thread that exits hands over its pending spans and its count, and the table keeps no
    /// shard for it: threads that come and go cost no memory.
    #[test]
    fn exited_threads_leave_their_counts_and_no_shard() {
        let m = SpanMetrics::new("s", &[1.0], 10).shared();
        for _ in 0..20 {
            let m = m.clone();
            std::thread::spawn(move || {
                assert!(count_sampled_out(&m));
                for _ in 0..3 {
                    assert!(record(m.id, || Some(m.clone()), "step", key("step"), 500));
                }
            })
            .join()
            .unwrap();
        }
        {
            let t = m.lock();
            assert!(t.shards.is_empty(), "{} shards kept", t.shards.len());
            assert_eq!(t.retired_sampled_out, 20);
            assert_eq!(t.series[0].1.count, 60, "folded when the threads exited");
        }
        assert_eq!(m.sampled_out(), 20);
    }

    /// Threads record spans into one metrics' rings (filling and wrapping them) while another
    /// thread folds them by taking snapshots; then a snapshot with every writer alive, and one
    /// after they exit. Each snapshot counts every span recorded before it began and none not
    /// yet begun; the last ones count every span exactly once, with its own series and duration
    /// (a pair folded twice, or read before its stores arrived, changes a count or a sum).
    /// Runs under miri (scripts/test.sh), where a ring holds 4 pairs.
    #[test]
    fn rings_count_every_span_once_under_concurrent_folds() {
        use std::panic::AssertUnwindSafe;
        use std::sync::atomic::AtomicBool;
        use std::sync::Barrier;

        const NAMES: [&str; 2] = ["ring.a", "ring.b"];
        let (threads, spans) = if cfg!(miri) { (3, 9) } else { (4, 20_000) };
        // Span `j` of thread `t`: its name, and a duration of 1, 2 or 3 ms (one per bucket).
        let span = |t: usize, j: usize| (NAMES[(t + j) % 2], 1 + (j % 3) as u64);
        let m = SpanMetrics::new("s", &[1.0, 2.0], 10).shared();
        // Spans whose recording has begun, and has returned.
        let (begun, recorded) = (AtomicU64::new(0), AtomicU64::new(0));
        let writing = AtomicBool::new(true);
        let barrier = Barrier::new(threads + 1);

        // Every span counted once: counts, sums and buckets per name, and the sampled-out
        // count (every other span).
        let check = |m: &SpanMetrics, when: &str| {
            let snap = m.snapshot(1.0, 0, 0);
            for name in NAMES {
                let (mut count, mut sum, mut buckets) = (0, 0.0, [0; 3]);
                for t in 0..threads {
                    for j in 0..spans {
                        let (n, ms) = span(t, j);
                        if n == name {
                            count += 1;
                            sum += ms as f64;
                            buckets[ms as usize - 1] += 1;
                        }
                    }
                }
                let s = &(snap.series.iter())
                    .find(|(k, _)| k.span_name == name)
                    .unwrap_or_else(|| panic!("{when}: no series {name}"))
                    .1;
                assert_eq!(s.count, count, "{when}: spans of {name}");
                assert_eq!(s.sum_ms, sum, "{when}: ms of {name}");
                assert_eq!(s.buckets, buckets, "{when}: buckets of {name}");
            }
            let out = (threads * spans.div_ceil(2)) as u64;
            assert_eq!(m.sampled_out(), out, "{when}: sampled out");
        };

        std::thread::scope(|s| {
            let writers: Vec<_> = (0..threads)
                .map(|t| {
                    let (m, begun, recorded, barrier) = (&m, &begun, &recorded, &barrier);
                    s.spawn(move || {
                        for j in 0..spans {
                            let (name, ms) = span(t, j);
                            begun.fetch_add(1, Ordering::SeqCst);
                            assert!(record(
                                m.id,
                                || Some(m.clone()),
                                name,
                                key(name),
                                ms * 1_000_000
                            ));
                            recorded.fetch_add(1, Ordering::SeqCst);
                            if j % 2 == 0 {
                                assert!(count_sampled_out(m));
                            }
                        }
                        // Every span recorded; this thread's shard stays until the check.
                        barrier.wait();
                        barrier.wait();
                    })
                })
                .collect();
            s.spawn(|| {
                while writing.load(Ordering::Acquire) {
                    let low = recorded.load(Ordering::SeqCst);
                    let n = m.snapshot(1.0, 0, 0).count(|_| true);
                    let high = begun.load(Ordering::SeqCst);
                    assert!(
                        low <= n && n <= high,
                        "{n} spans counted, {low} to {high} recorded"
                    );
                    std::thread::yield_now();
                }
            });
            barrier.wait();
            writing.store(false, Ordering::Release);
            // The writers are let go whatever the check finds (else a failure would hang).
            let alive = std::panic::catch_unwind(AssertUnwindSafe(|| check(&m, "writers alive")));
            barrier.wait();
            if let Err(e) = alive {
                std::panic::resume_unwind(e);
            }
            // Joined, so their thread-locals are gone: each `Local` folded and left.
            for w in writers {
                w.join().unwrap();
            }
        });
        check(&m, "writers gone");
        assert!(m.lock().shards.is_empty(), "shards of exited threads kept");
    }
}
