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
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    for offset in (0..len).step_by(64) {
        #[cfg(target_arch = "x86")]
        use std::arch::x86::{_MM_HINT_T0, _mm_prefetch};
        #[cfg(target_arch = "x86_64")]
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch never faults and has no architectural effect; the
        // address is inside the row anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    let _ = (start, len);
}
