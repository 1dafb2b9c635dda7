//! Model files: round trips, the documented layout, and broken files.

use std::collections::HashMap;

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use softreg::model::Model;
use softreg::model_file::{self, ModelFileErrorKind, ModelInfo};
use softreg::random::SeededRng;

fn model_and_info() -> (Model, ModelInfo) {
    let mut model = Model::init(784, 10, &mut SeededRng::new(4));
    model.bias = (0..10).map(|c| c as f32 * 0.25 - 1.0).collect();
    let mut info = ModelInfo::fashion_mnist((28, 28));
    info.test_accuracy = Some(0.8141);
    info.training = vec![("epochs".into(), "5".into()), ("lr".into(), "0.1".into())];
    (model, info)
}

#[test]
fn save_then_load_round_trips_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let (model, info) = model_and_info();
    model_file::save(&path, &model, &info).unwrap();
    let (loaded, loaded_info) = model_file::load(&path).unwrap();
    let bits = |m: &Model| {
        m.weights
            .iter()
            .chain(&m.bias)
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&loaded), bits(&model));
    assert_eq!((loaded.classes, loaded.features), (10, 784));
    assert_eq!(loaded_info, info);
    // Only the model file remains: no temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn the_file_has_pytorch_linear_layout_for_the_safetensors_crate() {
    let (model, info) = model_and_info();
    let bytes = model_file::to_bytes(&model, &info).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = tensors.names();
    names.sort();
    assert_eq!(names, vec!["bias", "weight"]);
    let weight = tensors.tensor("weight").unwrap();
    assert_eq!(
        (weight.dtype(), weight.shape()),
        (Dtype::F32, &[10, 784][..])
    );
    let bias = tensors.tensor("bias").unwrap();
    assert_eq!((bias.dtype(), bias.shape()), (Dtype::F32, &[10][..]));
    // Row c of `weight` is class c's weights, little-endian f32.
    let w = weight.data();
    let at = |c: usize, f: usize| {
        let i = (c * 784 + f) * 4;
        f32::from_le_bytes([w[i], w[i + 1], w[i + 2], w[i + 3]])
    };
    assert_eq!(at(3, 100), model.weights[3 * 784 + 100]);
    assert_eq!(at(9, 783), model.class_weights(9)[783]);
    let (_, metadata) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = metadata.metadata().as_ref().unwrap();
    assert_eq!(metadata["image_shape"], "28x28");
    assert_eq!(metadata["test_accuracy"], "0.8141");
    assert!(metadata["class_names"].contains("Ankle boot"));
}

fn kind_of(bytes: &[u8]) -> ModelFileErrorKind {
    model_file::from_bytes(bytes).unwrap_err()
}

/// A safetensors file holding the given tensors and no metadata.
fn file_with(tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
    file_with_metadata(tensors, None)
}

/// A safetensors file holding the given tensors and metadata.
fn file_with_metadata(
    tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)>,
    metadata: Option<HashMap<String, String>>,
) -> Vec<u8> {
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            (*name, TensorView::new(*dtype, shape.clone(), data).unwrap())
        })
        .collect();
    safetensors::serialize(views, Some(metadata).flatten()).unwrap()
}

#[test]
fn metadata_that_does_not_fit_the_model_is_refused() {
    let model_with = |key: &str, value: &str| {
        file_with_metadata(
            vec![
                ("weight", Dtype::F32, vec![2, 4], vec![0u8; 32]),
                ("bias", Dtype::F32, vec![2], vec![0u8; 8]),
            ],
            Some(HashMap::from([(key.to_string(), value.to_string())])),
        )
    };
    for (key, value) in [
        // The product overflows 64 bits (the model loader used to panic here).
        ("image_shape", "4294967296x4294967296"),
        ("image_shape", "18446744073709551615x2"),
        ("image_shape", "3x3"),
        ("image_shape", "2x2x1"),
        ("image_shape", "-2x-2"),
        ("class_names", "[\"a\"]"),
        ("class_names", "{\"a\": 1}"),
        ("training", "[1, 2]"),
        ("test_accuracy", "most"),
    ] {
        let err = kind_of(&model_with(key, value));
        assert!(
            matches!(err, ModelFileErrorKind::Metadata(ref m) if m.contains(key)),
            "{key} = {value}: {err}"
        );
    }
    let (_, info) = model_file::from_bytes(&model_with("image_shape", "1x4")).unwrap();
    assert_eq!(info.image_shape, (1, 4));
}

