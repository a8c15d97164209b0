//! The command line: the arguments, checked, turned into a [`Command`].

use core::fmt;

use tmalloc_rt::fmt::Cut;
use tmalloc_rt::parse::{BadNumber, parse_decimal, parse_size};
use tmalloc_workload::consume_memory::{Pattern, Sizes};

use crate::commands::consume::{Options, Seed};
use crate::commands::replay::{MAX_TRACES, ReplayOptions, TooManyTraces};
use crate::contenders::{Contender, Lineup};
use crate::report::Format;

pub(crate) const USAGE: &str = "\
tmalloc: malloc from scratch in a freestanding static binary

Usage: tmalloc [OPTIONS]
       tmalloc --trace FILE... [--algo NAME] [--limit SIZE] [--format F] [--strict]

Runs consume_memory, the experiment of the original C project: allocate
3 times out of 4 and free once, until an allocation fails under a kernel
memory limit, for every allocator, each in its own process.

With --trace, replays recorded allocation traces instead: CS:APP .rep
files, or valgrind logs (valgrind --trace-malloc=yes PROGRAM 2> log).

Options:
      --limit SIZE        Address-space limit per contender, as `ulimit -v`
                          [default: 10M; suffixes K, M, G]. With --trace:
                          room for the heap beyond the trace's bookkeeping
                          [default: 1G, or what ulimit -v leaves]
      --seed N|random     Seed of the request stream [default: 10]
      --algo NAME[,NAME]  Contenders, or `all` [default: all]; NAME is a
                          tmalloc policy (slab-tlsf, tlsf, segregated, buddy,
                          first-fit, next-fit, best-fit, worst-fit, default)
                          or linked-list-allocator
      --pattern lifo|random
                          Which live block a free takes [default: lifo]
      --sizes seed|wide   20/24/32-byte blocks, or 20 B to 4 KiB log-uniform
                          [default: seed]
      --format table|csv  The whole story, or the results table as CSV
                          [default: table]
      --trace FILE...     Replay these traces (at most 32); the last row
                          averages them
      --strict            Make valgrind lines that cannot be paired errors
      --image             Print the process image as the kernel started it
  -h, --help              Print this help and exit
  -V, --version           Print the version and exit
";

/// The most bytes of an argument a message echoes: a 100 KB argument is
/// cut, with `...` after it.
pub(crate) const ECHO: usize = 128;

/// What the command line asks for.
// Made once per run, on the stack; there is no heap to box the file list into.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command<'a> {
    Help,
    Version,
    Image,
    Run(Options),
    Replay(ReplayOptions<'a>),
}

/// Why a command line was refused; `Display` gives the one-line message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UsageError<'a> {
    UnknownOption(&'a [u8]),
    UnexpectedArgument(&'a [u8]),
    MissingValue(&'static str),
    UnexpectedValue {
        option: &'static str,
        value: &'a [u8],
    },
    BadValue {
        option: &'static str,
        value: &'a [u8],
        why: &'static str,
    },
    /// An option of the experiment given with `--trace`, or the reverse.
    NotWith {
        option: &'static str,
        mode: &'static str,
    },
    TooManyTraces,
}

impl fmt::Display for UsageError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::UnknownOption(arg) => write!(f, "unknown option '{}'", Cut(arg, ECHO)),
            UsageError::UnexpectedArgument(arg) => write!(f, "unexpected argument '{}'", Cut(arg, ECHO)),
            UsageError::MissingValue(option) => write!(f, "option '{option}' needs a value"),
            UsageError::UnexpectedValue { option, value } => {
                write!(f, "option '{option}' takes no value, got '{}'", Cut(value, ECHO))
            }
            UsageError::BadValue { option, value, why } => {
                write!(f, "invalid value '{}' for '{option}': {why}", Cut(value, ECHO))
            }
            UsageError::NotWith { option, mode } => write!(f, "option '{option}' does not apply {mode}"),
            UsageError::TooManyTraces => write!(f, "too many trace files (at most {MAX_TRACES})"),
        }
    }
}

