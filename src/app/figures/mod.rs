//! PNG figures drawn without system fonts: a pixel [`canvas`] with an embedded
//! bitmap font, the training [`curves`], and test images with their true and
//! predicted labels ([`predictions`], also as terminal art).

pub mod canvas;
pub mod curves;
pub mod predictions;
