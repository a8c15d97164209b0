//! The real binary's command line: help, version, bad input, the panic
//! path, and the process-image report (`--image`).

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Command;

use common::{run, run_with_env, stderr, stdout};

fn binaries() -> [PathBuf; 2] {
    [common::debug_binary(), common::release_binary()]
}

#[test]
fn help_prints_usage_and_exits_0() {
    for bin in binaries() {
        for flag in ["--help", "-h"] {
            let out = run(&bin, &[flag]);
            assert_eq!(out.status.code(), Some(0));
            assert!(stdout(&out).contains("Usage: tmalloc [OPTIONS]"), "{}", stdout(&out));
            assert!(stdout(&out).contains("--version"));
            assert_eq!(stderr(&out), "");
        }
    }
}

#[test]
fn version_prints_the_package_version() {
    for bin in binaries() {
        for flag in ["--version", "-V"] {
            let out = run(&bin, &[flag]);
            assert_eq!(out.status.code(), Some(0));
            assert_eq!(stdout(&out), format!("tmalloc {}\n", env!("CARGO_PKG_VERSION")));
        }
    }
}

/// One line naming what was wrong, one line of hint, exit 2, nothing on stdout.
fn assert_usage_error(out: &std::process::Output, names: &str) {
    assert_eq!(out.status.code(), Some(2), "exit status 2 for a usage error");
    assert_eq!(stdout(out), "", "nothing on stdout");
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "one error line plus a usage hint: {err:?}");
    assert!(lines[0].starts_with("tmalloc: ") && lines[0].contains(names), "{err:?}");
    assert_eq!(lines[1], "Try 'tmalloc --help' for more information.");
    assert!(!err.contains("panicked"), "never a panic: {err:?}");
}

#[test]
fn bad_arguments_exit_2_with_one_clear_line() {
    for bin in binaries() {
        assert_usage_error(&run(&bin, &["--bogus"]), "unknown option '--bogus'");
        assert_usage_error(&run(&bin, &["-x"]), "unknown option '-x'");
        assert_usage_error(&run(&bin, &["stray"]), "unexpected argument 'stray'");
        assert_usage_error(&run(&bin, &["--help=please"]), "'--help' takes no value");
        assert_usage_error(&run(&bin, &["--version", "--bogus"]), "'--bogus'");
        assert_usage_error(&run(&bin, &["--multi\nline"]), "unknown option '--multi\\nline'");
    }
}

/// A number that is only too large says so; an empty file name, or an
/// option `--image` does not take, is refused; a long argument is echoed
/// cut.
#[test]
fn odd_values_get_the_message_that_fits_them() {
    for bin in binaries() {
        let too_large = "invalid value '18446744073709551616' for '--seed': too large";
        assert_usage_error(&run(&bin, &["--seed", "18446744073709551616"]), too_large);
        assert_usage_error(&run(&bin, &["--limit", "99999999999999999999"]), "for '--limit': too large");
        assert_usage_error(&run(&bin, &["--trace="]), "invalid value '' for '--trace': an empty file name");
        assert_usage_error(
            &run(&bin, &["--image", "--trace", "a.rep"]),
            "option '--trace' does not apply to --image",
        );
        assert_usage_error(
            &run(&bin, &["--algo", "tlsf", "--image"]),
            "option '--algo' does not apply to --image",
        );
        let long = format!("--limit={}", "9".repeat(100_000));
        let out = run(&bin, &[&long]);
        assert_usage_error(&out, &format!("invalid value '{}...' for '--limit': too large", "9".repeat(128)));
        assert!(stderr(&out).len() < 300, "{} bytes", stderr(&out).len());
    }
}

#[test]
fn arguments_that_are_not_utf8_are_reported_not_panicked_on() {
    let bin = common::debug_binary();
    let out = Command::new(&bin).arg(std::ffi::OsStr::from_bytes(b"--\xff\xfe")).output().unwrap();
    assert_usage_error(&out, "unknown option '--\u{FFFD}");
}

/// The fault switch is in the binary the tests build, not in the release
/// one; the panic handler is the same code in both.
#[test]
fn a_panic_prints_file_line_message_and_exits_101() {
    {
        let out = run_with_env(&common::debug_binary(), &[], &[("TMALLOC_TEST_FAULT", "panic")]);
        assert_eq!(out.status.code(), Some(101));
        assert_eq!(stdout(&out), "");
        let err = stderr(&out);
        let line = err.strip_suffix('\n').expect("ends with a newline");
        assert!(!line.contains('\n'), "one line: {err:?}");
        let rest = line.strip_prefix("panicked at crates/app/src/faults.rs:").expect(&err);
        let (number, message) = rest.split_once(": ").expect(&err);
        assert!(number.parse::<u32>().is_ok(), "a line number: {err:?}");
        assert_eq!(message, "TMALLOC_TEST_FAULT=panic asked for a panic");
    }
}

/// The value printed after `label` on the line that starts with it.
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    let line = text
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label} in {text}"));
    line[label.len()..].split_whitespace().next().unwrap()
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("hex: {s}"))
}

#[test]
fn image_shows_the_process_the_kernel_started() {
    for bin in binaries() {
        let out = run(&bin, &["--image"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);

        // The auxiliary vector as the kernel gave it: page size, program
        // headers right after the 64-byte ELF header, entry at _start, which
        // linker.ld puts first in the code segment.
        assert_eq!(field(&text, "AT_PAGESZ"), "4096");
        let start = hex(field(&text, "0x"));
        assert_eq!(start, 0x400000);
        assert_eq!(hex(field(&text, "AT_PHDR")), start + 64);
        let text_start = text.lines().find(|l| l.contains("__text_start")).unwrap();
        assert_eq!(hex(field(&text, "AT_ENTRY")), hex(text_start.split_whitespace().next().unwrap()));
        assert_eq!(field(&text, "AT_RANDOM").len(), 32, "16 random bytes in hex");

        // The program break lies above `end`, and no [heap] exists yet.
        let end_line = text.lines().find(|l| l.contains("  end ")).unwrap();
        let end = hex(end_line.split_whitespace().next().unwrap());
        let brk = hex(field(&text, "Program break: brk(0) =").trim_end_matches(','));
        assert!(brk >= end, "break {brk:#x} above end {end:#x}");
        let maps: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" r--p ") || l.contains(" r-xp ") || l.contains(" rw-p "))
            .collect();
        assert!(maps.iter().any(|l| l.ends_with("[stack]")), "{text}");
        assert!(!maps.iter().any(|l| l.ends_with("[heap]")), "no heap before any allocation: {text}");
        assert!(text.contains("No [heap] line"));
    }
}
