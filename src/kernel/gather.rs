//! Reading pixel rows into vector registers: f32 rows as they are, byte rows
//! widened to their exact f32 values in registers (or, for several models,
//! once per row block into f32 rows), the row blocks the passes take, and the
//! software prefetch of the rows a kernel reads next. The images' scale (1/255
//! for bytes) is not applied here: the kernel folds it into each row's logits
//! and logit gradient.

use pulp::Simd;

use super::blocking::{BLOCK_ROWS, MAX_LANES};
use crate::data::Images;

/// A pixel type the kernels read rows of: f32, or bytes widened to their
/// exact values. Images read from bytes give the same f32 values either way.
pub(super) trait Pixel: Copy + Send + Sync + 'static {
    /// Whether [`Pixel::load`] converts (so that rows several models read
    /// are better widened once, into f32 rows).
    const CONVERTS: bool;

    /// The pixel as the f32 the kernels compute with (its exact value).
    fn to_f32(self) -> f32;

    /// The first `S::F32_LANES` pixels of `pixels` as one f32 vector.
    fn load<S: Simd>(simd: S, pixels: &[Self]) -> S::f32s;
}

impl Pixel for f32 {
    const CONVERTS: bool = false;

    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }

    #[inline(always)]
    fn load<S: Simd>(_: S, pixels: &[f32]) -> S::f32s {
        S::as_simd_f32s(&pixels[..S::F32_LANES]).0[0]
    }
}

impl Pixel for u8 {
    const CONVERTS: bool = true;

    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }

    /// Widened through a small array the compiler keeps in registers: with the
    /// lane count known after monomorphisation, this compiles to one
    /// zero-extending load and one integer-to-float conversion (`vpmovzxbd`,
    /// `vcvtdq2ps`), written once for every instruction set.
    #[inline(always)]
    fn load<S: Simd>(_: S, pixels: &[u8]) -> S::f32s {
        let mut lanes = [0.0f32; MAX_LANES];
        for (lane, &p) in lanes.iter_mut().zip(&pixels[..S::F32_LANES]) {
            *lane = f32::from(p);
        }
        S::as_simd_f32s(&lanes[..S::F32_LANES]).0[0]
    }
}

/// Rows of one pixel type, borrowed from a set of images, and the images'
/// scale.
#[derive(Clone, Copy)]
pub(super) struct Rows<'a, P> {
    pixels: &'a [P],
    features: usize,
    scale: f32,
}

impl<'a, P: Pixel> Rows<'a, P> {
    /// Pixels per row.
    #[inline(always)]
    pub fn features(&self) -> usize {
        self.features
    }

    /// The factor from the pixels to the image's values ([`Images::scale`]).
    #[inline(always)]
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Image `i`.
    #[inline(always)]
    pub fn row(&self, i: usize) -> &'a [P] {
        &self.pixels[i * self.features..(i + 1) * self.features]
    }

    /// Image `i`'s row, or an empty row for `None` (nothing to prefetch).
    #[inline(always)]
    pub fn row_or_empty(&self, i: Option<usize>) -> &'a [P] {
        i.map_or(&[], |i| self.row(i))
    }
}

/// The rows of a set of images in the pixel type they are held in.
#[derive(Clone, Copy)]
pub(super) enum AnyRows<'a> {
    F32(Rows<'a, f32>),
    U8(Rows<'a, u8>),
}

/// `images`' rows, f32 or bytes, without copying.
pub(super) fn rows(images: &Images) -> AnyRows<'_> {
    let (features, scale) = (images.features(), images.scale());
    match (images.f32_pixels(), images.u8_pixels()) {
        (Some(pixels), _) => AnyRows::F32(Rows {
            pixels,
            features,
            scale,
        }),
        (None, Some(pixels)) => AnyRows::U8(Rows {
            pixels,
            features,
            scale,
        }),
        (None, None) => unreachable!("images hold f32 or byte pixels"),
    }
}

