//! [`BoundedMap`]: the most recent entries by transaction ID, oldest evicted first.

use std::{collections::VecDeque, sync::Arc};

/// The map of [`BoundedMap`]. A hash map is allowed here: it is never iterated (iteration goes
/// through `BoundedMap::order`), so its order never shows.
#[allow(clippy::disallowed_types)]
type IdMap<V> = std::collections::HashMap<Arc<str>, V>;

/// The most recent `capacity` entries keyed by transaction ID, oldest evicted first: what a
/// bounded [`TransactionStore`](crate::TransactionStore) keeps in memory (the stores of this
/// workspace and the dispatcher's retry bookkeeping share it).
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
        self.map.get(id)
    }

    /// Inserts or replaces the entry of `id` and makes it the newest; evicts the oldest entries
    /// beyond the capacity.
    pub fn insert(&mut self, id: &str, value: V) {
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

    /// The entries, oldest first.
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
}
