//! The register tiles of the fused kernel's passes: a type per shape
//! ([`TileShape`]: a forward tile and a backward panel), and the plan's name
//! for each ([`Tiles`]), which [`super::fused::run`] turns into the type.
//!
//! The tiles are chosen by the instruction set's register count: the
//! accumulators of a tile, the vectors it loads and one temporary must fit the
//! register file, or the compiler spills them to the stack inside the hottest
//! loop.

use super::backward::BackwardPanel;
use super::blocking::{BLOCK_ROWS, Tile};
use super::forward::ForwardTile;

/// The register tiles of the forward and backward passes
/// (each a [`TileShape`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tiles {
    /// For 16 vector registers: forward 1 row x 10 classes, backward 5
    /// classes x 2 vectors.
    Narrow,
    /// For 32 vector registers: forward 2 rows x 10 classes, backward 10
    /// classes x 2 vectors.
    Wide,
    /// For 32 vector registers: forward 4 rows x 5 classes, backward 10
    /// classes x 2 vectors.
    Tall,
}

impl Tiles {
    /// Every tile shape, for tests that run them all on every instruction set.
    pub const ALL: [Tiles; 3] = [Tiles::Narrow, Tiles::Wide, Tiles::Tall];

    /// The name a plan writes: `narrow`, `wide` or `tall`.
    pub fn name(self) -> &'static str {
        match self {
            Tiles::Narrow => "narrow",
            Tiles::Wide => "wide",
            Tiles::Tall => "tall",
        }
    }
}

/// The register tiles of one register-file size: a type per shape, so that
/// every op selects its tiles in one place (the plan's [`Tiles`], in
/// [`super::fused::run`]) and a test can run any shape on any instruction set.
pub(super) trait TileShape {
    /// The forward tile on rows as they are stored (bytes widened per load).
    type Forward: ForwardTile;
    /// The forward tile on byte rows widened to f32 once for several models
    /// (no widening per load).
    type WidenedForward: ForwardTile;
    /// The backward panel.
    type Backward: BackwardPanel;
}

/// 16 vector registers (AVX2, scalar): forward 1 row x 10 classes (10
/// accumulators, the weights read straight from L1 by the FMAs), backward 5
/// classes x 2 vectors (10 accumulators, 2 pixel vectors, 1 broadcast). In
/// one-off comparisons on the Zen 2 development machine, a 10 x 1 backward
/// panel was slower (`perf annotate` showed the compiler moving its
/// accumulators between registers and the stack every row), and so was a
/// 2 x 5 forward tile on byte rows (each widened row vector costs a multiply
/// on the FMA pipes). On rows already widened for several models, 2 x 5 is the
/// faster one (+4 % in sweep epochs there): 1 x 10 loads 11 vectors per 10
/// FMAs, more than two loads a cycle keep up with, 2 x 5 loads 7.
pub(super) struct Narrow;

impl TileShape for Narrow {
    type Forward = Tile<1, 10>;
    type WidenedForward = Tile<2, 5>;
    type Backward = Tile<5, 2>;
}

/// 32 vector registers (AVX-512, and NEON, where these tiles have not been
/// measured): forward 2 rows x 10 classes, backward 10 classes x 2 vectors.
pub(super) struct Wide;

impl TileShape for Wide {
    type Forward = Tile<2, 10>;
    type WidenedForward = Tile<2, 10>;
    type Backward = Tile<10, 2>;
}

/// 32 vector registers, rows taller than classes: forward 4 rows x 5 classes
/// (each weight vector feeds four rows, nine loads per 20 FMAs against
/// [`Wide`]'s twelve, but byte rows are widened twice per row, once per class
/// tile), backward as [`Wide`]. Which is faster depends on the machine: the
/// plan decides ([`Tiles`]).
pub(super) struct Tall;

impl TileShape for Tall {
    type Forward = Tile<4, 5>;
    type WidenedForward = Tile<4, 5>;
    type Backward = Tile<10, 2>;
}

