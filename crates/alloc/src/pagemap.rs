//! Whose is this address? The page map answers for every heap of the
//! process at once, in O(1): one entry per 4 KiB page of the 47-bit user
//! address space, in a radix tree whose nodes exist only where some heap
//! has memory.
//!
//! ```text
//!   offset from the anchor │ 46 45 │ 44…39 │ 38…33 │ 32…27 │ 26…21 │ 20…12 │ 11…0 │
//!                          │ root  │ node  │ node  │ node  │ node  │ leaf  │ page │
//!                          │ 4 in  │ 64 children, 512 B each       │ 512   │      │
//!                          │ .bss  │                               │ pages │      │
//!
//!   entry (16 bits):  15      14 13       12      11 … 0
//!                     LARGE │ run page │  RUN  │  owner  │
//! ```
//!
//! - **owner**: the [`Owner`] of the heap the page belongs to (0: none of
//!   tmalloc's). A pointer whose page has another owner, or none, is not
//!   the heap's: it is refused without being read.
//! - **RUN**: the page is one of the 4 of a slab run, and **run page** says
//!   which, so the run's header is found from any slot's address.
//! - **LARGE**: the page holds a large block's header or the start of its
//!   payload (only those: a large block is only ever named by its payload
//!   address).
//!
//! Addresses are indexed from an **anchor**, the first page any heap
//! registers, not from 0: the first heap of a process then uses the same
//! nodes wherever ASLR put it, and the memory the map takes (which counts
//! against `RLIMIT_AS` like any other) is the same from run to run. The
//! experiment's numbers stay exactly repeatable.
//!
//! Nodes (512 bytes) and leaves (1 KiB, 2 MiB of addresses) are carved from
//! 8 KiB in `.bss`, then from pages mapped one at a time, and never freed:
//! a heap of 12 MiB, or of 4 MiB and a large block, costs the map no system
//! call; a heap of 1 GiB costs it 130 pages. A full lookup is six dependent
//! loads; a heap keeps its recent leaves in a small direct-mapped
//! [`LeafCache`], so most lookups are a comparison and two loads.
//!
//! Entries change only while their heap's lock is held (or through its
//! `&mut`): each page belongs to one heap. Lookups take no lock: a lookup
//! that races with a change concerns a pointer that is being handed out or
//! given back at that moment, which no correct program passes to `free`.

use core::cell::Cell;
use core::num::NonZeroU16;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU16, AtomicU64, AtomicUsize, Ordering};

use tmalloc_sync::Lock;
use tmalloc_sys::Errno;

use crate::source::{PAGE, map_metadata};

const PAGE_SHIFT: u32 = 12;
/// Pages per leaf: 512 entries of 2 bytes, 2 MiB of addresses.
const LEAF_BITS: u32 = 9;
/// Children per interior node: 64 pointers, 512 bytes.
const NODE_BITS: u32 = 6;
/// Interior levels below the root.
const LEVELS: u32 = 4;
/// Children of the root: what is left of the 47 bits.
const ROOT_BITS: u32 = 47 - PAGE_SHIFT - LEAF_BITS - LEVELS * NODE_BITS;
const SPAN: usize = 1 << 47;

const OWNER_MASK: u16 = (1 << 12) - 1;
const RUN: u16 = 1 << 12;
const RUN_PAGE_SHIFT: u32 = 13;
const LARGE: u16 = 1 << 15;

/// Which heap a page belongs to: a process-wide number, 1 to 4,095, held by
/// the heap for as long as it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner(NonZeroU16);

/// Owners in use, one bit each (bit 0 stands for "no owner" and is never
/// handed out).
static OWNERS: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

impl Owner {
    /// A number no other live heap holds; `None` when 4,095 heaps live.
    pub(crate) fn take() -> Option<Owner> {
        for (w, word) in OWNERS.iter().enumerate() {
            let mut bits = word.load(Ordering::Relaxed);
            loop {
                let free = !bits & if w == 0 { !1 } else { !0 };
                if free == 0 {
                    break;
                }
                let bit = free.trailing_zeros();
                match word.compare_exchange(bits, bits | 1 << bit, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => return NonZeroU16::new((w * 64) as u16 + bit as u16).map(Owner),
                    Err(now) => bits = now,
                }
            }
        }
        None
    }

