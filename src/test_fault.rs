//! Faults that tests inject into the real binary through the environment
//! variable `TMALLOC_TEST_FAULT`, to check the paths that end the process:
//!
//! | value           | what the binary does                              | expected end            |
//! |-----------------|---------------------------------------------------|-------------------------|
//! | `panic`         | panics                                            | exit 101, `panicked at` |
//! | `double-free`   | `tfree` of the same block twice                   | SIGABRT, `double free`  |
//! | `invalid-free`  | `tfree` of a stack address                        | SIGABRT, `invalid pointer` |
//! | `interior-free` | `tfree` of an address inside a block              | SIGABRT, `invalid pointer` |
//! | `crash:NAME`    | contender NAME's process kills itself mid-run      | its row says `crashed`  |
//!
//! Not a feature for users; README lists it under testing.

use core::ptr::NonNull;

use crate::allocator::api::{tfree, tmalloc};

/// The environment variable.
pub const VAR: &[u8] = b"TMALLOC_TEST_FAULT";

const CRASH: &[u8] = b"crash:";

/// The contender whose process should crash, named by `crash:NAME`.
pub fn crashing_contender(startup: &crate::rt::Startup) -> Option<&'static [u8]> {
    startup.env(VAR)?.strip_prefix(CRASH)
}

/// Injects the fault `name`; returns false (and does nothing) for a name it
/// does not know. A known fault ends the process, but `crash:NAME`, which
/// the experiment acts on later ([`crashing_contender`]).
pub fn inject(name: &[u8]) -> bool {
    match name {
        _ if name.starts_with(CRASH) => {}
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
