//! A std program on tmalloc: `GlobalTmalloc` as the `#[global_allocator]`
//! of this test binary, threads included. Every `Vec`, `String`, `HashMap`
//! and thread spawn below (and the test harness's own) goes through it.

use std::collections::HashMap;
use std::thread;

use tmalloc_alloc::global::{GlobalTmalloc, tmalloc_check, tmalloc_stats};

#[global_allocator]
static ALLOCATOR: GlobalTmalloc = GlobalTmalloc;

#[test]
fn a_std_workload_runs_on_tmalloc_from_several_threads() {
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            thread::spawn(move || {
                let mut words: HashMap<String, Vec<u64>> = HashMap::new();
                for i in 0..20_000u64 {
                    let key = format!("word-{}", (i * 7919 + t) % 1000);
                    words.entry(key).or_default().push(i);
                    if i % 3 == 0 {
                        words.remove(&format!("word-{}", (i * 31) % 1000));
                    }
                }
                let big: Vec<u8> = vec![t as u8; 1 << 20]; // a large block, mapped
                (words.values().map(Vec::len).sum::<usize>(), big.iter().map(|&b| b as usize).sum::<usize>())
            })
        })
        .collect();
    for (t, w) in workers.into_iter().enumerate() {
        let (entries, bytes) = w.join().unwrap();
        assert!(entries > 0);
        assert_eq!(bytes, t << 20);
    }
    tmalloc_check().unwrap();
    let stats = tmalloc_stats();
    assert!(stats.mmap_calls > 0, "the heap is mmapped in a hosted process: {stats:?}");
    assert_eq!(stats.brk_calls, 0, "glibc owns the break here: {stats:?}");
}

#[test]
fn aligned_and_zeroed_requests_are_honoured() {
    for align in [8, 16, 64, 4096, 1 << 16] {
        let layout = std::alloc::Layout::from_size_align(1000, align).unwrap();
        // SAFETY: a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!p.is_null() && (p as usize).is_multiple_of(align));
        // SAFETY: 1000 bytes were asked for.
        assert!(unsafe { std::slice::from_raw_parts(p, 1000) }.iter().all(|&b| b == 0));
        // SAFETY: allocated above with this layout.
        let q = unsafe { std::alloc::realloc(p, layout, 5000) };
        assert!(!q.is_null() && (q as usize).is_multiple_of(align));
        // SAFETY: as above, with the new size.
        unsafe { std::alloc::dealloc(q, std::alloc::Layout::from_size_align(5000, align).unwrap()) };
    }
}
