//! Stable sorting through one small merge sort.
//!
//! `slice::sort_by` is compiled anew for every element type and comparator, several KiB of
//! code each: ten of them (nine stable, one unstable) were 12% of the browser build's `.wasm`
//! (console trees, redaction's edits and names, the metrics text, propagation's header names,
//! contexts as JSON, scope comparison). None is on the common span path (redaction sorts its
//! edits only for a value it rewrites), so they sort a permutation of indices through one
//! shared function and move the elements into place after: two index vectors more per sort
//! (the permutation and the merge's scratch).
//! That function is a plain merge sort, not the standard library's (7 KiB of `.wasm` even as
//! one instance, for lists that are short or, for the metrics text, sorted once per scrape).

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

/// Sorts `order` by `cmp`, stably: a bottom-up merge sort (runs of 1, 2, 4, ... merged in
/// pairs, ties taken from the left run), `n log n` comparisons at most. The passes go from
/// `order` to a scratch vector and back.
#[inline(never)]
fn sort_indices(order: &mut [usize], cmp: &mut dyn FnMut(usize, usize) -> Ordering) {
    let n = order.len();
    let mut scratch = vec![0; n];
    let mut in_scratch = false;
    let mut width = 1;
    while width < n {
        if in_scratch {
            merge_pass(&scratch, order, width, cmp);
        } else {
            merge_pass(order, &mut scratch, width, cmp);
        }
        in_scratch = !in_scratch;
        width *= 2;
    }
    if in_scratch {
        order.copy_from_slice(&scratch);
    }
}

/// Merges each pair of sorted runs of `width` in `from` into `to`.
fn merge_pass(
    from: &[usize],
    to: &mut [usize],
    width: usize,
    cmp: &mut dyn FnMut(usize, usize) -> Ordering,
) {
    let n = from.len();
    for lo in (0..n).step_by(2 * width) {
        let mid = (lo + width).min(n);
        let hi = (lo + 2 * width).min(n);
        let (mut i, mut j) = (lo, mid);
        for slot in &mut to[lo..hi] {
            if i < mid && (j == hi || cmp(from[i], from[j]) != Ordering::Greater) {
                *slot = from[i];
                i += 1;
            } else {
                *slot = from[j];
                j += 1;
            }
        }
    }
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
