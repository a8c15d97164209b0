//! Large blocks: each in a mapping of its own, returned to the kernel on
//! free (glibc's `M_MMAP_THRESHOLD` behaviour) unless kept as a spare.
//!
//! ```text
//!   mapping start (page aligned)                                mapping end
//!   ┌──────────┬────────────────────────────────┬───────────────────────────┐
//!   │ (pad)    │ header: link 16, pages 4,      │ payload …                 │
//!   │          │ lead 4, key ^ payload 8  (32 B)│ (aligned as asked, ≥ 16)  │
//!   └──────────┴────────────────────────────────┴───────────────────────────┘
//!     lead = header − mapping start; pages = the mapping's length in pages
//! ```
//!
//! The headers form an intrusive list, for walks and checks. `free` finds a
//! large block in O(1): the [page map](crate::pagemap) marks the pages
//! holding its header and the start of its payload as `LARGE` pages of
//! the heap, so a pointer elsewhere is refused without being read; the
//! header's key (a constant mixed with the payload address) then tells the
//! block's own payload from any other address of those pages.
//!
//! A freed block's mapping is kept as a spare (at most [`SPARES`] of them,
//! [`SPARE_BYTES`] in all) for the next large block that fits it without
//! wasting more than half, once a mapping of that size has been given back
//! before: a program that allocates and frees the same large size over and over
//! makes four system calls once, not two at every call, and one that does not
//! keeps nothing. Spares go back before any new memory is taken (a mapping, or
//! a growth of the heap), so they never add to the most the allocator holds,
//! and never stand between a tight limit and a request.

use core::ptr::NonNull;

use crate::error::{BlockInfo, BlockState, Misuse};
use crate::list::{Link, Linked, List};
use crate::pagemap::{self, Entry, Owner};
use crate::source::{PAGE, Source, align_up};

#[repr(C)]
pub(crate) struct LargeHeader {
    link: Link,
    /// The mapping's length, in pages.
    pages: u32,
    /// How far the header lies from the mapping's start.
    lead: u32,
    /// [`KEY`] ^ the payload's address.
    key: usize,
}

const KEY: usize = 0x1A26_E0B1_0C4B_EAD5;

pub(crate) const HEADER: usize = core::mem::size_of::<LargeHeader>();

// SAFETY: the link is the first field.
unsafe impl Linked for LargeHeader {
    fn link(this: NonNull<Self>) -> NonNull<Link> {
        this.cast()
    }
    unsafe fn from_link(link: NonNull<Link>) -> NonNull<Self> {
        link.cast()
    }
}

impl LargeHeader {
    fn payload(this: NonNull<LargeHeader>) -> usize {
        this.as_ptr() as usize + HEADER
    }

    /// The mapping the block lives in: its start and length.
    fn mapping(this: NonNull<LargeHeader>) -> (usize, usize) {
        // SAFETY: live headers are readable.
        let h = unsafe { this.as_ref() };
        (this.as_ptr() as usize - h.lead as usize, h.pages as usize * PAGE)
    }
}

/// At most this many freed mappings are kept...
pub const SPARES: usize = 4;
/// ... holding at most this many bytes in all.
pub const SPARE_BYTES: usize = 32 << 20;

/// A freed block's mapping, kept for reuse.
#[derive(Clone, Copy, Default)]
struct Spare {
    base: usize,
    len: usize,
}

/// The live large blocks, and spare mappings.
#[derive(Default)]
pub(crate) struct LargeBlocks {
    list: List<LargeHeader>,
    spares: [Spare; SPARES],
    /// The sizes of the mappings given back last, newest first: a size
    /// seen again is worth keeping.
    unmapped: [usize; SPARES],
}

impl LargeBlocks {
    pub(crate) const fn new() -> LargeBlocks {
        LargeBlocks { list: List::new(), spares: [Spare { base: 0, len: 0 }; SPARES], unmapped: [0; SPARES] }
    }

    /// A spare mapping of at least `len` bytes and at most twice that.
    fn take_spare(&mut self, len: usize) -> Option<Spare> {
        let spare = self.spares.iter_mut().find(|s| s.len >= len && s.len / 2 <= len)?;
        Some(core::mem::take(spare))
    }

    /// Keeps a freed mapping if its size came back before and there is
    /// room; returns it if not.
    fn keep_spare(&mut self, spare: Spare) -> Option<Spare> {
        let held: usize = self.spares.iter().map(|s| s.len).sum();
        if !self.unmapped.contains(&spare.len) || held + spare.len > SPARE_BYTES {
            self.unmapped.copy_within(..SPARES - 1, 1);
            self.unmapped[0] = spare.len;
            return Some(spare);
        }
        match self.spares.iter_mut().find(|s| s.len == 0) {
            Some(slot) => {
                *slot = spare;
                None
            }
            None => Some(spare),
        }
    }

    /// Unmaps every spare; returns whether there was any.
    pub(crate) fn release_spares(&mut self, source: &mut impl Source) -> bool {
        let mut any = false;
        for spare in &mut self.spares {
            if spare.len > 0 {
                // SAFETY: a spare is one whole mapping of the source, unused.
                let _ = unsafe { source.unmap(NonNull::new_unchecked(spare.base as *mut u8), spare.len) };
                *spare = Spare::default();
                any = true;
            }
        }
        any
    }

