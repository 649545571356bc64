//! Stable sorting through one instance of the standard library's sort.
//!
//! `slice::sort_by` is compiled anew for every element type and comparator, several KiB of
//! code each: ten of them (nine stable, one unstable) were 12% of the browser build's `.wasm`
//! (console trees, redaction's edits and names, the metrics text, propagation's header names,
//! contexts as JSON, scope comparison). None is on the common span path (redaction sorts its
//! edits only for a value it rewrites), so they sort a permutation of indices through one
//! shared instance and move the elements into place after: an index vector more per sort.

use std::cmp::Ordering;

/// Sorts `v` by `cmp`, stably, as `v.sort_by(cmp)` would.
pub(crate) fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..v.len()).collect();
    sort_indices(&mut order, &mut |a, b| cmp(&v[a], &v[b]));
    permute(v, &mut order);
}

/// Sorts `v` by a key, stably, as `v.sort_by_key(key)` would.
pub(crate) fn sort_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v`, stably, as `v.sort()` would.
pub(crate) fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// The one instance of the standard library's sort.
#[inline(never)]
fn sort_indices(order: &mut [usize], cmp: &mut dyn FnMut(usize, usize) -> Ordering) {
    order.sort_by(|&a, &b| cmp(a, b));
}

/// Moves `v[order[i]]` to `i` for every `i`, one cycle of the permutation at a time (a cycle
/// of `k` elements in `k - 1` swaps); `order` is left as the identity.
fn permute<T>(v: &mut [T], order: &mut [usize]) {
    for start in 0..v.len() {
        let mut at = start;
        loop {
            let from = order[at];
            order[at] = at;
            if from == start {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_as_the_standard_library_does_and_keeps_ties_in_order() {
        // Pairs sorted by their first item only: ties must keep their order (stable).
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for len in [0, 1, 2, 3, 7, 20, 33, 200, 1000] {
            let v: Vec<(u8, usize)> = (0..len)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ((seed % 7) as u8, i)
                })
                .collect();
            let mut ours = v.clone();
            sort_by_key(&mut ours, |p| p.0);
            let mut std = v.clone();
            std.sort_by_key(|p| p.0);
            assert_eq!(ours, std, "{len} items");
            let mut whole = v.clone();
            sort(&mut whole);
            let mut std = v;
            std.sort();
            assert_eq!(whole, std, "{len} items");
        }
    }

    #[test]
    fn moves_owned_elements_without_losing_or_doubling_any() {
        let mut v: Vec<String> = ["d", "a", "c", "b", "a"].map(String::from).to_vec();
        sort_by(&mut v, |a, b| b.cmp(a));
        assert_eq!(v, ["d", "c", "b", "a", "a"]);
    }
}