    /// The largest number: the process-wide heap's arenas count down from
    /// it ([`Owner::claim`]), other heaps up from 1 ([`Owner::take`]).
    pub(crate) const LAST: u16 = OWNER_MASK;

    /// Number `n` (1 to [`Owner::LAST`]) if no live heap holds it.
    pub(crate) fn claim(n: u16) -> Option<Owner> {
        let owner = Owner(NonZeroU16::new(n & OWNER_MASK)?);
        let (word, bit) = (n as usize / 64, n as usize % 64);
        let was = OWNERS[word].fetch_or(1 << bit, Ordering::Acquire);
        (was & 1 << bit == 0).then_some(owner)
    }

    /// Gives the number back; the heap's pages must be cleared first.
    pub(crate) fn give_back(self) {
        let n = self.0.get() as usize;
        OWNERS[n / 64].fetch_and(!(1 << (n % 64)), Ordering::Release);
    }

    fn bits(self) -> u16 {
        self.0.get()
    }
}

/// One page's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry(u16);

impl Entry {
    pub(crate) const NONE: Entry = Entry(0);

    /// Heap memory of `owner`.
    pub(crate) fn heap(owner: Owner) -> Entry {
        Entry(owner.bits())
    }

    /// Page `page` (0 to 3) of a slab run of `owner`.
    pub(crate) fn run(owner: Owner, page: usize) -> Entry {
        debug_assert!(page < 4);
        Entry(owner.bits() | RUN | (page as u16) << RUN_PAGE_SHIFT)
    }

    /// The first payload page of a large block of `owner`.
    pub(crate) fn large(owner: Owner) -> Entry {
        Entry(owner.bits() | LARGE)
    }

    /// Whether the page belongs to `owner`.
    #[inline]
    pub(crate) fn owned_by(self, owner: Owner) -> bool {
        self.0 & OWNER_MASK == owner.bits()
    }

    /// Which page of its slab run this is, if the page is part of one.
    #[inline]
    pub(crate) fn run_page(self) -> Option<usize> {
        (self.0 & RUN != 0).then_some(((self.0 >> RUN_PAGE_SHIFT) & 3) as usize)
    }

    /// The owner's number; 0 for a page no heap owns.
    #[inline]
    pub(crate) fn owner_number(self) -> u16 {
        self.0 & OWNER_MASK
    }

    #[inline]
    pub(crate) fn is_large(self) -> bool {
        self.0 & LARGE != 0
    }
}

/// 512 entries: 2 MiB of addresses.
struct Leaf([AtomicU16; 1 << LEAF_BITS]);

/// 64 children: interior nodes, or leaves at the last level.
struct Node([AtomicPtr<()>; 1 << NODE_BITS]);

static ROOT: Node = Node([const { AtomicPtr::new(ptr::null_mut()) }; 1 << NODE_BITS]);

/// The first page any heap registered; 0 until then.
static ANCHOR: AtomicUsize = AtomicUsize::new(0);

/// The page nodes are carved from, and how much of it is left: behind a
/// lock, which also serialises the making of nodes (two heaps may need the
/// same one).
struct Pool {
    next: usize,
    end: usize,
    /// Whether [`FIRST_NODES`] has been handed to the pool yet.
    started: bool,
}

static POOL: Lock<Pool> = Lock::new(Pool { next: 0, end: 0, started: false });

/// The pool's first 8 KiB, in `.bss`: room for the nodes of a heap and of
/// one distant mapping (a large block), so that a small program's heap
/// costs the page map no system call at all.
#[repr(align(4096))]
struct FirstNodes([AtomicU64; 1024]);

static FIRST_NODES: FirstNodes = FirstNodes([const { AtomicU64::new(0) }; 1024]);

/// Pages the map has mapped (each one `mmap` call), past [`FIRST_NODES`].
static PAGES: AtomicU64 = AtomicU64::new(0);

/// Bytes of address space the page map holds, and the `mmap` calls it
/// made: part of every heap's cost, reported beside the heaps' own.
pub fn overhead() -> (u64, u64) {
    let pages = PAGES.load(Ordering::Relaxed);
    (pages * PAGE as u64, pages)
}