    /// Maps a block for `size` bytes at `align`, marked in the page map as
    /// `owner`'s; returns the payload and its usable size.
    pub(crate) fn alloc(
        &mut self,
        source: &mut impl Source,
        owner: Owner,
        size: usize,
        align: usize,
    ) -> Option<(NonNull<u8>, usize)> {
        let align = align.max(16);
        // Room for the header in front of an aligned payload.
        let lead = align_up(HEADER, align)?;
        let extra = if align > PAGE { align } else { 0 };
        let map_len = align_up(size.checked_add(lead)?.checked_add(extra)?, PAGE)?;
        if map_len / PAGE > u32::MAX as usize || lead + extra > u32::MAX as usize {
            return None;
        }
        let (mapping, map_len) = match self.take_spare(map_len) {
            // SAFETY: spare mappings are whole mappings of the source, never null.
            Some(spare) => (unsafe { NonNull::new_unchecked(spare.base as *mut u8) }, spare.len),
            None => {
                self.release_spares(source);
                (source.map(map_len).ok()?, map_len)
            }
        };
        let base = mapping.as_ptr() as usize;
        let payload = align_up(base + HEADER, align)?;
        let header = payload - HEADER;
        let marked = header & !(PAGE - 1);
        if pagemap::set(marked, align_up(payload + 1, PAGE)? - marked, Entry::large(owner)).is_err() {
            // SAFETY: the mapping was just made, and nothing uses it.
            let _ = unsafe { source.unmap(mapping, map_len) };
            return None;
        }
        // SAFETY: the header lies inside the fresh mapping, in front of the payload.
        unsafe {
            let key = KEY ^ payload;
            let (pages, lead) = ((map_len / PAGE) as u32, (header - base) as u32);
            (header as *mut LargeHeader).write(LargeHeader { link: Link::new(), pages, lead, key });
            self.list.push_front(NonNull::new_unchecked(header as *mut LargeHeader));
            Some((NonNull::new_unchecked(payload as *mut u8), base + map_len - payload))
        }
    }

    /// The header of the live large block whose payload is `ptr`, a
    /// pointer on a page the page map marks as one of the heap's `LARGE`
    /// pages (`entry`).
    pub(crate) fn find(&self, ptr: NonNull<u8>, owner: Owner) -> Result<NonNull<LargeHeader>, Misuse> {
        let payload = ptr.as_ptr() as usize;
        if !payload.is_multiple_of(16) || payload < HEADER {
            return Err(Misuse::InvalidPointer);
        }
        let header = payload - HEADER;
        // The header's page is marked too, or it is not a header.
        let marked = pagemap::get(header);
        if !(marked.owned_by(owner) && marked.is_large()) {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: the header lies on a marked page, inside a live mapping
        // of the heap's; reading its words only reads memory.
        let h = unsafe { &*(header as *const LargeHeader) };
        if h.key != KEY ^ payload {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: heap addresses are never null.
        Ok(unsafe { NonNull::new_unchecked(header as *mut LargeHeader) })
    }

    /// The usable size of a live large block.
    pub(crate) fn usable(header: NonNull<LargeHeader>) -> usize {
        let (base, map_len) = LargeHeader::mapping(header);
        base + map_len - LargeHeader::payload(header)
    }

    /// Frees a live large block: its mapping becomes a spare, or is
    /// unmapped. Returns whether memory went back to the kernel.
    ///
    /// # Safety
    ///
    /// `header` must come from [`find`](Self::find), and nothing may use the
    /// block afterwards.
    pub(crate) unsafe fn free(&mut self, source: &mut impl Source, header: NonNull<LargeHeader>) -> bool {
        // SAFETY: per the caller; base and map_len describe one mapping.
        unsafe {
            let (base, len) = LargeHeader::mapping(header);
            self.unmark(header);
            self.list.remove(header);
            let Some(unkept) = self.keep_spare(Spare { base, len }) else { return false };
            let _ = source.unmap(NonNull::new_unchecked(unkept.base as *mut u8), unkept.len);
            true
        }
    }

    /// Takes a block's pages out of the page map.
    fn unmark(&self, header: NonNull<LargeHeader>) {
        let marked = header.as_ptr() as usize & !(PAGE - 1);
        let end = (LargeHeader::payload(header) + PAGE) & !(PAGE - 1);
        pagemap::clear(marked, end - marked);
    }

    /// Takes every block's pages out of the page map (the heap goes away).
    pub(crate) fn unmark_all(&self) {
        for h in self.list.iter() {
            self.unmark(h);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn for_each(&self, visit: &mut dyn FnMut(BlockInfo)) {
        for h in self.list.iter() {
            // SAFETY: live headers are readable.
            let (_, map_len) = LargeHeader::mapping(h);
            visit(BlockInfo {
                addr: LargeHeader::payload(h),
                size: map_len,
                usable: LargeBlocks::usable(h),
                state: BlockState::Mapped,
            });
        }
    }

    pub(crate) fn check(&self) -> Result<(), crate::error::HeapError> {
        Ok(self.list.check(self.list.len() + 1)?)
    }
}