impl From<TooManyTraces> for UsageError<'_> {
    fn from(_: TooManyTraces) -> Self {
        UsageError::TooManyTraces
    }
}

/// Splits `--name=value` into its two halves; other arguments have no value.
fn split_inline_value(arg: &[u8]) -> (&[u8], Option<&[u8]>) {
    match arg.iter().position(|&b| b == b'=') {
        Some(eq) if arg.starts_with(b"--") => (&arg[..eq], Some(&arg[eq + 1..])),
        _ => (arg, None),
    }
}

fn parse_seed(text: &[u8]) -> Result<Seed, &'static str> {
    if text == b"random" {
        return Ok(Seed::Random);
    }
    parse_decimal(text).map(Seed::Fixed).map_err(|e| match e {
        BadNumber::NotDigits => "expected a number below 2^64, or `random`",
        BadNumber::TooLarge => "too large",
    })
}

fn parse_lineup(text: &[u8]) -> Result<Lineup, &'static str> {
    if text == b"all" {
        return Ok(Lineup::ALL);
    }
    let mut set = Lineup::NONE;
    for name in text.split(|&b| b == b',') {
        set = set.with(Contender::from_name(name).ok_or("unknown allocator (see --help for the names)")?);
    }
    Ok(set)
}

/// Parses the arguments after the program name. Every argument is checked
/// before anything is acted on: `--version --bogus` is an error.
pub(crate) fn parse<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Result<Command<'a>, UsageError<'a>> {
    let mut options = Options::default();
    let (mut help, mut version, mut image, mut strict) = (false, false, false, false);
    let mut limit = None;
    let mut traces = ReplayOptions::new();
    // The first option given that only the experiment takes, and the first
    // that --image takes not.
    let mut experiment_only = None;
    let mut not_for_image = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = split_inline_value(arg);
        let no_value = |option: &'static str| match inline {
            None => Ok(true),
            Some(value) => Err(UsageError::UnexpectedValue { option, value }),
        };
        let mut value =
            |option: &'static str| inline.or_else(|| args.next()).ok_or(UsageError::MissingValue(option));
        let bad =
            |option: &'static str, value: &'a [u8]| move |why| UsageError::BadValue { option, value, why };
        // A file named by nothing would be opened as ``: refused here.
        let add_trace = |traces: &mut ReplayOptions<'a>, file: &'a [u8]| match file {
            b"" => Err(bad("--trace", file)("an empty file name")),
            _ => traces.add_file(file).map_err(UsageError::from),
        };
        // The option's name, once matched below, if --image does not take it.
        let mut given = None;
        match name {
            b"-h" | b"--help" => help = no_value("--help")?,
            b"-V" | b"--version" => version = no_value("--version")?,
            b"--image" => image = no_value("--image")?,
            b"--strict" => {
                strict = no_value("--strict")?;
                given = Some("--strict");
            }
            b"--trace" => {
                add_trace(&mut traces, value("--trace")?)?;
                given = Some("--trace");
            }
            b"--limit" => {
                given = Some("--limit");
                let v = value("--limit")?;
                limit = Some(parse_size(v).map_err(bad("--limit", v))?);
            }
            b"--seed" => {
                given = Some("--seed");
                let v = value("--seed")?;
                options.seed = parse_seed(v).map_err(bad("--seed", v))?;
                experiment_only = experiment_only.or(Some("--seed"));
            }
            b"--algo" => {
                given = Some("--algo");
                let v = value("--algo")?;
                options.lineup = parse_lineup(v).map_err(bad("--algo", v))?;
            }
            b"--pattern" => {
                given = Some("--pattern");
                let v = value("--pattern")?;
                options.pattern = match v {
                    b"lifo" => Pattern::Lifo,
                    b"random" => Pattern::Random,
                    _ => return Err(bad("--pattern", v)("expected lifo or random")),
                };
                experiment_only = experiment_only.or(Some("--pattern"));
            }
            b"--sizes" => {
                given = Some("--sizes");
                let v = value("--sizes")?;
                options.sizes = match v {
                    b"seed" => Sizes::Seed,
                    b"wide" => Sizes::Wide,
                    _ => return Err(bad("--sizes", v)("expected seed or wide")),
                };
                experiment_only = experiment_only.or(Some("--sizes"));
            }
            b"--format" => {
                given = Some("--format");
                let v = value("--format")?;
                options.format = match v {
                    b"table" => Format::Table,
                    b"csv" => Format::Csv,
                    _ => return Err(bad("--format", v)("expected table or csv")),
                };
            }
            _ if name.starts_with(b"-") && name.len() > 1 => {
                return Err(UsageError::UnknownOption(name));
            }
            // After --trace, more files may follow: `--trace traces/*`.
            _ if !traces.files().is_empty() => add_trace(&mut traces, arg)?,
            _ => return Err(UsageError::UnexpectedArgument(arg)),
        }
        not_for_image = not_for_image.or(given);
    }
    let replay = !traces.files().is_empty();
    if let (true, Some(option)) = (image, not_for_image) {
        return Err(UsageError::NotWith { option, mode: "to --image" });
    }
    if let (true, Some(option)) = (replay, experiment_only) {
        return Err(UsageError::NotWith { option, mode: "to --trace" });
    }
    if strict && !replay {
        return Err(UsageError::NotWith { option: "--strict", mode: "without --trace" });
    }
    Ok(if help {
        Command::Help
    } else if version {
        Command::Version
    } else if image {
        Command::Image
    } else if replay {
        traces.heap_limit = limit;
        traces.lineup = options.lineup;
        traces.format = options.format;
        traces.strict = strict;
        Command::Replay(traces)
    } else {
        options.limit = limit.unwrap_or(options.limit);
        Command::Run(options)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn parse_strs<'a>(args: &[&'a str]) -> Result<Command<'a>, UsageError<'a>> {
        parse(args.iter().map(|s| s.as_bytes()))
    }

    #[test]
    fn no_arguments_runs_the_experiment_with_the_originals_settings() {
        let Ok(Command::Run(o)) = parse_strs(&[]) else { panic!() };
        assert_eq!(
            (o.limit, o.seed, o.pattern, o.sizes, o.format),
            (10 << 20, Seed::Fixed(10), Pattern::Lifo, Sizes::Seed, Format::Table)
        );
        assert_eq!(o.lineup, Lineup::ALL);
    }

    #[test]
    fn options_take_values_inline_or_next() {
        let Ok(Command::Run(o)) = parse_strs(&[
            "--limit=64K",
            "--seed",
            "random",
            "--algo",
            "tlsf,best-fit",
            "--pattern=random",
            "--sizes",
            "wide",
            "--format",
            "csv",
        ]) else {
            panic!()
        };
        assert_eq!(
            (o.limit, o.seed, o.pattern, o.sizes, o.format),
            (64 << 10, Seed::Random, Pattern::Random, Sizes::Wide, Format::Csv)
        );
        let chosen: std::vec::Vec<_> = Contender::ALL.into_iter().filter(|&c| o.lineup.contains(c)).collect();
        assert_eq!(
            chosen,
            [
                Contender::Tmalloc(tmalloc_alloc::PolicyKind::Tlsf),
                Contender::Tmalloc(tmalloc_alloc::PolicyKind::BestFit)
            ]
        );
        assert_eq!(parse_strs(&["--image"]), Ok(Command::Image));
    }

    #[test]
    fn help_and_version_in_both_spellings() {
        assert_eq!(parse_strs(&["--help"]), Ok(Command::Help));
        assert_eq!(parse_strs(&["-h"]), Ok(Command::Help));
        assert_eq!(parse_strs(&["--version"]), Ok(Command::Version));
        assert_eq!(parse_strs(&["-V"]), Ok(Command::Version));
        assert_eq!(parse_strs(&["-V", "-h"]), Ok(Command::Help), "help wins");
    }

    #[test]
    fn bad_arguments_name_what_was_wrong() {
        let msg = |args: &[&str]| parse_strs(args).unwrap_err().to_string();
        assert_eq!(msg(&["--bogus"]), "unknown option '--bogus'");
        assert_eq!(msg(&["--bogus=3"]), "unknown option '--bogus'");
        assert_eq!(msg(&["-x"]), "unknown option '-x'");
        assert_eq!(msg(&["stray"]), "unexpected argument 'stray'");
        assert_eq!(msg(&["-"]), "unexpected argument '-'");
        assert_eq!(msg(&["--help=yes"]), "option '--help' takes no value, got 'yes'");
        assert_eq!(msg(&["--version", "--bogus"]), "unknown option '--bogus'");
        assert_eq!(msg(&["--limit"]), "option '--limit' needs a value");
        assert_eq!(
            msg(&["--limit", "ten"]),
            "invalid value 'ten' for '--limit': expected a number with an optional K, M or G suffix"
        );
        assert_eq!(msg(&["--limit=0"]), "invalid value '0' for '--limit': must be more than zero");
        assert_eq!(msg(&["--limit=99999999G"]), "invalid value '99999999G' for '--limit': too large");
        assert_eq!(
            msg(&["--seed", "-1"]),
            "invalid value '-1' for '--seed': expected a number below 2^64, or `random`"
        );
        assert_eq!(
            msg(&["--seed", "18446744073709551616"]),
            "invalid value '18446744073709551616' for '--seed': too large"
        );
        assert_eq!(
            msg(&["--limit", "99999999999999999999"]),
            "invalid value '99999999999999999999' for '--limit': too large"
        );
        assert_eq!(msg(&["--trace="]), "invalid value '' for '--trace': an empty file name");
        assert_eq!(msg(&["--trace", "a.rep", ""]), "invalid value '' for '--trace': an empty file name");
        assert_eq!(msg(&["--image", "--trace", "a.rep"]), "option '--trace' does not apply to --image");
        assert_eq!(msg(&["--format=csv", "--image"]), "option '--format' does not apply to --image");
        assert_eq!(
            msg(&["--image", "--algo", "tlsf", "--seed", "3"]),
            "option '--algo' does not apply to --image"
        );
        assert_eq!(
            msg(&["--algo", "tlsf,nope"]),
            "invalid value 'tlsf,nope' for '--algo': unknown allocator (see --help for the names)"
        );
        assert_eq!(
            msg(&["--pattern", "fifo"]),
            "invalid value 'fifo' for '--pattern': expected lifo or random"
        );
        assert_eq!(msg(&["--sizes", "huge"]), "invalid value 'huge' for '--sizes': expected seed or wide");
        assert_eq!(msg(&["--format", "json"]), "invalid value 'json' for '--format': expected table or csv");
        let invalid_utf8 = parse([&b"--\xff"[..]]).unwrap_err().to_string();
        assert_eq!(invalid_utf8, "unknown option '--\u{FFFD}'");
        // A long argument is echoed cut, not whole.
        let long = std::format!("--{}", "x".repeat(100_000));
        let cut = std::format!("unknown option '{}...'", &long[..ECHO]);
        assert_eq!(msg(&[long.as_str()]), cut);
    }

    #[test]
    fn every_error_message_is_one_line() {
        let errors = [
            UsageError::UnknownOption(b"--x\n"),
            UsageError::MissingValue("--limit"),
            UsageError::BadValue { option: "--limit", value: b"x", why: "not a size" },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text:?}");
        }
    }
}
