//! softreg: softmax regression on idx image data sets (Fashion-MNIST), trained on the CPU.
//!
//! ```no_run
//! use softreg::{data::Dataset, report, train::{train, TrainConfig}};
//!
//! let data = Dataset::load("data/fashion-mnist".as_ref(), 10)?;
//! let flop = report::flop_per_sample(data.train.images.features(), data.classes);
//! let trained = train(&data, &TrainConfig::default(), |epoch| {
//!     println!("{}", report::epoch_line(epoch, flop));
//! })?;
//! assert!(trained.model.is_finite());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules: [`idx`] parses idx headers, [`data`] loads a data directory into
//! aligned f32 memory, [`model`] holds the weights, [`reference`] is the naive f64
//! oracle, [`train`] runs minibatch SGD, [`report`] formats what the CLI prints.

pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod eval;
pub mod info;
pub mod input;
pub mod kernel;
pub mod model;
pub mod output;
pub mod peak;
pub mod picture;
pub mod plot;
pub mod predictions;
pub mod random;
pub mod reference;
pub mod report;
pub mod train;
pub mod user_image;
