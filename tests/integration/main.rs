//! The integration tests, one test binary with a module per concern (built
//! once, rather than once per file). `tests/properties.rs` is a binary of its
//! own: it counts heap bytes with a global allocator of its own.

#[path = "../common/mod.rs"]
mod common;

mod any_data;
mod arrays;
mod checkpoint;
mod cli;
mod data_loading;
mod file_system;
mod flags;
mod hostile;
mod kernel;
mod lbfgs;
mod model_file;
mod pictures;
mod random;
mod reference;
mod schedule;
mod sweep;
mod training;
