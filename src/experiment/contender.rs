//! The contenders: every tmalloc policy, and linked_list_allocator.

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::allocator::{Brk, PAGE, PolicyKind, Source, SourceCounters, Tmalloc, align_up};
use crate::workload::Allocator;

/// One allocator in the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contender {
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
    pub const ALL: [Contender; COUNT] = {
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

    pub fn name(self) -> &'static str {
        match self {
            Contender::Tmalloc(kind) => kind.name(),
            #[cfg(feature = "compare")]
            Contender::LinkedList => "linked-list-allocator",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<Contender> {
        #[cfg(feature = "compare")]
        if name == b"linked-list-allocator" {
            return Some(Contender::LinkedList);
        }
        PolicyKind::from_name(name).map(Contender::Tmalloc)
    }

    /// Runs `work` on a fresh instance of this contender, on the program
    /// break. One `dyn` call per operation keeps a single copy of each
    /// workload in the binary, whichever allocator it drives.
    pub fn with_contestant<T>(self, work: impl FnOnce(&mut dyn Contestant) -> T) -> T {
        match self {
            Contender::Tmalloc(kind) => {
                // Named, so that gdb's `tmalloc heap` finds it in this frame.
                let mut heap = Tmalloc::new(kind, Brk::new());
                work(&mut heap)
            }
            #[cfg(feature = "compare")]
            Contender::LinkedList => work(&mut LinkedList::new()),
        }
    }

    fn index(self) -> usize {
        Contender::ALL.iter().position(|&c| c == self).expect("every contender is listed")
    }
}

/// A set of contenders, listed in [`Contender::ALL`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contenders(u32);

impl Contenders {
    pub const NONE: Contenders = Contenders(0);
    pub const ALL: Contenders = Contenders((1 << COUNT) - 1);

    pub fn with(self, c: Contender) -> Contenders {
        Contenders(self.0 | 1 << c.index())
    }

    pub fn contains(self, c: Contender) -> bool {
        self.0 & (1 << c.index()) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Contender> {
        Contender::ALL.into_iter().filter(move |&c| self.contains(c))
    }
}

/// An allocator the experiment can account for.
pub trait Contestant: Allocator {
    /// System calls made and bytes held.
    fn counters(&self) -> SourceCounters;
}

impl<S: Source> Contestant for Tmalloc<S> {
    fn counters(&self) -> SourceCounters {
        self.source().counters()
    }
}

/// `linked_list_allocator::Heap` on the program break. It asks for no
/// memory itself: it is given a region and told when the region grows, so
/// this wrapper grows it as tmalloc grows its own heap: a 256 KiB step, or
/// just what the request needs when the kernel refuses the step.
#[cfg(feature = "compare")]
pub struct LinkedList {
    heap: linked_list_allocator::Heap,
    brk: Brk,
    started: bool,
}

#[cfg(feature = "compare")]
impl Default for LinkedList {
    fn default() -> Self {
        LinkedList::new()
    }
}

#[cfg(feature = "compare")]
impl LinkedList {
    pub const fn new() -> LinkedList {
        LinkedList { heap: linked_list_allocator::Heap::empty(), brk: Brk::new(), started: false }
    }

    fn grow(&mut self, need: usize) -> bool {
        let step = crate::allocator::Config::DEFAULT.grow_step;
        let least = align_up(need.saturating_add(2 * PAGE), PAGE).unwrap_or(usize::MAX);
        for len in [step.max(least), least] {
            if let Ok(start) = self.brk.grow(len) {
                // SAFETY: the break just rose by `len` bytes that nothing else
                // uses; they follow the heap's current top (brk is contiguous).
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
        }
        false
    }
}

#[cfg(feature = "compare")]
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

#[cfg(feature = "compare")]
impl Contestant for LinkedList {
    fn counters(&self) -> SourceCounters {
        self.brk.counters()
    }
}
