use std::string::ToString;
use std::vec::Vec;

use super::*;

fn ops(t: &Trace) -> Vec<(OpKind, u32, u64, u8)> {
    t.ops.as_slice().iter().map(|o| (o.kind, o.slot, o.size, o.align_log2)).collect()
}

fn error(text: &str, strict: bool) -> (Option<u64>, std::string::String) {
    let e = decode(text.as_bytes(), strict).err().expect("an error");
    (e.line, e.to_string())
}

use OpKind::{Alloc, Free, Realloc};

#[test]
fn rep_files_decode_to_ops_with_recycled_slots() {
    let t = decode(b"20000\n3\n6\n1\na 0 512\na 1 128\nr 0 640\nf 1\na 2 16\nf 0\n", false).unwrap();
    assert_eq!(t.format, Format::Rep);
    assert_eq!(
        ops(&t),
        [
            (Alloc, 0, 512, 0),
            (Alloc, 1, 128, 0),
            (Realloc, 0, 640, 0),
            (Free, 1, 0, 0),
            (Alloc, 1, 16, 0),
            (Free, 0, 0, 0)
        ]
    );
    assert_eq!((t.slots, t.allocs, t.reallocs, t.frees), (2, 3, 1, 2));
    assert_eq!(t.peak_payload, 640 + 128);
    assert_eq!(t.lines, 10);
}

#[test]
fn rep_tolerates_blank_lines_crlf_and_runs_of_spaces() {
    let t = decode(b"0\r\n1\r\n2\r\n0\r\n\r\na  0   24\r\n\tf 0\r\n", false).unwrap();
    assert_eq!(ops(&t), [(Alloc, 0, 24, 0), (Free, 0, 0, 0)]);
}

#[test]
fn rep_errors_name_the_line_and_the_problem() {
    let header = "100\n4\n2\n1\n";
    let whole_files: &[(&str, u64, &str)] = &[
        ("100\nfour\n", 2, "expected the number of ids (.rep header)"),
        ("100\n4 5\n", 2, "expected the number of ids (.rep header)"),
        ("a 0 8\n", 1, "fits neither format"),
    ];
    let bodies: &[(&str, u64, &str)] = &[
        ("x 0 8\nf 0\n", 5, "expected `a ID BYTES`, `r ID BYTES` or `f ID`"),
        ("a 0\nf 0\n", 5, "expected `a ID BYTES`"),
        ("a 0 8 9\nf 0\n", 5, "expected `a ID BYTES`"),
        ("a 0 -8\nf 0\n", 5, "expected `a ID BYTES`"),
        ("f 0 1\nf 0\n", 5, "expected `a ID BYTES`"),
        ("a 9 8\nf 9\n", 5, "id 9 is out of range: the header announces 4 ids"),
        ("a 1 8\na 1 8\n", 6, "id 1 is allocated again without a free"),
        ("a 1 8\nf 2\n", 6, "`f 2`: id 2 was never allocated"),
        ("a 1 8\nr 3 9\n", 6, "`r 3`: id 3 was never allocated"),
    ];
    let with_header = bodies.iter().map(|&(body, line, message)| ([header, body].concat(), line, message));
    for (text, line, message) in whole_files.iter().map(|&(t, l, m)| (t.to_string(), l, m)).chain(with_header)
    {
        let (at, got) = error(&text, false);
        assert_eq!(at, Some(line), "{text:?}: {got}");
        assert!(got.contains(message), "{text:?}: {got}");
    }
    let (at, got) = error("100\n4\n3\n1\na 1 8\nf 1\nf 1\n", false);
    assert_eq!((at, got.as_str()), (Some(7), "7: `f 1`: double free: id 1 was freed on line 6"));
    let (at, got) = error("100\n4\n3\n1\na 1 8\nf 1\nr 1 9\n", false);
    assert_eq!((at, got.as_str()), (Some(7), "7: `r 1`: realloc after free: id 1 was freed on line 6"));
    let (at, got) = error("100\n4\n3\n1\na 1 8\nf 1\n", false);
    assert_eq!((at, got.as_str()), (Some(3), "3: the header announces 3 operations, the file has 2"));
    let (at, got) = error("100\n4\n", false);
    assert_eq!((at, got.as_str()), (None, "expected the number of operations (.rep header)"));
    assert_eq!(error("", false), (None, "empty file: neither a .rep trace nor a valgrind log".into()));
    assert_eq!(error("\n \n", false).1, "empty file: neither a .rep trace nor a valgrind log");
    assert!(error("hello\n", false).1.starts_with("1: fits neither format"));
}

