//! The program's own memory image, from the symbols `linker.ld` defines.

unsafe extern "C" {
    /// First byte of the image: the ELF header, at the start of the R segment.
    static __executable_start: u8;
    /// First byte of the R E segment.
    static __text_start: u8;
    /// End of the code.
    static etext: u8;
    /// First byte of the RW segment.
    static __data_start: u8;
    /// End of the initialised data; .bss starts here.
    static edata: u8;
    /// End of .bss: the kernel starts the program break above this.
    static end: u8;
}

/// Segment boundaries of the running binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image {
    pub start: usize,
    pub text: usize,
    pub etext: usize,
    pub data: usize,
    pub edata: usize,
    pub end: usize,
}

/// Reads the boundaries. Only meaningful in the binary linked with
/// `linker.ld`, the only caller.
pub fn image() -> Image {
    // Only the addresses are taken; nothing is read through them.
    Image {
        start: &raw const __executable_start as usize,
        text: &raw const __text_start as usize,
        etext: &raw const etext as usize,
        data: &raw const __data_start as usize,
        edata: &raw const edata as usize,
        end: &raw const end as usize,
    }
}
