//! What a contender's process sends back to the parent, over a pipe.

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

const WORDS: usize = 16;
/// The size of an encoded report.
pub const BYTES: usize = WORDS * 8;

impl Report {
    fn words(&self) -> [u64; WORDS] {
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
            MAGIC,
        ]
    }

    pub fn encode(&self) -> [u8; BYTES] {
        let mut bytes = [0u8; BYTES];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(self.words()) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// The report in `bytes`, or `None` if it is not a whole report (the
    /// child died before it finished writing).
    pub fn decode(bytes: &[u8]) -> Option<Report> {
        if bytes.len() != BYTES {
            return None;
        }
        let mut w = [0u64; WORDS];
        for (word, chunk) in w.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().ok()?);
        }
        (w[15] == MAGIC).then(|| Report {
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
        })
    }
}

/// Marks a complete report.
const MAGIC: u64 = 0x7A11_0C5E_7E90_0B1D;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_and_partial_ones_are_refused() {
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
        let bytes = r.encode();
        assert_eq!(Report::decode(&bytes), Some(r));
        assert_eq!(Report::decode(&bytes[..BYTES - 1]), None);
        assert_eq!(Report::decode(&[0; BYTES]), None);
    }
}
