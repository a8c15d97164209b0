//! Allocator misuse in the real binary ends it with SIGABRT and one line
//! naming the call and the address, as glibc's `free(): invalid pointer`.

mod common;

use std::os::unix::process::ExitStatusExt;

use common::{run_with_env, stderr};

const SIGABRT: i32 = 6;

/// Runs the binary with `fault` injected; returns its one line on stderr.
fn aborts_with(fault: &str) -> String {
    let out = run_with_env(&common::debug_binary(), &[], &[("TMALLOC_TEST_FAULT", fault)]);
    assert_eq!(out.status.signal(), Some(SIGABRT), "{fault}: ends with SIGABRT: {:?}", out.status);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{fault}: one line: {err:?}");
    lines[0].to_string()
}

/// `tmalloc: tfree(0x…): WHAT` with a non-null address.
fn assert_names_call_and_address(line: &str, what: &str) {
    let rest = line.strip_prefix("tmalloc: tfree(0x").unwrap_or_else(|| panic!("{line}"));
    let (hex, tail) = rest.split_once("): ").unwrap_or_else(|| panic!("{line}"));
    assert!(u64::from_str_radix(hex, 16).is_ok_and(|a| a != 0), "{line}");
    assert_eq!(tail, what, "{line}");
}

#[test]
fn a_double_free_aborts_naming_the_call_and_address() {
    assert_names_call_and_address(&aborts_with("double-free"), "double free");
}

#[test]
fn freeing_a_pointer_tmalloc_never_returned_aborts() {
    assert_names_call_and_address(&aborts_with("invalid-free"), "invalid pointer");
}

#[test]
fn freeing_an_interior_pointer_aborts() {
    assert_names_call_and_address(&aborts_with("interior-free"), "invalid pointer");
}

#[test]
fn an_unknown_fault_is_a_usage_error() {
    let out = run_with_env(&common::debug_binary(), &[], &[("TMALLOC_TEST_FAULT", "nope")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "tmalloc: unknown TMALLOC_TEST_FAULT 'nope'\n");
}

#[test]
fn the_c_abi_is_in_the_binary_for_gdb() {
    use object::{Object, ObjectSymbol, SymbolKind};
    let data = std::fs::read(common::debug_binary()).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    for name in [
        "init_tmalloc",
        "tmalloc",
        "tmalloc_aligned",
        "tcalloc",
        "trealloc",
        "tfree",
        "tmalloc_usable_size",
        "tmalloc_check",
    ] {
        let sym = elf
            .symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("{name} is in the symbol table"));
        assert!(
            sym.is_global() && sym.kind() == SymbolKind::Text && sym.size() > 0,
            "{name}: a global function"
        );
    }
}
