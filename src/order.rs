//! The core's one stable sort. Each `sort_by_key` on a new element type or key closure is
//! another copy of the standard library's stable sort in the wasm (about 2 KB each, before
//! gzip); the core's few sorts (plan batches into event order, array-index keys ahead of named
//! ones) go through this instead: one `sort_unstable` of (key, position) pairs, which are all
//! distinct, so the result is exactly the stable order, then the elements moved once.

/// Sorts `v` by `key`, keeping equal keys in their order. Input already in order (the usual
/// case for these callers) costs one pass and no allocation beyond the keys.
pub fn stable_sort_by_key<T>(v: &mut Vec<T>, key: impl Fn(&T) -> u64) {
    if v.len() < 2 {
        return;
    }
    let mut keys: Vec<(u64, usize)> = v.iter().enumerate().map(|(i, x)| (key(x), i)).collect();
    if keys.windows(2).all(|w| w[0].0 <= w[1].0) {
        return;
    }
    keys.sort_unstable();
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    // Every position occurs once in `keys`, so each slot is taken exactly once.
    v.extend(keys.iter().filter_map(|&(_, i)| slots[i].take()));
}

#[cfg(test)]
mod tests {
    use super::stable_sort_by_key;
    use proptest::prelude::*;

    proptest! {
        /// The same order as the standard library's stable sort, for any input.
        #[test]
        fn same_as_std_stable_sort(v in proptest::collection::vec((0u64..8, any::<u16>()), 0..200)) {
            let mut ours = v.clone();
            stable_sort_by_key(&mut ours, |x| x.0);
            let mut std = v;
            std.sort_by_key(|x| x.0);
            prop_assert_eq!(ours, std);
        }
    }

    #[test]
    fn already_sorted_and_reversed_inputs() {
        let mut v: Vec<u64> = (0..100).collect();
        stable_sort_by_key(&mut v, |&x| x);
        assert_eq!(v, (0..100).collect::<Vec<_>>());
        let mut r: Vec<(u64, char)> = vec![(2, 'a'), (1, 'b'), (2, 'c'), (0, 'd'), (1, 'e')];
        stable_sort_by_key(&mut r, |x| x.0);
        assert_eq!(r, vec![(0, 'd'), (1, 'b'), (1, 'e'), (2, 'a'), (2, 'c')]);
    }
}
