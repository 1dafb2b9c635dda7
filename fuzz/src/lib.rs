//! Shared by the fuzz targets: a heap that counts, so a target can check that
//! a parser never holds more memory than its input justifies.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting live heap bytes and their peak. A target
/// installs it with `#[global_allocator]`.
pub struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are only bookkeeping and never affect what is returned.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with this layout (every
        // allocation goes through `alloc` above, which forwards to `System`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` and returns its result with the most heap bytes it held at once
/// beyond what was live when it started (single-threaded callers only).
pub fn peak_heap_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let result = f();
    (result, PEAK.load(Ordering::Relaxed) - baseline)
}

/// What a loader may hold on the heap beyond its input: I/O and inflate
/// buffers, paths, error messages.
pub const HEAP_ALLOWANCE: usize = 1 << 20;
