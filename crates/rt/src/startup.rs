//! What the kernel hands a new process, read the way crt1 and
//! `__libc_start_main` read it.
//!
//! At `_start`, `rsp` points at this (System V x86_64 ABI, §3.4.1):
//!
//! ```text
//!   high addresses
//!   ┌──────────────────────────────┐
//!   │ argument and environment     │  the strings argv[i] and envp[i] point to
//!   │ strings, AT_EXECFN string    │
//!   │ 16 random bytes              │  ← AT_RANDOM points here
//!   │ padding                      │
//!   ├──────────────────────────────┤
//!   │ AT_NULL, 0                   │  end of the auxiliary vector
//!   │ type, value                  │  auxv: (u64 type, u64 value) pairs
//!   │ …                            │
//!   ├──────────────────────────────┤
//!   │ NULL                         │  end of envp
//!   │ envp[0] … envp[m-1]          │  "NAME=value" pointers
//!   ├──────────────────────────────┤
//!   │ NULL                         │  argv[argc]
//!   │ argv[0] … argv[argc-1]       │  argument pointers
//!   │ argc                         │  ← rsp at _start (16-byte aligned)
//!   └──────────────────────────────┘
//!   low addresses
//! ```
//!
//! The auxiliary vector is how the kernel tells a program what it would
//! otherwise have to ask for: the page size, where its program headers were
//! loaded, 16 random bytes for seeding, the vDSO.

use core::ffi::{CStr, c_char};

/// Auxiliary vector entry types (`<linux/auxvec.h>`).
pub mod at {
    pub const NULL: usize = 0;
    pub const PHDR: usize = 3;
    pub const PHENT: usize = 4;
    pub const PHNUM: usize = 5;
    pub const PAGESZ: usize = 6;
    pub const ENTRY: usize = 9;
    pub const RANDOM: usize = 25;
    pub const EXECFN: usize = 31;
    pub const SYSINFO_EHDR: usize = 33;
}

/// The auxiliary vector entries tmalloc uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Auxv {
    /// `AT_PAGESZ`: the page size.
    pub page_size: usize,
    /// `AT_RANDOM`: 16 bytes the kernel drew at exec.
    pub random: Option<[u8; 16]>,
    /// `AT_PHDR`: where the program headers are mapped.
    pub phdr: usize,
    /// `AT_PHNUM`: how many program headers there are.
    pub phnum: usize,
    /// `AT_PHENT`: the size of one program header.
    pub phent: usize,
    /// `AT_ENTRY`: the entry point, `_start`.
    pub entry: usize,
    /// `AT_SYSINFO_EHDR`: where the kernel mapped the vDSO (0 if none).
    pub vdso: usize,
    /// `AT_EXECFN`: the path the program was executed as.
    pub execfn: Option<&'static CStr>,
}

/// The process's arguments, environment and auxiliary vector.
#[derive(Clone, Copy, Debug)]
pub struct Startup {
    argv: &'static [*const c_char],
    envp: &'static [*const c_char],
    pub auxv: Auxv,
}

impl Startup {
    /// Reads the initial stack.
    ///
    /// # Safety
    ///
    /// `sp` must point at a stack laid out as above that lives, unchanged, for
    /// the rest of the program: the kernel's initial stack does.
    pub unsafe fn from_stack(sp: *const usize) -> Startup {
        // SAFETY: per the layout above, each step stays inside the vectors the
        // kernel wrote, and each vector ends with the terminator we stop at.
        unsafe {
            let argc = *sp;
            let argv_ptr = sp.add(1) as *const *const c_char;
            let argv = core::slice::from_raw_parts(argv_ptr, argc);
            let envp_ptr = argv_ptr.add(argc + 1);
            let mut envc = 0;
            while !(*envp_ptr.add(envc)).is_null() {
                envc += 1;
            }
            let envp = core::slice::from_raw_parts(envp_ptr, envc);
            let auxv = read_auxv(envp_ptr.add(envc + 1) as *const usize);
            Startup { argv, envp, auxv }
        }
    }

    /// The arguments, `argv[0]` first.
    pub fn args(&self) -> impl Iterator<Item = &'static [u8]> + Clone + '_ {
        // SAFETY: the kernel's argv pointers are NUL-terminated strings that live
        // as long as the process.
        self.argv.iter().map(|&p| unsafe { CStr::from_ptr(p) }.to_bytes())
    }