impl Pool {
    /// `len` zeroed bytes (512 or 1,024) that never cross a page.
    fn carve(&mut self, len: usize) -> Result<NonNull<u8>, Errno> {
        if self.end - self.next < len {
            let (start, size) = if self.started {
                PAGES.fetch_add(1, Ordering::Relaxed);
                (map_metadata(PAGE)?.as_ptr() as usize, PAGE)
            } else {
                self.started = true;
                (FIRST_NODES.0.as_ptr() as usize, size_of::<FirstNodes>())
            };
            (self.next, self.end) = (start, start + size);
        }
        let at = self.next;
        self.next += len;
        // SAFETY: inside a fresh page, never null.
        Ok(unsafe { NonNull::new_unchecked(at as *mut u8) })
    }
}

/// Page number `page` of `addr` counted from the anchor, if the address
/// lies in user space and a heap has registered anything.
#[inline]
fn page_number(addr: usize) -> Option<usize> {
    let anchor = ANCHOR.load(Ordering::Relaxed);
    (addr < SPAN && anchor != 0).then(|| (addr.wrapping_sub(anchor) & (SPAN - 1)) >> PAGE_SHIFT)
}

/// Which child of the node at `level` (0: the root) holds page `page`.
#[inline]
fn child_index(page: usize, level: u32) -> usize {
    let shift = LEAF_BITS + (LEVELS - level) * NODE_BITS;
    let bits = if level == 0 { ROOT_BITS } else { NODE_BITS };
    (page >> shift) & ((1 << bits) - 1)
}

/// The leaf covering page number `page`, if one was ever made.
#[inline]
fn leaf(page: usize) -> Option<&'static Leaf> {
    let mut node = &ROOT;
    for level in 0..LEVELS {
        let next = node.0[child_index(page, level)].load(Ordering::Acquire);
        // SAFETY: children are zeroed nodes made by `make`, never freed.
        node = unsafe { next.cast::<Node>().as_ref()? };
    }
    let leaf = node.0[child_index(page, LEVELS)].load(Ordering::Acquire);
    // SAFETY: as above; the last level's children are leaves.
    unsafe { leaf.cast::<Leaf>().as_ref() }
}

/// The child in `slot`, made (`len` zeroed bytes) if there is none yet.
fn make(slot: &AtomicPtr<()>, len: usize) -> Result<NonNull<()>, Errno> {
    if let Some(child) = NonNull::new(slot.load(Ordering::Acquire)) {
        return Ok(child);
    }
    let mut pool = POOL.lock();
    if let Some(child) = NonNull::new(slot.load(Ordering::Acquire)) {
        return Ok(child);
    }
    let child = pool.carve(len)?.cast();
    slot.store(child.as_ptr(), Ordering::Release);
    Ok(child)
}

/// The leaf covering page number `page`, made if needed.
fn leaf_or_make(page: usize) -> Result<&'static Leaf, Errno> {
    let mut node = &ROOT;
    for level in 0..LEVELS {
        let child = make(&node.0[child_index(page, level)], size_of::<Node>())?;
        // SAFETY: a node made by `make`: zeroed, never freed.
        node = unsafe { child.cast::<Node>().as_ref() };
    }
    let leaf = make(&node.0[child_index(page, LEVELS)], size_of::<Leaf>())?;
    // SAFETY: as above.
    Ok(unsafe { leaf.cast::<Leaf>().as_ref() })
}

/// The entry of the page holding `addr`.
#[inline]
pub(crate) fn get(addr: usize) -> Entry {
    match page_number(addr).and_then(|page| Some((page, leaf(page)?))) {
        Some((page, leaf)) => Entry(leaf.0[page & ((1 << LEAF_BITS) - 1)].load(Ordering::Relaxed)),
        None => Entry::NONE,
    }
}

