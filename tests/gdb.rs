//! gdb against the debug binary: the command file (gdb/tmalloc.gdb) and
//! the heap commands of the Python extension (gdb/tmalloc.py).
//!
//! gdb is required: `.ci/run` installs it, and without it these tests fail
//! saying how to install it, rather than passing without having run.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::OnceLock;

use common::dev_binary;

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// Fails, saying how to install it, unless gdb runs and has Python. Asked
/// once per test run.
fn require_gdb_with_python() {
    static FOUND: OnceLock<Result<(), String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        match Command::new("gdb").args(["-nx", "-batch", "-ex", "python print('python ok')"]).output() {
            Ok(out) if String::from_utf8_lossy(&out.stdout).contains("python ok") => Ok(()),
            Ok(_) => {
                Err("this gdb has no Python support, which gdb/tmalloc.py needs: install Debian's gdb".into())
            }
            Err(e) => Err(format!(
                "gdb cannot be run ({e}): install it (Debian/Ubuntu: `sudo apt-get install -y gdb`)"
            )),
        }
    });
    if let Err(why) = found {
        panic!("{why}");
    }
}

/// Runs gdb in batch mode from the repository root: `commands` (one per
/// `-ex`) against the dev-profile binary run with `args`. Returns stdout
/// and stderr interleaved, as the user sees them.
fn gdb(commands: &[&str], args: &[&str]) -> String {
    require_gdb_with_python();
    // One pipe for both streams (through the shell): gdb writes errors to
    // stderr and the tests read them in order with the rest.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "exec gdb \"$@\" 2>&1", "gdb", "-nx", "-q", "-batch"]);
    cmd.current_dir(MANIFEST).env_remove("TMALLOC_TEST_FAULT");
    for c in commands {
        cmd.args(["-ex", c]);
    }
    cmd.arg("--args").arg(dev_binary()).args(args);
    let out = cmd.output().expect("sh runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text between `@@name` and the next `@@` marker (echoed by the commands).
fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let marker = format!("@@{name}\n");
    let start =
        out.find(&marker).unwrap_or_else(|| panic!("no section {name} in gdb output:\n{out}")) + marker.len();
    let rest = &out[start..];
    &rest[..rest.find("@@").unwrap_or(rest.len())]
}

fn mark(name: &str) -> String {
    format!("echo @@{name}\\n")
}

fn has_heap_mapping(text: &str) -> bool {
    text.lines().any(|l| l.trim_end().ends_with("[heap]"))
}

/// The rows of `tmalloc heap`: (address, usable bytes if used, state).
fn heap_rows(text: &str) -> Vec<(u64, u64, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let addr = u64::from_str_radix(f.first()?.strip_prefix("0x")?, 16).ok()?;
            let used = matches!(f.get(3).copied(), Some("used" | "mmapped"));
            let state = if used { f[3] } else { *f.get(2)? };
            let usable = if used { f[2].parse().ok()? } else { 0 };
            Some((addr, usable, state.to_string()))
        })
        .collect()
}

/// The `name  value` lines of `tmalloc stats`.
fn stats(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (name, value) = l.trim().rsplit_once(' ')?;
            Some((name.trim().to_string(), value.replace(',', "").parse().ok()?))
        })
        .collect()
}

#[test]
fn the_command_file_shows_the_heap_appear_at_the_first_brk() {
    let out = gdb(&["source gdb/tmalloc.gdb"], &["--limit", "16M", "--algo", "first-fit"]);
    // Split by the command file's own banners.
    let before = &out[..out.find("=== catch the first brk").expect("the brk banner")];
    let after = &out[out.find("=== brk returned").expect("the brk-returned banner")..];
    assert!(before.contains("0x0000000000") && before.contains("Mapped address spaces"), "{out}");
    assert!(!has_heap_mapping(before), "a [heap] at starti:\n{before}");
    assert!(has_heap_mapping(after), "no [heap] after the first brk:\n{after}");
    assert!(out.contains("returned to tmalloc_app::commands::consume::first_allocation"), "{out}");
    assert!(!out.contains("Traceback"), "{out}");
}

