//! The address ranges the heap owns.

/// One contiguous range of heap memory, `[start, end)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Region {
    pub start: usize,
    pub end: usize,
}

impl Region {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn contains(&self, addr: usize) -> bool {
        self.start <= addr && addr < self.end
    }
}

/// At most this many separate regions. A contiguous source (brk, arena)
/// uses one; a chunked source grows its chunks geometrically, so 64 chunks
/// cover far more memory than any limit this program runs under.
pub(crate) const MAX_REGIONS: usize = 64;

/// The heap's regions, in the order they were obtained.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Regions {
    len: usize,
    list: [Region; MAX_REGIONS],
}

impl Default for Regions {
    fn default() -> Self {
        Regions::new()
    }
}

impl Regions {
    pub(crate) const fn new() -> Regions {
        Regions { len: 0, list: [Region { start: 0, end: 0 }; MAX_REGIONS] }
    }

    pub(crate) fn as_slice(&self) -> &[Region] {
        &self.list[..self.len]
    }

    pub(crate) fn last(&self) -> Option<Region> {
        self.as_slice().last().copied()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == MAX_REGIONS
    }

    /// Records `[start, start + len)`: extends the last region if the new
    /// memory follows it, else adds a region. Returns whether it extended.
    pub(crate) fn add(&mut self, start: usize, len: usize) -> bool {
        if let Some(last) = self.list[..self.len].last_mut()
            && last.end == start
        {
            last.end += len;
            return true;
        }
        assert!(self.len < MAX_REGIONS, "callers check is_full first");
        self.list[self.len] = Region { start, end: start + len };
        self.len += 1;
        false
    }

    /// Gives back the last `len` bytes of the last region.
    pub(crate) fn shrink_last(&mut self, len: usize) {
        let last = &mut self.list[self.len - 1];
        last.end -= len;
    }

    /// The region containing `addr`, if any.
    #[inline]
    pub(crate) fn find(&self, addr: usize) -> Option<Region> {
        self.as_slice().iter().find(|r| r.contains(addr)).copied()
    }

    /// The bytes all regions span.
    pub(crate) fn total(&self) -> usize {
        self.as_slice().iter().map(Region::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_memory_extends_the_last_region() {
        let mut r = Regions::new();
        assert!(!r.add(0x1000, 0x1000));
        assert!(r.add(0x2000, 0x1000));
        assert!(!r.add(0x9000, 0x1000));
        assert_eq!(
            r.as_slice(),
            [Region { start: 0x1000, end: 0x3000 }, Region { start: 0x9000, end: 0xa000 }]
        );
        assert_eq!(r.find(0x2fff), Some(Region { start: 0x1000, end: 0x3000 }));
        assert_eq!(r.find(0x3000), None);
        r.shrink_last(0x800);
        assert_eq!(r.last(), Some(Region { start: 0x9000, end: 0x9800 }));
        assert_eq!(r.total(), 0x2800);
    }
}
