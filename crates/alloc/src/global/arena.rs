//! Arenas: the process-wide heap, split so that threads seldom wait for
//! each other.
//!
//! ```text
//!   a thread ── its TLS slot ──▶ arena number ──▶ ARENAS[n] ─┐
//!                                                           ▼
//!                                Arena { lock ─▶ Tmalloc<HeapSource>, threads }
//!                                                           ▲
//!   a pointer ── page map ──▶ owner ── Owner::LAST − owner ─┘
//! ```
//!
//! Arena 0, the **main arena**, grows on the program break (or mmapped
//! heaps in a hosted process); every other arena grows in mmapped heaps
//! ([`MmapHeap`]). Each is a whole [`Tmalloc`] behind its own lock, in a
//! mapping of its own, made on demand and never unmapped (as glibc's).
//!
//! **Which arena a thread uses** follows glibc since 2.19 (`arena_get2`),
//! not the 2.15 the notes quote ("try each arena in turn, with trylock, on
//! every allocation"): a thread keeps the arena it was given, so its
//! blocks stay together and its lock stays uncontended, and the choice is
//! made once, at its first allocation:
//!
//! 1. the first thread to allocate takes the main arena;
//! 2. else an arena whose threads have all ended (glibc's free list);
//! 3. else a new arena, up to 8 per CPU (at most [`MAX_ARENAS`]);
//! 4. else it shares: the first arena whose lock is free right now, from a
//!    cursor that moves on each time, or the cursor's arena if all are busy.
//!
//! 2.15's way moved a thread to whichever arena was free at each call;
//! 2.19 keeps it, because moving scattered a thread's blocks over every
//! arena (more memory, worse locality) for a contention that per-thread
//! arenas already avoid. An allocation that fails in a thread's arena is
//! tried once more in another (glibc's `arena_get_retry`).
//!
//! **Whose block is this**: an arena's heap takes its page-map number from
//! the top of the range (arena `n` is owner `Owner::LAST − n`), so `tfree`
//! finds a block's arena from its address alone, in O(1), and frees it
//! there under that arena's lock, whichever thread calls.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use tmalloc_sync::Lock;

use super::thread;
use crate::front::Tmalloc;
use crate::pagemap::{self, Owner};
use crate::policy::PolicyKind;
use crate::source::{HeapSource, MmapHeap, PAGE, align_up, map_metadata};

/// At most this many arenas (glibc: 8 per CPU on 64-bit systems).
pub const MAX_ARENAS: usize = 64;
/// Arenas per CPU, as glibc's `M_ARENA_MAX` default on 64-bit systems.
const ARENAS_PER_CPU: usize = 8;

/// One arena: a heap, its lock, and who uses it.
pub(crate) struct Arena {
    pub(crate) heap: Lock<Tmalloc<HeapSource>>,
    /// Threads whose arena this is.
    threads: AtomicUsize,
    /// Its number.
    pub(crate) index: usize,
}

/// Every arena made so far, by number.
static ARENAS: [AtomicPtr<Arena>; MAX_ARENAS] = [const { AtomicPtr::new(ptr::null_mut()) }; MAX_ARENAS];

/// How many arenas exist (they are numbered from 0, without gaps).
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// What making and handing out arenas needs, behind one lock.
struct Registry {
    /// The policy new arenas get.
    kind: PolicyKind,
    /// How the main arena grows.
    main_source: fn() -> HeapSource,
    /// Where the search for a shared arena starts next.
    cursor: usize,
    /// The most arenas this machine gets (0 until first needed).
    cap: usize,
}

static REGISTRY: Lock<Registry> =
    Lock::new(Registry { kind: PolicyKind::DEFAULT, main_source: super::main_source, cursor: 1, cap: 0 });

/// Arena `n`, if it exists.
pub(crate) fn get(n: usize) -> Option<&'static Arena> {
    let p = ARENAS.get(n)?.load(Ordering::Acquire);
    // SAFETY: arenas are made by `make` and never unmapped.
    unsafe { p.as_ref() }
}

/// How many arenas exist.
pub(crate) fn count() -> usize {
    COUNT.load(Ordering::Acquire)
}

/// The arena the page map says `addr` belongs to.
#[inline]
pub(crate) fn owning(addr: usize) -> Option<&'static Arena> {
    let owner = pagemap::get(addr).owner_number();
    let n = (Owner::LAST as usize).checked_sub(owner as usize)?;
    if owner == 0 || n >= MAX_ARENAS {
        return None;
    }
    get(n)
}

/// The main arena, made if needed; `None` if there is no memory for it.
pub(crate) fn main() -> Option<&'static Arena> {
    match get(0) {
        Some(a) => Some(a),
        None => make_first(&mut REGISTRY.lock()),
    }
}

fn make_first(registry: &mut Registry) -> Option<&'static Arena> {
    match get(0) {
        Some(a) => Some(a),
        None => make(registry, 0),
    }
}

