//! softreg: softmax (multinomial logistic) regression trained on the CPU, by
//! minibatch SGD, momentum or Adam with PyTorch's semantics, or to
//! scikit-learn's optimum by full-batch L-BFGS, on idx or NumPy data sets or
//! arrays in memory.
//!
//! ```no_run
//! use softreg::{app::report, data::Dataset, train::{train, TrainConfig}};
//!
//! let data = Dataset::load("data/fashion-mnist".as_ref(), Some(10))?;
//! let flop = report::flop_per_sample(data.train.images.features(), data.classes);
//! let trained = train(&data, &TrainConfig::default(), |epoch| {
//!     println!("{}", report::epoch_line(epoch, flop));
//! })?;
//! assert!(trained.model.is_finite());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The data flow: [`data`] opens a data directory of idx or NumPy files
//! (mapping raw files, decompressing `.gz` ones once into a cache), checks
//! their headers and holds the samples as bytes or f32, and [`arrays`] makes
//! the same from arrays a program holds; [`model`] is the weight matrix and
//! bias, initialised from [`random`]; [`kernel`] computes a chunk of a
//! minibatch's loss and gradient in one fused pass (or with the GEMM
//! baseline, or the f64 [`reference`](mod@reference) every fast path is
//! tested against), on the instruction set, plan and threads of a
//! [`compute::Compute`]; [`eval`] scores models on a split with any kernel;
//! [`train`] runs the epochs of SGD, momentum or Adam on a team of threads,
//! for one model or a [`train::sweep`] of many in one pass over the data,
//! with checkpoints that resume to the bit; [`fit`] fits the full-batch
//! L-BFGS optimum of one or many penalties, with [`linalg`] factoring its
//! preconditioner; [`model_file`] and [`model_info`] save and load models as
//! safetensors; [`app`] is what only the command line needs (reports,
//! figures, user pictures, `info`, `bench`, `tune`, the sweep's table).
//! [`input`] and [`output`] open inputs and write outputs safely for all of
//! them, and [`signals`] turns the signals their files can bring into an
//! error or a cleanup.
//!
//! Modules, bottom up, each importing only from the ones before it:
//! [`signals`], [`input`], [`output`], [`data`], [`random`], [`model`],
//! [`reference`](mod@reference), [`kernel`], [`compute`], [`linalg`],
//! [`eval`], [`train`], [`fit`], [`model_info`], [`model_file`], [`arrays`],
//! [`app`].

// The docs are read with `--document-private-items` (CI builds them so): the
// kernel's overview links to its private passes.
#![allow(rustdoc::private_intra_doc_links)]

pub mod app;
pub mod arrays;
pub mod compute;
pub mod data;
pub mod eval;
pub mod fit;
pub mod input;
pub mod kernel;
pub mod linalg;
pub mod model;
pub mod model_file;
pub mod model_info;
pub mod output;
pub mod random;
pub mod reference;
pub mod signals;
pub mod train;
