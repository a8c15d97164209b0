//! An intrusive doubly linked list, in the spirit of Linux's `list.h`.
//!
//! The links live inside the elements: a free block carries its own `next`
//! and `prev` in bytes that would otherwise be unused, so the allocator needs
//! no memory of its own to track free memory. Insertion and removal are O(1)
//! and never allocate.
//!
//! Unlike `list.h`, the list head is a plain pointer and the ends are null
//! rather than a circular sentinel: the head then lives in a policy struct
//! that may be moved (a sentinel would leave the first and last elements
//! pointing at its old address).
//!
//! ```text
//!   List { head, len }
//!     │
//!     ▼
//!   ┌──────────┐    ┌──────────┐    ┌──────────┐
//!   │ elem A   │    │ elem B   │    │ elem C   │
//!   │ link ────┼───►│ link ────┼───►│ link ──► null
//!   │  null ◄──┼────┼── prev   │◄───┼── prev   │
//!   └──────────┘    └──────────┘    └──────────┘
//! ```
//!
//! The list is generic over the element type through [`Linked`], which says
//! where in an element its [`Link`] lives.

use core::marker::PhantomData;
use core::ptr::NonNull;

/// The two pointers an element carries.
#[derive(Debug)]
#[repr(C)]
pub struct Link {
    next: Option<NonNull<Link>>,
    prev: Option<NonNull<Link>>,
}

impl Link {
    pub const fn new() -> Link {
        Link { next: None, prev: None }
    }
}

impl Default for Link {
    fn default() -> Self {
        Link::new()
    }
}

/// An element type that embeds a [`Link`].
///
/// # Safety
///
/// `link` and `from_link` must be inverses: `from_link(link(e)) == e` for
/// every element `e`.
pub unsafe trait Linked {
    /// The link inside element `this`.
    fn link(this: NonNull<Self>) -> NonNull<Link>;
    /// The element containing `link`.
    ///
    /// # Safety
    ///
    /// `link` must be the link of an element of this type.
    unsafe fn from_link(link: NonNull<Link>) -> NonNull<Self>;
}

/// A list of `T`s linked through their own memory. It does not own them.
pub struct List<T: Linked> {
    head: Option<NonNull<Link>>,
    len: usize,
    _elements: PhantomData<*mut T>,
}

// SAFETY: a List is only a head pointer; whoever owns the elements decides
// which thread may touch them (tmalloc keeps each heap behind one lock).
unsafe impl<T: Linked> Send for List<T> {}

impl<T: Linked> Default for List<T> {
    fn default() -> Self {
        List::new()
    }
}

impl<T: Linked> List<T> {
    pub const fn new() -> List<T> {
        List { head: None, len: 0, _elements: PhantomData }
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The first element.
    pub fn front(&self) -> Option<NonNull<T>> {
        // SAFETY: links in the list belong to elements of type T.
        self.head.map(|l| unsafe { T::from_link(l) })
    }

    /// Inserts `elem` at the front.
    ///
    /// # Safety
    ///
    /// `elem` must be valid for writes of its link, not in any list, and stay
    /// valid until it is removed.
    pub unsafe fn push_front(&mut self, elem: NonNull<T>) {
        let link = T::link(elem);
        // SAFETY: the caller vouches for `elem`; the old head is a live element.
        unsafe {
            link.as_ptr().write(Link { next: self.head, prev: None });
            if let Some(old) = self.head {
                (*old.as_ptr()).prev = Some(link);
            }
        }
        self.head = Some(link);
        self.len += 1;
    }

    /// Unlinks `elem`.
    ///
    /// # Safety
    ///
    /// `elem` must be in this list.
    pub unsafe fn remove(&mut self, elem: NonNull<T>) {
        let link = T::link(elem);
        // SAFETY: `elem` and its neighbours are live elements of this list.
        unsafe {
            let Link { next, prev } = link.as_ptr().read();
            match prev {
                Some(p) => (*p.as_ptr()).next = next,
                None => self.head = next,
            }
            if let Some(n) = next {
                (*n.as_ptr()).prev = prev;
            }
        }
        self.len -= 1;
    }

    /// The element after `elem`.
    ///
    /// # Safety
    ///
    /// `elem` must be in this list.
    pub unsafe fn next(&self, elem: NonNull<T>) -> Option<NonNull<T>> {
        // SAFETY: `elem` is live; its successor, if any, is an element of T.
        unsafe { (*T::link(elem).as_ptr()).next.map(|l| T::from_link(l)) }
    }

    /// Removes and returns the first element.
    pub fn pop_front(&mut self) -> Option<NonNull<T>> {
        let first = self.front()?;
        // SAFETY: `first` is in this list.
        unsafe { self.remove(first) };
        Some(first)
    }

    /// The elements, front to back. The list must not change meanwhile.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { next: self.head, _list: PhantomData }
    }

