//! The contenders: every tmalloc policy, and linked_list_allocator.
//!
//! - [`Contender`]: which allocator, by name.
//! - [`Lineup`]: the set a run compares, in the order tables list them.
//! - [`Measured`]: what the experiment asks of a running contender beyond
//!   allocating: the system calls it made and the bytes it holds.

use tmalloc_alloc::{Brk, HeapSource, PolicyKind, Source, SourceCounters, Tmalloc};
use tmalloc_workload::Allocator;

/// One allocator in the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Contender {
    Tmalloc(PolicyKind),
    /// The `linked_list_allocator` crate, its heap grown with `brk`.
    #[cfg(feature = "compare")]
    LinkedList,
}

#[cfg(feature = "compare")]
const COUNT: usize = PolicyKind::ALL.len() + 1;
#[cfg(not(feature = "compare"))]
const COUNT: usize = PolicyKind::ALL.len();

impl Contender {
    /// Every contender, in the order the table lists them.
    pub(crate) const ALL: [Contender; COUNT] = {
        let mut all = [Contender::Tmalloc(PolicyKind::DEFAULT); COUNT];
        let mut i = 0;
        while i < PolicyKind::ALL.len() {
            all[i] = Contender::Tmalloc(PolicyKind::ALL[i]);
            i += 1;
        }
        #[cfg(feature = "compare")]
        {
            all[COUNT - 1] = Contender::LinkedList;
        }
        all
    };

    pub(crate) fn name(self) -> &'static str {
        match self {
            Contender::Tmalloc(kind) => kind.name(),
            #[cfg(feature = "compare")]
            Contender::LinkedList => "linked-list-allocator",
        }
    }

    pub(crate) fn from_name(name: &[u8]) -> Option<Contender> {
        #[cfg(feature = "compare")]
        if name == b"linked-list-allocator" {
            return Some(Contender::LinkedList);
        }
        PolicyKind::from_name(name).map(Contender::Tmalloc)
    }

    /// Runs `work` on a fresh instance of this contender, on the program
    /// break. One `dyn` call per operation keeps a single copy of each
    /// workload in the binary, whichever allocator it drives.
    pub(crate) fn with_allocator<T>(self, work: impl FnOnce(&mut dyn Measured) -> T) -> T {
        match self {
            Contender::Tmalloc(kind) => {
                // Named, so that gdb's `tmalloc heap` finds it in this frame.
                // The process-wide heap's source type: one copy of tmalloc
                // in the binary, not two.
                let mut heap = Tmalloc::new(kind, HeapSource::Break(Brk::new()));
                work(&mut heap)
            }
            #[cfg(feature = "compare")]
            Contender::LinkedList => work(&mut linked_list::LinkedList::new()),
        }
    }

    fn index(self) -> usize {
        Contender::ALL.iter().position(|&c| c == self).expect("every contender is listed")
    }
}

/// A set of contenders, listed in [`Contender::ALL`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lineup(u32);

impl Lineup {
    pub(crate) const NONE: Lineup = Lineup(0);
    pub(crate) const ALL: Lineup = Lineup((1 << COUNT) - 1);

    pub(crate) fn with(self, c: Contender) -> Lineup {
        Lineup(self.0 | 1 << c.index())
    }

    pub(crate) fn contains(self, c: Contender) -> bool {
        self.0 & (1 << c.index()) != 0
    }
}

/// An allocator the experiment can account for.
pub(crate) trait Measured: Allocator {
    /// System calls made and bytes held for the heap and the allocator's
    /// own bookkeeping.
    fn counters(&self) -> SourceCounters;
}

impl<S: Source> Measured for Tmalloc<S> {
    /// The source's counters, the page map's pages counted as mappings:
    /// they are tmalloc's calls and address space as much as the heap's.
    fn counters(&self) -> SourceCounters {
        let (bytes, calls) = tmalloc_alloc::page_map_overhead();
        let mut c = self.source().counters();
        c.mmap_calls += calls;
        c.mapped_bytes += bytes as usize;
        c.peak_bytes += bytes as usize;
        c
    }
}

#[cfg(feature = "compare")]
mod linked_list {
    use core::alloc::Layout;
    use core::ptr::NonNull;

    use tmalloc_alloc::{Brk, PAGE, Source, SourceCounters, align_up, growth_ladder};
    use tmalloc_workload::Allocator;

    use super::Measured;

    /// `linked_list_allocator::Heap` on the program break. It asks for no
    /// memory itself: it is given a region and told when the region grows,
    /// so this wrapper grows it as tmalloc grows its own heap, down the same
    /// [`growth_ladder`] to just what the request needs.
    pub(crate) struct LinkedList {
        heap: linked_list_allocator::Heap,
        brk: Brk,
        started: bool,
        /// The smallest growth the kernel refused, not asked for again.
        refused: usize,
    }

    impl LinkedList {
        pub(crate) const fn new() -> LinkedList {
            LinkedList {
                heap: linked_list_allocator::Heap::empty(),
                brk: Brk::new(),
                started: false,
                refused: usize::MAX,
            }
        }

        fn grow(&mut self, need: usize) -> bool {
            let least = align_up(need.saturating_add(2 * PAGE), PAGE).unwrap_or(usize::MAX);
            for len in growth_ladder(self.heap.size(), least, least) {
                if len >= self.refused && len != least {
                    continue;
                }
                let Ok(start) = self.brk.grow(len) else {
                    self.refused = self.refused.min(len);
                    continue;
                };
                // SAFETY: the break just rose by `len` bytes that nothing
                // else uses; they follow the heap's current top (brk is
                // contiguous).
                unsafe {
                    if self.started {
                        self.heap.extend(len);
                    } else {
                        self.heap.init(start.as_ptr(), len);
                        self.started = true;
                    }
                }
                return true;
            }
            false
        }
    }

    impl Allocator for LinkedList {
        fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
            loop {
                if let Ok(p) = self.heap.allocate_first_fit(layout) {
                    return Some(p);
                }
                if !self.grow(layout.size()) {
                    return None;
                }
            }
        }

        unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
            // SAFETY: the caller returns a block from this heap with its layout.
            unsafe { self.heap.deallocate(ptr, layout) }
        }
    }

    impl Measured for LinkedList {
        fn counters(&self) -> SourceCounters {
            self.brk.counters()
        }
    }
}
