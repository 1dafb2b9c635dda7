//! PNG figures drawn without system fonts: a pixel [`canvas`] with an embedded
//! bitmap font, the training [`curves`], test images with their true and
//! predicted labels ([`predictions`], also as terminal art), and a [`sweep`]'s
//! best configurations.

pub mod canvas;
pub mod curves;
pub mod predictions;
pub mod sweep;
