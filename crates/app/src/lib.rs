//! The `tmalloc` command: consume_memory, the experiment of the original C
//! project, run for every allocator side by side; recorded traces
//! replayed; the process image as the kernel started it.
//!
//! - [`cli`]: the arguments, checked, turned into a `Command`.
//! - `commands`: one module per command (consume, replay, image).
//! - `contenders`: which allocators a run compares.
//! - `report`: one printer for tables and CSV.
//!
//! `src/main.rs` at the repository root is the freestanding binary that
//! runs [`main`].

#![no_std]

#[cfg(test)]
extern crate std;

mod cli;
mod commands;
mod contenders;
#[cfg(debug_assertions)]
mod faults;
mod report;

#[cfg(debug_assertions)]
use tmalloc_rt::fmt::Lossy;
use tmalloc_rt::{Startup, eprintln, print, println, process};
use tmalloc_sys as sys;

use cli::Command;

/// How the program ends: its exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// The environment failed: a contender crashed, a system call failed.
    Failure = 1,
    /// A bad argument or a bad input file.
    Usage = 2,
}

/// A child could not be made or collected (`pipe2`, `fork`, `wait4`
/// failed): a failure of the environment, not of a contender. One line,
/// and no more rows.
pub(crate) fn cannot_go_on(why: &process::ChildFailed) -> Exit {
    eprintln!("tmalloc: {why}");
    Exit::Failure
}

/// The hard limit on address space, as messages name it: `the hard
/// address-space limit (ulimit -v 9000)`, in the KiB `ulimit` counts.
pub(crate) struct HardLimit(pub(crate) u64);

impl core::fmt::Display for HardLimit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the hard address-space limit (ulimit -v {})", self.0 / 1024)
    }
}

/// The binary's `main`: parse, dispatch, return the exit status.
pub fn main(startup: &Startup) -> i32 {
    // Under gdb, which follows the experiment's children and detaches from
    // the parent: the parent would run on after gdb quits, printing into the
    // terminal. It ends with its debugger instead.
    if process::traced() {
        let _ = sys::set_parent_death_signal(sys::signal::SIGKILL);
    }
    #[cfg(debug_assertions)]
    if let Some(fault) = startup.env(faults::VAR)
        && !faults::inject(fault)
    {
        eprintln!("tmalloc: unknown TMALLOC_TEST_FAULT '{}'", Lossy(fault));
        return Exit::Usage as i32;
    }
    let exit = match cli::parse(startup.args().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            Exit::Success
        }
        Ok(Command::Version) => {
            println!("tmalloc {}", env!("CARGO_PKG_VERSION"));
            Exit::Success
        }
        Ok(Command::Image) => commands::image::run(startup),
        Ok(Command::Run(options)) => commands::consume::run(&options, startup),
        Ok(Command::Replay(options)) => commands::replay::run(&options),
        Err(e) => {
            eprintln!("tmalloc: {e}\nTry 'tmalloc --help' for more information.");
            Exit::Usage
        }
    };
    exit as i32
}