/// The lines valgrind 3.19 wrote for tests/traces/calls.c (trimmed), with
/// a forked child's lines mixed in.
const VALGRIND: &str = "\
==32022== Memcheck, a memory error detector
==32022== Command: ./t
--32022-- malloc(16) = 0x4A40040
--32022-- calloc(3,8) = 0x4A40090
--32022-- realloc(0x4A40040,100) = 0x4A400F0
--32022-- realloc(0x0,40)malloc(40) = 0x4A401A0
--32022-- memalign(al 64, size 100) = 0x4A40280
--32022-- _ZnwmSt11align_val_t(size 50, al 32) = 0x4A40380
--32022-- malloc(0) = 0x4A40340
--32022-- malloc_usable_size(0x4A40340) = 0
--32022-- realloc(0x4A401A0,0)free(0x4A401A0)
--32022--  = 0
partial--32022-- free(0x4A400F0)
--32023-- malloc(7) = 0x4A40420
--32022-- _ZdlPvm(0x4A40090)
--32023-- free(0x4A40420)
--32022-- free(0x0)
--32024-- free(0x0)
==32022== HEAP SUMMARY:
";

#[test]
fn valgrind_logs_decode_every_call_shape() {
    let t = decode(VALGRIND.as_bytes(), true).unwrap();
    assert_eq!(t.format, Format::Valgrind);
    assert_eq!(t.pid, Some(32022));
    assert_eq!(
        ops(&t),
        [
            (Alloc, 0, 16, 0),
            (Alloc, 1, 24, 0),
            (Realloc, 0, 100, 0),
            (Alloc, 2, 40, 0),
            (Alloc, 3, 100, 6),
            (Alloc, 4, 50, 5),
            (Alloc, 5, 0, 0),
            (Free, 2, 0, 0),
            (Free, 0, 0, 0),
            (Free, 1, 0, 0),
        ]
    );
    assert_eq!(t.skipped.total(), 0);
    assert_eq!(t.other_processes, OtherProcesses { count: 2, lines: 3, first_pid: 32023 });
    assert_eq!(t.peak_payload, 100 + 24 + 40 + 100 + 50);
}

#[test]
fn valgrind_lines_that_cannot_be_paired_are_skipped_or_strict_errors() {
    let log = "\
==7== x
--7-- free(0x1000)
--7-- malloc(8) = 0x2000
--7-- malloc(8) = 0x2000
--7-- posix_memalign(al 64, size 100)
--7-- malloc(99) = 0x0
--7-- realloc(0x3000,9) = 0x4000
--7-- malloc(banana) = 0x5000
--7-- calloc(18446744073709551615,2) = 0x5000
--7-- memalign(al 48, size 8) = 0x5000
--7-- free(0x4000)
";
    let t = decode(log.as_bytes(), false).unwrap();
    let count = |why: Skip| (t.skipped.count[why as usize], t.skipped.first_line[why as usize]);
    assert_eq!(count(Skip::UnknownFree), (1, 2));
    assert_eq!(count(Skip::AddressStillLive), (1, 4));
    assert_eq!(count(Skip::NoAddress), (1, 5));
    assert_eq!(count(Skip::NullResult), (1, 6));
    assert_eq!(count(Skip::UnknownRealloc), (1, 7));
    assert_eq!(count(Skip::Malformed), (3, 8));
    // The missed free is supplied; the unknown realloc's result is an allocation.
    assert_eq!(
        ops(&t),
        [(Alloc, 0, 8, 0), (Free, 0, 0, 0), (Alloc, 0, 8, 0), (Alloc, 1, 9, 0), (Free, 1, 0, 0)]
    );
    let (at, message) = error(log, true);
    assert_eq!(at, Some(2));
    assert_eq!(message, "2: `free(0x1000)`: free of an address no live block has (--strict)");
    // --strict names what it saw, whatever the reason.
    let strict = |line: &str| error(&std::format!("==7== x\n--7-- malloc(8) = 0x2000\n{line}\n"), true).1;
    assert_eq!(
        strict("--7-- malloc(banana) = 0x5000"),
        "3: `malloc(banana) = 0x5000`: allocation call that does not parse (--strict)"
    );
    assert_eq!(
        strict("--7-- malloc(99) = 0x0"),
        "3: `malloc(99) = 0x0`: allocation that returned NULL (--strict)"
    );
    assert_eq!(
        strict(&std::format!("--7-- malloc({}) = 0x1", "9".repeat(100))),
        std::format!("3: `malloc({}...`: allocation call that does not parse (--strict)", "9".repeat(41))
    );
}