/// Whether a tile shape's accumulators and operands fit `registers` vector
/// registers (an accumulator per tile element, a vector per row or feature
/// vector loaded, one temporary), and its forward tiles divide a row block.
const fn fits<T: TileShape>(registers: usize) -> bool {
    const fn forward<F: ForwardTile>(registers: usize) -> bool {
        F::ROWS * F::CLASSES + F::ROWS < registers && BLOCK_ROWS.is_multiple_of(F::ROWS)
    }
    let backward = T::Backward::CLASSES * T::Backward::VECTORS + T::Backward::VECTORS < registers;
    forward::<T::Forward>(registers) && forward::<T::WidenedForward>(registers) && backward
}

const _: () = assert!(fits::<Narrow>(16) && fits::<Wide>(32) && fits::<Tall>(32));

#[cfg(test)]
mod tests {
    use std::marker::PhantomData;

    use pulp::{Simd, WithSimd};

    use super::{BackwardPanel, ForwardTile, Narrow, Tall, TileShape, Wide};
    use crate::data::PIXEL_SCALE;
    use crate::kernel::blocking::{BLOCK_ROWS, MAX_LANES};
    use crate::kernel::gather::Pixel;
    use crate::kernel::gather::tests::block_of_rows;
    use crate::kernel::{Isa, Packed, Weights};
    use crate::model::Model;
    use crate::random::SeededRng;

    /// A row block's logits computed with the forward tile `F`.
    struct ForwardBlock<'a, F, P>(&'a Weights, &'a [Vec<P>], PhantomData<F>);

