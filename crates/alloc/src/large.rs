//! Large blocks: each in a mapping of its own, returned to the kernel on
//! free (glibc's `M_MMAP_THRESHOLD` behaviour).
//!
//! ```text
//!   mapping start (page aligned)                          mapping end
//!   ┌──────────┬──────────────────────┬───────────────────────────┐
//!   │ (pad)    │ header: link, base,  │ payload …                 │
//!   │          │ map_len   (32 bytes) │ (aligned as asked, ≥ 16)  │
//!   └──────────┴──────────────────────┴───────────────────────────┘
//! ```
//!
//! The headers form an intrusive list. `free` recognises a large block by
//! finding it on that list, not by reading memory in front of an unknown
//! pointer: a wild pointer outside the heap is reported, never dereferenced.

use core::ptr::NonNull;

use crate::error::{BlockInfo, BlockState};
use crate::list::{Link, Linked, List};
use crate::source::{PAGE, Source, align_up};

#[repr(C)]
pub(crate) struct LargeHeader {
    link: Link,
    base: usize,
    map_len: usize,
}

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
}

/// The live large blocks.
#[derive(Default)]
pub(crate) struct LargeBlocks {
    list: List<LargeHeader>,
}

impl LargeBlocks {
    pub(crate) const fn new() -> LargeBlocks {
        LargeBlocks { list: List::new() }
    }

    /// Maps a block for `size` bytes at `align`; returns the payload and
    /// its usable size.
    pub(crate) fn alloc(
        &mut self,
        source: &mut impl Source,
        size: usize,
        align: usize,
    ) -> Option<(NonNull<u8>, usize)> {
        let align = align.max(16);
        // Room for the header in front of an aligned payload.
        let lead = align_up(HEADER, align)?;
        let extra = if align > PAGE { align } else { 0 };
        let map_len = align_up(size.checked_add(lead)?.checked_add(extra)?, PAGE)?;
        let base = source.map(map_len).ok()?.as_ptr() as usize;
        let payload = align_up(base + HEADER, align)?;
        let header = (payload - HEADER) as *mut LargeHeader;
        // SAFETY: the header lies inside the fresh mapping, in front of the payload.
        unsafe {
            header.write(LargeHeader { link: Link::new(), base, map_len });
            self.list.push_front(NonNull::new_unchecked(header));
            Some((NonNull::new_unchecked(payload as *mut u8), base + map_len - payload))
        }
    }

    /// The header of the live large block whose payload is `ptr`.
    pub(crate) fn find(&self, ptr: NonNull<u8>) -> Option<NonNull<LargeHeader>> {
        self.list.iter().find(|&h| LargeHeader::payload(h) == ptr.as_ptr() as usize)
    }

    /// The usable size of a live large block.
    pub(crate) fn usable(header: NonNull<LargeHeader>) -> usize {
        // SAFETY: live headers are readable.
        let h = unsafe { header.as_ref() };
        h.base + h.map_len - LargeHeader::payload(header)
    }

    /// Unmaps a live large block.
    ///
    /// # Safety
    ///
    /// `header` must come from [`find`](Self::find), and nothing may use the
    /// block afterwards.
    pub(crate) unsafe fn free(&mut self, source: &mut impl Source, header: NonNull<LargeHeader>) {
        // SAFETY: per the caller; base and map_len describe one mapping.
        unsafe {
            let (base, map_len) = (header.as_ref().base, header.as_ref().map_len);
            self.list.remove(header);
            let _ = source.unmap(NonNull::new_unchecked(base as *mut u8), map_len);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn for_each(&self, visit: &mut dyn FnMut(BlockInfo)) {
        for h in self.list.iter() {
            // SAFETY: live headers are readable.
            let map_len = unsafe { h.as_ref().map_len };
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