/// valgrind prints a call and its result apart; another thread's record
/// can come in between, as in this line of a multi-threaded program.
#[test]
fn interleaved_calls_replay_the_last_and_count_the_interrupted() {
    let log = "\
--15282-- malloc(765)calloc(17,16) = 0x6DEF090
--15282--  = 0x6DEF500
--15282-- malloc(10)free(0x6DEF090)
--15282-- realloc(0x0,40)malloc(41) = 0x6DEF600
--15282-- realloc(0x0,24)malloc(24) = 0x6DEF700
--15282-- realloc(0x6DEF700,0)free(0x6DEF700)
--15282-- malloc_usable_size(0x6DEF600)malloc(1) = 0x6DEF800
";
    let t = decode(log.as_bytes(), false).unwrap();
    assert_eq!(
        ops(&t),
        [
            (Alloc, 0, 272, 0),
            (Free, 0, 0, 0),
            (Alloc, 0, 41, 0),
            (Alloc, 1, 24, 0),
            (Free, 1, 0, 0),
            (Alloc, 1, 1, 0)
        ]
    );
    let count = |why: Skip| (t.skipped.count[why as usize], t.skipped.first_line[why as usize]);
    assert_eq!(count(Skip::Interrupted), (3, 1), "malloc(765), malloc(10) and realloc(0x0,40)");
    assert_eq!(t.skipped.total(), 3);
    assert_eq!(
        error(log, true),
        (Some(1), "1: `malloc(765)`: allocation call interrupted by another call (--strict)".into())
    );
}

#[test]
fn valgrind_ignores_other_output_and_cut_lines() {
    let mut log = std::string::String::from(
        "==1== start\n--1-- Reading syms from /bin/ls\nprogram output (with parens)\n",
    );
    log.push_str(&"x".repeat(100_000));
    log.push_str("\n--1-- malloc(5) = 0x10\n");
    let t = decode(log.as_bytes(), true).unwrap();
    assert_eq!(ops(&t), [(Alloc, 0, 5, 0)]);
}

