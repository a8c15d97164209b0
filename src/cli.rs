//! The command line: parsing, usage, and the binary's `main`.

use core::fmt;

use crate::rt::Startup;
use crate::rt::fmt::Lossy;
use crate::{eprintln, print, println};

/// The exit status for usage and input errors.
pub const USAGE_EXIT_CODE: i32 = 2;

pub const USAGE: &str = "\
tmalloc: malloc from scratch in a freestanding static binary

Usage: tmalloc [OPTIONS]

With no options, prints the process image as the kernel started it:
segments, auxiliary vector, program break and /proc/self/maps.

Options:
  -h, --help       Print this help and exit
  -V, --version    Print the version and exit
";

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Run(Options),
}

/// Settings for a run. Later features add their options here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {}

/// Why a command line was refused; `Display` gives the one-line message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError<'a> {
    UnknownOption(&'a [u8]),
    UnexpectedArgument(&'a [u8]),
    MissingValue(&'static str),
    UnexpectedValue { option: &'static str, value: &'a [u8] },
    BadValue { option: &'static str, value: &'a [u8], why: &'static str },
}

impl fmt::Display for UsageError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::UnknownOption(arg) => write!(f, "unknown option '{}'", Lossy(arg)),
            UsageError::UnexpectedArgument(arg) => write!(f, "unexpected argument '{}'", Lossy(arg)),
            UsageError::MissingValue(option) => write!(f, "option '{option}' needs a value"),
            UsageError::UnexpectedValue { option, value } => {
                write!(f, "option '{option}' takes no value, got '{}'", Lossy(value))
            }
            UsageError::BadValue { option, value, why } => {
                write!(f, "invalid value '{}' for '{option}': {why}", Lossy(value))
            }
        }
    }
}

/// Splits `--name=value` into its two halves; other arguments have no value.
fn split_inline_value(arg: &[u8]) -> (&[u8], Option<&[u8]>) {
    match arg.iter().position(|&b| b == b'=') {
        Some(eq) if arg.starts_with(b"--") => (&arg[..eq], Some(&arg[eq + 1..])),
        _ => (arg, None),
    }
}

/// Parses the arguments after the program name. Every argument is checked
/// before anything is acted on: `--version --bogus` is an error.
pub fn parse<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Result<Command, UsageError<'a>> {
    let options = Options::default();
    let (mut help, mut version) = (false, false);
    for arg in args {
        let (name, inline) = split_inline_value(arg);
        let no_value = |option: &'static str| match inline {
            None => Ok(true),
            Some(value) => Err(UsageError::UnexpectedValue { option, value }),
        };
        match name {
            b"-h" | b"--help" => help = no_value("--help")?,
            b"-V" | b"--version" => version = no_value("--version")?,
            _ if name.starts_with(b"-") && name.len() > 1 => {
                return Err(UsageError::UnknownOption(name));
            }
            _ => return Err(UsageError::UnexpectedArgument(arg)),
        }
    }
    Ok(if help {
        Command::Help
    } else if version {
        Command::Version
    } else {
        Command::Run(options)
    })
}

/// The binary's `main`: parse, dispatch, return the exit status.
pub fn main(startup: &Startup) -> i32 {
    if let Some(fault) = startup.env(crate::test_fault::VAR)
        && !crate::test_fault::inject(fault)
    {
        eprintln!("tmalloc: unknown TMALLOC_TEST_FAULT '{}'", Lossy(fault));
        return USAGE_EXIT_CODE;
    }
    match parse(startup.args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            0
        }
        Ok(Command::Version) => {
            println!("tmalloc {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Ok(Command::Run(_options)) => crate::inspect::print_process_image(startup),
        Err(e) => {
            eprintln!("tmalloc: {e}\nTry 'tmalloc --help' for more information.");
            USAGE_EXIT_CODE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn parse_strs<'a>(args: &[&'a str]) -> Result<Command, UsageError<'a>> {
        parse(args.iter().map(|s| s.as_bytes()))
    }

    #[test]
    fn no_arguments_runs() {
        assert_eq!(parse_strs(&[]), Ok(Command::Run(Options::default())));
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
        let invalid_utf8 = parse([&b"--\xff"[..]]).unwrap_err().to_string();
        assert_eq!(invalid_utf8, "unknown option '--\u{FFFD}'");
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
