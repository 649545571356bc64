//! Random ids: one xoshiro256++ generator per thread, seeded from the operating system.
//!
//! A generator's state is plain memory, so `fork()` copies it: a child would repeat its
//! parent's ids (and every sibling the same ones). Each generator remembers the fork epoch it
//! was seeded in ([`super::fork::epoch`], bumped in every child by a `pthread_atfork` handler)
//! and reseeds when the epoch moved, so trace ids, span ids, correlation ids and retry jitter
//! never repeat across processes. The check is one relaxed atomic load per id.

use std::cell::Cell;

use opentelemetry::trace::{SpanId, TraceId};

/// xoshiro256++ (Blackman and Vigna): 256 bits of state, period 2^256 − 1, passes BigCrush;
/// the generator behind the OpenTelemetry SDK's `SmallRng` on 64-bit targets.
#[derive(Clone, Copy)]
struct Xoshiro([u64; 4]);

impl Xoshiro {
    fn seeded() -> Xoshiro {
        let mut bytes = [0u8; 32];
        if getrandom::fill(&mut bytes).is_err() {
            // No OS randomness (never seen on the supported targets): the clock and the
            // state's address still differ per process and thread.
            let t = super::unix_nanos(super::now());
            let a = &bytes as *const _ as u64;
            bytes[..8].copy_from_slice(&t.to_le_bytes());
            bytes[8..16].copy_from_slice(&a.to_le_bytes());
            bytes[16..24].copy_from_slice(&(u64::from(std::process::id())).to_le_bytes());
        }
        let mut s = [0u64; 4];
        for (i, w) in s.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            // SplitMix64 over each word: a state of all zeros (or nearly) cannot come out.
            *w = splitmix(u64::from_le_bytes(b).wrapping_add(i as u64));
        }
        Xoshiro(s)
    }

    #[inline]
    fn next(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

thread_local! {
    /// This thread's generator and the fork epoch it was seeded in (`None`: not yet seeded).
    static RNG: Cell<Option<(u64, Xoshiro)>> = const { Cell::new(None) };
}

/// The fork epoch: how many forks this process came out of as the child (0 where processes
/// cannot fork: wasm32).
#[inline]
pub(crate) fn epoch() -> u64 {
    super::fork::epoch()
}

/// `N` draws from this thread's generator, through one access to it.
#[inline]
fn draws<const N: usize>() -> [u64; N] {
    let epoch = epoch();
    let fill = |rng: &mut Xoshiro| {
        let mut out = [0; N];
        for v in &mut out {
            *v = rng.next();
        }
        out
    };
    RNG.try_with(|cell| {
        let mut rng = match cell.get() {
            Some((e, rng)) if e == epoch => rng,
            _ => seed(),
        };
        let out = fill(&mut rng);
        cell.set(Some((epoch, rng)));
        out
    })
    // A thread whose thread-locals are torn down draws from a fresh generator.
    .unwrap_or_else(|_| fill(&mut seed()))
}

/// A generator for this thread: its first, or its first since a fork.
#[cold]
fn seed() -> Xoshiro {
    #[cfg(unix)]
    super::fork::install();
    Xoshiro::seeded()
}

/// 64 random bits from this thread's generator.
#[inline]
pub(crate) fn random_u64() -> u64 {
    draws::<1>()[0]
}

/// A random, valid (non-zero) trace id.
#[inline]
pub(crate) fn trace_id() -> TraceId {
    loop {
        let [hi, lo] = draws::<2>();
        let id = (u128::from(hi) << 64) | u128::from(lo);
        if id != 0 {
            return TraceId::from(id);
        }
    }
}

/// A random, valid (non-zero) span id.
#[inline]
pub(crate) fn span_id() -> SpanId {
    loop {
        let id = random_u64();
        if id != 0 {
            return SpanId::from(id);
        }
    }
}

/// A root span's ids, valid (non-zero), drawn together: one access to the generator.
#[inline]
pub(crate) fn ids() -> (TraceId, SpanId) {
    match draws::<3>() {
        [hi, lo, span] if (hi | lo) != 0 && span != 0 => (
            TraceId::from((u128::from(hi) << 64) | u128::from(lo)),
            SpanId::from(span),
        ),
        _ => (trace_id(), span_id()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published xoshiro256++ from the state 1, 2, 3, 4 gives these (the test vector of
    /// the rand_xoshiro crate): the generator is the published one, not a near miss.
    #[test]
    fn xoshiro_matches_the_reference() {
        let mut r = Xoshiro([1, 2, 3, 4]);
        let got: Vec<u64> = (0..4).map(|_| r.next()).collect();
        assert_eq!(
            got,
            [41943041, 58720359, 3588806011781223, 3591011842654386]
        );
    }

    #[test]
    fn ids_are_valid_and_differ() {
        let a: std::collections::HashSet<_> = (0..10_000).map(|_| span_id()).collect();
        assert_eq!(a.len(), 10_000);
        assert!(!a.contains(&SpanId::INVALID));
        assert_ne!(trace_id(), trace_id());
        let (t, s) = ids();
        assert!(t != TraceId::INVALID && s != SpanId::INVALID);
        assert_ne!(ids().0, t);
    }
}
