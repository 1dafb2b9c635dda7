//! The softmax-regression model: a weight matrix and a bias vector.

use crate::random::SeededRng;

/// The standard deviation of the initial weights (the tutorial's N(0, 0.01)).
pub const INIT_STD: f64 = 0.01;

/// A linear classifier `logits = W x + b` followed by softmax.
///
/// The weights are stored class-major, `weights[c * features + f]`, the layout of
/// PyTorch's `nn.Linear(features, classes).weight`: each class's row is contiguous,
/// so kernels sweep features with unit stride for both the forward and the
/// backward half.
///
/// ```
/// use softreg::{model::Model, random::SeededRng};
/// let model = Model::init(784, 10, &mut SeededRng::new(42));
/// assert_eq!(model.weights.len(), 7840);
/// assert!(model.bias.iter().all(|&b| b == 0.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Inputs per sample.
    pub features: usize,
    /// Output classes.
    pub classes: usize,
    /// `classes x features`, row-major.
    pub weights: Vec<f32>,
    /// One bias per class.
    pub bias: Vec<f32>,
}

impl Model {
    /// A model with weights drawn from Normal(0, 0.01) by `rng` and zero bias.
    pub fn init(features: usize, classes: usize, rng: &mut SeededRng) -> Self {
        let weights = (0..features * classes)
            .map(|_| rng.normal(0.0, INIT_STD) as f32)
            .collect();
        Self {
            features,
            classes,
            weights,
            bias: vec![0.0; classes],
        }
    }

    /// A model of this shape with every weight and bias 0 (an optimizer's
    /// buffers start so).
    pub fn zeros(features: usize, classes: usize) -> Self {
        Self {
            features,
            classes,
            weights: vec![0.0; features * classes],
            bias: vec![0.0; classes],
        }
    }

    /// The SHA-256 of the shape, weights and bias, in hex: names a model's
    /// values in a run's settings (`--init`).
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for n in [self.features, self.classes] {
            hasher.update((n as u64).to_le_bytes());
        }
        for v in self.weights.iter().chain(&self.bias) {
            hasher.update(v.to_le_bytes());
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The weights of class `c`, one per feature.
    pub fn class_weights(&self, c: usize) -> &[f32] {
        &self.weights[c * self.features..(c + 1) * self.features]
    }

    /// Whether every weight and bias is finite.
    pub fn is_finite(&self) -> bool {
        self.weights.iter().chain(&self.bias).all(|v| v.is_finite())
    }
}
