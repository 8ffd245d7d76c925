//! [`BoundedMap`]: the most recent entries by transaction ID, oldest evicted first.

use std::{collections::VecDeque, sync::Arc};

/// The map of [`BoundedMap`]. A hash map is allowed here: it is never iterated (iteration goes
/// through `BoundedMap::order`), so its order never shows.
#[allow(clippy::disallowed_types)]
type IdMap<V> = std::collections::HashMap<Arc<str>, V>;

/// The longest transaction ID kept as it is; a longer one is kept as a digest (see [`key`]).
/// Homeservers use short IDs (Synapse: decimal integers; the Conduit family: 43 characters).
pub const MAX_KEY_BYTES: usize = 255;

/// The key under which a transaction ID is kept: the ID itself up to [`MAX_KEY_BYTES`] bytes,
/// else `\0`, the 32 hex digits of two XXH3-64 digests of it (seeds 0 and 1), and `\0`: 34 bytes.
/// Two long IDs share a key only if both digests collide; a real ID equal to such a key (with
/// its NUL bytes) would be taken for the long ID it digests.
pub fn key(txn_id: &str) -> std::borrow::Cow<'_, str> {
    if txn_id.len() <= MAX_KEY_BYTES {
        return std::borrow::Cow::Borrowed(txn_id);
    }
    let a = twox_hash::XxHash3_64::oneshot_with_seed(0, txn_id.as_bytes());
    let b = twox_hash::XxHash3_64::oneshot_with_seed(1, txn_id.as_bytes());
    std::borrow::Cow::Owned(format!("\0{a:016x}{b:016x}\0"))
}

/// The most recent `capacity` entries keyed by transaction ID, oldest evicted first: what a
/// bounded [`TransactionStore`](crate::TransactionStore) keeps in memory (the stores of this
/// workspace and the dispatcher's retry bookkeeping share it).
///
/// Bounded in bytes too: an ID longer than [`MAX_KEY_BYTES`] is kept as its [`key`], a
/// 34-byte digest, so 10 000 IDs of 8 000 characters cost no more than 10 000 short ones.
///
/// A hash map (a lookup hashes the ID once instead of comparing it with ~14 keys of a B-tree of
/// 10 000), and one allocation per ID, shared by the map and the eviction order.
#[derive(Debug)]
pub struct BoundedMap<V> {
    capacity: usize,
    map: IdMap<V>,
    order: VecDeque<Arc<str>>,
}

impl<V> BoundedMap<V> {
    /// An empty map that keeps at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // A hash map that deletes as often as it inserts settles at twice its live entries (its
        // deleted slots run out once, and it grows): sized so from the start, its memory stays
        // flat. Capped, so a huge capacity is not reserved up front.
        let presized = capacity.saturating_mul(2).min(1 << 17);
        Self { capacity, map: IdMap::with_capacity(presized), order: VecDeque::new() }
    }

    /// The entry of `id`, if it is kept.
    pub fn get(&self, id: &str) -> Option<&V> {
        self.map.get(&*key(id))
    }

    /// Inserts or replaces the entry of `id` and makes it the newest; evicts the oldest entries
    /// beyond the capacity.
    pub fn insert(&mut self, id: &str, value: V) {
        let id = &*key(id);
        if let Some(old) = self.map.get_mut(id) {
            // Re-recorded (an ID reused with other events): move it to the newest position.
            *old = value;
            let position = self.order.iter().position(|x| &**x == id);
            if let Some(key) = position.and_then(|i| self.order.remove(i)) {
                self.order.push_back(key);
            }
            return;
        }
        let key: Arc<str> = Arc::from(id);
        self.map.insert(Arc::clone(&key), value);
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    /// Removes and returns the entry of `id` (linear in the number of entries).
    pub fn remove(&mut self, id: &str) -> Option<V> {
        let id = &*key(id);
        let value = self.map.remove(id)?;
        self.order.retain(|x| &**x != id);
        Some(value)
    }

    /// How many entries it keeps now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether it keeps none.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The most entries it keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The entries, oldest first, by their [`key`].
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.order.iter().filter_map(|id| self.map.get(id).map(|v| (&**id, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest() {
        let mut b = BoundedMap::new(2);
        b.insert("1", 1);
        b.insert("2", 2);
        b.insert("3", 3);
        assert_eq!(b.get("1"), None);
        assert_eq!(b.get("3"), Some(&3));
        b.insert("2", 22);
        b.insert("4", 4);
        assert_eq!(b.get("3"), None, "re-recording 2 made 3 the oldest");
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![("2", &22), ("4", &4)]);
        assert_eq!(b.remove("2"), Some(22));
        assert_eq!(b.remove("2"), None);
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![("4", &4)]);
        assert_eq!((b.len(), b.capacity()), (1, 2));
    }

    #[test]
    fn long_ids_are_kept_as_a_bounded_digest() {
        let mut b = BoundedMap::new(10);
        let long = "x".repeat(8_000);
        let other = format!("{}y", "x".repeat(7_999));
        b.insert(&long, 1);
        b.insert(&other, 2);
        assert_eq!(b.get(&long), Some(&1));
        assert_eq!(b.get(&other), Some(&2));
        assert!(b.iter().all(|(k, _)| k.len() == 34), "kept as digests");
        let short = "y".repeat(MAX_KEY_BYTES);
        b.insert(&short, 3);
        assert_eq!(b.iter().last(), Some((short.as_str(), &3)), "kept as it is");
        // A key read back (from a log written with `iter`) finds the same entry.
        let stored = key(&long).into_owned();
        assert_eq!(b.get(&stored), Some(&1));
        assert_eq!(b.remove(&long), Some(1));
    }
}
