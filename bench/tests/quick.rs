//! The benchmark's quick mode runs in `cargo test`, so the code cannot rot.

const ALLOCATORS: [&str; 7] =
    ["linked_list_allocator", "talc", "rlsf", "buddy_system_allocator", "dlmalloc", "mimalloc", "glibc"];

#[test]
fn quick_mode_runs_every_allocator_and_workload() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_tmalloc-bench")).arg("--quick").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("machine: ") && table.contains("command: cargo run --profile perf"), "{table}");
    let names = tmalloc_alloc::PolicyKind::ALL
        .iter()
        .map(|k| format!("tmalloc {k}"))
        .chain(ALLOCATORS.iter().map(|s| s.to_string()));
    for name in names {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{table}"));
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).skip(1).collect();
        assert_eq!(cells.len(), 9, "{row}");
        assert!(["arena", "child, RLIMIT_AS"].contains(&cells[0]), "{row}");
        // Efficiency may honestly be "failed" for a hosted allocator whose
        // first reservation exceeds the tiny quick-mode limit; timings are numbers.
        for cell in &cells[1..4] {
            assert!(
                ["failed", "-"].contains(cell) || cell.parse::<f64>().is_ok_and(|n| n >= 0.0),
                "{row}: {cell}"
            );
        }
        for cell in &cells[4..] {
            let number = cell.split_whitespace().next().unwrap();
            assert!(number.parse::<f64>().is_ok_and(|n| n > 0.0), "{row}: {cell}");
        }
    }
    // The traces table: every allocator but linked_list_allocator (minutes
    // per trace), a time per recorded trace and their mean, all numbers.
    let traces =
        table.split("| allocator | cc1 |").nth(1).unwrap_or_else(|| panic!("no traces table:\n{table}"));
    let names = tmalloc_alloc::PolicyKind::ALL
        .iter()
        .map(|k| format!("tmalloc {k}"))
        .chain(ALLOCATORS[1..].iter().map(|s| s.to_string()));
    for name in names {
        let row = traces
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no trace row for {name}:\n{traces}"));
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).skip(1).collect();
        assert_eq!(cells.len(), 6, "four traces, the mean, utilization: {row}");
        for cell in &cells[..5] {
            assert!(cell.parse::<f64>().is_ok_and(|n| n > 0.0), "{row}: {cell}");
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/quick");
    for svg in ["efficiency.svg", "scaling.svg"] {
        let text = std::fs::read_to_string(dir.join(svg)).unwrap();
        assert!(text.contains("<svg") && text.contains("linked_list_allocator"), "{svg}");
    }
}
