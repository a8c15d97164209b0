//! Size and start-up of the freestanding binary: `cargo bench --bench startup`.
//!
//! Start-up is measured the way `hyperfine -N` does it: from spawning the
//! process to reaping it, for `tmalloc --help` with stdout on /dev/null. That
//! includes the kernel's fork and exec, which is what a user waits for.
//! Under `cargo bench` the binary is built with the release settings.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WARMUP: usize = 200;
const RUNS: usize = 3000;
const SIZE_BUDGET: u64 = 64 * 1024;
const STARTUP_BUDGET: Duration = Duration::from_millis(1);

fn spawn_and_reap(binary: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new(binary)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the binary runs");
    let elapsed = start.elapsed();
    assert!(status.success());
    elapsed
}

fn main() {
    let binary = env!("CARGO_BIN_EXE_tmalloc");
    let size = std::fs::metadata(binary).expect("the binary exists").len();

    for _ in 0..WARMUP {
        spawn_and_reap(binary);
    }
    let mut times: Vec<Duration> = (0..RUNS).map(|_| spawn_and_reap(binary)).collect();
    times.sort();
    let mean = times.iter().sum::<Duration>() / RUNS as u32;
    let pct = |p: usize| times[(RUNS * p / 100).min(RUNS - 1)];

    println!("binary     {binary}");
    println!(
        "size       {size} bytes ({:.1} KiB; budget 64 KiB: {})",
        size as f64 / 1024.0,
        if size <= SIZE_BUDGET { "met" } else { "MISSED" }
    );
    println!(
        "start-up   `tmalloc --help`, spawn to exit, {RUNS} runs: mean {:.0} us, median {:.0} us, p99 {:.0} us, min {:.0} us (budget 1 ms: {})",
        mean.as_secs_f64() * 1e6,
        pct(50).as_secs_f64() * 1e6,
        pct(99).as_secs_f64() * 1e6,
        times[0].as_secs_f64() * 1e6,
        if mean < STARTUP_BUDGET { "met" } else { "MISSED" }
    );
}