    /// Checks the links: every `prev` mirrors a `next`, the head has no
    /// `prev`, and the count matches. At most `limit` elements are walked,
    /// so a cycle is reported rather than looped on.
    pub fn check(&self, limit: usize) -> Result<(), ListError> {
        let mut prev: Option<NonNull<Link>> = None;
        let mut cursor = self.head;
        let mut count = 0;
        while let Some(link) = cursor {
            if count == limit {
                return Err(ListError::TooLong { limit });
            }
            // SAFETY: links reachable from the head are live elements.
            let l = unsafe { link.as_ptr().read() };
            if l.prev != prev {
                return Err(ListError::BrokenPrev { at: link.as_ptr() as usize });
            }
            prev = Some(link);
            cursor = l.next;
            count += 1;
        }
        if count != self.len {
            return Err(ListError::WrongLength { counted: count, recorded: self.len });
        }
        Ok(())
    }
}

/// What [`List::check`] found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListError {
    /// An element's `prev` does not point at the element before it.
    BrokenPrev { at: usize },
    /// More elements than the caller said could exist: a cycle, or a leak.
    TooLong { limit: usize },
    /// The walk and the recorded length disagree.
    WrongLength { counted: usize, recorded: usize },
}

impl From<ListError> for crate::error::HeapError {
    fn from(e: ListError) -> Self {
        use crate::error::HeapError;
        match e {
            ListError::BrokenPrev { at } => HeapError::new("list link: prev does not mirror next", at, 0, 0),
            ListError::TooLong { limit } => {
                HeapError::new("list longer than possible (a cycle?)", 0, limit + 1, limit)
            }
            ListError::WrongLength { counted, recorded } => {
                HeapError::new("list length differs from its count", 0, counted, recorded)
            }
        }
    }
}

/// Iterator over a [`List`].
pub struct Iter<'a, T: Linked> {
    next: Option<NonNull<Link>>,
    _list: PhantomData<&'a List<T>>,
}

impl<T: Linked> Iterator for Iter<'_, T> {
    type Item = NonNull<T>;
    fn next(&mut self) -> Option<NonNull<T>> {
        let link = self.next?;
        // SAFETY: the list is borrowed, so its elements stay linked and live.
        unsafe {
            self.next = (*link.as_ptr()).next;
            Some(T::from_link(link))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A test element: the link is not the first field, to exercise the offset.
    #[repr(C)]
    struct Node {
        value: u64,
        link: Link,
    }

    // SAFETY: link and from_link use the same field offset.
    unsafe impl Linked for Node {
        fn link(this: NonNull<Self>) -> NonNull<Link> {
            // SAFETY: projecting a field of a valid element pointer.
            unsafe { NonNull::new_unchecked(&raw mut (*this.as_ptr()).link) }
        }
        unsafe fn from_link(link: NonNull<Link>) -> NonNull<Self> {
            // SAFETY: the caller vouches the link lives inside a Node.
            unsafe { link.byte_sub(core::mem::offset_of!(Node, link)).cast() }
        }
    }

    fn nodes(n: u64) -> Vec<Node> {
        (0..n).map(|value| Node { value, link: Link::new() }).collect()
    }

    fn values(list: &List<Node>) -> Vec<u64> {
        // SAFETY: the nodes outlive the list in every test.
        list.iter().map(|n| unsafe { n.as_ref().value }).collect()
    }

    #[test]
    fn push_remove_pop_keep_order_and_links() {
        let mut storage = nodes(4);
        let p: Vec<NonNull<Node>> = storage.iter_mut().map(NonNull::from).collect();
        let mut list = List::<Node>::new();
        assert!(list.is_empty());
        // SAFETY: each node is pushed once and outlives the list.
        unsafe {
            for &n in &p {
                list.push_front(n);
            }
            assert_eq!(values(&list), [3, 2, 1, 0]);
            list.check(10).unwrap();
            list.remove(p[2]); // middle
            assert_eq!(values(&list), [3, 1, 0]);
            list.remove(p[3]); // head
            assert_eq!(values(&list), [1, 0]);
            list.remove(p[0]); // tail
            assert_eq!(values(&list), [1]);
            list.check(10).unwrap();
            list.push_front(p[2]);
            assert_eq!(values(&list), [2, 1]);
            assert_eq!(list.next(p[2]), Some(p[1]));
            assert_eq!(list.next(p[1]), None);
            assert_eq!(list.len(), 2);
        }
        assert_eq!(list.pop_front(), Some(p[2]));
        assert_eq!(list.pop_front(), Some(p[1]));
        assert_eq!(list.pop_front(), None);
        list.check(10).unwrap();
    }

    #[test]
    fn check_reports_corruption() {
        let mut storage = nodes(3);
        let p: Vec<NonNull<Node>> = storage.iter_mut().map(NonNull::from).collect();
        let mut list = List::<Node>::new();
        // SAFETY: as above; then one prev pointer is corrupted on purpose.
        unsafe {
            for &n in &p {
                list.push_front(n);
            }
            (*p[0].as_ptr()).link.prev = None;
        }
        assert_eq!(list.check(10), Err(ListError::BrokenPrev { at: Node::link(p[0]).as_ptr() as usize }));
        assert_eq!(list.check(2), Err(ListError::TooLong { limit: 2 }));
    }
}
