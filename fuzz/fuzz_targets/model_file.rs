//! Fuzzes the model loader, `softreg::model_file::from_bytes`.
//!
//! The first input byte picks the mode. Even: the rest of the input is the file,
//! arbitrary bytes (seeded with real model files). Odd: the rest drives a
//! well-formed safetensors file built here, with arbitrary tensor names, types,
//! shapes and metadata: byte mutations alone rarely get past safetensors'
//! length-prefixed JSON header, so this mode reaches the metadata checks.
//!
//! Checked on every input:
//! - no panic, no abort;
//! - the heap never holds more than a fixed allowance plus a small multiple of
//!   the file, whatever its header claims;
//! - an accepted model is consistent (tensor lengths, class names, image shape)
//!   and survives a save/load round trip unchanged, bit for bit.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use safetensors::tensor::{Dtype, TensorView};
use softreg::model_file::{from_bytes, to_bytes};
use softreg_fuzz::{CountingAllocator, HEAP_ALLOWANCE, peak_heap_during};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const NAMES: [&str; 3] = ["weight", "bias", "other"];
const KEYS: [&str; 5] = [
    "class_names",
    "image_shape",
    "training",
    "test_accuracy",
    "other",
];
const DTYPES: [Dtype; 4] = [Dtype::F32, Dtype::F32, Dtype::F64, Dtype::U8];

/// A safetensors file with up to three tensors and up to six metadata
/// entries, every choice taken from `u`.
fn structured_file(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let mut tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let name = *u.choose(&NAMES)?;
        let dtype = *u.choose(&DTYPES)?;
        let rank = u.int_in_range(0..=3)?;
        let shape = (0..rank)
            .map(|_| u.int_in_range(0..=40))
            .collect::<Result<Vec<usize>>>()?;
        let len = shape.iter().product::<usize>() * dtype.bitsize() / 8;
        let data = (0..len)
            .map(|_| u.arbitrary::<u8>())
            .collect::<Result<Vec<u8>>>()?;
        // safetensors' writer panics on a repeated name (0.8.0); keep the first.
        if tensors.iter().all(|(n, ..)| *n != name) {
            tensors.push((name, dtype, shape, data));
        }
    }
    let mut metadata = HashMap::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let key = *u.choose(&KEYS)?;
        metadata.insert(key.to_string(), u.arbitrary::<String>()?);
    }
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, data)| (*name, TensorView::new(*dtype, shape.clone(), data)))
        .filter_map(|(name, view)| Some((name, view.ok()?)))
        .collect::<Vec<_>>();
    // Whatever else the writer refuses gives no file (an empty input).
    Ok(safetensors::serialize(views, Some(metadata)).unwrap_or_default())
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let file = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        match structured_file(&mut Unstructured::new(rest)) {
            Ok(file) => file,
            Err(_) => return,
        }
    };

    let (loaded, peak) = peak_heap_during(|| from_bytes(&file));
    assert!(
        peak <= HEAP_ALLOWANCE + 8 * file.len(),
        "the loader held {peak} heap bytes for a {} byte file",
        file.len()
    );
    let Ok((model, info)) = loaded else {
        return;
    };
    assert_eq!(model.weights.len(), model.classes * model.features);
    assert_eq!(model.bias.len(), model.classes);
    assert_eq!(info.class_names.len(), model.classes);
    assert_eq!(
        info.image_shape.0.checked_mul(info.image_shape.1),
        Some(model.features)
    );

    let bytes = to_bytes(&model, &info).expect("an accepted model can be written again");
    let (again, again_info) = from_bytes(&bytes).expect("a written model loads");
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&again.weights), bits(&model.weights));
    assert_eq!(bits(&again.bias), bits(&model.bias));
    assert_eq!(
        (again.classes, again.features),
        (model.classes, model.features)
    );
    assert_eq!(again_info.class_names, info.class_names);
    assert_eq!(again_info.image_shape, info.image_shape);
    assert_eq!(again_info.training, info.training);
    assert_eq!(
        again_info.test_accuracy.map(f64::to_bits),
        info.test_accuracy.map(f64::to_bits)
    );
});
