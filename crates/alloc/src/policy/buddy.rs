//! The binary buddy system (Knowlton, 1965).
//!
//! Every block is 2^k bytes (k ≥ 5) and starts at an address that is a
//! multiple of 2^k. Splitting a block gives two *buddies*; a block's buddy is
//! at `addr ^ 2^k`. Freeing a block merges it with its buddy whenever the
//! buddy is free and whole, and repeats one order up: free memory never
//! holds two free buddies.
//!
//! ```text
//!   used block (order k)                      free block (order k)
//!   ┌──────────────────────────────┐          ┌──────────────────────────────┐
//!   │ header: magic | k | USED  8B │          │ header: magic | k | FREE  8B │
//!   ├──────────────────────────────┤          │ next free                 8B │
//!   │ (padding, for alignment)     │          │ prev free                 8B │
//!   │ tail tag: magic | offset  8B │          │ ...                          │
//!   ├──────────────────────────────┤ payload  └──────────────────────────────┘
//!   │ the caller's bytes           │
//!   └──────────────────────────────┘
//! ```
//!
//! The payload usually starts 16 bytes in; a request for larger alignment
//! moves it further. The header records by how much (as a power of two),
//! and the tail tag right in front of the payload repeats it, so `free`
//! finds the header from the payload and can check the two agree. The magic words mix in the block's
//! address, so a stray pointer is unlikely to pass for a block.
//!
//! Regions are carved into the largest aligned power-of-two blocks that fit;
//! a contiguous growth merges with the blocks before it. Merging checks that
//! the buddy lies inside the same region before reading its header.
//!
//! Buddy memory is never trimmed: finding which block ends the region would
//! cost a walk, and the policy is here to show internal fragmentation, not
//! to give memory back.

use core::ptr::NonNull;

use crate::error::{BlockInfo, BlockState, HeapError, Misuse, Totals, ensure};
use crate::index::bins::Bins;
use crate::list::{Link, Linked};
use crate::pagemap::Owner;
use crate::policy::{Freed, Growth, Policy};
use crate::region::Region;

pub(crate) const MIN_ORDER: u32 = 5;
/// Orders up to 2^52; larger regions are carved into several top blocks.
pub(crate) const MAX_ORDER: u32 = 52;
const ORDERS: usize = (MAX_ORDER + 1) as usize;
/// Header and tail tag in front of a payload.
const OVERHEAD: usize = 16;

pub(crate) const MAGIC: u64 = 0xB0DD_1E50;
pub(crate) const USED: u64 = 1;
pub(crate) const FREE: u64 = 2;

/// The header word of a block at `addr`: magic (mixed with the address),
/// log2 of the payload offset (used blocks), order, state.
///
/// ```text
///   63          32 31      24 23    16 15     8 7      0
///   │ magic^addr  │ lead log │   0    │ order  │ state  │
/// ```
fn header_word(addr: usize, order: u32, state: u64, lead: usize) -> u64 {
    ((MAGIC ^ (addr as u64 >> 5)) << 32)
        | ((lead.trailing_zeros() as u64) << 24)
        | ((order as u64) << 8)
        | state
}

fn decode_header(addr: usize, word: u64) -> Option<(u32, u64)> {
    let order = ((word >> 8) & 0xff) as u32;
    let state = word & 0xff;
    let ok = word >> 32 == (MAGIC ^ (addr as u64 >> 5)) & 0xffff_ffff
        && (MIN_ORDER..=MAX_ORDER).contains(&order)
        && (state == USED || state == FREE)
        && addr.is_multiple_of(1 << order);
    ok.then_some((order, state))
}

/// The payload offset a used block's header records.
fn lead_of(word: u64) -> usize {
    1 << ((word >> 24) & 0xff)
}

/// The tail tag in front of a payload at `payload`, `offset` bytes into its block.
fn tail_word(payload: usize, offset: usize) -> u64 {
    ((MAGIC ^ (payload as u64 >> 4)) << 32) | offset as u64
}

