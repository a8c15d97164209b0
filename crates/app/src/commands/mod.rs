//! One module per command of the binary.
//!
//! - [`consume`]: consume_memory, the experiment (the default).
//! - [`replay`]: `--trace FILE...`, recorded traces replayed.
//! - [`image`]: `--image`, the process as the kernel started it.

pub(crate) mod consume;
pub(crate) mod image;
pub(crate) mod replay;
