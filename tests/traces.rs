//! `tmalloc --trace`: the shipped traces replayed end to end, with their
//! operation counts and peak payloads computed here by a parser of our own
//! (regular expressions, not the binary's code), and every bad input.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{debug_binary, run, stderr, stdout};
use regex::Regex;

fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces")
}

/// Every trace shipped in the repository.
fn shipped() -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in [traces_dir(), traces_dir().join("cases")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if matches!(path.extension().and_then(|e| e.to_str()), Some("rep" | "vglog")) {
                all.push(path);
            }
        }
    }
    all.sort();
    assert!(all.len() >= 7, "traces missing: {all:?}");
    all
}

/// Operations and peak payload, by the trace's sizes.
#[derive(Debug, PartialEq)]
struct Expected {
    ops: u64,
    peak_payload: u64,
}

/// A `.rep` file, read the obvious way.
fn expected_rep(text: &str) -> Expected {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<u64> = lines.by_ref().take(4).map(|l| l.trim().parse().unwrap()).collect();
    let (mut live, mut sizes, mut peak, mut ops) = (0u64, HashMap::new(), 0, 0);
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["a" | "r", id, size] => {
                live = live - sizes.get(id).copied().unwrap_or(0) + size.parse::<u64>().unwrap();
                sizes.insert(id, size.parse().unwrap());
            }
            ["f", id] => live -= sizes.remove(id).unwrap(),
            _ => panic!("bad line {line:?}"),
        }
        peak = peak.max(live);
        ops += 1;
    }
    assert_eq!(ops, header[2]);
    Expected { ops, peak_payload: peak }
}

/// A valgrind log: the first process's allocation records only.
fn expected_valgrind(text: &str) -> Expected {
    let record = Regex::new(r"--(\d+)-- (.*)$").unwrap();
    let alloc =
        Regex::new(r"^(?:malloc|_Znwm|_Znam|_ZnamRKSt9nothrow_t)\((\d+)\) = 0x([0-9A-Fa-f]+)$").unwrap();
    let calloc = Regex::new(r"^calloc\((\d+),(\d+)\) = 0x([0-9A-Fa-f]+)$").unwrap();
    let aligned = Regex::new(
        r"^(?:memalign|aligned_alloc|_ZnwmSt11align_val_t)\((?:al \d+, )?size (\d+)(?:, al \d+)?\) = 0x([0-9A-Fa-f]+)$",
    )
    .unwrap();
    let realloc = Regex::new(r"^realloc\(0x([0-9A-Fa-f]+),(\d+)\) = 0x([0-9A-Fa-f]+)$").unwrap();
    let realloc_null = Regex::new(r"^realloc\(0x0,(\d+)\)malloc\(\d+\) = 0x([0-9A-Fa-f]+)$").unwrap();
    let realloc_zero = Regex::new(r"^realloc\(0x([0-9A-Fa-f]+),0\)free\(0x[0-9A-Fa-f]+\)$").unwrap();
    let free = Regex::new(
        r"^(?:free|_ZdlPv|_ZdaPv|_ZdlPvm|_ZdaPvm|_ZdlPvSt11align_val_t)\(0x([0-9A-Fa-f]+)(?:, al \d+)?\)$",
    )
    .unwrap();
    let (mut first_pid, mut sizes, mut live, mut peak, mut ops) = (None, HashMap::new(), 0u64, 0u64, 0u64);
    for line in text.lines() {
        let Some(c) = record.captures(line) else { continue };
        let pid = c[1].to_string();
        if *first_pid.get_or_insert_with(|| pid.clone()) != pid {
            continue;
        }
        let call = c[2].trim_end();
        let mut add = |address: &str, size: u64, sizes: &mut HashMap<String, u64>| {
            assert!(sizes.insert(address.to_string(), size).is_none(), "{line}");
            live += size;
            peak = peak.max(live);
            ops += 1;
        };
        if let Some(c) = alloc.captures(call) {
            add(&c[2], c[1].parse().unwrap(), &mut sizes);
        } else if let Some(c) = calloc.captures(call) {
            add(&c[3], c[1].parse::<u64>().unwrap() * c[2].parse::<u64>().unwrap(), &mut sizes);
        } else if let Some(c) = aligned.captures(call) {
            add(&c[2], c[1].parse().unwrap(), &mut sizes);
        } else if let Some(c) = realloc_null.captures(call) {
            add(&c[2], c[1].parse().unwrap(), &mut sizes);
        } else if let Some(c) = realloc.captures(call) {
            let old = sizes.remove(&c[1]).expect("realloc of a live block");
            let new: u64 = c[2].parse().unwrap();
            sizes.insert(c[3].to_string(), new);
            live = live - old + new;
            peak = peak.max(live);
            ops += 1;
        } else if let Some(c) = realloc_zero.captures(call).or_else(|| free.captures(call)) {
            if &c[1] != "0" {
                live -= sizes.remove(&c[1]).expect("free of a live block");
                ops += 1;
            }
        } else {
            let event = ["alloc(", "free(", "_Zn", "_Zd"].iter().any(|s| call.contains(s));
            assert!(!event || call.starts_with("malloc_usable_size("), "unhandled: {line}");
        }
    }
    Expected { ops, peak_payload: peak }
}