/// Makes arena `n` (the next number) in a mapping of its own.
fn make(registry: &mut Registry, n: usize) -> Option<&'static Arena> {
    let owner = Owner::claim(Owner::LAST - n as u16)?;
    let source = if n == 0 { (registry.main_source)() } else { HeapSource::Mapped(MmapHeap::new()) };
    let room = align_up(size_of::<Arena>(), PAGE)?;
    let place = match map_metadata(room) {
        Ok(p) => p.cast::<Arena>(),
        Err(_) => {
            owner.give_back();
            return None;
        }
    };
    let arena = Arena {
        heap: Lock::new(Tmalloc::with_owner(registry.kind, source, owner)),
        threads: AtomicUsize::new(0),
        index: n,
    };
    // SAFETY: a fresh mapping, large enough and page-aligned.
    unsafe { place.write(arena) };
    ARENAS[n].store(place.as_ptr(), Ordering::Release);
    COUNT.store(n + 1, Ordering::Release);
    // SAFETY: just written, never unmapped.
    Some(unsafe { &*place.as_ptr() })
}

/// The calling thread's arena: the one it was given, or one chosen now.
/// Where there is no thread-local storage (the freestanding binary before
/// its start-up set it up: gdb's `starti`), the main arena.
#[inline]
pub(crate) fn current() -> Option<&'static Arena> {
    match thread::arena() {
        Some(Some(n)) => get(n),
        Some(None) => attach(),
        None => main(),
    }
}

/// Chooses the calling thread's arena (see the module's doc).
#[cold]
fn attach() -> Option<&'static Arena> {
    let mut registry = REGISTRY.lock();
    let main = make_first(&mut registry)?;
    let chosen = if main.threads.load(Ordering::Relaxed) == 0 {
        main
    } else if let Some(idle) = (1..count()).filter_map(get).find(|a| a.threads.load(Ordering::Relaxed) == 0) {
        idle
    } else if count() < cap(&mut registry) {
        let n = count();
        make(&mut registry, n).unwrap_or(main)
    } else {
        shared(&mut registry)
    };
    chosen.threads.fetch_add(1, Ordering::Relaxed);
    thread::set_arena(Some(chosen.index));
    Some(chosen)
}

/// The most arenas: 8 per CPU the process may run on, at most
/// [`MAX_ARENAS`].
fn cap(registry: &mut Registry) -> usize {
    if registry.cap == 0 {
        let cpus = tmalloc_sys::cpus_available().unwrap_or(1).max(1);
        registry.cap = (cpus * ARENAS_PER_CPU).min(MAX_ARENAS);
    }
    registry.cap
}

/// An arena to share: the first whose lock is free, from the cursor on.
fn shared(registry: &mut Registry) -> &'static Arena {
    let n = count();
    let start = registry.cursor % n;
    registry.cursor = start + 1;
    (0..n)
        .filter_map(|i| get((start + i) % n))
        .find(|a| !a.heap.is_locked())
        .or_else(|| get(start))
        .expect("arena 0 exists")
}

/// The calling thread gives its arena up (it is ending): an arena no
/// thread uses is handed to the next new thread.
pub(crate) fn detach() {
    if let Some(Some(n)) = thread::arena()
        && let Some(arena) = get(n)
    {
        arena.threads.fetch_sub(1, Ordering::Relaxed);
        thread::set_arena(None);
    }
}

/// Threads using arena `a` now.
pub(crate) fn threads(a: &Arena) -> usize {
    a.threads.load(Ordering::Relaxed)
}

/// Gives the main arena the policy `kind`, and every arena made after it:
/// allowed while the main arena holds no memory and no other arena exists.
/// `Err` names the policy in use.
pub(crate) fn choose_policy(kind: PolicyKind) -> Result<(), Option<PolicyKind>> {
    let mut registry = REGISTRY.lock();
    let main = make_first(&mut registry).ok_or(None)?;
    let mut heap = main.heap.lock();
    if heap.kind() != kind && (count() > 1 || !heap.set_policy(kind)) {
        return Err(Some(heap.kind()));
    }
    registry.kind = kind;
    Ok(())
}

/// Every arena, in number order.
pub(crate) fn all() -> impl Iterator<Item = &'static Arena> {
    (0..count()).filter_map(get)
}

/// Takes the registry's lock and every arena's, in number order (the only
/// order anything takes two of them in), and keeps them: see `before_fork`.
pub(crate) fn lock_all() {
    core::mem::forget(REGISTRY.lock());
    for a in all() {
        core::mem::forget(a.heap.lock());
    }
}

/// Releases what [`lock_all`] took.
pub(crate) fn unlock_all() {
    for a in all() {
        // SAFETY: `lock_all` took it on this thread and forgot the guard.
        unsafe { a.heap.force_unlock() };
    }
    // SAFETY: as above.
    unsafe { REGISTRY.force_unlock() };
}

/// In a child after `fork`, only the calling thread exists: no arena is
/// used by any thread but its own.
pub(crate) fn forget_other_threads() {
    let mine = thread::arena().flatten();
    for a in all() {
        a.threads.store(usize::from(Some(a.index) == mine), Ordering::Relaxed);
    }
}
