//! The benchmark's quick mode runs in `cargo test`, so the code cannot rot.

#[test]
fn quick_mode_runs_every_policy_and_workload() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_tmalloc-bench")).arg("--quick").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    for kind in tmalloc::allocator::PolicyKind::ALL {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| tmalloc {kind} |")))
            .unwrap_or_else(|| panic!("{table}"));
        // Every cell after the name holds a number.
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).skip(1).collect();
        assert_eq!(cells.len(), 8, "{row}");
        for cell in cells {
            let number = cell.split_whitespace().next().unwrap();
            assert!(number.parse::<f64>().is_ok_and(|n| n > 0.0), "{row}: {cell}");
        }
    }
}
