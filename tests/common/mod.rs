//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The debug binary cargo built for this test run.
pub fn debug_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tmalloc"))
}

/// The release binary, built on first use by `cargo build --release` (a
/// no-op when it is up to date).
pub fn release_binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| cargo_build(&["--release"])).clone()
}

/// The debug binary as `cargo build` makes it (the dev profile, the one
/// `just gdb` debugs). [`debug_binary`] is built with the test profile,
/// which optimises and so loses variables gdb should see.
pub fn dev_binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| cargo_build(&[])).clone()
}

/// Builds the executable with `cargo build ARGS`. Its path comes from
/// cargo's own report, so `CARGO_TARGET_DIR` and friends are honoured.
fn cargo_build(args: &[&str]) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .arg("build")
        .args(args)
        .args(["--bin", "tmalloc", "--message-format=json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo build {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("cargo prints UTF-8 JSON");
    let key = "\"executable\":\"";
    let line = stdout
        .lines()
        .find(|l| l.contains(key) && l.contains("\"name\":\"tmalloc\""))
        .expect("cargo reports the tmalloc executable");
    let start = line.find(key).unwrap() + key.len();
    let end = start + line[start..].find('"').unwrap();
    PathBuf::from(&line[start..end])
}

/// Runs the binary with `args` and an environment free of test switches.
pub fn run(binary: &PathBuf, args: &[&str]) -> Output {
    run_with_env(binary, args, &[])
}

pub fn run_with_env(binary: &PathBuf, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary);
    cmd.args(args).env_remove("TMALLOC_TEST_FAULT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}
