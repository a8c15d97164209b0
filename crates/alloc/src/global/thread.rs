//! The calling thread's arena number, kept in thread-local storage.
//!
//! Until the runtime's thread-local storage is wired in, every thread is
//! reported as having none available, and uses the main arena.

/// The calling thread's arena: `None` where thread-local storage is not
/// available, `Some(None)` before the thread was given one.
#[inline]
pub(crate) fn arena() -> Option<Option<usize>> {
    None
}

/// Records the calling thread's arena.
pub(crate) fn set_arena(_arena: Option<usize>) {}
