//! What a contender's process sends back to the parent, over a pipe, as
//! words ([`super::in_reporting_child`]).

use crate::workload::consume_memory::Outcome;

/// One contender's results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    /// At the first failure: bytes held from the kernel, and system calls.
    pub kernel_bytes: u64,
    pub brk_calls: u64,
    pub mmap_calls: u64,
    pub munmap_calls: u64,
    /// Time from the first request to the failure.
    pub elapsed_ns: u64,
    /// The program break before the first request, at the failure, and
    /// after every block was freed.
    pub break_start: u64,
    pub break_at_failure: u64,
    pub break_after_free: u64,
    /// Bytes still held from the kernel after every block was freed.
    pub kernel_bytes_after_free: u64,
}

/// The size of an encoded report, in words.
pub const WORDS: usize = 15;

impl Report {
    pub fn to_words(&self) -> [u64; WORDS] {
        let o = &self.outcome;
        [
            o.calls,
            o.allocs,
            o.frees,
            o.live_blocks,
            o.live_bytes,
            o.failed_size as u64,
            self.kernel_bytes,
            self.brk_calls,
            self.mmap_calls,
            self.munmap_calls,
            self.elapsed_ns,
            self.break_start,
            self.break_at_failure,
            self.break_after_free,
            self.kernel_bytes_after_free,
        ]
    }

    pub fn from_words(w: [u64; WORDS]) -> Report {
        Report {
            outcome: Outcome {
                calls: w[0],
                allocs: w[1],
                frees: w[2],
                live_blocks: w[3],
                live_bytes: w[4],
                failed_size: w[5] as usize,
            },
            kernel_bytes: w[6],
            brk_calls: w[7],
            mmap_calls: w[8],
            munmap_calls: w[9],
            elapsed_ns: w[10],
            break_start: w[11],
            break_at_failure: w[12],
            break_after_free: w[13],
            kernel_bytes_after_free: w[14],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_through_words() {
        let r = Report {
            outcome: Outcome {
                calls: 7,
                allocs: 5,
                frees: 2,
                live_blocks: 3,
                live_bytes: 72,
                failed_size: 24,
            },
            kernel_bytes: 4096,
            brk_calls: 2,
            mmap_calls: 1,
            munmap_calls: 1,
            elapsed_ns: 99,
            break_start: 0x1000,
            break_at_failure: 0x2000,
            break_after_free: 0x1000,
            kernel_bytes_after_free: 0,
        };
        assert_eq!(Report::from_words(r.to_words()), r);
    }
}