/// Asks the CPU to start loading the cache line holding `row[element]` into
/// L1. A hint only: it changes no result, does nothing past the end of the row
/// (an empty row prefetches nothing), and nothing on targets without a
/// prefetch instruction.
#[inline(always)]
pub(super) fn prefetch<P>(row: &[P], element: usize) {
    if element >= row.len() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is
        // part of the x86_64 baseline, so no runtime check is needed). A
        // prefetch never faults and has no architectural effect; this address
        // is inside the row (`element < row.len()`).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().add(element).cast::<i8>()) };
    }
}

/// Prefetches the first cache line of each row: done for the next row block
/// while this one computes, so that each row's address translation (a page
/// walk when the rows sit on 4 KiB pages, as in a mapped file) is done before
/// the forward pass's spread prefetch asks for its lines (one thread 1.07x
/// in `softreg tune`'s measurement, two threads 1.06x, on the Xeon AVX-512
/// machine).
pub(super) fn prefetch_first_lines<'a, P: 'a>(rows: impl Iterator<Item = &'a [P]>) {
    for row in rows {
        prefetch(row, 0);
    }
}

/// Elements of `P` per 64-byte cache line.
pub(super) const fn per_line<P>() -> usize {
    let n = 64 / size_of::<P>();
    if n == 0 { 1 } else { n }
}

/// Up to [`BLOCK_ROWS`] rows as an array of row slices (empty past the last).
#[inline(always)]
pub(super) fn row_block<'a, T>(rows: impl Iterator<Item = &'a [T]>) -> [&'a [T]; BLOCK_ROWS] {
    let mut block: [&[T]; BLOCK_ROWS] = [&[]; BLOCK_ROWS];
    for (slot, row) in block.iter_mut().zip(rows) {
        *slot = row;
    }
    block
}

/// The rows `x` widened to f32 into `widened` (room for a block of them), as
/// row slices; meanwhile every line of row `k`'s successor `ahead(k)` is
/// prefetched.
#[inline(always)]
pub(super) fn widen_block<'w, 'a, S: Simd, P: Pixel + 'a>(
    simd: S,
    x: &[&[P]],
    widened: &'w mut [f32],
    ahead: impl Fn(usize) -> &'a [P],
) -> [&'w [f32]; BLOCK_ROWS] {
    let features = widened.len() / BLOCK_ROWS;
    for (k, (row, out)) in x.iter().zip(widened.chunks_exact_mut(features)).enumerate() {
        widen_row(simd, row, out);
        prefetch_row(ahead(k));
    }
    row_block(widened.chunks_exact(features))
}

/// `out = row` as f32, vector by vector as the kernels widen pixels in
/// registers ([`Pixel::load`]), so the values are the same bits.
#[inline(always)]
fn widen_row<S: Simd, P: Pixel>(simd: S, row: &[P], out: &mut [f32]) {
    let lanes = S::F32_LANES;
    let (vectors, tail) = S::as_mut_simd_f32s(out);
    for (v, pixels) in vectors.iter_mut().zip(row.chunks_exact(lanes)) {
        *v = P::load(simd, pixels);
    }
    let offset = vectors.len() * lanes;
    for (o, &p) in tail.iter_mut().zip(&row[offset..]) {
        *o = p.to_f32();
    }
}

/// Prefetches every cache line of `row`.
#[inline(always)]
fn prefetch_row<P>(row: &[P]) {
    for element in (0..row.len()).step_by(per_line::<P>()) {
        prefetch(row, element);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::{BLOCK_ROWS, Pixel};

    /// A row block short of one row (so tiles leave a row over) of `features`
    /// byte pixels, and the same rows as f32.
    pub(in crate::kernel) fn block_of_rows(features: usize) -> (Vec<Vec<u8>>, Vec<Vec<f32>>) {
        let bytes: Vec<Vec<u8>> = (0..BLOCK_ROWS - 1)
            .map(|k| {
                (0..features)
                    .map(|f| ((k * 37 + f * 11) % 256) as u8)
                    .collect()
            })
            .collect();
        let floats = bytes
            .iter()
            .map(|r| r.iter().map(|&p| p.to_f32()).collect())
            .collect();
        (bytes, floats)
    }
}
