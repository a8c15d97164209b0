//! README.md's transcripts are tested, not refreshed by hand.
//!
//! Every ` ```console ` block is a transcript: each `$ ` line is run with
//! `sh -c` from the repository root, and what it prints, stdout and stderr
//! together, must match the lines under it up to the next `$ ` line. The
//! matching is snapbox's: `[..]` stands for what changes from run to run
//! within a line (addresses, times, paths), and `...` on a line of its own
//! for any number of lines.
//! Blocks that show something other than a command's output (code,
//! diagrams, a bench table) are ` ```text ` or a language, and may not
//! contain a `$ ` line.

mod common;

use std::process::Command;

use snapbox::{Assert, Data};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// One command of a transcript: where it is, what runs, what it must print.
struct Step {
    line: usize,
    command: String,
    expected: String,
}

/// The steps of every `console` block, and the first line of every other
/// fenced block.
fn parse(readme: &str) -> (Vec<Step>, Vec<(usize, String)>) {
    let (mut steps, mut others) = (Vec::new(), Vec::new());
    let mut block: Option<(bool, usize)> = None; // (is console, its first line)
    for (i, line) in readme.lines().enumerate() {
        let number = i + 1;
        if let Some(info) = line.strip_prefix("```") {
            block = match block {
                None => Some((info.trim() == "console", number)),
                Some(_) => None,
            };
            continue;
        }
        match block {
            Some((true, _)) => match line.strip_prefix("$ ") {
                Some(command) => {
                    steps.push(Step { line: number, command: command.to_string(), expected: String::new() })
                }
                None => {
                    let step = steps.last_mut().expect("a console block starts with a `$ ` line");
                    step.expected.push_str(line);
                    step.expected.push('\n');
                }
            },
            Some((false, _)) => others.push((number, line.to_string())),
            None => {}
        }
    }
    (steps, others)
}

#[test]
fn every_transcript_in_the_readme_is_what_its_commands_print() {
    // The transcripts run both builds; make sure they are current.
    common::release_binary();
    common::dev_binary();
    let readme = std::fs::read_to_string(format!("{MANIFEST}/README.md")).expect("README.md");
    let (steps, _) = parse(&readme);
    assert!(steps.len() >= 10, "only {} transcript commands found in README.md", steps.len());
    let assert = Assert::new();
    let mut failures = Vec::new();
    for step in &steps {
        let out = Command::new("sh")
            .args(["-c", &format!("exec 2>&1; {}", step.command)])
            .current_dir(MANIFEST)
            .env_remove("TMALLOC_TEST_FAULT")
            .output()
            .expect("sh runs");
        let actual = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Err(e) = assert.try_eq(None, Data::text(actual), Data::text(step.expected.clone())) {
            failures.push(format!("README.md:{}: `{}`:\n{e}", step.line, step.command));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} transcripts differ:\n\n{}",
        failures.len(),
        steps.len(),
        failures.join("\n")
    );
}

#[test]
fn no_other_block_holds_a_command_that_would_go_untested() {
    let readme = std::fs::read_to_string(format!("{MANIFEST}/README.md")).expect("README.md");
    let (_, others) = parse(&readme);
    let hidden: Vec<_> = others.iter().filter(|(_, line)| line.starts_with("$ ")).collect();
    assert!(hidden.is_empty(), "commands outside ```console blocks, never run: {hidden:?}");
}
