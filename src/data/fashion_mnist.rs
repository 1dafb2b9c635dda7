//! What is known about Fashion-MNIST itself: its classes, the checksums of
//! its canonical files (in [`super::FILE_STEMS`] order), and how a loaded data
//! set is recognised as Fashion-MNIST ([`is_fashion_mnist`]).
//!
//! ```
//! use softreg::data::fashion_mnist;
//! assert_eq!(fashion_mnist::CLASS_NAMES[fashion_mnist::CLASSES - 1], "Ankle boot");
//! ```

/// The number of classes.
pub const CLASSES: usize = 10;

/// The class names, by label.
pub const CLASS_NAMES: [&str; CLASSES] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// SHA-256 of the canonical `.gz` files.
pub const GZ_SHA256: [&str; 4] = [
    "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
];

/// SHA-256 of the canonical files decompressed (the raw idx files, or the
/// cache softreg writes beside the `.gz` files).
pub const RAW_SHA256: [&str; 4] = [
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
];

/// SHA-256 of the canonical labels, one byte per label (the label files
/// after their headers): training, then test.
const LABELS_SHA256: [&str; 2] = [
    "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
];

/// Whether the training and test labels are Fashion-MNIST's, label for
/// label (and so its class names apply): MNIST, KMNIST and the rest have
/// the same shapes and ten classes, but other labels. Costs a hash of the
/// 70,000 labels.
pub fn is_fashion_mnist(train: &[super::Label], test: &[super::Label]) -> bool {
    use sha2::{Digest, Sha256};
    let digest = |labels: &[super::Label]| {
        let mut hash = Sha256::new();
        for &label in labels {
            match u8::try_from(label) {
                Ok(byte) => hash.update([byte]),
                Err(_) => return String::new(),
            }
        }
        hash.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    digest(train) == LABELS_SHA256[0] && digest(test) == LABELS_SHA256[1]
}