fn expected(path: &Path) -> Expected {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().unwrap() == "rep" { expected_rep(&text) } else { expected_valgrind(&text) }
}

/// One CSV row of `--trace --format csv`.
#[derive(Debug)]
struct Row {
    trace: String,
    contender: String,
    status: String,
    ops: u64,
    peak_payload: Option<u64>,
    peak_heap: Option<u64>,
    utilization: String,
    ns_per_op: String,
    kernel_calls: u64,
}

fn replay_csv(args: &[&str]) -> Vec<Row> {
    let mut all = vec!["--format", "csv"];
    all.extend_from_slice(args);
    let out = run(&debug_binary(), &all);
    assert!(out.status.success(), "{all:?}: {}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "trace,contender,status,ops,peak_payload_bytes,peak_heap_bytes,utilization,ns_per_op,kernel_calls"
        )
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 9, "{l}");
            Row {
                trace: f[0].into(),
                contender: f[1].into(),
                status: f[2].into(),
                ops: f[3].parse().unwrap(),
                peak_payload: f[4].parse().ok(),
                peak_heap: f[5].parse().ok(),
                utilization: f[6].into(),
                ns_per_op: f[7].into(),
                kernel_calls: f[8].parse().unwrap(),
            }
        })
        .collect()
}

/// No growth and trim going back and forth: `brk`, `mmap` and `munmap`
/// together (the page map's pages included) at most 4 per MiB of the peak
/// heap, rounded up.
fn assert_few_kernel_calls(row: &Row) {
    let mib = row.peak_heap.unwrap().div_ceil(1 << 20);
    assert!(row.kernel_calls <= 4 * mib, "{row:?}: {} calls for {mib} MiB", row.kernel_calls);
}

/// `num / den` to 3 decimals, rounded half up, as the binary prints it.
fn ratio3(num: u64, den: u64) -> String {
    let thousandths = (num * 1000 + den / 2) / den;
    format!("{}.{:03}", thousandths / 1000, thousandths % 1000)
}

