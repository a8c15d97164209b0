//! The binary is what linker.ld and build.rs say it is, read with an ELF
//! parser: a static, non-PIE executable with three LOAD segments (R, R E,
//! RW) on pages of their own, no interpreter, no dynamic section, no dynamic or
//! undefined symbols.

mod common;

use std::collections::HashMap;
use std::path::Path;

use object::Endianness;
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};

const PAGE: u64 = 0x1000;

const R: u32 = elf::PF_R.0;
const RX: u32 = elf::PF_R.0 | elf::PF_X.0;
const RW: u32 = elf::PF_R.0 | elf::PF_W.0;

struct Segment {
    kind: elf::ProgramType,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

struct Elf {
    kind: elf::FileType,
    machine: elf::Machine,
    entry: u64,
    segments: Vec<Segment>,
    sections: HashMap<String, (u64, u64)>, // name -> (addr, size)
    symbols: HashMap<String, u64>,
    undefined: Vec<String>,
    dynamic_symbols: usize,
}

fn read_elf(path: &Path) -> Elf {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let data = &*data;
    let header = elf::FileHeader64::<Endianness>::parse(data).expect("a 64-bit ELF file");
    let e = header.endian().unwrap();
    let segments = header
        .program_headers(e, data)
        .unwrap()
        .iter()
        .map(|p| Segment {
            kind: p.p_type(e),
            flags: p.p_flags(e).0,
            offset: p.p_offset(e),
            vaddr: p.p_vaddr(e),
            filesz: p.p_filesz(e),
            memsz: p.p_memsz(e),
            align: p.p_align(e),
        })
        .collect();
    let table = header.sections(e, data).unwrap();
    let mut sections = HashMap::new();
    for s in table.iter() {
        let name = String::from_utf8_lossy(table.section_name(e, s).unwrap()).into_owned();
        sections.insert(name, (s.sh_addr(e), s.sh_size(e)));
    }
    let symtab = table.symbols(e, data, elf::SHT_SYMTAB).unwrap();
    let mut symbols = HashMap::new();
    let mut undefined = Vec::new();
    for sym in symtab.iter().skip(1) {
        let name = String::from_utf8_lossy(sym.name(e, symtab.strings()).unwrap()).into_owned();
        if sym.st_shndx(e) == elf::SHN_UNDEF {
            undefined.push(name);
        } else {
            symbols.insert(name, sym.st_value(e));
        }
    }
    let dynamic_symbols = table.symbols(e, data, elf::SHT_DYNSYM).unwrap().len();
    Elf {
        kind: header.e_type(e),
        machine: header.e_machine(e),
        entry: header.e_entry(e),
        segments,
        sections,
        symbols,
        undefined,
        dynamic_symbols,
    }
}

/// `symbols`: whether the file keeps its symbol table (the debug build
/// does; the release build is stripped).
fn check_static_layout(path: &Path, symbols: bool) {
    let elf = read_elf(path);
    assert_eq!(elf.kind, elf::ET_EXEC, "ELF type EXEC (not DYN: no PIE)");
    assert_eq!(elf.machine, elf::EM_X86_64);

    let kinds: Vec<elf::ProgramType> = elf.segments.iter().map(|s| s.kind).collect();
    assert!(!kinds.contains(&elf::PT_INTERP), "no PT_INTERP: no dynamic loader runs");
    assert!(!kinds.contains(&elf::PT_DYNAMIC), "no PT_DYNAMIC: nothing to relocate");
    for kind in &kinds {
        assert!(
            [elf::PT_LOAD, elf::PT_GNU_STACK, elf::PT_NOTE].contains(kind),
            "unexpected program header {kind:?}"
        );
    }

    // Three LOAD segments, in order, with the permissions linker.ld gives them.
    let loads: Vec<&Segment> = elf.segments.iter().filter(|s| s.kind == elf::PT_LOAD).collect();
    let flags: Vec<u32> = loads.iter().map(|s| s.flags).collect();
    assert_eq!(flags, [R, RX, RW], "LOAD segments R, R E, RW");
    for (i, s) in loads.iter().enumerate() {
        assert_eq!(s.align, PAGE, "LOAD {i} is page aligned");
        assert_eq!(s.offset % PAGE, s.vaddr % PAGE, "LOAD {i} file offset congruent to its address");
        assert!(s.memsz >= s.filesz);
        if i + 1 < loads.len() {
            let last_page = (s.vaddr + s.memsz - 1) / PAGE;
            assert!(last_page < loads[i + 1].vaddr / PAGE, "LOAD {i} shares no page with the next");
        }
    }
    let (r, rx, rw) = (loads[0], loads[1], loads[2]);
    // The code starts on a page in the file too, so no page of the file
    // that holds data is mapped executable. The data segment is packed
    // against the code instead (linker.ld).
    assert_eq!(rx.vaddr % PAGE, 0, "the code starts on a page");
    assert_eq!(rx.offset % PAGE, 0, "the code starts on a page of the file");
    assert!(rw.offset < rx.offset + rx.filesz + PAGE, "no padding page between the code and the data");
    assert_eq!(r.offset, 0, "the R segment maps the ELF and program headers");
    assert_eq!(r.vaddr, 0x400000, "the classic non-PIE base address");
    assert!(rx.vaddr <= elf.entry && elf.entry < rx.vaddr + rx.memsz, "entry point in the code segment");

    let stack = elf.segments.iter().find(|s| s.kind == elf::PT_GNU_STACK).expect("a PT_GNU_STACK header");
    assert_eq!(stack.flags, RW, "the stack is not executable");

    // Sections sit in the segment of their permissions.
    let within = |seg: &Segment, name: &str| {
        let &(addr, size) = elf.sections.get(name).unwrap_or_else(|| panic!("section {name}"));
        assert!(seg.vaddr <= addr && addr + size <= seg.vaddr + seg.memsz, "{name} lies in its segment");
    };
    within(r, ".rodata");
    within(rx, ".text");
    within(rw, ".bss");

    // Nothing dynamic, nothing undefined.
    assert!(!elf.sections.contains_key(".dynsym") && !elf.sections.contains_key(".dynamic"));
    assert_eq!(elf.dynamic_symbols, 0, "no dynamic symbols");
    assert_eq!(elf.undefined, Vec::<String>::new(), "no undefined symbols");

    if !symbols {
        assert!(elf.symbols.is_empty(), "the release build is stripped");
        return;
    }
    // The layout symbols the program prints, at the boundaries they name.
    let sym = |name: &str| *elf.symbols.get(name).unwrap_or_else(|| panic!("symbol {name}"));
    assert_eq!(sym("__executable_start"), r.vaddr);
    assert_eq!(sym("__text_start"), rx.vaddr);
    assert_eq!(sym("etext"), rx.vaddr + rx.memsz);
    assert_eq!(sym("__data_start"), rw.vaddr);
    assert_eq!(sym("edata"), rw.vaddr + rw.filesz);
    assert_eq!(sym("end"), rw.vaddr + rw.memsz, "end marks the end of .bss");
    assert_eq!(sym("_start"), elf.entry, "_start is the entry point");
}

#[test]
fn debug_binary_is_a_static_executable_laid_out_by_linker_ld() {
    check_static_layout(&common::debug_binary(), true);
}

#[test]
fn release_binary_is_a_static_executable_laid_out_by_linker_ld() {
    check_static_layout(&common::release_binary(), false);
}

#[test]
fn debug_binary_carries_debug_info_for_gdb() {
    let elf = read_elf(&common::debug_binary());
    assert!(elf.sections.contains_key(".debug_info"), "cargo build keeps full debug info");
    assert!(elf.sections.contains_key(".debug_line"));
}
