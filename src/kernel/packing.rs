//! The kernels' layout of a `classes x features` matrix (the weights, and the
//! weight gradient), packed for one instruction set's vectors.
//!
//! Row-major weights put the ten classes' values for one feature vector 3 KB
//! apart: a micro-kernel reading ten of them needs ten pointers or a chain of
//! address arithmetic in its hottest loop. Packed, the ten vectors of one
//! feature vector lie side by side (`[vector][class][lane]`), so a tile reads
//! them at fixed offsets from one pointer that advances by one stride per
//! step. The features past the last whole vector follow, class-major.
//!
//! Packing is a permutation: adding two packed gradients or applying an SGD
//! update element by element gives the same bits as on the row-major matrices.

use super::Isa;

/// Alignment of the packed values, in f32: a cache line, so that no vector
/// load straddles two lines.
const ALIGN: usize = 16;

/// A `classes x features` matrix in the packed layout of an instruction set
/// with `lanes` f32 lanes. Its values start on a cache line, in every copy.
#[derive(Debug)]
pub struct Packed {
    lanes: usize,
    features: usize,
    classes: usize,
    start: usize,
    buffer: Vec<f32>,
}

impl Packed {
    /// A zero matrix packed for `isa`.
    pub fn zeros(isa: Isa, features: usize, classes: usize) -> Self {
        Self::aligned_zeros(isa.lanes(), features, classes)
    }

    fn aligned_zeros(lanes: usize, features: usize, classes: usize) -> Self {
        let len = features * classes;
        let buffer = vec![0.0; len + ALIGN];
        let start = buffer
            .as_ptr()
            .align_offset(ALIGN * size_of::<f32>())
            .min(ALIGN);
        Self {
            lanes,
            features,
            classes,
            start,
            buffer,
        }
    }

    /// `canonical` (`classes x features`, row-major) packed for `isa`.
    pub fn from_row_major(isa: Isa, features: usize, classes: usize, canonical: &[f32]) -> Self {
        let mut packed = Self::zeros(isa, features, classes);
        packed.copy_from_row_major(canonical);
        packed
    }

    /// Overwrites the values with `canonical` (`classes x features`, row-major).
    ///
    /// # Panics
    /// If `canonical` does not hold `classes x features` values.
    pub fn copy_from_row_major(&mut self, canonical: &[f32]) {
        assert_eq!(canonical.len(), self.features * self.classes);
        let (features, classes) = (self.features, self.classes);
        let values = &mut self.buffer[self.start..self.start + features * classes];
        for c in 0..classes {
            for f in 0..features {
                values[index(self.lanes, features, classes, c, f)] = canonical[c * features + f];
            }
        }
    }

    /// Writes the values into `canonical` (`classes x features`, row-major).
    ///
    /// # Panics
    /// If `canonical` does not hold `classes x features` values.
    pub fn copy_to_row_major(&self, canonical: &mut [f32]) {
        assert_eq!(canonical.len(), self.features * self.classes);
        let (features, classes) = (self.features, self.classes);
        let values = self.values();
        for c in 0..classes {
            for f in 0..features {
                canonical[c * features + f] = values[index(self.lanes, features, classes, c, f)];
            }
        }
    }

    /// The values in packed order, for element-wise arithmetic.
    pub fn values(&self) -> &[f32] {
        &self.buffer[self.start..self.start + self.features * self.classes]
    }

    /// The values in packed order, for element-wise arithmetic.
    pub fn values_mut(&mut self) -> &mut [f32] {
        let len = self.features * self.classes;
        &mut self.buffer[self.start..self.start + len]
    }

    /// Features per class.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// f32 lanes of the instruction set the layout is for.
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// The vector part (`[vector][class][lane]`, `lanes * classes` values per
    /// feature vector) and the tail part (`[class][feature]` for the features
    /// past the last whole vector).
    pub(super) fn parts(&self) -> (&[f32], &[f32]) {
        self.values().split_at(self.vector_len())
    }

    fn vector_len(&self) -> usize {
        self.features / self.lanes * self.lanes * self.classes
    }
}

/// A copy aligned on its own: copying the buffer and its offset would keep the
/// offset of the original's allocation, and the copy's vectors would straddle
/// cache lines (seen as every other epoch running 7 % slower, each epoch's
/// per-thread copy landing on a different alignment).
impl Clone for Packed {
    fn clone(&self) -> Self {
        let mut copy = Self::aligned_zeros(self.lanes, self.features, self.classes);
        copy.values_mut().copy_from_slice(self.values());
        copy
    }
}

/// Where value `(c, f)` lives in the packed layout.
fn index(lanes: usize, features: usize, classes: usize, c: usize, f: usize) -> usize {
    let vectors = features / lanes;
    let (v, lane) = (f / lanes, f % lanes);
    if v < vectors {
        (v * classes + c) * lanes + lane
    } else {
        let tail = features - vectors * lanes;
        vectors * lanes * classes + c * tail + (f - vectors * lanes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_is_a_permutation_that_unpacks_to_the_same_matrix() {
        for isa in Isa::available() {
            for (features, classes) in [(784, 10), (13, 3), (1, 1), (33, 11)] {
                let canonical: Vec<f32> = (0..features * classes).map(|i| i as f32).collect();
                let packed = Packed::from_row_major(isa, features, classes, &canonical);
                let mut sorted = packed.values().to_vec();
                sorted.sort_by(f32::total_cmp);
                assert_eq!(sorted, canonical, "{} {features}x{classes}", isa.name());
                let mut back = vec![0.0; canonical.len()];
                packed.copy_to_row_major(&mut back);
                assert_eq!(back, canonical);
                assert_eq!(packed.values().as_ptr() as usize % 64, 0);
            }
        }
    }

    #[test]
    fn every_copy_starts_on_a_cache_line() {
        let canonical: Vec<f32> = (0..784 * 10).map(|i| i as f32).collect();
        let packed = Packed::from_row_major(Isa::best(), 784, 10, &canonical);
        // Copies made while other allocations come and go land at varied
        // addresses: each must still be aligned, and equal to the original.
        let mut keep = Vec::new();
        for i in 0..32 {
            keep.push(vec![0u8; 8 * i + 8]);
            let copy = packed.clone();
            assert_eq!(copy.values().as_ptr() as usize % 64, 0, "copy {i}");
            assert_eq!(copy.values(), packed.values());
        }
    }
}