#[test]
fn broken_files_get_their_own_errors() {
    let (model, info) = model_and_info();
    let good = model_file::to_bytes(&model, &info).unwrap();

    let truncated = &good[..good.len() - 100];
    assert!(matches!(kind_of(truncated), ModelFileErrorKind::Format(_)));
    assert!(matches!(
        kind_of(b"PK\x03\x04 a zip file"),
        ModelFileErrorKind::Format(_)
    ));
    assert!(matches!(kind_of(&[]), ModelFileErrorKind::Format(_)));

    let f32s = |n: usize| vec![0u8; 4 * n];
    let only_weight = file_with(vec![("weight", Dtype::F32, vec![10, 784], f32s(7840))]);
    assert!(matches!(
        kind_of(&only_weight),
        ModelFileErrorKind::MissingTensor("bias")
    ));

    // The bias says how many classes there are; a weight that disagrees is
    // named, and a transposed one ([features, classes]) is called that.
    let wrong_shape = file_with(vec![
        ("weight", Dtype::F32, vec![10, 784], f32s(7840)),
        ("bias", Dtype::F32, vec![9], f32s(9)),
    ]);
    assert!(matches!(
        kind_of(&wrong_shape),
        ModelFileErrorKind::WrongShape { name: "weight", .. }
    ));
    let transposed = file_with(vec![
        ("weight", Dtype::F32, vec![784, 10], f32s(7840)),
        ("bias", Dtype::F32, vec![10], f32s(10)),
    ]);
    match kind_of(&transposed) {
        ModelFileErrorKind::WrongShape {
            name: "weight",
            expected,
            ..
        } => {
            assert!(
                expected.contains("[10, 784]") && expected.contains("transposed"),
                "{expected}"
            )
        }
        other => panic!("a transposed weight gave {other}"),
    }
    let matrix_bias = file_with(vec![
        ("weight", Dtype::F32, vec![10, 784], f32s(7840)),
        ("bias", Dtype::F32, vec![10, 1], f32s(10)),
    ]);
    assert!(matches!(
        kind_of(&matrix_bias),
        ModelFileErrorKind::WrongShape { name: "bias", .. }
    ));

    let flat_weight = file_with(vec![
        ("weight", Dtype::F32, vec![7840], f32s(7840)),
        ("bias", Dtype::F32, vec![10], f32s(10)),
    ]);
    assert!(matches!(
        kind_of(&flat_weight),
        ModelFileErrorKind::WrongShape { name: "weight", .. }
    ));

    let f64_weight = file_with(vec![
        ("weight", Dtype::F64, vec![10, 784], vec![0u8; 8 * 7840]),
        ("bias", Dtype::F32, vec![10], f32s(10)),
    ]);
    assert!(matches!(
        kind_of(&f64_weight),
        ModelFileErrorKind::WrongDtype { name: "weight", .. }
    ));

    // Without metadata a file still loads, with neutral class names.
    let (plain, plain_info) = model_file::from_bytes(&file_with(vec![
        ("weight", Dtype::F32, vec![10, 784], f32s(7840)),
        ("bias", Dtype::F32, vec![10], f32s(10)),
    ]))
    .unwrap();
    assert_eq!(plain.classes, 10);
    assert_eq!(plain_info.image_shape, (28, 28));
    assert_eq!(plain_info.class_names[3], "3");
}

#[test]
fn a_failed_save_leaves_the_previous_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let (model, info) = model_and_info();
    model_file::save(&path, &model, &info).unwrap();
    let before = std::fs::read(&path).unwrap();
    // Saving into a directory that does not exist fails before touching anything.
    let missing = dir.path().join("no-such-dir").join("model.safetensors");
    assert!(model_file::save(&missing, &model, &info).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[cfg(unix)]
#[test]
fn saved_files_are_readable_like_ordinary_new_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let (model, info) = model_and_info();
    model_file::save(&path, &model, &info).unwrap();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"x").unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&path),
        mode(&plain),
        "same mode as a file made by fs::write"
    );
}
