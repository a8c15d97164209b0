//! Failures of the environment, in the real binary: each gets one line on
//! stderr that names what failed and the errno by name, and exit status 1
//! (2 when an argument asks for what cannot be had). Never a silent exit 0,
//! never a row of fake crashes, never a hang.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{debug_binary, release_binary, stderr, stdout};

fn binaries() -> [PathBuf; 2] {
    [debug_binary(), release_binary()]
}

fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces")
}

/// Runs `binary args` from `sh -c SCRIPT`, where the script ends in
/// `exec "$0" "$@"` and whatever redirections or limits come with it.
fn shell(script: &str, binary: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(binary)
        .args(args)
        .env_remove("TMALLOC_TEST_FAULT")
        .output()
        .expect("sh runs")
}

/// The one line on stderr, without its newline; fails if there are more.
fn one_line(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(!err.contains("panicked"), "{err}");
    err.trim_end().to_string()
}

/// Every mode, each with what it prints on stdout.
fn every_mode() -> Vec<Vec<String>> {
    let leak = traces_dir().join("cases/leak.rep").to_str().unwrap().to_string();
    [
        &["--algo", "slab-tlsf"][..],
        &["--algo", "slab-tlsf", "--format", "csv"],
        &["--trace", &leak, "--algo", "slab-tlsf"],
        &["--trace", &leak, "--algo", "slab-tlsf", "--format", "csv"],
        &["--image"],
        &["--help"],
        &["--version"],
    ]
    .iter()
    .map(|args| args.iter().map(|a| a.to_string()).collect())
    .collect()
}

#[test]
fn a_full_stdout_is_reported_once_with_status_1() {
    for bin in binaries() {
        for args in every_mode() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
            let out = Command::new(&bin)
                .args(&args)
                .stdout(Stdio::from(full))
                .env_remove("TMALLOC_TEST_FAULT")
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert_eq!(one_line(&out), "tmalloc: write error on stdout: ENOSPC (No space left on device)");
        }
    }
}

#[test]
fn a_closed_stdout_is_reported_once_with_status_1() {
    for bin in binaries() {
        for args in every_mode() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            for script in [r#"exec "$0" "$@" >&-"#, r#"exec "$0" "$@" <&- >&-"#] {
                let out = shell(script, &bin, &args);
                assert_eq!(out.status.code(), Some(1), "{script} {args:?}: {}", stderr(&out));
                assert_eq!(one_line(&out), "tmalloc: write error on stdout: EBADF (Bad file descriptor)");
            }
        }
    }
}

/// With standard descriptors closed, the descriptors the program opens for
/// itself (the trace, the children's pipes) must not take their numbers:
/// the replay still reads its trace and its children's reports. (With
/// stdin and stdout closed, stdout's buffer used to be flushed into a
/// child's pipe; the test above sees that case end with the EBADF line.)
#[test]
fn closed_standard_streams_are_not_mistaken_for_files_of_ours() {
    let leak = traces_dir().join("cases/leak.rep");
    for bin in binaries() {
        let out = shell(
            r#"exec "$0" "$@" <&- 2>&-"#,
            &bin,
            &["--trace", leak.to_str().unwrap(), "--algo", "slab-tlsf", "--format", "csv"],
        );
        assert_eq!(out.status.code(), Some(0));
        let text = stdout(&out);
        assert!(text.lines().nth(1).is_some_and(|row| row.contains(",slab-tlsf,ok,")), "{text}");
    }
}

/// No row is printed once a child cannot be made: stdout holds no `failed`.
fn assert_no_failed_rows(out: &Output) {
    assert!(!stdout(out).contains("failed"), "{}", stdout(out));
}

