//! The one seam between files and the rest of softreg: a data directory
//! ([`Source`]: idx files, or NumPy files) opened as a [`Dataset`], with its
//! class count and class names.

use std::path::{Path, PathBuf};

use super::format::{Format, SplitName};
use super::idx_dir::IdxDirectory;
use super::npy_dir::NpyDirectory;
use super::{
    DataError, DataErrorKind, Dataset, Images, Label, MAX_CLASS_NAME_CHARS, MAX_CLASSES,
    PixelFormat, Split, fashion_mnist,
};

/// Every format, in the order they are tried; the last is the fallback,
/// whose loading names the files it misses.
pub static FORMATS: [&dyn Format; 2] = [&NpyDirectory, &IdxDirectory];

/// A data directory and the format it holds ([`FORMATS`]: the first that
/// detects it).
#[derive(Debug, Clone)]
pub struct Source {
    dir: PathBuf,
    format: &'static dyn Format,
}

impl Source {
    /// The source `dir` holds.
    pub fn of(dir: &Path) -> Self {
        let format = (FORMATS.iter())
            .find(|format| format.detect(dir))
            .copied()
            .unwrap_or(FORMATS[FORMATS.len() - 1]);
        Self {
            dir: dir.to_path_buf(),
            format,
        }
    }

    /// The format's name: `idx`, `npy`.
    pub fn format_name(&self) -> &'static str {
        self.format.name()
    }

    /// Loads one split, every label below `classes`.
    pub fn split(
        &self,
        name: SplitName,
        classes: usize,
        format: PixelFormat,
    ) -> Result<Split, DataError> {
        self.format.split(&self.dir, name, classes, format)
    }

    /// Whether there is a test split.
    pub fn has_test(&self) -> bool {
        self.format.has_test(&self.dir)
    }

    /// The file a split's samples are read from (the raw name for idx).
    pub fn samples_file(&self, name: SplitName) -> PathBuf {
        let [samples, _] = self.format.split_files(&self.dir, name);
        samples
    }

    /// The file a split's labels are read from (the raw name for idx).
    pub fn labels_file(&self, name: SplitName) -> PathBuf {
        let [_, labels] = self.format.split_files(&self.dir, name);
        labels
    }

    /// The files loading reads now.
    pub fn files_read(&self) -> Vec<PathBuf> {
        self.format.files_read(&self.dir)
    }

    /// The SHA-256 of the canonical data set's file `i` of
    /// [`Source::files_read`], where the format has one.
    pub fn canonical_sha256(&self, i: usize, path: &Path) -> Option<&'static str> {
        self.format.canonical_sha256(i, path)
    }
}

/// Every file of `dir` that loading may read, in any format, and the class
/// names: what no output may overwrite.
pub fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = FORMATS.iter().flat_map(|f| f.files_of(dir)).collect();
    files.push(dir.join(CLASS_NAMES_FILE));
    files
}

/// Loads only the test split of `dir` (what scoring a saved model needs), with
/// any label below [`MAX_CLASSES`] accepted; check the labels against the
/// model with [`Split::highest_label`].
pub fn load_test(dir: &Path, format: PixelFormat) -> Result<Split, DataError> {
    Source::of(dir).split(SplitName::Test, MAX_CLASSES, format)
}

impl Split {
    /// The split of `images` and their `labels`, each with the file it was
    /// read from: refused if there are no images or the counts differ.
    pub(super) fn new(
        (images_path, images): (&Path, Images),
        (labels_path, labels): (&Path, Vec<Label>),
    ) -> Result<Self, DataError> {
        if images.is_empty() {
            return Err(DataError::new(images_path, DataErrorKind::NoImages));
        }
        if labels.len() != images.len() {
            return Err(DataError::new(
                labels_path,
                DataErrorKind::CountMismatch {
                    images: images.len(),
                    labels: labels.len(),
                },
            ));
        }
        Ok(Split { images, labels })
    }

    /// The largest label and the index of its first image, if any.
    pub fn highest_label(&self) -> Option<(usize, Label)> {
        let max = *self.labels.iter().max()?;
        let index = self.labels.iter().position(|&l| l == max)?;
        Some((index, max))
    }
}

impl Dataset {
    /// Loads the data directory `dir` ([`Source`]) as f32 samples, with
    /// `classes` classes (every label must be below it), or as many as the
    /// largest label says.
    pub fn load(dir: &Path, classes: Option<usize>) -> Result<Self, DataError> {
        Self::load_as(dir, classes, PixelFormat::F32)
    }

    /// [`Dataset::load`] with byte pixels held in `format` (samples of other
    /// types are f32 whatever it says).
    pub fn load_as(
        dir: &Path,
        classes: Option<usize>,
        format: PixelFormat,
    ) -> Result<Self, DataError> {
        let source = Source::of(dir);
        let bound = classes.unwrap_or(MAX_CLASSES);
        let train = source.split(SplitName::Train, bound, format)?;
        let test = match source.has_test() {
            true => Some(source.split(SplitName::Test, bound, format)?),
            false => None,
        };
        if let Some(test) = test
            .as_ref()
            .filter(|t| t.images.shape() != train.images.shape())
        {
            return Err(DataError::new(
                &source.samples_file(SplitName::Test),
                DataErrorKind::ShapeMismatch {
                    expected: train.images.shape(),
                    found: test.images.shape(),
                },
            ));
        }
        let highest = [Some(&train), test.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|s| s.highest_label())
            .map(|(_, label)| label as usize)
            .max()
            .unwrap_or(0);
        let classes = classes.unwrap_or(highest + 1);
        let class_names = class_names(dir, (&train, test.as_ref()), classes)?;
        Ok(Self {
            train,
            test,
            classes,
            class_names,
        })
    }
}

/// The name of the plain-text file in a data directory that names the
/// classes, one per line, by label.
pub const CLASS_NAMES_FILE: &str = "classes.txt";

/// The class names of a data set: the lines of [`CLASS_NAMES_FILE`] in `dir`
/// if there is one, Fashion-MNIST's if the splits' labels are Fashion-MNIST's
/// (recognised by their checksums), else the class numbers.
fn class_names(
    dir: &Path,
    (train, test): (&Split, Option<&Split>),
    classes: usize,
) -> Result<Vec<String>, DataError> {
    let path = dir.join(CLASS_NAMES_FILE);
    if path.exists() {
        let text = crate::input::read_capped(&path, MAX_NAMES_BYTES)
            .map_err(|e| DataError::new(&path, DataErrorKind::Io(e)))?;
        let text = String::from_utf8_lossy(&text);
        let names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
        if let Some((line, name)) = names
            .iter()
            .enumerate()
            .find(|(_, n)| n.chars().count() > MAX_CLASS_NAME_CHARS)
        {
            let kind = DataErrorKind::ClassNameTooLong {
                line: line + 1,
                chars: name.chars().count(),
            };
            return Err(DataError::new(&path, kind));
        }
        if names.len() != classes {
            let kind = DataErrorKind::ClassNames {
                names: names.len(),
                classes,
            };
            return Err(DataError::new(&path, kind));
        }
        return Ok(names);
    }
    if let Some(test) = test
        && classes == fashion_mnist::CLASSES
        && fashion_mnist::is_fashion_mnist(&train.labels, &test.labels)
    {
        return Ok(fashion_mnist::CLASS_NAMES.map(str::to_string).to_vec());
    }
    Ok((0..classes).map(|c| c.to_string()).collect())
}

/// The largest class-names file read: 16 MB.
const MAX_NAMES_BYTES: u64 = 16 << 20;