/// A free buddy block: its 8-byte header, then the list link.
#[repr(C)]
pub(crate) struct BuddyFree {
    header: u64,
    link: Link,
}

// SAFETY: link and from_link use the same field offset.
unsafe impl Linked for BuddyFree {
    fn link(this: NonNull<Self>) -> NonNull<Link> {
        // SAFETY: projecting a field of a valid element pointer.
        unsafe { NonNull::new_unchecked(&raw mut (*this.as_ptr()).link) }
    }
    unsafe fn from_link(link: NonNull<Link>) -> NonNull<Self> {
        // SAFETY: the caller vouches the link is a free buddy block's.
        unsafe { link.byte_sub(core::mem::offset_of!(BuddyFree, link)).cast() }
    }
}

/// The free buddy block at `addr`.
fn free_at(addr: usize) -> NonNull<BuddyFree> {
    // SAFETY: block addresses are never null.
    unsafe { NonNull::new_unchecked(addr as *mut BuddyFree) }
}

/// The buddy policy.
pub(crate) struct Buddy {
    /// Free blocks by order.
    free: Bins<ORDERS, 1, BuddyFree>,
}

impl Default for Buddy {
    fn default() -> Self {
        Buddy::new()
    }
}

/// The smallest order whose blocks hold `size` bytes after `lead` bytes.
fn order_for(size: usize, lead: usize) -> Option<u32> {
    let need = size.checked_add(lead)?.max(1 << MIN_ORDER);
    let order = need.checked_next_power_of_two()?.trailing_zeros();
    (order <= MAX_ORDER).then_some(order)
}

impl Buddy {
    pub(crate) const fn new() -> Buddy {
        Buddy { free: Bins::new() }
    }

    /// # Safety
    ///
    /// `addr` must be a block start inside the heap.
    unsafe fn header(addr: usize) -> u64 {
        // SAFETY: per the caller.
        unsafe { (addr as *const u64).read() }
    }

    /// Marks `[addr, addr + 2^order)` free and lists it.
    ///
    /// # Safety
    ///
    /// The range must be heap memory that no block covers.
    unsafe fn list_free(&mut self, addr: usize, order: u32) {
        // SAFETY: per the caller.
        unsafe {
            (addr as *mut u64).write(header_word(addr, order, FREE, OVERHEAD));
            self.free.insert(order as usize, free_at(addr));
        }
    }

    /// Frees `[addr, addr + 2^order)`, merging with free buddies inside `region`.
    ///
    /// # Safety
    ///
    /// The range must be heap memory inside `region` that no block covers.
    unsafe fn release(&mut self, mut addr: usize, mut order: u32, region: Region) {
        while order < MAX_ORDER {
            let size = 1usize << order;
            let buddy = addr ^ size;
            if buddy < region.start || buddy + size > region.end {
                break;
            }
            // SAFETY: the buddy range lies in the region, and by the buddy
            // invariant its first word is a block header.
            let word = unsafe { Buddy::header(buddy) };
            if decode_header(buddy, word) != Some((order, FREE)) {
                break;
            }
            // SAFETY: a free block of this order is listed in its bin.
            unsafe { self.free.remove(order as usize, free_at(buddy)) };
            addr = addr.min(buddy);
            order += 1;
        }
        // SAFETY: the merged range is ours and free.
        unsafe { self.list_free(addr, order) };
    }

