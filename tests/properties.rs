//! Properties over arbitrary inputs: parsers never panic, never trust a header
//! beyond the bytes present, and either load or say why not.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs;

use proptest::prelude::*;
use softreg::data::idx::{Holds, IdxHeader};
use softreg::data::{PixelFormat, load_split};
use softreg::model_file;

const IMAGES: &str = "train-images-idx3-ubyte";
const LABELS: &str = "train-labels-idx1-ubyte";

/// The system allocator, counting each thread's live heap bytes and their peak,
/// so that a property can bound what one call holds while other tests run.
struct PerThreadCountingAllocator;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters (const-initialised thread-locals, which never allocate) are only
// bookkeeping. `try_with` skips the count during thread teardown.
unsafe impl GlobalAlloc for PerThreadCountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|live| {
            live.set(live.get() + layout.size() as isize);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
        });
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|live| live.set(live.get() - layout.size() as isize));
        // SAFETY: every allocation comes from `System` through `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: PerThreadCountingAllocator = PerThreadCountingAllocator;

/// Runs `f` and returns its result with the most heap bytes this thread held
/// at once during the call, beyond what it held before.
fn peak_heap_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let baseline = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(baseline));
    let result = f();
    (result, (PEAK.with(Cell::get) - baseline).max(0) as usize)
}

/// What a loader may hold beyond its input: I/O and inflate buffers, paths, messages.
const HEAP_ALLOWANCE: usize = 1 << 20;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any bytes: the header parser returns a header or an error, and a header
    /// it accepts describes exactly the bytes present.
    #[test]
    fn idx_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), labels in any::<bool>()) {
        let holds = if labels { Holds::Labels } else { Holds::Samples };
        if let Ok(header) = IdxHeader::parse(&bytes, holds)
            && let Ok(data) = header.data(&bytes)
        {
            prop_assert_eq!(data.len() as u64, header.data_len());
            prop_assert_eq!(bytes.len() as u64, header.total_len());
        }
    }

    /// A valid-looking header with arbitrary (lying) dimensions over a short body,
    /// raw or gzipped, loads only when the dimensions match the bytes, and never
    /// allocates from the claim (a lie of billions of images costs nothing).
    #[test]
    fn lying_headers_load_only_when_true(
        dims in proptest::array::uniform3(prop_oneof![0u32..64, any::<u32>()]),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        gz in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = common::idx_bytes(8, &dims, &body);
        if gz {
            fs::write(dir.path().join(format!("{IMAGES}.gz")), common::gzip(&file)).unwrap();
        } else {
            fs::write(dir.path().join(IMAGES), &file).unwrap();
        }
        let count = dims[0].min(200) as usize;
        fs::write(dir.path().join(LABELS), common::label_file(&vec![0; count])).unwrap();
        let truthful = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(u64::from(d)))
            == Some(body.len() as u64);
        let (loaded, peak) =
            peak_heap_during(|| load_split(dir.path(), IMAGES, LABELS, 10, PixelFormat::U8));
        prop_assert!(peak <= HEAP_ALLOWANCE + 4 * file.len(), "held {} heap bytes", peak);
        if !truthful {
            prop_assert!(loaded.is_err());
        }
    }

    /// Arbitrary bytes in place of an image file, raw or gzipped: an error
    /// that names one of the two files (never a panic), within a bounded heap;
    /// random bytes are (almost) never a valid idx file, so a load that
    /// succeeds must hold the one image the label file describes.
    #[test]
    fn arbitrary_files_are_errors_not_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), gz in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let name = if gz { format!("{IMAGES}.gz") } else { IMAGES.to_string() };
        fs::write(dir.path().join(&name), &bytes).unwrap();
        fs::write(dir.path().join(LABELS), common::label_file(&[0])).unwrap();
        let (loaded, peak) =
            peak_heap_during(|| load_split(dir.path(), IMAGES, LABELS, 10, PixelFormat::F32));
        prop_assert!(peak <= HEAP_ALLOWANCE + 4 * bytes.len(), "held {} heap bytes", peak);
        match loaded {
            Ok(split) => prop_assert_eq!(split.len(), 1),
            Err(e) => {
                let file = e.path.file_name().unwrap().to_string_lossy().into_owned();
                prop_assert!(file == name || file == LABELS, "{} names {}", e, file);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    /// Arbitrary bytes, and every truncation of a valid model file, give the model
    /// loader an error, never a panic, and never a heap beyond the input's size.
    #[test]
    fn model_loader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), cut in 0usize..31_900) {
        let (_, peak) = peak_heap_during(|| model_file::from_bytes(&bytes));
        prop_assert!(peak <= HEAP_ALLOWANCE + 8 * bytes.len(), "held {} heap bytes", peak);
        let model = softreg::model::Model::init(784, 10, &mut softreg::random::SeededRng::new(1));
        let good = model_file::to_bytes(&model, &model_file::ModelInfo::fashion_mnist((28, 28))).unwrap();
        let cut = cut.min(good.len() - 1);
        prop_assert!(model_file::from_bytes(&good[..cut]).is_err());
    }

    /// Arbitrary metadata on a valid model, numbers of any size in the image
    /// shape among it: the loader accepts only metadata that fits the model.
    #[test]
    fn model_metadata_is_checked_not_trusted(
        key in prop_oneof![Just("image_shape"), Just("class_names"), Just("training"), Just("test_accuracy")],
        value in prop_oneof!["[0-9]{1,22}x[0-9]{1,22}", "\\PC{0,40}", "\\[(\"[a-z]{0,3}\", ?){0,4}\\]"],
    ) {
        let bytes = common::model_file_with_metadata(2, 6, &[(key, &value)]);
        if let Ok((model, info)) = model_file::from_bytes(&bytes) {
            prop_assert_eq!(info.image_shape.0 * info.image_shape.1, model.features);
            prop_assert_eq!(info.class_names.len(), model.classes);
        }
    }
}
