//! consume_memory end to end, in the real (release) binary: the story it
//! tells, and numbers that agree with each other.

mod common;

use std::collections::HashMap;

use common::{debug_binary, release_binary, run, run_with_env, stderr, stdout};

/// One CSV row, by column name.
type Row = HashMap<String, String>;

fn csv(args: &[&str]) -> Vec<Row> {
    let mut all = vec!["--format", "csv"];
    all.extend_from_slice(args);
    let out = run(&release_binary(), &all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    parse_csv(&stdout(&out))
}

fn parse_csv(text: &str) -> Vec<Row> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header line").split(',').collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{l}");
            header.iter().map(|h| h.to_string()).zip(cells.iter().map(|c| c.to_string())).collect()
        })
        .collect()
}

fn num(row: &Row, column: &str) -> u64 {
    row[column].parse().unwrap_or_else(|_| panic!("{column} = {:?}", row[column]))
}

/// The columns that must not depend on timing or address-space layout.
const DETERMINISTIC: [&str; 9] = [
    "calls",
    "allocs",
    "frees",
    "live_blocks",
    "live_payload_bytes",
    "kernel_bytes",
    "brk_calls",
    "mmap_calls",
    "munmap_calls",
];

#[test]
fn the_heap_appears_only_once_userland_asks_for_it() {
    let out = run(&release_binary(), &["--algo", "slab-tlsf"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let step2 = text.find("\n2. After the first allocation").expect("step 2");
    let step3 = text.find("\n3. Until the first failed allocation").expect("step 3");
    let (before, after) = (&text[..step2], &text[step2..step3]);
    let heap_lines = |s: &str| s.lines().filter(|l| l.trim_end().ends_with("[heap]")).count();
    assert_eq!(heap_lines(before), 0, "no [heap] before any allocation:\n{before}");
    assert_eq!(heap_lines(after), 1, "one [heap] after the first:\n{after}");
    // "program break: 0xA -> 0xB, up N bytes"
    let moved = after.lines().find(|l| l.contains("program break:")).unwrap();
    let up: u64 =
        moved.split("up ").nth(1).unwrap().split(' ').next().unwrap().replace(',', "").parse().unwrap();
    assert!(up >= 4096, "the break moved: {moved}");
}

#[test]
fn every_row_adds_up() {
    let limit = 10u64 << 20;
    for variant in
        [&["--pattern", "lifo", "--sizes", "seed"][..], &["--pattern", "random", "--sizes", "wide"]]
    {
        let rows = csv(variant);
        assert!(rows.len() >= 9, "every policy and linked_list_allocator");
        for row in &rows {
            let name = &row["contender"];
            assert_eq!(row["status"], "ok", "{name}");
            let (calls, allocs, frees) = (num(row, "calls"), num(row, "allocs"), num(row, "frees"));
            let (live, payload) = (num(row, "live_blocks"), num(row, "live_payload_bytes"));
            assert_eq!(calls, allocs + frees, "{name}: calls are allocations plus frees");
            assert_eq!(live, allocs - frees, "{name}: live blocks");
            assert!(allocs > 3 * frees / 2, "{name}: 3 allocations to 1 free, roughly");
            let (least, most) = if variant[3] == "seed" { (20, 32) } else { (20, 4095) };
            assert!(
                payload >= least * live && payload <= most * live,
                "{name}: payload {payload} for {live} blocks"
            );
            assert!(num(row, "kernel_bytes") <= limit, "{name}: held no more than the limit");
            assert!(payload <= num(row, "kernel_bytes"), "{name}: payload fits in what it held");
            assert_eq!(num(row, "limit_bytes"), limit);
            let efficiency: f64 = row["efficiency"].parse().unwrap();
            assert!((efficiency - payload as f64 / limit as f64).abs() < 1e-4, "{name}: efficiency");
            assert_few_kernel_calls(row);
        }
    }
}

/// No growth and trim going back and forth: over the whole run (the frees
/// at the end included), `brk`, `mmap` and `munmap` together at most 4 per
/// MiB of what the contender held at its peak.
fn assert_few_kernel_calls(row: &Row) {
    let mib = num(row, "kernel_bytes").div_ceil(1 << 20);
    let calls = num(row, "brk_calls") + num(row, "mmap_calls") + num(row, "munmap_calls");
    assert!(calls <= 4 * mib, "{}: {calls} system calls for {mib} MiB", row["contender"]);
}

/// Past 1 GiB the default policy keeps its slab runs and its speed: it
/// finishes in a time comparable to tlsf's, which has no runs to lose.
#[test]
fn the_default_policy_scales_past_one_gib() {
    let time = |algo: &str| {
        let start = std::time::Instant::now();
        let rows = csv(&["--algo", algo, "--limit", "1536M"]);
        (start.elapsed().as_secs_f64(), rows)
    };
    let (slab_s, slab) = time("slab-tlsf");
    let (tlsf_s, tlsf) = time("tlsf");
    for rows in [&slab, &tlsf] {
        assert_eq!(rows[0]["status"], "ok");
        assert!(num(&rows[0], "kernel_bytes") > 1 << 30, "{}", rows[0]["contender"]);
        assert_few_kernel_calls(&rows[0]);
    }
    assert!(num(&slab[0], "calls") > num(&tlsf[0], "calls"), "runs still pack the small blocks");
    assert!(slab_s < 2.0 * tlsf_s + 2.0, "slab-tlsf took {slab_s:.1} s, tlsf {tlsf_s:.1} s");
}

#[test]
fn the_same_seed_repeats_and_another_seed_differs() {
    let pick = |rows: &[Row]| -> Vec<Vec<u64>> {
        rows.iter().map(|r| DETERMINISTIC.iter().map(|c| num(r, c)).collect()).collect()
    };
    let args = ["--algo", "slab-tlsf,first-fit,linked-list-allocator", "--limit", "4M"];
    let a = pick(&csv(&[&args[..], &["--seed", "7"]].concat()));
    let b = pick(&csv(&[&args[..], &["--seed", "7"]].concat()));
    let c = pick(&csv(&[&args[..], &["--seed", "8"]].concat()));
    assert_eq!(a, b, "seed 7 twice");
    assert_ne!(a, c, "seed 7 and seed 8");
}

/// The fault switch is in the binary the tests build, not in the release one.
#[test]
fn a_crashing_contender_is_reported_in_its_row() {
    let out = run_with_env(
        &debug_binary(),
        &["--algo", "tlsf,slab-tlsf", "--format", "csv"],
        &[("TMALLOC_TEST_FAULT", "crash:tlsf")],
    );
    assert_eq!(out.status.code(), Some(1), "a crash makes the exit status 1");
    let rows = parse_csv(&stdout(&out));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["contender"], "slab-tlsf");
    assert_eq!(rows[0]["status"], "ok", "the other contender still runs");
    assert_eq!(rows[1]["contender"], "tlsf");
    assert_eq!(rows[1]["status"], "failed: killed by signal 11");
    let table = run_with_env(&debug_binary(), &["--algo", "tlsf"], &[("TMALLOC_TEST_FAULT", "crash:tlsf")]);
    assert!(
        stdout(&table).contains("   tlsf                   failed: killed by signal 11\n"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn the_seed_is_always_printed_and_random_seeds_come_from_the_kernel() {
    let seed_of = |text: &str| {
        text.lines().next().unwrap().split("seed ").nth(1).unwrap().split(',').next().unwrap().to_string()
    };
    let fixed = stdout(&run(&release_binary(), &["--algo", "buddy", "--limit", "2M"]));
    assert_eq!(seed_of(&fixed), "10", "the original's seed by default");
    let a =
        seed_of(&stdout(&run(&release_binary(), &["--algo", "buddy", "--limit", "2M", "--seed", "random"])));
    let b =
        seed_of(&stdout(&run(&release_binary(), &["--algo", "buddy", "--limit", "2M", "--seed", "random"])));
    assert!(a.parse::<u64>().is_ok() && a != b, "{a} {b}");
}

#[test]
fn a_limit_below_what_the_binary_maps_names_the_minimum() {
    let out = run(&release_binary(), &["--limit", "100K"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "tmalloc: --limit 100.0 KiB is below what the experiment needs: the binary already maps "
        ),
        "{err}"
    );
    let minimum = err.trim_end().rsplit("use at least ").next().unwrap();
    let kib: u64 = minimum.trim_end_matches('K').parse().unwrap();
    // ... and that minimum works.
    let ok = run(&release_binary(), &["--limit", minimum, "--algo", "slab-tlsf", "--format", "csv"]);
    assert_eq!(ok.status.code(), Some(0), "--limit {kib}K: {}", stderr(&ok));
}

#[test]
fn bad_values_exit_2_with_one_line() {
    for (args, names) in [
        (&["--limit", "lots"][..], "'--limit'"),
        (&["--seed", "-3"], "'--seed'"),
        (&["--algo", "glibc"], "'--algo'"),
        (&["--pattern", "fifo"], "'--pattern'"),
        (&["--sizes", "tiny"], "'--sizes'"),
        (&["--format", "xml"], "'--format'"),
    ] {
        let out = run(&release_binary(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stdout(&out).is_empty());
        let err = stderr(&out);
        assert!(err.lines().next().unwrap().contains(names) && err.lines().count() == 2, "{args:?}: {err}");
    }
}
