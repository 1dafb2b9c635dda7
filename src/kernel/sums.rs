//! What a kernel computes for one chunk of a minibatch: sums, not means, so
//! that the caller can add the chunks in a fixed order and divide by the
//! minibatch size.

/// The summed loss, correct count and gradient of one chunk's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkSums {
    /// Summed cross-entropy loss of the chunk's rows.
    pub loss_sum: f64,
    /// How many of the chunk's rows are classified correctly.
    pub correct: usize,
    /// Summed gradient of the loss with respect to the weights, `classes x
    /// features`, in the layout of the weights the kernel read: packed for the
    /// fused kernel ([`super::Weights::gradient_row_major`] unpacks it),
    /// row-major for the GEMM baseline.
    pub grad_weights: Vec<f32>,
    /// Summed gradient of the loss with respect to the bias.
    pub grad_bias: Vec<f32>,
}

impl ChunkSums {
    /// Zero sums for a model of this shape.
    pub fn new(features: usize, classes: usize) -> Self {
        Self {
            loss_sum: 0.0,
            correct: 0,
            grad_weights: vec![0.0; features * classes],
            grad_bias: vec![0.0; classes],
        }
    }

    /// Sets every sum back to zero.
    pub fn reset(&mut self) {
        self.loss_sum = 0.0;
        self.correct = 0;
        self.grad_weights.fill(0.0);
        self.grad_bias.fill(0.0);
    }
}
