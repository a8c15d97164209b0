//! A growable array in its own anonymous mapping: a `Vec` for a program
//! without a heap of its own.
//!
//! The trace replay keeps its bookkeeping here, apart from the heap it
//! measures: a mapping grows with `mremap`, which moves pages instead of
//! copying them, and goes back to the kernel with `munmap` on drop.

use core::marker::PhantomData;
use core::mem::size_of;
use core::ptr::NonNull;

use tmalloc_sys::{self as sys, Errno};

/// The first mapping's size; each growth doubles it.
const FIRST_MAP: usize = 64 << 10;

/// A `Vec<T>` in an anonymous mapping. Its elements are dropped with it.
pub struct MapVec<T> {
    ptr: NonNull<T>,
    len: usize,
    /// Bytes mapped (0 before the first push).
    map_len: usize,
    _owns: PhantomData<T>,
}

impl<T> MapVec<T> {
    /// An empty vector; nothing is mapped until the first push.
    pub const fn new() -> MapVec<T> {
        const { assert!(size_of::<T>() > 0 && align_of::<T>() <= 4096) };
        MapVec { ptr: NonNull::dangling(), len: 0, map_len: 0, _owns: PhantomData }
    }

    /// `n` copies of `value`.
    pub fn filled(n: usize, value: T) -> Result<MapVec<T>, Errno>
    where
        T: Copy,
    {
        let mut v = MapVec::new();
        v.reserve(n)?;
        for _ in 0..n {
            v.push(value)?;
        }
        Ok(v)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes mapped: what this vector costs the address space.
    pub fn mapped_bytes(&self) -> usize {
        self.map_len
    }

    /// Appends `value`; fails only when the kernel refuses more memory.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), Errno> {
        if self.len == self.map_len / size_of::<T>() {
            self.reserve(1)?;
        }
        // SAFETY: the mapping holds more than `len` elements (just ensured).
        unsafe { self.ptr.as_ptr().add(self.len).write(value) };
        self.len += 1;
        Ok(())
    }

    pub fn pop(&mut self) -> Option<T> {
        self.len = self.len.checked_sub(1)?;
        // SAFETY: the element at the old `len - 1` was written.
        Some(unsafe { self.ptr.as_ptr().add(self.len).read() })
    }

    /// Makes room for `more` elements beyond `len`.
    pub fn reserve(&mut self, more: usize) -> Result<(), Errno> {
        let need =
            self.len.checked_add(more).and_then(|n| n.checked_mul(size_of::<T>())).ok_or(Errno::ENOMEM)?;
        if need > self.map_len {
            // SAFETY: the mapping (if any) is ours and whole; `&mut self`
            // means nothing borrows into it while it moves.
            let (start, len) = unsafe { grow(self.ptr.cast(), self.map_len, need)? };
            self.ptr = start.cast();
            self.map_len = len;
        }
        Ok(())
    }

    pub fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` elements were written; the pointer is
        // aligned (page-aligned mapping, or dangling with len 0).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as for `as_slice`, and `&mut self` is exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl MapVec<u8> {
    /// `len` zero bytes: a buffer in a mapping of its own, off the stack.
    pub fn zeroed(len: usize) -> Result<MapVec<u8>, Errno> {
        let mut v = MapVec::new();
        v.reserve(len)?;
        // A fresh anonymous mapping is zero-filled.
        v.len = len;
        Ok(v)
    }
}

impl<T> Default for MapVec<T> {
    fn default() -> Self {
        MapVec::new()
    }
}

impl<T> Drop for MapVec<T> {
    fn drop(&mut self) {
        // SAFETY: the first `len` elements are live, and dropped once.
        unsafe { core::ptr::drop_in_place(self.as_mut_slice()) };
        if self.map_len > 0 {
            // SAFETY: the mapping is ours, and dropping ends every borrow of it.
            let _ = unsafe { sys::munmap(self.ptr.as_ptr().cast(), self.map_len) };
        }
    }
}

/// The mapping at `start` (`map_len` bytes; none if 0), grown to at least
/// `need` bytes: its new start and length. Not generic, so the binary holds
/// one copy whatever the element types.
///
/// # Safety
///
/// A mapping being grown must be owned by the caller, and not borrowed.
#[inline(never)]
unsafe fn grow(start: NonNull<u8>, map_len: usize, need: usize) -> Result<(NonNull<u8>, usize), Errno> {
    let mut len = map_len.max(FIRST_MAP);
    while len < need {
        len = len.checked_mul(2).ok_or(Errno::ENOMEM)?;
    }
    let new = if map_len == 0 {
        sys::mmap_anonymous(len)?
    } else {
        // SAFETY: per the caller.
        unsafe { sys::mremap(start.as_ptr().cast(), map_len, len)? }
    };
    Ok((NonNull::new(new.cast()).ok_or(Errno::ENOMEM)?, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_remapping_and_keeps_its_elements() {
        let mut v = MapVec::<u64>::new();
        assert!(v.is_empty() && v.mapped_bytes() == 0);
        for i in 0..100_000u64 {
            v.push(i * 3).unwrap();
        }
        assert_eq!(v.len(), 100_000);
        assert!(v.mapped_bytes() >= 800_000 && v.mapped_bytes() < 2 * 1_048_576);
        assert!(v.as_slice().iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
        v.as_mut_slice()[7] = 1;
        assert_eq!(v.pop(), Some(99_999 * 3));
        assert_eq!(v.as_slice()[7], 1);
        let f = MapVec::filled(5, (1u32, 2u8)).unwrap();
        assert_eq!(f.as_slice(), [(1, 2); 5]);
        assert_eq!(MapVec::<u8>::new().pop(), None);
        assert_eq!(MapVec::<u8>::new().reserve(usize::MAX), Err(Errno::ENOMEM));
        // Elements that need dropping are dropped with the vector.
        let counter = std::rc::Rc::new(());
        let mut owners = MapVec::new();
        for _ in 0..3 {
            owners.push(counter.clone()).unwrap();
        }
        assert_eq!(std::rc::Rc::strong_count(&counter), 4);
        drop(owners);
        assert_eq!(std::rc::Rc::strong_count(&counter), 1);
        let zeroed = MapVec::zeroed(100_000).unwrap();
        assert!(zeroed.len() == 100_000 && zeroed.as_slice().iter().all(|&b| b == 0));
    }
}