    /// The value of environment variable `name`, if set.
    pub fn env(&self, name: &[u8]) -> Option<&'static [u8]> {
        self.envp.iter().find_map(|&p| {
            // SAFETY: as for argv.
            let entry = unsafe { CStr::from_ptr(p) }.to_bytes();
            entry.strip_prefix(name)?.strip_prefix(b"=")
        })
    }
}

/// Reads (type, value) pairs until `AT_NULL`.
///
/// # Safety
///
/// `p` must point at an auxiliary vector ending with `AT_NULL`, whose pointer
/// entries (AT_RANDOM, AT_EXECFN) point at memory that lives for the program.
unsafe fn read_auxv(mut p: *const usize) -> Auxv {
    let mut auxv = Auxv::default();
    // SAFETY: the caller vouches for the vector and what it points at.
    unsafe {
        loop {
            let (kind, value) = (*p, *p.add(1));
            match kind {
                at::NULL => break,
                at::PAGESZ => auxv.page_size = value,
                at::PHDR => auxv.phdr = value,
                at::PHNUM => auxv.phnum = value,
                at::PHENT => auxv.phent = value,
                at::ENTRY => auxv.entry = value,
                at::SYSINFO_EHDR => auxv.vdso = value,
                at::RANDOM => auxv.random = Some(*(value as *const [u8; 16])),
                at::EXECFN => auxv.execfn = Some(CStr::from_ptr(value as *const c_char)),
                _ => {}
            }
            p = p.add(2);
        }
    }
    auxv
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::vec;
    use std::vec::Vec;

    /// Builds an initial stack as the kernel would, leaked so it is 'static.
    fn fake_stack(args: &[&'static CStr], env: &[&'static CStr], aux: &[(usize, usize)]) -> *const usize {
        let mut words: Vec<usize> = vec![args.len()];
        words.extend(args.iter().map(|s| s.as_ptr() as usize));
        words.push(0);
        words.extend(env.iter().map(|s| s.as_ptr() as usize));
        words.push(0);
        for &(k, v) in aux {
            words.extend([k, v]);
        }
        words.extend([at::NULL, 0]);
        Box::leak(words.into_boxed_slice()).as_ptr()
    }

    #[test]
    fn reads_args_env_and_auxv() {
        static RANDOM: [u8; 16] = [7; 16];
        let sp = fake_stack(
            &[c"tmalloc", c"--seed", c"10"],
            &[c"HOME=/root", c"TMALLOC_X=1=2"],
            &[
                (at::PAGESZ, 4096),
                (at::PHDR, 0x400040),
                (at::PHNUM, 5),
                (at::RANDOM, RANDOM.as_ptr() as usize),
                (at::EXECFN, c"/bin/tmalloc".as_ptr() as usize),
                (99, 1), // unknown types are skipped
            ],
        );
        // SAFETY: fake_stack builds the layout from_stack expects, leaked.
        let s = unsafe { Startup::from_stack(sp) };
        let args: Vec<&[u8]> = s.args().collect();
        assert_eq!(args, [&b"tmalloc"[..], b"--seed", b"10"]);
        assert_eq!(s.env(b"HOME"), Some(&b"/root"[..]));
        assert_eq!(s.env(b"TMALLOC_X"), Some(&b"1=2"[..]));
        assert_eq!(s.env(b"HOM"), None, "a prefix of a name is not the name");
        assert_eq!(s.env(b"PATH"), None);
        assert_eq!(s.auxv.page_size, 4096);
        assert_eq!(s.auxv.phdr, 0x400040);
        assert_eq!(s.auxv.phnum, 5);
        assert_eq!(s.auxv.random, Some([7; 16]));
        assert_eq!(s.auxv.execfn, Some(c"/bin/tmalloc"));
    }

    #[test]
    fn empty_argv_env_and_auxv() {
        let sp = fake_stack(&[], &[], &[]);
        // SAFETY: as above.
        let s = unsafe { Startup::from_stack(sp) };
        assert_eq!(s.args().count(), 0);
        assert_eq!(s.env(b"HOME"), None);
        assert_eq!(s.auxv, Auxv::default());
    }
}
