//! Faults that tests inject into the real binary through the environment
//! variable `TMALLOC_TEST_FAULT`, to check the paths that end the process.
//! Compiled into debug builds only, the ones the tests run: the release
//! binary has no such switch, and its measuring loop no such check.
//!
//! | value           | what the binary does                              | expected end            |
//! |-----------------|---------------------------------------------------|-------------------------|
//! | `panic`         | panics                                            | exit 101, `panicked at` |
//! | `double-free`   | `tfree` of the same block twice                   | SIGABRT, `double free`  |
//! | `invalid-free`  | `tfree` of a stack address                        | SIGABRT, `invalid pointer` |
//! | `interior-free` | `tfree` of an address inside a block              | SIGABRT, `invalid pointer` |
//! | `crash:NAME`    | contender NAME's process kills itself             | its row says `failed`   |

use core::ptr::NonNull;

use tmalloc_alloc::global::{tfree, tmalloc};
use tmalloc_sys as sys;

use crate::contenders::Contender;

/// The environment variable.
pub(crate) const VAR: &[u8] = b"TMALLOC_TEST_FAULT";

const CRASH: &[u8] = b"crash:";

/// The fault asked for, read once at start-up.
static mut CRASHING: Option<&'static [u8]> = None;

/// Injects the fault `name`; returns false (and does nothing) for a name it
/// does not know. A known fault ends the process, but `crash:NAME`, which
/// the experiment acts on later ([`crash_if_chosen`]).
pub(crate) fn inject(name: &'static [u8]) -> bool {
    match name {
        _ if name.starts_with(CRASH) => {
            // SAFETY: written once, at start-up, before anything reads it
            // (the binary has one thread).
            unsafe { CRASHING = Some(&name[CRASH.len()..]) };
        }
        b"panic" => panic!("TMALLOC_TEST_FAULT=panic asked for a panic"),
        b"double-free" => {
            let p = tmalloc(24);
            tfree(p);
            tfree(p);
        }
        b"invalid-free" => {
            let on_stack = 0u64;
            tfree(Some(NonNull::from(&on_stack).cast()));
        }
        b"interior-free" => {
            // SAFETY: only the address is formed; tfree must refuse it.
            tfree(tmalloc(1000).map(|p| unsafe { p.add(96) }));
        }
        _ => return false,
    }
    true
}

/// In contender `c`'s process, before it measures anything: dies by
/// SIGSEGV if `crash:NAME` named it.
pub(crate) fn crash_if_chosen(c: Contender) {
    // SAFETY: only read after start-up wrote it.
    let chosen = unsafe { CRASHING };
    if chosen == Some(c.name().as_bytes()) {
        let _ = sys::kill(sys::getpid(), sys::signal::SIGSEGV);
    }
}
