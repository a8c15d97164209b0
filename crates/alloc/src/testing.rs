//! What the tests need from the allocator crate and nothing else does:
//! [`Faulty`], a source that fails chosen requests, and [`TestMemory`],
//! an mmapped arena. Compiled for this crate's tests and, through the
//! `testing` feature, for other crates' tests; never into a product.

use core::ptr::NonNull;

use tmalloc_sys::{self as sys, Errno};

use crate::source::{Arena, Source, SourceCounters};

/// Page-aligned memory from mmap, unmapped on drop, for arena sources.
pub struct TestMemory {
    ptr: NonNull<u8>,
    len: usize,
}

impl TestMemory {
    pub fn new(len: usize) -> TestMemory {
        let ptr = sys::mmap_anonymous(len).expect("mmap for a test arena");
        TestMemory { ptr: NonNull::new(ptr).unwrap(), len }
    }

    /// An arena over this memory.
    pub fn arena(&self) -> Arena {
        // SAFETY: the memory is ours and outlives every allocator in the tests
        // (each test drops its allocator before the memory).
        unsafe { Arena::new(self.ptr, self.len) }
    }
}

impl Drop for TestMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing uses it any more.
        unsafe { sys::munmap(self.ptr.as_ptr(), self.len).unwrap() };
    }
}

/// Wraps a source and fails its `fail_at`-th growth or mapping request
/// (counting from 1), and every one after it while `failing` stays set:
/// fault injection for tests.
#[derive(Debug)]
pub struct Faulty<S: Source> {
    pub inner: S,
    /// Which request fails; 0 never.
    pub fail_at: u64,
    /// Requests seen so far.
    pub requests: u64,
    /// Once tripped, keep failing until cleared: memory stays unavailable.
    pub failing: bool,
}

impl<S: Source> Faulty<S> {
    pub fn new(inner: S, fail_at: u64) -> Faulty<S> {
        Faulty { inner, fail_at, requests: 0, failing: false }
    }

    fn should_fail(&mut self) -> bool {
        self.requests += 1;
        if self.requests == self.fail_at {
            self.failing = true;
        }
        self.failing
    }
}

impl<S: Source> Source for Faulty<S> {
    fn grow(&mut self, len: usize) -> Result<NonNull<u8>, Errno> {
        if self.should_fail() {
            return Err(Errno::ENOMEM);
        }
        self.inner.grow(len)
    }

    unsafe fn shrink(&mut self, len: usize) -> Result<(), Errno> {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.shrink(len) }
    }

    fn map(&mut self, len: usize) -> Result<NonNull<u8>, Errno> {
        if self.should_fail() {
            return Err(Errno::ENOMEM);
        }
        self.inner.map(len)
    }

    unsafe fn unmap(&mut self, ptr: NonNull<u8>, len: usize) -> Result<(), Errno> {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.unmap(ptr, len) }
    }

    fn counters_mut(&mut self) -> &mut SourceCounters {
        self.inner.counters_mut()
    }

    fn counters(&self) -> SourceCounters {
        self.inner.counters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::PAGE;

    #[test]
    fn faulty_fails_the_chosen_request_until_cleared() {
        let memory = TestMemory::new(8 * PAGE);
        let arena = memory.arena();
        let mut src = Faulty::new(arena, 2);
        assert!(src.grow(PAGE).is_ok());
        assert_eq!(src.grow(PAGE), Err(Errno::ENOMEM));
        assert_eq!(src.grow(PAGE), Err(Errno::ENOMEM), "stays failed");
        src.failing = false;
        assert!(src.grow(PAGE).is_ok());
    }
}