#[test]
fn every_shipped_trace_replays_with_independently_computed_counts() {
    let traces = shipped();
    let mut args: Vec<&str> = vec!["--algo", "slab-tlsf,best-fit,buddy,linked-list-allocator", "--trace"];
    let names: Vec<String> = traces.iter().map(|p| p.to_str().unwrap().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let rows = replay_csv(&args);
    assert_eq!(rows.len(), 4 * traces.len() + 4, "a row per trace and contender, then the averages");
    for (path, chunk) in traces.iter().zip(rows.chunks(4)) {
        let want = expected(path);
        for row in chunk {
            assert_eq!(row.trace, path.to_str().unwrap());
            assert_eq!(row.status, "ok", "{row:?}: every block kept its contents");
            assert_eq!((row.ops, row.peak_payload), (want.ops, Some(want.peak_payload)), "{row:?}");
            let heap = row.peak_heap.unwrap();
            assert!(heap >= want.peak_payload && heap % 4096 == 0, "{row:?}");
            assert_eq!(row.utilization, ratio3(want.peak_payload, heap), "{row:?}");
            assert!(row.ns_per_op.parse::<f64>().unwrap() > 0.0, "{row:?}");
            assert_few_kernel_calls(row);
        }
    }
    // The average rows: the mean of each contender's utilizations, all ops.
    for (i, avg) in rows[4 * traces.len()..].iter().enumerate() {
        let mine: Vec<&Row> = rows.chunks(4).take(traces.len()).map(|c| &c[i]).collect();
        assert_eq!((avg.trace.as_str(), avg.status.as_str()), ("average", "ok"));
        assert_eq!(avg.contender, mine[0].contender);
        assert_eq!(avg.ops, mine.iter().map(|r| r.ops).sum::<u64>());
        let ppm: u64 =
            mine.iter().map(|r| r.peak_payload.unwrap() * 1_000_000 / r.peak_heap.unwrap()).sum::<u64>();
        assert_eq!(avg.utilization, ratio3(ppm, traces.len() as u64 * 1_000_000), "{avg:?}");
    }
}

#[test]
fn the_odd_valgrind_lines_are_understood() {
    let odd = std::fs::read_to_string(traces_dir().join("cases/odd-lines.vglog")).unwrap();
    for shape in
        ["realloc(0x0,40)malloc(40) = 0x", ",0)free(0x", "(size 96, al 32)", "(al 64, size 256)", "newline--"]
    {
        assert!(odd.contains(shape), "odd-lines.vglog lacks {shape}");
    }
    assert_eq!(expected_valgrind(&odd), Expected { ops: 9, peak_payload: 4000 + 256 + 96 + 24 });
    let calls = traces_dir().join("cases/calls.vglog");
    let text = std::fs::read_to_string(&calls).unwrap();
    let want = expected_valgrind(&text);
    assert_eq!(want, Expected { ops: 17, peak_payload: 580 }, "the test's own parser agrees with calls.c");
    let out = run(&debug_binary(), &["--algo", "slab-tlsf", "--trace", calls.to_str().unwrap()]);
    assert!(out.status.success());
    // The forked child's records are left out, and the report says so.
    let report = stdout(&out);
    let pids: std::collections::BTreeSet<&str> =
        text.lines().filter_map(|l| l.strip_prefix("--")?.split("--").next()).collect();
    assert_eq!(pids.len(), 2);
    let child_lines =
        text.lines().filter(|l| l.starts_with(&format!("--{}--", pids.last().unwrap()))).count();
    assert!(
        report.contains(&format!(
            "ignored {child_lines} lines of 1 other process (first pid {})",
            pids.last().unwrap()
        )),
        "{report}"
    );
}

fn temp_trace(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tmalloc-traces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Runs `--trace` on `file` and expects exit 2 with exactly `message`
/// (after `tmalloc: FILE`) as the one line on stderr.
fn refused(file: &Path, extra: &[&str], message: &str) {
    let mut args = vec!["--trace", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&debug_binary(), &args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err, format!("tmalloc: {}{message}\n", file.display()), "{args:?}");
    assert!(stdout(&out).is_empty(), "nothing is replayed when a trace is bad");
}

#[test]
fn bad_traces_are_refused_with_file_and_line() {
    const HEADER: &str = "100\n4\n2\n1\n";
    refused(Path::new("/no/such/trace.rep"), &[], ": cannot open: ENOENT (No such file or directory)");
    refused(&traces_dir(), &[], ": cannot read: EISDIR (Is a directory)");
    let cases: &[(&str, &str, &str)] = &[
        ("bad-line.rep", "a 0 8\nz 0\n", ":6: expected `a ID BYTES`, `r ID BYTES` or `f ID`"),
        ("unknown-free.rep", "a 0 8\nf 3\n", ":6: `f 3`: id 3 was never allocated"),
        ("unknown-realloc.rep", "a 0 8\nr 1 9\n", ":6: `r 1`: id 1 was never allocated"),
        ("too-many.rep", "a 0 8\nf 0\na 1 8\n", ":3: the header announces 2 operations, the file has 3"),
        ("bad-size.rep", "a 0 eight\nf 0\n", ":5: expected `a ID BYTES`, `r ID BYTES` or `f ID`"),
        ("id-range.rep", "a 4 8\nf 4\n", ":5: id 4 is out of range: the header announces 4 ids"),
    ];
    for (name, body, message) in cases {
        refused(&temp_trace(name, &format!("{HEADER}{body}")), &[], message);
    }
    let double = temp_trace("double.rep", "100\n4\n3\n1\na 0 8\nf 0\nf 0\n");
    refused(&double, &[], ":7: `f 0`: double free: id 0 was freed on line 6");
    refused(&temp_trace("empty.rep", ""), &[], ": empty file: neither a .rep trace nor a valgrind log");
    refused(
        &temp_trace("prose.txt", "\nhello world\n"),
        &[],
        ":2: fits neither format: expected a .rep header (a number) or a valgrind line (==PID== or --PID--)",
    );
    refused(&temp_trace("header.rep", "100\n4\n"), &[], ": expected the number of operations (.rep header)");
    let binary = temp_trace("binary.rep", "100\n4\n1\n1\na 0 \u{fffd}\0\n");
    refused(&binary, &[], ":5: expected `a ID BYTES`, `r ID BYTES` or `f ID`");
    let long = temp_trace("long.rep", &format!("{HEADER}a 0 {}\nf 0\n", "9".repeat(100_000)));
    refused(&long, &[], ":5: line too long");
}

#[test]
fn unpaired_valgrind_lines_are_counted_or_refused_with_strict() {
    let log = temp_trace(
        "unpaired.vglog",
        "==7== Memcheck\n--7-- malloc(8) = 0x1000\n--7-- free(0x2000)\n--7-- posix_memalign(al 64, size 100)\n--7-- free(0x1000)\n",
    );
    let rows = replay_csv(&["--algo", "slab-tlsf", "--trace", log.to_str().unwrap()]);
    assert_eq!((rows[0].status.as_str(), rows[0].ops), ("ok", 2));
    let out = run(&debug_binary(), &["--algo", "slab-tlsf", "--trace", log.to_str().unwrap()]);
    let report = stdout(&out);
    assert!(report.contains("skipped 2 lines"), "{report}");
    assert!(report.contains("1 free of an address no live block has (first on line 3)"), "{report}");
    assert!(report.contains("1 allocation without its address (first on line 4)"), "{report}");
    refused(&log, &["--strict"], ":3: `free(0x2000)`: free of an address no live block has (--strict)");
}

/// A record after 100 KB of the program's output on its line is replayed;
/// one followed by 100 KB, or cut off by another thread's call, is counted
/// on its own line, and is the one `--strict` names.
#[test]
fn long_and_interleaved_valgrind_lines_are_read_or_counted() {
    let output = "x".repeat(100_000);
    let log = temp_trace(
        "long-lines.vglog",
        &format!(
            "==7== Memcheck\n{output}--7-- malloc(8) = 0x1000\n--7-- malloc(765)calloc(17,16) = 0x2000\n\
             --7-- malloc(5){output} = 0x3000\n--7-- free(0x1000)\n--7-- free(0x2000)\n"
        ),
    );
    let rows = replay_csv(&["--algo", "slab-tlsf", "--trace", log.to_str().unwrap()]);
    assert_eq!((rows[0].status.as_str(), rows[0].ops, rows[0].peak_payload), ("ok", 4, Some(8 + 17 * 16)));
    let report = stdout(&run(&debug_binary(), &["--algo", "slab-tlsf", "--trace", log.to_str().unwrap()]));
    assert!(report.contains("skipped 2 lines"), "{report}");
    assert!(report.contains("1 allocation call interrupted by another call (first on line 3)"), "{report}");
    assert!(
        report.contains("1 record followed by more than 4 KiB on its line (first on line 4)"),
        "{report}"
    );
    refused(&log, &["--strict"], ":3: `malloc(765)`: allocation call interrupted by another call (--strict)");
}

#[test]
fn trace_options_are_checked_like_the_others() {
    let usage = |args: &[&str], message: &str| {
        let out = run(&debug_binary(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&out), format!("tmalloc: {message}\nTry 'tmalloc --help' for more information.\n"));
    };
    usage(&["--trace"], "option '--trace' needs a value");
    usage(&["--strict"], "option '--strict' does not apply without --trace");
    usage(&["--trace", "a.rep", "--seed", "3"], "option '--seed' does not apply to --trace");
    usage(&["--sizes", "wide", "--trace", "a.rep"], "option '--sizes' does not apply to --trace");
    usage(&["--trace", "a.rep", "--bogus"], "unknown option '--bogus'");
    let many: Vec<String> = (0..33).map(|i| format!("t{i}.rep")).collect();
    let mut args = vec!["--trace"];
    args.extend(many.iter().map(String::as_str));
    usage(&args, "too many trace files (at most 32)");
}

#[test]
fn ten_million_operations_replay() {
    const OPS: u64 = 10_000_000;
    const IDS: u64 = 1000;
    let mut text = format!("0\n{IDS}\n{OPS}\n1\n");
    let (mut done, mut live, mut peak, mut sizes) = (0, 0u64, 0u64, vec![0u64; IDS as usize]);
    while done < OPS {
        for id in 0..IDS {
            let size = 16 + (done + id) % 200;
            text.push_str(&format!("a {id} {size}\n"));
            sizes[id as usize] = size;
            live += size;
            peak = peak.max(live);
        }
        for id in 0..IDS {
            text.push_str(&format!("f {id}\n"));
            live -= sizes[id as usize];
        }
        done += 2 * IDS;
    }
    let path = temp_trace("ten-million.rep", &text);
    drop(text);
    let rows = replay_csv(&["--algo", "slab-tlsf", "--trace", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!((rows[0].status.as_str(), rows[0].ops, rows[0].peak_payload), ("ok", OPS, Some(peak)));
}

/// A heap past 1 GiB, then small blocks coming and going: the default
/// policy keeps its slab runs (and its speed and utilization) at any size.
#[test]
fn a_heap_past_one_gib_keeps_the_default_policy_as_good_as_tlsf() {
    // 18,000 blocks of 64,000 bytes (1.07 GiB, under the mmap threshold),
    // then 300,000 operations on small blocks among them.
    let (big, churn) = (18_000u64, 300_000u64);
    let mut ops = Vec::new();
    for id in 0..big {
        ops.push(format!("a {id} 64000"));
    }
    let mut live: Vec<u64> = Vec::new();
    let mut next = big;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..churn {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if live.len() < 50_000 && (live.len() < 1000 || !x.is_multiple_of(3)) {
            let size = [16, 20, 24, 32, 48, 100, 300][(x >> 8) as usize % 7];
            ops.push(format!("a {next} {size}"));
            live.push(next);
            next += 1;
        } else {
            let id = live.swap_remove((x >> 16) as usize % live.len());
            ops.push(format!("f {id}"));
        }
    }
    let text = format!("0\n{next}\n{}\n1\n{}\n", ops.len(), ops.join("\n"));
    let path = temp_trace("past-1gib.rep", &text);
    let rows = replay_csv(&["--algo", "slab-tlsf,tlsf", "--limit", "2G", "--trace", path.to_str().unwrap()]);
    let (slab, tlsf) = (&rows[0], &rows[1]);
    assert_eq!((slab.status.as_str(), tlsf.status.as_str()), ("ok", "ok"), "{rows:?}");
    assert!(slab.peak_heap.unwrap() > 1 << 30, "{slab:?}");
    let util = |r: &Row| r.utilization.parse::<f64>().unwrap();
    assert!(util(slab) >= util(tlsf) - 0.02, "slab-tlsf {} against tlsf {}", util(slab), util(tlsf));
    let ns = |r: &Row| r.ns_per_op.parse::<f64>().unwrap();
    assert!(ns(slab) < 4.0 * ns(tlsf) + 100.0, "slab-tlsf {} ns/op against tlsf {}", ns(slab), ns(tlsf));
    assert_few_kernel_calls(slab);
    assert_few_kernel_calls(tlsf);
}
