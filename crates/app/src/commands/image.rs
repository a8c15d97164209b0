//! The process as the kernel started it: segments, auxiliary vector,
//! program break and `/proc/self/maps`, read before anything allocates.

use core::ops::ControlFlow;

use tmalloc_rt::fmt::{Bytes, ErrnoText, Lossy, Thousands};
use tmalloc_rt::lines::{self, Part};
use tmalloc_rt::{Startup, eprintln, fs, image, print, println};
use tmalloc_sys::{self as sys, Errno};

use crate::Exit;

/// Room for a line of `/proc/self/maps`, on the stack: there is no heap to
/// put it in, which is the point. A longer line (a path of 900 bytes) is
/// shown cut.
const MAPS_LINE: usize = 1024;

/// Whether a `/proc/PID/maps` text has a `[heap]` line.
pub(crate) fn maps_have_heap(maps: &[u8]) -> bool {
    maps.split(|&b| b == b'\n').any(|line| line.ends_with(b"[heap]"))
}

/// Prints the process image.
pub(crate) fn run(startup: &Startup) -> Exit {
    let auxv = &startup.auxv;
    println!("tmalloc {}: the process as the kernel started it\n", env!("CARGO_PKG_VERSION"));
    print_segments();
    println!("\nAuxiliary vector:");
    println!("  AT_PAGESZ        {}", auxv.page_size);
    println!("  AT_PHDR          {:#x} ({} program headers of {} bytes)", auxv.phdr, auxv.phnum, auxv.phent);
    println!("  AT_ENTRY         {:#x} (_start)", auxv.entry);
    match auxv.random {
        Some(bytes) => {
            print!("  AT_RANDOM        ");
            for b in bytes {
                print!("{b:02x}");
            }
            println!();
        }
        None => println!("  AT_RANDOM        (absent)"),
    }
    println!("  AT_SYSINFO_EHDR  {:#x} (the vDSO)", auxv.vdso);
    if let Some(path) = auxv.execfn {
        println!("  AT_EXECFN        {}", Lossy(path.to_bytes()));
    }
    let brk = sys::current_break();
    let end = image::image().end;
    println!(
        "\nProgram break: brk(0) = {brk:#x}, {} bytes above `end` (randomised by ASLR)\n",
        Thousands(brk.saturating_sub(end) as u64)
    );
    if print_maps("") { Exit::Success } else { Exit::Failure }
}

/// The segment boundaries, from the symbols linker.ld defines.
pub(crate) fn print_segments() {
    let image = image::image();
    println!("Segments (symbols from linker.ld):");
    println!("  {:#010x}  __executable_start  R    ELF header, program headers, .rodata", image.start);
    println!(
        "  {:#010x}  __text_start        R E  code ({})",
        image.text,
        Bytes((image.etext - image.text) as u64)
    );
    println!("  {:#010x}  etext", image.etext);
    println!("  {:#010x}  __data_start        RW   .data", image.data);
    println!(
        "  {:#010x}  edata                    .bss ({})",
        image.edata,
        Bytes((image.end - image.edata) as u64)
    );
    println!("  {:#010x}  end                      the program break starts above here", image.end);
}

/// `/proc/self/maps`, each line after `indent`, and whether there is a
/// `[heap]` line. Returns false if the file could not be read (and says
/// so). The file streams through a small buffer: no mapping of ours shows
/// in it, and little stack is taken.
pub(crate) fn print_maps(indent: &str) -> bool {
    let mut buf = [0u8; MAPS_LINE];
    let read = fs::open_to_read(c"/proc/self/maps").and_then(|fd| {
        println!("{indent}/proc/self/maps:");
        let mut heap = false;
        let read =
            lines::for_each_line(&mut |buf| fs::read_retrying(fd, buf), &mut buf, 0, &mut |line, part| {
                match part {
                    Part::Whole | Part::First => {
                        print!("{indent}  ");
                        tmalloc_rt::io::STDOUT.write_bytes(line);
                        println!("{}", if part == Part::First { "..." } else { "" });
                        heap |= maps_have_heap(line);
                    }
                    Part::Middle | Part::Last => {}
                }
                ControlFlow::Continue(())
            });
        let _ = sys::close(fd);
        read.map_err(|stop| match stop {
            lines::Stop::Read(e) => e,
            lines::Stop::Line => Errno::EIO,
        })?;
        Ok(heap)
    });
    match read {
        Ok(true) => println!("{indent}The [heap] line is there."),
        Ok(false) => {
            println!("{indent}No [heap] line: nothing in this process has asked the kernel for one yet.")
        }
        Err(e) => eprintln!("tmalloc: cannot read /proc/self/maps: {}", ErrnoText(e)),
    }
    read.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_heap_line() {
        let with = b"00400000-00401000 r--p 00000000 00:00 0 /bin/x\n\
                     01c3e000-01c5f000 rw-p 00000000 00:00 0                                  [heap]\n";
        let without = b"00400000-00401000 r--p 00000000 00:00 0 /bin/x\n\
                        7ffd1000-7ffd2000 rw-p 00000000 00:00 0 [stack]\n";
        assert!(maps_have_heap(with));
        assert!(!maps_have_heap(without));
        assert!(!maps_have_heap(b""));
    }
}
