//! Software prefetch of the rows a kernel reads next.

use crate::data::{Images, Row};

/// Asks the CPU to start loading image `i` into cache. A hint only: it changes
/// no result, and on targets without a prefetch instruction it does nothing.
#[inline(always)]
pub fn row(images: &Images, i: usize) {
    let (start, len) = match images.row(i) {
        Row::F32(x) => (x.as_ptr().cast::<i8>(), size_of_val(x)),
        Row::U8(x) => (x.as_ptr().cast::<i8>(), x.len()),
    };
    #[cfg(target_arch = "x86_64")]
    for offset in (0..len).step_by(64) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is
        // part of the x86_64 baseline, so no runtime check is needed). A
        // prefetch never faults and has no architectural effect, whatever the
        // address; this one is inside the row anyway (`offset < len`, and
        // `wrapping_add` creates no out-of-bounds pointer arithmetic).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, len);
}