    /// The block start and order of the used block whose payload is `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must lie inside `region`.
    unsafe fn used_block(&self, ptr: NonNull<u8>, region: Region) -> Result<(usize, u32), Misuse> {
        let payload = ptr.as_ptr() as usize;
        if !payload.is_multiple_of(16) {
            return Err(Misuse::Misaligned);
        }
        if payload < region.start + OVERHEAD {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: the tail tag lies inside the region, in front of the payload.
        let tail = unsafe { ((payload - 8) as *const u64).read() };
        let offset = (tail & 0xffff_ffff) as usize;
        let tagged = tail >> 32 == (MAGIC ^ (payload as u64 >> 4)) & 0xffff_ffff
            && offset >= OVERHEAD
            && offset <= payload - region.start;
        if !tagged {
            // A freed block's list link overwrites its tail tag; its header,
            // at the usual offset, still says FREE.
            let block = payload - OVERHEAD;
            // SAFETY: the block start lies inside the region.
            return Err(match decode_header(block, unsafe { Buddy::header(block) }) {
                Some((_, FREE)) => Misuse::DoubleFree,
                _ => Misuse::InvalidPointer,
            });
        }
        let block = payload - offset;
        // SAFETY: the block start lies inside the region.
        match decode_header(block, unsafe { Buddy::header(block) }) {
            Some((order, USED)) if block + (1 << order) <= region.end && offset < 1 << order => {
                Ok((block, order))
            }
            Some((_, FREE)) => Err(Misuse::DoubleFree),
            _ => Err(Misuse::InvalidPointer),
        }
    }
}

impl Policy for Buddy {
    unsafe fn add_memory(&mut self, region: Region, start: usize, len: usize, _owner: Owner) {
        // Carve the largest aligned power-of-two blocks that fit.
        let end = start + len;
        let mut at = start;
        while at < end {
            let by_alignment = at.trailing_zeros().min(MAX_ORDER);
            let by_room = (end - at).ilog2();
            let order = by_alignment.min(by_room);
            // Only what is carved so far has headers: a buddy above `at` is
            // fresh memory, whose first word may be anything (an arena that
            // held another heap before), not a header to merge with.
            let carved = Region { start: region.start, end: at + (1 << order) };
            // SAFETY: [at, at + 2^order) is fresh memory inside the region.
            unsafe { self.release(at, order, carved) };
            at += 1 << order;
        }
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
        let lead = OVERHEAD.max(align);
        let order = order_for(size, lead)?;
        let found = self.free.first_at_or_after(order as usize)?;
        let block = self.free.list(found).front()?;
        let addr = block.as_ptr() as usize;
        // SAFETY: the block is listed in bin `found`; its halves are ours to split.
        unsafe {
            self.free.remove(found, free_at(addr));
            let mut have = found as u32;
            while have > order {
                have -= 1;
                self.list_free(addr + (1 << have), have);
            }
            (addr as *mut u64).write(header_word(addr, order, USED, lead));
            let payload = addr + lead;
            ((payload - 8) as *mut u64).write(tail_word(payload, lead));
            Some((NonNull::new_unchecked(payload as *mut u8), (1 << order) - lead))
        }
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>, region: Region) -> Result<Freed, Misuse> {
        // SAFETY: forwarded from the caller.
        unsafe {
            let (block, order) = self.used_block(ptr, region)?;
            let usable = block + (1 << order) - ptr.as_ptr() as usize;
            // Mark the header free even if the block merges into a lower
            // buddy: a second free of it then reads FREE, not USED.
            (block as *mut u64).write(header_word(block, order, FREE, OVERHEAD));
            self.release(block, order, region);
            // Buddy memory is never trimmed (see the module docs).
            Ok(Freed { usable, top_free: 0 })
        }
    }

    unsafe fn usable_size(&self, ptr: NonNull<u8>, region: Region) -> Result<usize, Misuse> {
        // SAFETY: forwarded from the caller.
        let (block, order) = unsafe { self.used_block(ptr, region)? };
        Ok(block + (1 << order) - ptr.as_ptr() as usize)
    }