/// Sets the entries of the pages of `[start, start + len)` (page-aligned)
/// to `entry`, making the nodes that are missing. On failure (no memory
/// for a node) nothing is left changed that matters: the pages set so far
/// are set back to no owner.
pub(crate) fn set(start: usize, len: usize, entry: Entry) -> Result<(), Errno> {
    debug_assert!(start.is_multiple_of(PAGE) && len.is_multiple_of(PAGE));
    if start >= SPAN {
        return Err(Errno::ENOMEM);
    }
    let _ = ANCHOR.compare_exchange(0, start, Ordering::Relaxed, Ordering::Relaxed);
    let first = page_number(start).ok_or(Errno::ENOMEM)?;
    for (i, page) in (first..first + len / PAGE).enumerate() {
        match leaf_or_make(page) {
            Ok(leaf) => leaf.0[page & ((1 << LEAF_BITS) - 1)].store(entry.0, Ordering::Relaxed),
            Err(e) => {
                clear(start, i * PAGE);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Sets the entries of the pages of `[start, start + len)` to no owner.
/// Never fails: pages whose leaf does not exist have no owner already.
pub(crate) fn clear(start: usize, len: usize) {
    let Some(first) = page_number(start) else { return };
    for page in first..first + len / PAGE {
        if let Some(leaf) = leaf(page) {
            leaf.0[page & ((1 << LEAF_BITS) - 1)].store(0, Ordering::Relaxed);
        }
    }
}

/// Leaves a heap looked up recently, direct-mapped by leaf number: 16 of
/// them cover 32 MiB, so a lookup in a heap that size is a comparison and
/// two loads.
#[derive(Debug)]
pub(crate) struct LeafCache {
    /// Per slot: the leaf's number (page number >> LEAF_BITS, plus one; 0
    /// when empty), and the leaf.
    slots: [Cell<(usize, *const Leaf)>; 16],
}

impl Default for LeafCache {
    fn default() -> Self {
        LeafCache::new()
    }
}

impl LeafCache {
    pub(crate) const fn new() -> LeafCache {
        LeafCache { slots: [const { Cell::new((0, ptr::null())) }; 16] }
    }

    /// As [`get`], through the cache.
    #[inline]
    pub(crate) fn get(&self, addr: usize) -> Entry {
        let Some(page) = page_number(addr) else { return Entry::NONE };
        let key = (page >> LEAF_BITS) + 1;
        let (cached, leaf) = self.slots[key % 16].get();
        if cached == key {
            // SAFETY: a cached leaf is a live node (nodes are never freed).
            let leaf = unsafe { &*leaf };
            return Entry(leaf.0[page & ((1 << LEAF_BITS) - 1)].load(Ordering::Relaxed));
        }
        self.miss(page, key)
    }

    #[cold]
    fn miss(&self, page: usize, key: usize) -> Entry {
        let Some(leaf) = leaf(page) else { return Entry::NONE };
        self.slots[key % 16].set((key, leaf));
        Entry(leaf.0[page & ((1 << LEAF_BITS) - 1)].load(Ordering::Relaxed))
    }
}

// SAFETY: the cache only ever points at nodes, which are immutable pages
// of atomics that live as long as the process: moving it to another thread
// moves a hint.
unsafe impl Send for LeafCache {}

/// For tests: the leaf pointer type is opaque outside this module.
#[cfg(test)]
fn leaf_exists(addr: usize) -> bool {
    page_number(addr).and_then(leaf).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_unique_until_given_back() {
        let a = Owner::take().unwrap();
        let b = Owner::take().unwrap();
        assert_ne!(a, b);
        b.give_back();
        a.give_back();
    }

    #[test]
    fn entries_round_trip_anywhere_in_the_address_space() {
        let owner = Owner::take().unwrap();
        // Far apart, including the top of the 47-bit space; none of these
        // addresses is dereferenced.
        for start in [0x1000, 0x1234_5678_0000, 0x4000_0000_0000, 0x7fff_ffff_0000] {
            assert_eq!(get(start), Entry::NONE);
            set(start, 4 * PAGE, Entry::run(owner, 2)).unwrap();
            assert!(leaf_exists(start));
            let e = get(start + 3 * PAGE + 17);
            assert!(e.owned_by(owner));
            assert_eq!(e.run_page(), Some(2));
            assert!(!e.is_large());
            assert_eq!(get(start + 4 * PAGE), Entry::NONE, "just past the range");
            let cache = LeafCache::new();
            assert_eq!(cache.get(start + PAGE), Entry::run(owner, 2));
            assert_eq!(cache.get(start + PAGE), Entry::run(owner, 2), "from the cache");
            clear(start, 4 * PAGE);
            assert_eq!(cache.get(start + PAGE), Entry::NONE);
        }
        assert_eq!(get(usize::MAX), Entry::NONE, "beyond 47 bits");
        assert_eq!(get(1 << 47), Entry::NONE);
        owner.give_back();
    }
}