#[test]
fn tmalloc_called_from_gdb_at_starti_creates_the_heap() {
    // Plain gdb: no macro stands in for `tmalloc`, which no debug-info
    // namespace of that name may hide (Cargo.toml, [profile.dev.package.tmalloc]).
    let out = gdb(
        &[
            "source gdb/tmalloc.py",
            "set language c",
            "starti",
            &mark("before"),
            "info proc mappings",
            "tmalloc heap",
            &mark("call"),
            "print (void*) tmalloc(64)",
            &mark("after"),
            "info proc mappings",
            &mark("heap"),
            "tmalloc heap",
            &mark("free"),
            "call tfree($1)",
            "tmalloc stats",
            &mark("end"),
        ],
        &[],
    );
    let before = section(&out, "before");
    assert!(!has_heap_mapping(before), "{before}");
    assert!(before.contains("tmalloc: no heap yet"), "no clear message before the first call:\n{before}");
    let call = section(&out, "call");
    let addr = call
        .split("(void *) 0x")
        .nth(1)
        .and_then(|s| u64::from_str_radix(s.split_whitespace().next()?, 16).ok())
        .unwrap_or_else(|| panic!("no pointer printed:\n{call}"));
    assert!(addr != 0 && addr.is_multiple_of(16), "tmalloc(64) = {addr:#x}");
    assert!(has_heap_mapping(section(&out, "after")), "{out}");
    let rows = heap_rows(section(&out, "heap"));
    let row = rows.iter().find(|r| r.0 == addr).unwrap_or_else(|| panic!("{addr:#x} not listed:\n{out}"));
    assert_eq!(row.2, "used");
    assert!(row.1 >= 64, "usable {}", row.1);
    let freed = stats(section(&out, "free"));
    assert_eq!(freed.get("live blocks"), Some(&0), "{out}");
}

/// Stops the experiment's contender after `calls` allocations of the
/// workload, and returns the output of `tmalloc heap --slots` and `tmalloc stats`.
fn at_a_breakpoint_in_consume_memory(policy: &str, calls: &str) -> (String, String) {
    let out = gdb(
        &[
            "source gdb/tmalloc.py",
            "set language c",
            "set follow-fork-mode child",
            "break tmalloc_workload::consume_memory::ConsumeMemory::adopt",
            &format!("ignore 1 {calls}"),
            "run",
            &mark("heap"),
            "tmalloc heap --slots",
            &mark("stats"),
            "tmalloc stats",
            &mark("bins"),
            "tmalloc bins",
            &mark("vis"),
            "tmalloc vis",
            &mark("end"),
        ],
        &["--format", "csv", "--algo", policy, "--sizes", "wide"],
    );
    assert!(!out.contains("Traceback") && !out.contains("tmalloc: "), "{policy}:\n{out}");
    assert!(section(&out, "vis").contains("# used"), "{out}");
    assert!(!section(&out, "bins").trim().is_empty(), "{out}");
    (section(&out, "heap").to_string(), section(&out, "stats").to_string())
}

#[test]
fn the_heap_listing_agrees_with_the_stats_for_several_policies() {
    for policy in ["slab-tlsf", "first-fit", "buddy", "tlsf"] {
        let (heap, stats_text) = at_a_breakpoint_in_consume_memory(policy, "3000");
        assert!(heap.contains(&format!("tmalloc {policy} heap: `heap` in frame")), "{heap}");
        let rows = heap_rows(&heap);
        let used: Vec<_> = rows.iter().filter(|r| r.2 == "used" || r.2 == "mmapped").collect();
        let stats = stats(&stats_text);
        assert!(stats["live blocks"] > 1000, "{policy}: {stats_text}");
        assert_eq!(used.len() as u64, stats["live blocks"], "{policy}: used blocks listed vs live");
        assert_eq!(
            used.iter().map(|r| r.1).sum::<u64>(),
            stats["live bytes"],
            "{policy}: usable bytes vs live"
        );
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "{policy}: blocks are not in address order");
    }
}

#[test]
fn bad_input_to_the_heap_commands_gives_one_line_not_a_traceback() {
    let out = gdb(
        &[
            "source gdb/tmalloc.py",
            &mark("not-running"),
            "tmalloc heap",
            "starti",
            &mark("not-a-heap"),
            "tmalloc heap 5 + 1",
            &mark("no-such-arena"),
            "tmalloc heap 5",
            &mark("corrupt"),
            "set language c",
            "print (void*) tmalloc_aligned(64, 16)",
            // The block's 4-byte header, in front of the payload: size 4.
            "set {unsigned int}((char*)$1 - 4) = 4 | 1",
            "tmalloc heap",
            &mark("unknown-policy"),
            "python POLICIES.pop('SlabTlsf')",
            "tmalloc stats",
            &mark("end"),
        ],
        &[],
    );
    assert!(!out.contains("Traceback"), "{out}");
    assert!(section(&out, "not-running").contains("tmalloc: the program is not running"), "{out}");
    assert!(section(&out, "not-a-heap").contains("not a tmalloc heap"), "{out}");
    assert!(section(&out, "no-such-arena").contains("tmalloc: no arena 5"), "{out}");
    assert!(section(&out, "corrupt").contains("tmalloc: corrupted header at"), "{out}");
    assert!(section(&out, "unknown-policy").contains("policy `SlabTlsf` is not known"), "{out}");
}