    unsafe fn resize(
        &mut self,
        ptr: NonNull<u8>,
        region: Region,
        new_size: usize,
    ) -> Result<Option<usize>, Misuse> {
        // SAFETY: forwarded from the caller.
        let (block, order) = unsafe { self.used_block(ptr, region)? };
        let lead = ptr.as_ptr() as usize - block;
        let Some(want) = order_for(new_size, lead) else { return Ok(None) };
        if want > order {
            // Growing in place would need the upper buddies free, one per
            // order: rare enough that moving the block is the honest answer.
            return Ok(None);
        }
        // Shrink: give back upper halves until the block is as small as it can be.
        let mut have = order;
        while have > want {
            have -= 1;
            // SAFETY: the upper half of our block is ours; its buddy (our lower half) is used.
            unsafe { self.list_free(block + (1 << have), have) };
        }
        // SAFETY: the header is the first word of our block.
        unsafe { (block as *mut u64).write(header_word(block, have, USED, lead)) };
        Ok(Some((1 << have) - lead))
    }

    fn growth_hint(&self, size: usize, align: usize, _last: Option<Region>, _want: Growth) -> Option<usize> {
        // An aligned block of 2^k always fits in 2^(k+1) fresh bytes.
        let order = order_for(size, OVERHEAD.max(align))?;
        1usize.checked_shl(order + 1)
    }

    unsafe fn trim(&mut self, _last: Region, _threshold: usize, _keep: usize) -> usize {
        0
    }

    fn walk(&self, regions: &[Region], visit: &mut dyn FnMut(BlockInfo)) -> Result<(), HeapError> {
        for region in regions {
            let mut at = region.start;
            while at < region.end {
                // SAFETY: `at` is a block start inside the region (the blocks tile it).
                let word = unsafe { Buddy::header(at) };
                let Some((order, state)) = decode_header(at, word) else {
                    return Err(HeapError::new("bad buddy header", at, word as usize, 0));
                };
                let size = 1usize << order;
                ensure(
                    at + size <= region.end,
                    "buddy block runs past its region",
                    at,
                    at + size,
                    region.end,
                )?;
                visit(if state == USED {
                    let payload = at + lead_of(word);
                    BlockInfo { addr: payload, size, usable: at + size - payload, state: BlockState::Used }
                } else {
                    BlockInfo { addr: at, size, usable: 0, state: BlockState::Free }
                });
                at += size;
            }
        }
        Ok(())
    }

    fn check(&self, regions: &[Region]) -> Result<Totals, HeapError> {
        let mut totals = Totals::default();
        let mut failure = Ok(());
        self.walk(regions, &mut |b| {
            totals.count(&b);
            if b.state == BlockState::Free && failure.is_ok() {
                let buddy = b.addr ^ b.size;
                let region = regions.iter().find(|r| r.contains(b.addr)).copied().unwrap_or_default();
                if buddy >= region.start && buddy + b.size <= region.end {
                    // SAFETY: the buddy is a block start inside the region.
                    let word = unsafe { Buddy::header(buddy) };
                    if decode_header(buddy, word) == Some((b.size.trailing_zeros(), FREE)) {
                        failure = Err(HeapError::new("two free buddies left unmerged", b.addr, buddy, 0));
                    }
                }
            }
        })?;
        failure?;
        let (count, bytes) = self.free.check(
            |e| {
                let addr = e.as_ptr() as usize;
                // SAFETY: listed blocks are free block starts inside the heap.
                let word = unsafe { Buddy::header(addr) };
                match decode_header(addr, word) {
                    Some((order, FREE)) => Ok(1 << order),
                    _ => Err(HeapError::new("a listed buddy block is not free", addr, word as usize, 0)),
                }
            },
            |size| size.trailing_zeros() as usize,
        )?;
        ensure(
            count == totals.free_blocks,
            "free blocks walked and listed differ",
            0,
            count,
            totals.free_blocks,
        )?;
        ensure(
            bytes == totals.free_bytes,
            "free bytes walked and listed differ",
            0,
            bytes,
            totals.free_bytes,
        )?;
        Ok(totals)
    }
}