/// `text` written to a file of its own and loaded from it, through the
/// line reader, as the binary reads it.
fn load_text(text: &[u8], strict: bool) -> Result<Trace, LoadError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(std::format!(
        "tmalloc-trace-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, text).unwrap();
    let loaded = load(path.to_str().unwrap().as_bytes(), strict, &mut || panic!("a file never waits"));
    std::fs::remove_file(path).unwrap();
    loaded
}

/// Lines of any length are read, or their record is counted as skipped on
/// its own line: a record after 100 KB of the program's output is replayed;
/// one followed by 100 KB is too long to be valgrind's.
#[test]
fn long_lines_are_read_or_their_record_counted() {
    let output = "x".repeat(100_000);
    let mut log = std::string::String::from("==1== start\n");
    log.push_str(&std::format!("{output}--1-- malloc(5) = 0x10\n"));
    log.push_str(&std::format!("--1-- malloc(7){output} = 0x20\n"));
    log.push_str(&std::format!("{output}\n--1-- free(0x10)\n"));
    log.push_str(&std::format!("{}--1-- malloc(9) = 0x30\n", "y".repeat(READ_BUFFER - 10)));
    log.push_str(&std::format!("{output}--2-- malloc(1) = 0x40{output}\n"));
    let t = load_text(log.as_bytes(), false).unwrap();
    assert_eq!(ops(&t), [(Alloc, 0, 5, 0), (Free, 0, 0, 0), (Alloc, 0, 9, 0)]);
    assert_eq!(
        (t.skipped.count[Skip::LongLine as usize], t.skipped.first_line[Skip::LongLine as usize]),
        (1, 3)
    );
    assert_eq!(t.skipped.total(), 1);
    assert_eq!(t.lines, 7);
    assert_eq!(t.other_processes, OtherProcesses { count: 1, lines: 1, first_pid: 2 });
    let e = load_text(log.as_bytes(), true).err().unwrap();
    assert_eq!(e.line, Some(3));
    assert_eq!(
        e.to_string(),
        std::format!(
            "3: `malloc(7){}...`: record followed by more than 4 KiB on its line (--strict)",
            "x".repeat(39)
        )
    );
    // The same log in memory: every line whole, no record too long.
    assert_eq!(decode(log.as_bytes(), false).unwrap().ops.len(), 3);
}

#[test]
fn a_long_rep_line_is_refused_on_its_line() {
    let text = std::format!("100\n4\n2\n1\na 0 {}\nf 0\n", "9".repeat(100_000));
    let e = load_text(text.as_bytes(), false).err().unwrap();
    assert_eq!((e.line, e.to_string()), (Some(5), "5: line too long".into()));
    let t = load_text(b"\n\n100\n4\n2\n1\na 0 8\nf 0\n", false).unwrap();
    assert_eq!((t.lines, t.ops.len()), (8, 2));
}

#[test]
fn any_address_is_a_key_even_the_highest() {
    // u64::MAX marks the key map's empty entries; a log may still name it.
    let log =
        "--7-- malloc(16) = 0xffffffffffffffff\n--7-- malloc(8) = 0x10\n--7-- free(0xffffffffffffffff)\n";
    let t = decode(log.as_bytes(), true).unwrap();
    assert_eq!(ops(&t), [(Alloc, 0, 16, 0), (Alloc, 1, 8, 0), (Free, 0, 0, 0)]);
}

/// A generated trace line: for valgrind, `NAME(ARG,ARG) = RESULT` with any
/// part missing or odd; for `.rep`, `OP ARG ARG`.
type Line = (usize, std::vec::Vec<(usize, usize)>, Option<usize>);

fn line_text(rep: bool, (name, args, result): &Line) -> std::string::String {
    let arg = |&(prefix, value): &(usize, usize)| std::format!("{}{}", ARG_PREFIXES[prefix], VALUES[value]);
    let args: std::vec::Vec<_> = args.iter().map(arg).collect();
    if rep {
        return std::format!("{} {}", ["a", "r", "f", "x"][name % 4], args.join(" "));
    }
    let mut text = std::format!("--7-- {}({})", NAMES[*name], args.join(","));
    if let Some(r) = result {
        text.push_str(" = ");
        text.push_str(VALUES[*r]);
    }
    text
}

const NAMES: [&str; 10] = [
    "malloc",
    "calloc",
    "realloc",
    "free",
    "memalign",
    "_Znwm",
    "_ZdlPv",
    "realloc(0x0,16)malloc",
    "posix_memalign",
    "",
];
const ARG_PREFIXES: [&str; 4] = ["", "", "al ", "size "];
const VALUES: [&str; 12] = [
    "0",
    "1",
    "16",
    "0x10",
    "0x20",
    "0x0",
    "0xffffffffffffffff",
    "18446744073709551615",
    "4294967295",
    "0x1ffffffffffffffff",
    "",
    "x",
];

proptest::proptest! {
    /// Whatever the lines, decoding ends in a trace or an error, never a
    /// panic: a valid first line picks the format, then calls with any
    /// name, any arguments (extreme numbers among them), with or without
    /// a result, on a small set of addresses and ids so that they meet;
    /// valgrind calls may follow each other on a line, as interleaved
    /// threads print them.
    #[test]
    fn decoding_never_panics(
        lines in proptest::collection::vec(
            (0usize..NAMES.len(), proptest::collection::vec((0usize..4, 0usize..VALUES.len()), 0..3),
             proptest::option::of(0usize..VALUES.len()), proptest::bool::weighted(0.3)),
            0..80,
        ),
        rep: bool,
        strict: bool,
    ) {
        let mut text = std::string::String::from(if rep { "100\n4\n9\n1\n" } else { "--7-- malloc(8) = 0x10" });
        for (name, args, result, joined) in &lines {
            let line = line_text(rep, &(*name, args.clone(), *result));
            match line.strip_prefix("--7-- ") {
                Some(call) if *joined => text.push_str(call),
                _ => {
                    text.push('\n');
                    text.push_str(&line);
                }
            }
        }
        text.push('\n');
        let _ = decode(text.as_bytes(), strict);
    }
}