    impl<F: ForwardTile, P: Pixel> WithSimd for ForwardBlock<'_, F, P> {
        type Output = Vec<f32>;
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> Vec<f32> {
            let ForwardBlock(weights, rows, _) = self;
            let x: Vec<&[P]> = rows.iter().map(|r| &r[..]).collect();
            let classes = weights.classes();
            let mut lane_sums = vec![0.0; BLOCK_ROWS * classes * MAX_LANES];
            let mut logits = vec![0.0; classes * BLOCK_ROWS];
            let ahead = |k: usize| x.get(k + 1).copied().unwrap_or(&[]);
            F::block::<S, P>(
                simd,
                (weights, PIXEL_SCALE),
                &x,
                ahead,
                &mut lane_sums,
                &mut logits,
            );
            logits
        }
    }

    /// Every forward tile a tile shape ships, on rows of pixel type `P`.
    fn shipped<T: TileShape, P: Pixel>(
        isa: Isa,
        weights: &Weights,
        rows: &[Vec<P>],
    ) -> [Vec<f32>; 2] {
        [
            isa.dispatch(ForwardBlock::<T::Forward, P>(weights, rows, PhantomData)),
            isa.dispatch(ForwardBlock::<T::WidenedForward, P>(
                weights,
                rows,
                PhantomData,
            )),
        ]
    }

    /// Every shipped forward tile, narrow, wide and tall, on every instruction set
    /// (the 32-register ones on a 16-register machine too), on byte and f32 rows, a
    /// block with a row left over past the tiles, ten classes and a feature
    /// tail, the pixels as held and the scale folded in: each logit is the f64
    /// `scale * dot + bias` within 1e-5, and
    /// every tile gives the same bits.
    #[test]
    fn every_shipped_tile_computes_the_same_logits_on_every_instruction_set() {
        let (features, classes) = (3 * 16 + 5, 10);
        let model = Model::init(features, classes, &mut SeededRng::new(5));
        let (bytes, floats) = block_of_rows(features);
        for isa in Isa::available() {
            let weights = Weights::new(isa, &model);
            let mut all = Vec::new();
            all.extend(shipped::<Narrow, u8>(isa, &weights, &bytes));
            all.extend(shipped::<Wide, u8>(isa, &weights, &bytes));
            all.extend(shipped::<Tall, u8>(isa, &weights, &bytes));
            all.extend(shipped::<Narrow, f32>(isa, &weights, &floats));
            all.extend(shipped::<Wide, f32>(isa, &weights, &floats));
            all.extend(shipped::<Tall, f32>(isa, &weights, &floats));
            for logits in &all {
                assert_eq!(logits, &all[0], "{}: every tile, the same bits", isa.name());
            }
            for (k, row) in floats.iter().enumerate() {
                for c in 0..classes {
                    let w = &model.weights[c * features..(c + 1) * features];
                    let dot: f64 = row
                        .iter()
                        .zip(w)
                        .map(|(&x, &w)| f64::from(x) * f64::from(w))
                        .sum();
                    let exact = f64::from(PIXEL_SCALE) * dot + f64::from(model.bias[c]);
                    let got = f64::from(all[0][c * BLOCK_ROWS + k]);
                    assert!(
                        (got - exact).abs() <= 1e-5 * exact.abs().max(1.0),
                        "{}: row {k} class {c}: {got} vs {exact}",
                        isa.name()
                    );
                }
            }
        }
    }

    /// A row block's weight gradient computed with the backward panel `B`
    /// into `isa`'s packed layout, overwriting a gradient of NaNs.
    struct BackwardBlock<'a, B, P>(Isa, &'a [Vec<P>], &'a [f32], PhantomData<B>);

    impl<B: BackwardPanel, P: Pixel> WithSimd for BackwardBlock<'_, B, P> {
        type Output = Packed;
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> Packed {
            let BackwardBlock(isa, rows, g, _) = self;
            let x: Vec<&[P]> = rows.iter().map(|r| &r[..]).collect();
            let classes = g.len() / BLOCK_ROWS;
            let mut dw = Packed::zeros(isa, rows[0].len(), classes);
            dw.values_mut().fill(f32::NAN);
            let per_vector = S::F32_LANES * classes;
            B::block::<S, P>(simd, &x, g, (dw.values_mut(), per_vector), classes, true);
            dw
        }
    }

    /// The backward panel of the tile shape `T`.
    type Panel<T> = <T as TileShape>::Backward;

    /// Every shipped backward panel, narrow and wide, on every instruction set
    /// (the wide ones on a 16-register machine too), on byte and f32 rows with
    /// a feature tail: overwriting the gradient (it starts as NaN) gives
    /// `Σ_k g[k][c] x[k][f]` within 1e-6 of the terms' magnitude, the same
    /// bits for every panel.
    #[test]
    fn every_shipped_panel_computes_the_same_gradient_on_every_instruction_set() {
        let (features, classes) = (3 * 16 + 5, 10);
        let (bytes, floats) = block_of_rows(features);
        // Rows in lanes: `g[c * BLOCK_ROWS + k]`.
        let g: Vec<f32> = (0..classes * BLOCK_ROWS)
            .map(|i| ((i * 7 % 19) as f32 - 9.0) / 10.0)
            .collect();
        for isa in Isa::available() {
            let gradients = [
                isa.dispatch(BackwardBlock::<Panel<Narrow>, u8>(
                    isa,
                    &bytes,
                    &g,
                    PhantomData,
                )),
                isa.dispatch(BackwardBlock::<Panel<Wide>, u8>(
                    isa,
                    &bytes,
                    &g,
                    PhantomData,
                )),
                isa.dispatch(BackwardBlock::<Panel<Narrow>, f32>(
                    isa,
                    &floats,
                    &g,
                    PhantomData,
                )),
                isa.dispatch(BackwardBlock::<Panel<Wide>, f32>(
                    isa,
                    &floats,
                    &g,
                    PhantomData,
                )),
            ];
            let row_major: Vec<Vec<f32>> = gradients
                .iter()
                .map(|packed| {
                    let mut out = vec![0.0; features * classes];
                    packed.copy_to_row_major(&mut out);
                    out
                })
                .collect();
            for dw in &row_major {
                assert_eq!(
                    dw,
                    &row_major[0],
                    "{}: every panel, the same bits",
                    isa.name()
                );
            }
            for c in 0..classes {
                for f in 0..features {
                    let terms = (0..bytes.len())
                        .map(|k| f64::from(g[c * BLOCK_ROWS + k]) * f64::from(floats[k][f]));
                    let exact: f64 = terms.clone().sum();
                    let magnitude: f64 = terms.map(f64::abs).sum();
                    let got = f64::from(row_major[0][c * features + f]);
                    // f32 sums of the terms: off by a few ulps of their magnitude.
                    assert!(
                        (got - exact).abs() <= 1e-6 * magnitude.max(1.0),
                        "{}: ({c}, {f}): {got} vs {exact}",
                        isa.name()
                    );
                }
            }
        }
    }
}