#[test]
fn out_of_descriptors_is_one_line_naming_the_call_and_emfile() {
    let leak = traces_dir().join("cases/leak.rep");
    let leak = leak.to_str().unwrap();
    let emfile = "EMFILE (Too many open files)";
    for bin in binaries() {
        // Three descriptors: the standard ones, nothing to open a trace with.
        let out = shell(r#"ulimit -n 3; exec "$0" "$@""#, &bin, &["--trace", leak]);
        assert_eq!(out.status.code(), Some(1), "out of descriptors is the environment's failure");
        assert_eq!(one_line(&out), format!("tmalloc: {leak}: cannot open: {emfile}"));
        // Four: the trace opens, the children's pipe cannot.
        for args in [&["--trace", leak][..], &["--algo", "slab-tlsf", "--format", "csv"]] {
            let out = shell(r#"ulimit -n 4; exec "$0" "$@""#, &bin, args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert_eq!(one_line(&out), format!("tmalloc: cannot create a pipe: {emfile}"), "{args:?}");
            assert_no_failed_rows(&out);
        }
        // The experiment's story cannot read /proc/self/maps.
        let out = shell(r#"ulimit -n 3; exec "$0" "$@""#, &bin, &["--algo", "slab-tlsf"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(one_line(&out), format!("tmalloc: cannot read /proc/self/maps: {emfile}"));
    }
}

/// fork's EAGAIN for real: RLIMIT_NPROC at 1 for a user who already has a
/// process. Root is exempt from that limit, so as root the binary runs as
/// `nobody` (setpriv, from util-linux), who then has exactly one.
#[test]
fn fork_failing_is_one_line_naming_eagain() {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n");
    let leak = traces_dir().join("cases/leak.rep");
    for bin in binaries() {
        for args in [&["--algo", "slab-tlsf", "--format", "csv"][..], &["--trace", leak.to_str().unwrap()]] {
            let mut cmd = if root {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "bash"]);
                c
            } else {
                Command::new("bash")
            };
            let out = cmd
                .args(["-c", r#"ulimit -u 1; exec "$0" "$@""#])
                .arg(&bin)
                .args(args)
                .output()
                .expect("setpriv (util-linux) and bash run");
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert_eq!(one_line(&out), "tmalloc: cannot fork: EAGAIN (Resource temporarily unavailable)");
            assert_no_failed_rows(&out);
        }
    }
}

/// The `NK` after `marker` in `text`, as kilobytes.
fn kib_after(text: &str, marker: &str) -> u64 {
    let rest = text.split(marker).nth(1).unwrap_or_else(|| panic!("no {marker:?} in {text:?}"));
    rest.split('K').next().unwrap().parse().unwrap_or_else(|_| panic!("{text}"))
}

#[test]
fn the_experiments_limit_is_checked_against_the_hard_limit_before_any_child() {
    for bin in binaries() {
        let csv = ["--algo", "slab-tlsf,buddy", "--format", "csv"];
        let out = shell(r#"ulimit -v 9000; exec "$0" "$@""#, &bin, &csv);
        assert_eq!(out.status.code(), Some(2), "asking for more than the hard limit is a usage error");
        assert_eq!(
            one_line(&out),
            "tmalloc: --limit 10.0 MiB is above the hard address-space limit (ulimit -v 9000): use at most 9000K"
        );
        assert_eq!(stdout(&out), "", "no row, no child");
        // The most it names works.
        let out =
            shell(r#"ulimit -v 9000; exec "$0" "$@""#, &bin, &[&csv[..], &["--limit", "9000K"]].concat());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out).matches(",ok,").count(), 2, "{}", stdout(&out));
        // A hard limit below the least the experiment needs: no argument helps.
        let least = kib_after(&stderr(&common::run(&bin, &["--limit", "1K"])), "use at least ");
        let script = format!(r#"ulimit -v {}; exec "$0" "$@""#, least - 16);
        let out = shell(&script, &bin, &csv);
        assert_eq!(out.status.code(), Some(1), "the environment's failure");
        let line = one_line(&out);
        assert!(
            line.starts_with(&format!(
                "tmalloc: the hard address-space limit (ulimit -v {}) is below what the experiment needs",
                least - 16
            )),
            "{line}"
        );
    }
}

#[test]
fn trace_replay_takes_what_the_hard_limit_leaves() {
    let traces = [traces_dir().join("cases/leak.rep"), traces_dir().join("cc1.vglog")];
    let traces: Vec<&str> = traces.iter().map(|p| p.to_str().unwrap()).collect();
    let mut args = vec!["--algo", "slab-tlsf", "--format", "csv", "--trace"];
    args.extend(&traces);
    let under = r#"ulimit -v 12000; exec "$0" "$@""#;
    for bin in binaries() {
        // By default: 1 GiB, or less when the hard limit leaves less.
        let out = shell(under, &bin, &args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out).matches(",slab-tlsf,ok,").count(), 3, "{}", stdout(&out));
        // Asked for more than it leaves: a usage error naming the most, which works.
        let out = shell(under, &bin, &[&args[..], &["--limit", "1G"]].concat());
        assert_eq!(out.status.code(), Some(2));
        let line = one_line(&out);
        assert!(
            line.starts_with(
                "tmalloc: --limit 1.0 GiB is more than the hard address-space limit (ulimit -v 12000) leaves beyond the "
            ),
            "{line}"
        );
        let most = format!("{}K", kib_after(&line, "use at most "));
        let out = shell(under, &bin, &[&args[..], &["--limit", &most]].concat());
        assert_eq!(out.status.code(), Some(0), "--limit {most}: {}", stderr(&out));
    }
}

/// The processes whose parent is `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // `pid (comm) state ppid ...`; comm may hold spaces, not a `)`.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        if after.split(' ').nth(1) == Some(&pid.to_string()) {
            found.push(child);
        }
    }
    found
}

/// Whether `pid` still runs: not gone, not a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !matches!(stat[stat.rfind(')').unwrap() + 2..].chars().next(), Some('Z' | 'X')))
}

/// Killing the parent alone ends its children too: none survives it.
#[test]
fn children_die_with_the_parent() {
    use std::time::{Duration, Instant};
    for bin in binaries() {
        // worst-fit is slow with wide sizes at random: about 25 s of work.
        let mut parent = Command::new(&bin)
            .args(["--algo", "worst-fit", "--sizes", "wide", "--pattern", "random", "--limit", "64M"])
            .args(["--format", "csv"])
            .stdout(Stdio::null())
            .env_remove("TMALLOC_TEST_FAULT")
            .spawn()
            .unwrap();
        let start = Instant::now();
        let children = loop {
            let children = children_of(parent.id());
            if !children.is_empty() || start.elapsed() > Duration::from_secs(10) {
                break children;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!children.is_empty(), "the contender's process appears");
        let killed = Command::new("kill").args(["-TERM", &parent.id().to_string()]).status().unwrap();
        assert!(killed.success());
        parent.wait().unwrap();
        let start = Instant::now();
        while children.iter().any(|&c| alive(c)) && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!children.iter().any(|&c| alive(c)), "{children:?} outlived their parent");
    }
}

/// A FIFO of its own, in the temporary directory.
fn fifo(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tmalloc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    assert!(Command::new("mkfifo").arg(&path).status().unwrap().success());
    path
}

/// A FIFO no one writes to: the binary says what it waits for within a few
/// seconds, and waits on (until it is killed) rather than call it empty.
#[test]
fn a_fifo_without_a_writer_is_waited_for_out_loud() {
    use std::io::BufRead;
    use std::time::Duration;
    let path = fifo("no-writer");
    for bin in binaries() {
        let mut child = Command::new(&bin)
            .args(["--trace", path.to_str().unwrap()])
            .stderr(Stdio::piped())
            .env_remove("TMALLOC_TEST_FAULT")
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines() {
                let _ = tx.send(line.unwrap());
            }
        });
        let said = rx.recv_timeout(Duration::from_secs(10));
        let still_waiting = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            said,
            Ok(format!("tmalloc: {}: waiting for a writer (nothing to read yet)", path.display()))
        );
        assert!(still_waiting, "it waits on after saying so");
    }
    std::fs::remove_file(path).unwrap();
}

