//! Standardized features: each feature shifted by its mean and divided by its
//! spread over the training rows, for training; and the trained model folded
//! back into one that takes the raw features, so that a saved model stays an
//! `nn.Linear` on the data as the files hold it.
//!
//! A model `W, b` on standardized features `(x - m) / s` is, on raw features,
//! `W' = W / s` (column by column) and `b' = b - W' m`: the same logits, so
//! the same predictions, without the transform.

use std::io;
use std::ops::Range;

use std::path::Path;

use super::buffer::{Held, PixelBuffer};
use super::{DataError, DataErrorKind, Dataset, Images, Split, check_fits};
use crate::model::Model;

/// Each feature's mean and spread over the rows it was fitted on.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardization {
    /// Per feature, the mean.
    pub mean: Vec<f64>,
    /// Per feature, the standard deviation (population), or 1 where it is 0
    /// (a constant feature becomes 0 rather than a division by zero).
    pub spread: Vec<f64>,
}

impl Standardization {
    /// The mean and spread of each feature of `split`'s rows `rows` (the
    /// values the kernels see: pixels times the images' scale), accumulated
    /// in f64.
    pub fn fit(split: &Split, rows: Range<usize>) -> Self {
        let features = split.images.features();
        let count = rows.len().max(1) as f64;
        let mut mean = vec![0.0f64; features];
        let mut row = vec![0.0f32; features];
        for r in rows.clone() {
            split.images.write_row_f32(r, &mut row);
            for (m, &x) in mean.iter_mut().zip(&row) {
                *m += f64::from(x);
            }
        }
        mean.iter_mut().for_each(|m| *m /= count);
        let mut variance = vec![0.0f64; features];
        for r in rows {
            split.images.write_row_f32(r, &mut row);
            for ((v, &x), m) in variance.iter_mut().zip(&row).zip(&mean) {
                *v += (f64::from(x) - m).powi(2);
            }
        }
        let spread = variance
            .iter()
            .map(|v| match (v / count).sqrt() {
                s if s > 0.0 && s.is_finite() => s,
                _ => 1.0,
            })
            .collect();
        Self { mean, spread }
    }

    /// `images` standardized: a new f32 copy holding `(x - mean) / spread`
    /// for every feature `x` (scale 1), the same shape.
    pub fn apply(&self, images: &Images) -> io::Result<Images> {
        let features = images.features();
        assert_eq!(features, self.mean.len(), "fitted on these features");
        let mut row = vec![0.0f32; features];
        let buffer = PixelBuffer::from_fn(images.len() * features, |out| {
            for (i, out) in out.chunks_exact_mut(features).enumerate() {
                images.write_row_f32(i, &mut row);
                for (((o, &x), m), s) in out.iter_mut().zip(&row).zip(&self.mean).zip(&self.spread)
                {
                    *o = ((f64::from(x) - m) / s) as f32;
                }
            }
        })?;
        let (height, width) = images.shape();
        Ok(Images::from_values(height, width, Held::Owned(buffer)))
    }

    /// `model`, trained on standardized features, as a model on the raw
    /// features (the scale of the images included): the same logits.
    pub fn fold(&self, model: &Model) -> Model {
        let features = model.features;
        let mut folded = model.clone();
        for c in 0..model.classes {
            let row = &mut folded.weights[c * features..(c + 1) * features];
            let mut shift = 0.0f64;
            for ((w, m), s) in row.iter_mut().zip(&self.mean).zip(&self.spread) {
                let raw = f64::from(*w) / s;
                shift += raw * m;
                *w = raw as f32;
            }
            folded.bias[c] = (f64::from(model.bias[c]) - shift) as f32;
        }
        folded
    }
}

impl Dataset {
    /// Every split standardized with the mean and spread of the training
    /// rows `fit_rows` (held-out rows excluded), held as new f32 copies; the
    /// memory they take is checked first (blaming the data directory `dir`).
    pub fn standardize(
        &mut self,
        dir: &Path,
        fit_rows: Range<usize>,
    ) -> Result<Standardization, DataError> {
        let error = |kind| DataError::new(dir, kind);
        let features = self.train.images.features() as u64;
        let samples = (self.train.len() + self.test.as_ref().map_or(0, Split::len)) as u64;
        let bytes = samples.saturating_mul(features).saturating_mul(4);
        check_fits(bytes, bytes, "standardized as f32").map_err(error)?;
        let standardization = Standardization::fit(&self.train, fit_rows);
        let io = |e| error(DataErrorKind::Io(e));
        self.train.images = standardization.apply(&self.train.images).map_err(io)?;
        if let Some(test) = &mut self.test {
            test.images = standardization.apply(&test.images).map_err(io)?;
        }
        Ok(standardization)
    }
}

#[cfg(test)]
mod tests {
    use super::Standardization;
    use crate::data::{Images, Split};
    use crate::model::Model;
    use crate::random::SeededRng;

    /// Features far from zero and of different spreads, one of them constant.
    fn split() -> Split {
        let mut rng = SeededRng::new(3);
        let values: Vec<f32> = (0..50)
            .flat_map(|_| {
                let a = 1000.0 + 5.0 * rng.normal(0.0, 1.0) as f32;
                let b = 0.001 * rng.normal(0.0, 1.0) as f32;
                [a, b, 7.0]
            })
            .collect();
        Split {
            images: Images::from_f32(1, 3, &values),
            labels: vec![0; 50],
        }
    }

    #[test]
    fn standardized_features_have_mean_zero_and_spread_one() {
        let split = split();
        let st = Standardization::fit(&split, 0..50);
        let standardized = st.apply(&split.images).unwrap();
        for f in 0..2 {
            let column: Vec<f64> = (0..50)
                .map(|r| f64::from(standardized.row_f32(r)[f]))
                .collect();
            let mean = column.iter().sum::<f64>() / 50.0;
            let spread = (column.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 50.0).sqrt();
            assert!(
                mean.abs() < 1e-4 && (spread - 1.0).abs() < 1e-4,
                "{f}: {mean} {spread}"
            );
        }
        assert_eq!(st.spread[2], 1.0, "a constant feature keeps spread 1");
        assert!((0..50).all(|r| standardized.row_f32(r)[2] == 0.0));
    }

    #[test]
    fn a_folded_model_gives_the_same_logits_on_raw_features() {
        let split = split();
        let st = Standardization::fit(&split, 0..40);
        let standardized = st.apply(&split.images).unwrap();
        let model = Model::init(3, 4, &mut SeededRng::new(9));
        let folded = st.fold(&model);
        for r in 0..50 {
            let on_standard = crate::reference::logits(&model, &standardized.row_f32(r));
            let on_raw = crate::reference::logits(&folded, &split.images.row_f32(r));
            for (a, b) in on_standard.iter().zip(&on_raw) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                    "row {r}: {a} vs {b}"
                );
            }
        }
    }
}
