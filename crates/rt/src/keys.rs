//! A hash map from `u64` keys (trace ids, block addresses, pids) to `u32`
//! values, in mapped memory: open addressing with linear probing, and
//! backward-shift deletion, so a removal leaves no tombstone behind and
//! lookups never slow down as addresses come and go.

use crate::mapvec::MapVec;
use tmalloc_sys::Errno;

/// The key of an empty entry. A real key of this value (a log can name
/// any address) lives in [`KeyMap::max_key`] instead.
const EMPTY: u64 = u64::MAX;
const FIRST_CAPACITY: usize = 1024;

#[derive(Clone, Copy)]
struct Entry {
    key: u64,
    value: u32,
}

const VACANT: Entry = Entry { key: EMPTY, value: 0 };

pub struct KeyMap {
    entries: MapVec<Entry>,
    len: usize,
    /// The value of key `u64::MAX`, which the table cannot hold.
    max_key: Option<u32>,
}

impl KeyMap {
    pub const fn new() -> KeyMap {
        KeyMap { entries: MapVec::new(), len: 0, max_key: None }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The index of `key`'s entry, or of the empty entry where it would go.
    fn probe(&self, key: u64) -> usize {
        let entries = self.entries.as_slice();
        let mask = entries.len() - 1;
        let mut i = home(key, mask);
        while entries[i].key != key && entries[i].key != EMPTY {
            i = (i + 1) & mask;
        }
        i
    }

    pub fn get(&self, key: u64) -> Option<u32> {
        if key == EMPTY {
            return self.max_key;
        }
        if self.entries.is_empty() {
            return None;
        }
        let e = self.entries.as_slice()[self.probe(key)];
        (e.key == key).then_some(e.value)
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: u64, value: u32) -> Result<Option<u32>, Errno> {
        if key == EMPTY {
            let old = self.max_key.replace(value);
            self.len += usize::from(old.is_none());
            return Ok(old);
        }
        if (self.len + 1) * 2 > self.entries.len() {
            self.grow()?;
        }
        let i = self.probe(key);
        let entry = &mut self.entries.as_mut_slice()[i];
        let old = (entry.key == key).then_some(entry.value);
        if old.is_none() {
            self.len += 1;
        }
        *entry = Entry { key, value };
        Ok(old)
    }

    /// Removes `key`; returns its value. The entries after it in its probe
    /// run shift back into the gap, so every probe still finds its key.
    pub fn remove(&mut self, key: u64) -> Option<u32> {
        if key == EMPTY {
            let old = self.max_key.take();
            self.len -= usize::from(old.is_some());
            return old;
        }
        if self.entries.is_empty() {
            return None;
        }
        let mut gap = self.probe(key);
        let entries = self.entries.as_mut_slice();
        if entries[gap].key != key {
            return None;
        }
        let value = entries[gap].value;
        let mask = entries.len() - 1;
        let mut i = gap;
        loop {
            i = (i + 1) & mask;
            let key = entries[i].key;
            if key == EMPTY {
                break;
            }
            // An entry may fill the gap unless its home lies cyclically in
            // (gap, i]: then the gap is not on its probe path.
            if (i.wrapping_sub(home(key, mask)) & mask) >= (i.wrapping_sub(gap) & mask) {
                entries[gap] = entries[i];
                gap = i;
            }
        }
        entries[gap] = VACANT;
        self.len -= 1;
        Some(value)
    }

    fn grow(&mut self) -> Result<(), Errno> {
        let capacity = (self.entries.len() * 2).max(FIRST_CAPACITY);
        let old = core::mem::replace(&mut self.entries, MapVec::filled(capacity, VACANT)?);
        for e in old.as_slice().iter().filter(|e| e.key != EMPTY) {
            let i = self.probe(e.key);
            self.entries.as_mut_slice()[i] = *e;
        }
        Ok(())
    }
}

/// Where the probe for `key` starts in a table of `mask + 1` entries:
/// Fibonacci hashing spreads addresses that differ only in their low bits.
fn home(key: u64, mask: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn inserts_finds_replaces_and_removes() {
        let mut m = KeyMap::new();
        assert_eq!(m.get(5), None);
        assert_eq!(m.remove(5), None);
        assert_eq!(m.insert(5, 1), Ok(None));
        assert_eq!(m.insert(5, 2), Ok(Some(1)));
        assert_eq!((m.get(5), m.len()), (Some(2), 1));
        for k in 0..10_000u64 {
            m.insert(k * 16 + 0x4A4_0000, k as u32).unwrap();
        }
        assert_eq!(m.len(), 10_001);
        for k in (0..10_000u64).step_by(2) {
            assert_eq!(m.remove(k * 16 + 0x4A4_0000), Some(k as u32));
        }
        for k in 0..10_000u64 {
            let want = (k % 2 == 1).then_some(k as u32);
            assert_eq!(m.get(k * 16 + 0x4A4_0000), want, "key {k}");
        }
        assert_eq!(m.len(), 5_001);
    }

    proptest! {
        /// Against std's HashMap, with keys from a small range so that
        /// probe runs collide and wrap.
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec((0u8..3, 0u64..300, any::<u32>()), 0..3000)) {
            let mut m = KeyMap::new();
            let mut model = HashMap::new();
            for (op, key, value) in ops {
                // Key 299 stands for u64::MAX, the table's empty marker.
                let key = if key == 299 { u64::MAX } else { key };
                match op {
                    0 => prop_assert_eq!(m.insert(key, value).unwrap(), model.insert(key, value)),
                    1 => prop_assert_eq!(m.remove(key), model.remove(&key)),
                    _ => prop_assert_eq!(m.get(key), model.get(&key).copied()),
                }
                prop_assert_eq!(m.len(), model.len());
            }
            for (k, v) in model {
                prop_assert_eq!(m.get(k), Some(v));
            }
        }
    }
}
