//! The CS:APP malloc-lab `.rep` format:
//!
//! ```text
//! 20000        suggested heap size (ignored)
//! 2            number of ids
//! 4            number of operations
//! 1            weight (ignored)
//! a 0 512      allocate 512 bytes as id 0
//! a 1 128
//! r 0 640      resize id 0 to 640 bytes
//! f 1          free id 1
//! ```
//!
//! Everything is checked: a header line that is not one number, an id
//! outside the announced range, an id allocated twice, a free or realloc
//! of an id that is not live (a double free names the line of the first),
//! and an operation count that differs from the header's.

use super::{Problem, Recorder, Refusal};

const HEADER: [&str; 4] =
    ["the suggested heap size", "the number of ids", "the number of operations", "the weight"];

pub struct Parser {
    header: [u64; 4],
    header_lines: usize,
    /// Line of the operation count, for the error when it is wrong.
    count_line: u64,
    ops: u64,
}

impl Parser {
    pub fn new() -> Parser {
        Parser { header: [0; 4], header_lines: 0, count_line: 0, ops: 0 }
    }

    pub fn line(&mut self, record: &mut Recorder, line: u64, text: &[u8]) -> Result<(), Problem> {
        let mut words = text.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty());
        let Some(first) = words.next() else { return Ok(()) };
        let number = |w: Option<&[u8]>| w.and_then(tmalloc_rt::parse::parse_u64);
        if self.header_lines < HEADER.len() {
            let what = HEADER[self.header_lines];
            let value =
                number(Some(first)).filter(|_| words.next().is_none()).ok_or(Problem::Header(what))?;
            self.header[self.header_lines] = value;
            if self.header_lines == 2 {
                self.count_line = line;
            }
            self.header_lines += 1;
            return Ok(());
        }
        let (op, id, size) = match first {
            b"a" | b"r" => (first[0] as char, number(words.next()), number(words.next())),
            b"f" => ('f', number(words.next()), Some(0)),
            _ => return Err(Problem::BadOperation),
        };
        let (Some(id), Some(size), None) = (id, size, words.next()) else {
            return Err(Problem::BadOperation);
        };
        let ids = self.header[1];
        if id >= ids {
            return Err(Problem::IdOutOfRange { id, ids });
        }
        let done = match op {
            'a' => record.alloc(id, size, 0),
            'r' => record.realloc(id, id, size),
            _ => record.free(id, Some(line)),
        };
        self.ops += 1;
        done.map_err(|refusal| match refusal {
            Refusal::Live => Problem::AllocatedTwice { id },
            Refusal::NotLive(None) => Problem::NeverAllocated { id, op },
            Refusal::NotLive(Some(freed_on)) => Problem::AlreadyFreed { id, op, freed_on },
            Refusal::NoMemory => Problem::NoMemory,
        })
    }

    /// Checks what only the end of the file can tell.
    pub fn finish(&self) -> Result<(), super::LoadError> {
        let error = |line, problem| Err(super::LoadError { line, problem });
        if self.header_lines < HEADER.len() {
            return error(None, Problem::Header(HEADER[self.header_lines]));
        }
        if self.ops != self.header[2] {
            let problem = Problem::OperationCount { header: self.header[2], found: self.ops };
            return error(Some(self.count_line), problem);
        }
        Ok(())
    }
}