/// A writer that comes, late or at once, through a FIFO or a pipe: the
/// trace is read whole.
#[test]
fn traces_come_through_fifos_and_pipes() {
    use std::io::Write;
    let path = fifo("writer");
    let trace = std::fs::read(traces_dir().join("cc1.vglog")).unwrap();
    let ok = |out: &Output| {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        assert!(
            stdout(out).lines().nth(1).is_some_and(|row| row.contains(",slab-tlsf,ok,33132,")),
            "{}",
            stdout(out)
        );
    };
    for bin in binaries() {
        let csv = ["--algo", "slab-tlsf", "--format", "csv", "--trace"];
        let child = Command::new(&bin).args(csv).arg(&path).stdout(Stdio::piped()).spawn().unwrap();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().write_all(&trace).unwrap();
        ok(&child.wait_with_output().unwrap());
        let mut child = Command::new(&bin)
            .args(csv)
            .arg("/dev/stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&trace).unwrap();
        ok(&child.wait_with_output().unwrap());
    }
    std::fs::remove_file(path).unwrap();
}

/// `ulimit -s 32`, as `ls` and `sort` run with: every mode, from its
/// parent's stack to a contender's (which runs on a stack mapped for it
/// when the limit is that small).
#[test]
fn every_mode_runs_on_a_32_kib_stack() {
    let cc1 = traces_dir().join("cc1.vglog");
    let calls = traces_dir().join("cases/calls.vglog");
    let mut modes = every_mode();
    modes.push(
        ["--algo", "slab-tlsf,buddy,linked-list-allocator", "--sizes", "wide", "--format", "csv"]
            .map(String::from)
            .to_vec(),
    );
    modes.push(
        [
            "--trace",
            cc1.to_str().unwrap(),
            calls.to_str().unwrap(),
            "--algo",
            "slab-tlsf,linked-list-allocator",
        ]
        .map(String::from)
        .to_vec(),
    );
    for bin in binaries() {
        for args in &modes {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = shell(r#"ulimit -s 32; exec "$0" "$@""#, &bin, &args);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{} {args:?}: {:?} {}",
                bin.display(),
                out.status,
                stderr(&out)
            );
            assert_eq!(stderr(&out), "", "{args:?}");
            assert!(!stdout(&out).contains("failed:"), "{args:?}: {}", stdout(&out));
        }
        let out = shell(r#"ulimit -s 32; exec "$0" "$@""#, &bin, &["--bogus"]);
        assert_eq!(out.status.code(), Some(2), "{:?}", out.status);
    }
}
