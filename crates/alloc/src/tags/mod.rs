//! Boundary tags: the block format shared by the free-list, segregated,
//! TLSF and slab-tlsf policies.
//!
//! ```text
//!            used block                          free block
//!  block ──► ┌──────────────────────────┐        ┌──────────────────────────┐
//!            │ size | SPECIAL|PREV|USED │ 4 B    │ size |    0   |PREV| 0   │ 4 B
//!  payload ► ├──────────────────────────┤        ├──────────────────────────┤ (8-aligned)
//!            │                          │        │ next free          8 B   │
//!            │ the caller's bytes       │        │ prev free          8 B   │
//!            │ (size - 4 of them)       │        │ ...                      │
//!            │                          │        │ footer: size       4 B   │
//!  next ───► └──────────────────────────┘        └──────────────────────────┘
//! ```
//!
//! - `size` counts the whole block, header included; it is a multiple of 8
//!   and at least [`MIN_BLOCK`] (24), so its low three bits hold flags:
//!
//!   | bit | name        | meaning                                                   |
//!   |-----|-------------|-----------------------------------------------------------|
//!   | 0   | `USED`      | the block is in use                                       |
//!   | 1   | `PREV_USED` | the block before is in use, so there is no footer to read |
//!   | 2   | `SPECIAL`   | a used block the policy uses itself (slab-tlsf: a run)    |
//!
//!   Blocks start 4 bytes before an 8-byte boundary, so payloads are
//!   8-aligned behind a 4-byte header: half the time the header fits in
//!   bytes that rounding to 8 would have wasted anyway.
//! - Only free blocks have a footer. A used block tells its successor so
//!   through the successor's `PREV_USED` bit, and coalescing reads the
//!   footer only when that bit is clear (dlmalloc's trick: used blocks pay
//!   4 bytes of metadata, not 8).
//! - Free blocks are kept coalesced: no two are ever adjacent, unless
//!   together they would pass [`MAX_BLOCK`] (2 GiB), the most a 32-bit size
//!   word holds with room to spare.
//!
//! A region of heap memory is laid out as
//!
//! ```text
//!  start         start+12                                    end-4     end
//!  ┌─────────────┬──────────┬──────────┬─────────┬──────────┬──────────┐
//!  │ (unused 12) │ block    │ block    │   ...   │ block    │ epilogue │
//!  └─────────────┴──────────┴──────────┴─────────┴──────────┴──────────┘
//! ```
//!
//! The first block starts 12 bytes in, so that its payload is 16-byte
//! aligned, and stays so for blocks sized in multiples of 16. The epilogue
//! is a header of size 0, marked used: walks stop there and coalescing
//! never runs off the end. When the next growth of a contiguous source
//! follows the region, the epilogue becomes the header of the new free
//! block.
//!
//! Where the free blocks are kept, and which one an allocation gets, is the
//! policy's [`FreeIndex`].

mod block;
mod check;
mod heap;

pub(crate) use block::{
    Block, EPILOGUE, FIRST_BLOCK, FreeBlock, GRANULE, HEADER, MIN_BLOCK, PREV_USED, REGION_OVERHEAD, SPECIAL,
    USED, block_size_for, blocks, front_block,
};
pub(crate) use check::{check_indexed, free_block_info, used_block_info};
pub(crate) use heap::{FreeIndex, TagHeap};
