//! The fused kernel (on every instruction set this machine runs) and the GEMM
//! baseline against the naive reference.
//!
//! Tolerances (f32 kernel against the f64 reference): mean loss within 1e-4
//! relative; every gradient element within 1e-4 x (|reference| + largest
//! |reference| element); correct counts equal except on rows whose two largest
//! reference logits are closer than 1e-3.

use softreg::data::Label;
use softreg::data::{Images, PixelFormat};
use softreg::kernel::gemm::GemmScratch;
use softreg::kernel::{self, ChunkSums, Isa, Plan, Scratch, Tiles, Weights};
use softreg::model::Model;
use softreg::random::SeededRng;
use softreg::reference;

/// `n` random byte pixels and the same pixels as f32.
fn random_pixels(rng: &mut SeededRng, n: usize) -> (Vec<u8>, Vec<f32>) {
    let bytes: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
    let floats = bytes
        .iter()
        .map(|&p| softreg::data::pixel_to_f32(p))
        .collect();
    (bytes, floats)
}

/// A fast path under test.
#[derive(Debug, Clone, Copy)]
enum FastPath {
    Fused(Isa),
    Gemm(Isa),
}

impl FastPath {
    fn all() -> Vec<FastPath> {
        Isa::available()
            .into_iter()
            .flat_map(|isa| [FastPath::Fused(isa), FastPath::Gemm(isa)])
            .collect()
    }

    fn name(self) -> String {
        match self {
            FastPath::Fused(isa) => format!("fused {}", isa.name()),
            FastPath::Gemm(isa) => format!("gemm {}", isa.name()),
        }
    }

    fn step(
        self,
        model: &Model,
        images: &Images,
        labels: &[Label],
        rows: &[usize],
        sums: &mut ChunkSums,
    ) {
        let (features, classes) = (model.features, model.classes);
        match self {
            FastPath::Fused(isa) => {
                // The fused kernel reads packed weights and writes a packed
                // gradient: unpack it to compare with the reference.
                let weights = Weights::new(isa, model);
                let scratch = &mut Scratch::new(classes);
                kernel::step(&weights, images, labels, rows, &[], sums, scratch);
                sums.grad_weights = weights.gradient_row_major(&sums.grad_weights);
            }
            FastPath::Gemm(isa) => {
                let scratch = &mut GemmScratch::new(features, classes, rows.len());
                kernel::gemm::step(isa, model, images, labels, rows, sums, scratch)
            }
        }
    }

    fn loss_and_correct(
        self,
        model: &Model,
        images: &Images,
        labels: &[Label],
        rows: std::ops::Range<usize>,
    ) -> (f64, usize) {
        match self {
            FastPath::Fused(isa) => {
                kernel::loss_and_correct(&Weights::new(isa, model), images, labels, rows)
            }
            FastPath::Gemm(isa) => kernel::gemm::loss_and_correct(isa, model, images, labels, rows),
        }
    }
}

#[derive(Clone)]
struct Case {
    model: Model,
    images: Images,
    labels: Vec<Label>,
    rows: Vec<usize>,
}

/// `batch` rows drawn in shuffled order from `batch + 5` random images.
fn random_case(seed: u64, batch: usize, features: usize, classes: usize, signed: bool) -> Case {
    let mut rng = SeededRng::new(seed);
    let count = batch + 5;
    let pixels: Vec<f32> = (0..count * features)
        .map(|_| {
            if signed {
                rng.normal(0.0, 1.0) as f32
            } else {
                rng.below(256) as f32 / 255.0
            }
        })
        .collect();
    let mut model = Model::init(features, classes, &mut rng);
    for w in &mut model.weights {
        *w *= 10.0;
    }
    for b in &mut model.bias {
        *b = rng.normal(0.0, 0.5) as f32;
    }
    let labels = (0..count)
        .map(|_| rng.below(classes as u64) as Label)
        .collect();
    let mut rows: Vec<usize> = (0..count).collect();
    rng.shuffle(&mut rows);
    rows.truncate(batch);
    Case {
        model,
        images: Images::from_f32(1, features, &pixels),
        labels,
        rows,
    }
}

/// Rows whose top two reference logits are within `margin`: their argmax may
/// legitimately differ between f32 and f64.
fn near_ties(case: &Case, margin: f64) -> usize {
    case.rows
        .iter()
        .filter(|&&r| {
            let mut z = reference::logits(&case.model, &case.images.row_f32(r));
            z.sort_by(|a, b| b.total_cmp(a));
            z.len() > 1 && z[0] - z[1] < margin
        })
        .count()
}

fn check_against_reference(path: FastPath, case: &Case, what: &str) {
    let (features, classes) = (case.model.features, case.model.classes);
    let mut sums = ChunkSums::new(features, classes);
    sums.grad_weights.fill(f32::NAN);
    sums.grad_bias.fill(f32::NAN);
    sums.loss_sum = f64::NAN;
    path.step(
        &case.model,
        &case.images,
        &case.labels,
        &case.rows,
        &mut sums,
    );
    let expected = reference::step(&case.model, &case.images, &case.labels, &case.rows);
    let n = case.rows.len() as f64;
    let what = format!("{what} on {}", path.name());

    let loss = sums.loss_sum / n;
    assert!(
        (loss - expected.loss).abs() <= 1e-4 * expected.loss.abs(),
        "{what}: loss {loss} vs {}",
        expected.loss
    );
    let ties = near_ties(case, 1e-3);
    assert!(
        sums.correct.abs_diff(expected.correct) <= ties,
        "{what}: correct {} vs {} ({ties} near ties)",
        sums.correct,
        expected.correct
    );
    for (name, actual, reference) in [
        ("weight", &sums.grad_weights, &expected.grad_weights),
        ("bias", &sums.grad_bias, &expected.grad_bias),
    ] {
        let largest = reference.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        for (i, (&a, &e)) in actual.iter().zip(reference.iter()).enumerate() {
            let a = f64::from(a) / n;
            assert!(
                (a - e).abs() <= 1e-4 * (e.abs() + largest),
                "{what}: {name} gradient {i} is {a}, reference {e}"
            );
        }
    }

    let all: Vec<usize> = (0..case.images.len()).collect();
    let (loss_sum, correct) = path.loss_and_correct(
        &case.model,
        &case.images,
        &case.labels,
        0..case.images.len(),
    );
    let (ref_sum, ref_correct) =
        reference::loss_and_correct(&case.model, &case.images, &case.labels, 0..all.len());
    assert!(
        (loss_sum - ref_sum).abs() <= 1e-4 * ref_sum.abs(),
        "{what}: eval loss"
    );
    assert!(
        correct.abs_diff(ref_correct)
            <= near_ties(
                &Case {
                    rows: all,
                    ..case.clone()
                },
                1e-3
            )
    );
}

#[test]
fn the_available_instruction_sets_run_from_the_best_down_to_scalar() {
    let isas = Isa::available();
    assert_eq!(isas.last().unwrap().name(), "scalar");
    assert_eq!(isas[0].name(), Isa::best().name());
    assert_eq!(isas.last().unwrap().lanes(), 1);
}

#[test]
fn fast_paths_match_reference_across_shapes() {
    let mut seed = 100;
    for path in FastPath::all() {
        for &batch in &[1, 7, 255, 256, 1000] {
            for &features in &[784, 1, 13, 100] {
                for signed in [false, true] {
                    seed += 1;
                    let case = random_case(seed, batch, features, 10, signed);
                    let what = format!("batch {batch}, features {features}, signed {signed}");
                    check_against_reference(path, &case, &what);
                }
            }
        }
    }
}

#[test]
fn fast_paths_match_reference_for_other_class_counts() {
    let mut seed = 900;
    for path in FastPath::all() {
        for &classes in &[1, 2, 3, 7, 11, 16] {
            for &features in &[784, 33] {
                seed += 1;
                let case = random_case(seed, 37, features, classes, true);
                check_against_reference(path, &case, &format!("{classes} classes"));
            }
        }
    }
}

/// The shapes of data sets other than Fashion-MNIST: features 1 to 2,048
/// (none a multiple of the vector width but 2,048) by 2 to 1,000 classes, on
/// every fast path, with f32 features of both signs and with byte pixels
/// (which also give the f32 pixels' bits).
#[test]
fn fast_paths_match_reference_at_any_shape() {
    let mut seed = 5000;
    for &features in &[1, 3, 17, 785, 2048] {
        for &classes in &[2, 3, 11, 47, 1000] {
            seed += 1;
            let signed = random_case(seed, 40, features, classes, true);
            let mut rng = SeededRng::new(seed);
            let (bytes, _) = random_pixels(&mut rng, signed.images.len() * features);
            let as_u8 = Case {
                images: Images::from_u8(1, features, &bytes),
                ..signed.clone()
            };
            let as_f32 = Images::from_bytes(1, features, &bytes, PixelFormat::F32).unwrap();
            for path in FastPath::all() {
                let what = format!("{features} features x {classes} classes");
                check_against_reference(path, &signed, &format!("{what}, f32"));
                check_against_reference(path, &as_u8, &format!("{what}, u8"));
                let mut a = ChunkSums::new(features, classes);
                let mut b = ChunkSums::new(features, classes);
                let (model, labels, rows) = (&as_u8.model, &as_u8.labels, &as_u8.rows);
                path.step(model, &as_u8.images, labels, rows, &mut a);
                path.step(model, &as_f32, labels, rows, &mut b);
                assert_eq!(a.loss_sum.to_bits(), b.loss_sum.to_bits(), "{what}");
                assert_eq!((a.grad_weights, a.grad_bias), (b.grad_weights, b.grad_bias));
            }
        }
    }
}

/// A model whose logits are exactly `values` for an all-ones input.
fn constant_logits(values: &[f32]) -> (Model, Images) {
    let features = 16;
    let weights = values
        .iter()
        .flat_map(|&v| std::iter::repeat_n(v / features as f32, features))
        .collect();
    let model = Model {
        features,
        classes: values.len(),
        weights,
        bias: vec![0.0; values.len()],
    };
    (model, Images::from_f32(1, features, &vec![1.0; features]))
}

#[test]
fn extreme_logits_give_finite_loss_and_gradient() {
    for path in FastPath::all() {
        for scale in [1e4f32, 1e30] {
            for label in 0..3 as Label {
                let (model, images) = constant_logits(&[scale, -scale, 0.0]);
                let mut sums = ChunkSums::new(model.features, model.classes);
                path.step(&model, &images, &[label], &[0], &mut sums);
                let expected = reference::step(&model, &images, &[label], &[0]);
                let what = format!("scale {scale}, label {label}, {}", path.name());
                assert!(sums.loss_sum.is_finite(), "{what}: loss {}", sums.loss_sum);
                assert!(
                    (sums.loss_sum - expected.loss).abs() <= 1e-6 * expected.loss.abs(),
                    "{what}: loss {} vs {}",
                    sums.loss_sum,
                    expected.loss
                );
                assert!(sums.grad_weights.iter().all(|g| g.is_finite()), "{what}");
                assert_eq!(sums.correct, usize::from(label == 0), "{what}");
            }
        }
    }
}

#[test]
fn a_nan_input_makes_the_loss_nan_not_silently_finite() {
    for path in FastPath::all() {
        let mut case = random_case(5, 20, 784, 10, false);
        let mut pixels = case.images.f32_pixels().unwrap().to_vec();
        pixels[case.rows[3] * 784 + 100] = f32::NAN;
        case.images = Images::from_f32(1, 784, &pixels);
        let mut sums = ChunkSums::new(784, 10);
        path.step(
            &case.model,
            &case.images,
            &case.labels,
            &case.rows,
            &mut sums,
        );
        assert!(sums.loss_sum.is_nan(), "{}", path.name());
    }
}

/// Byte images converted inside the kernel give bit-identical sums to the same
/// bytes held as f32, on every instruction set, and match the reference.
#[test]
fn byte_pixels_match_f32_pixels_bit_for_bit() {
    for path in FastPath::all() {
        for &(batch, features) in &[(256, 784), (37, 13), (5, 100)] {
            let mut rng = SeededRng::new(batch as u64);
            let count = batch + 3;
            let (bytes, _) = random_pixels(&mut rng, count * features);
            let model = Model::init(features, 10, &mut rng);
            let labels: Vec<Label> = (0..count).map(|_| rng.below(10) as Label).collect();
            let mut rows: Vec<usize> = (0..count).collect();
            rng.shuffle(&mut rows);
            rows.truncate(batch);
            let as_u8 = Images::from_u8(1, features, &bytes);
            let as_f32 = Images::from_bytes(1, features, &bytes, PixelFormat::F32).unwrap();
            let mut a = ChunkSums::new(features, 10);
            let mut b = ChunkSums::new(features, 10);
            path.step(&model, &as_u8, &labels, &rows, &mut a);
            path.step(&model, &as_f32, &labels, &rows, &mut b);
            assert_eq!(
                a.loss_sum.to_bits(),
                b.loss_sum.to_bits(),
                "{}",
                path.name()
            );
            assert_eq!(a.correct, b.correct);
            assert_eq!(a.grad_weights, b.grad_weights);
            assert_eq!(a.grad_bias, b.grad_bias);
            let case = Case {
                model: model.clone(),
                images: as_u8,
                labels: labels.clone(),
                rows: rows.clone(),
            };
            check_against_reference(path, &case, &format!("u8 pixels, batch {batch}"));
        }
    }
}

/// The label-free path (`kernel::logits`, `eval::probabilities`), used to
/// classify a user's pictures, agrees with the f64 reference.
#[test]
fn label_free_probabilities_match_the_reference() {
    let case = random_case(77, 40, 784, 10, false);
    let rows = 3..40;
    let probabilities = softreg::eval::probabilities(&case.model, &case.images, rows.clone());
    assert_eq!(probabilities.len(), rows.len());
    for (p, r) in probabilities.iter().zip(rows) {
        let pixels = case.images.row_f32(r);
        let expected = reference::log_softmax(&reference::logits(&case.model, &pixels));
        for (c, (&got, &log_p)) in p.iter().zip(&expected).enumerate() {
            assert!(
                (got - log_p.exp()).abs() <= 1e-5,
                "row {r} class {c}: {got} vs {}",
                log_p.exp()
            );
        }
        assert!((p.iter().sum::<f64>() - 1.0).abs() <= 1e-12);
    }
}

/// Several models in one pass over the rows (byte rows widened once per block
/// for all of them, f32 rows read as they are) get, each, the sums and the
/// evaluation the fused kernel gives it alone, bit for bit, on every
/// instruction set: including a chunk that ends in a partial block and
/// features past the last whole vector.
#[test]
fn models_in_one_pass_get_the_sums_each_gets_alone() {
    for isa in Isa::available() {
        for &(chunk, features) in &[(64, 784), (37, 13)] {
            let mut rng = SeededRng::new(chunk as u64 + 1);
            let count = chunk + 5;
            let (bytes, floats) = random_pixels(&mut rng, count * features);
            let labels: Vec<Label> = (0..count).map(|_| rng.below(10) as Label).collect();
            let mut rows: Vec<usize> = (0..count).collect();
            rng.shuffle(&mut rows);
            let (rows, ahead) = rows.split_at(chunk);
            let models: Vec<Weights> = (0..3)
                .map(|_| Weights::new(isa, &Model::init(features, 10, &mut rng)))
                .collect();
            for images in [
                Images::from_u8(1, features, &bytes),
                Images::from_f32(1, features, &floats),
                Images::from_bytes(1, features, &bytes, PixelFormat::F32).unwrap(),
            ] {
                let mut scratch = Scratch::new(10);
                let alone: Vec<ChunkSums> = models
                    .iter()
                    .map(|w| {
                        let mut sums = ChunkSums::new(features, 10);
                        kernel::step(w, &images, &labels, rows, ahead, &mut sums, &mut scratch);
                        sums
                    })
                    .collect();
                let mut together = vec![ChunkSums::new(features, 10); models.len()];
                let weights: Vec<&Weights> = models.iter().collect();
                let mut sums: Vec<&mut ChunkSums> = together.iter_mut().collect();
                let chunk_rows = (rows, ahead);
                kernel::step_models(
                    &weights,
                    &images,
                    &labels,
                    chunk_rows,
                    &mut sums,
                    &mut scratch,
                );
                let scored = kernel::models_loss_and_correct(&weights, &images, &labels, 0..count);
                for (m, (a, b)) in alone.iter().zip(&together).enumerate() {
                    let what = format!("{} {:?} model {m}", isa.name(), images.format());
                    assert_eq!(a.loss_sum.to_bits(), b.loss_sum.to_bits(), "{what}");
                    assert_eq!(a.correct, b.correct, "{what}");
                    assert_eq!(a.grad_weights, b.grad_weights, "{what}");
                    assert_eq!(a.grad_bias, b.grad_bias, "{what}");
                    let (loss, correct) =
                        kernel::loss_and_correct(&models[m], &images, &labels, 0..count);
                    assert_eq!(scored[m].0.to_bits(), loss.to_bits(), "{what}: evaluation");
                    assert_eq!(scored[m].1, correct, "{what}: evaluation");
                }
            }
        }
    }
}

/// Every plan, narrow and wide tiles (the wide ones on 16-register
/// instruction sets too), forward blocks from one vector's weights to the
/// whole row, prefetch distances near and far, gives the same bits as the
/// instruction set's default plan: a chunk's sums (u8 and f32 rows, a
/// partial block, features past the last whole vector, classes past the
/// tiles) and the evaluation's, on every instruction set.
#[test]
fn every_plan_gives_the_default_plans_bits_on_every_instruction_set() {
    for isa in Isa::available() {
        for &(features, classes) in &[(784, 10), (53, 13)] {
            let mut rng = SeededRng::new(features as u64);
            let count = 64 + 21;
            let (bytes, _) = random_pixels(&mut rng, count * features);
            let labels: Vec<Label> = (0..count)
                .map(|_| rng.below(classes as u64) as Label)
                .collect();
            let mut rows: Vec<usize> = (0..count).collect();
            rng.shuffle(&mut rows);
            let (rows, ahead) = rows.split_at(64 - 7);
            let model = Model::init(features, classes, &mut rng);
            let run = |plan: Plan, images: &Images| {
                let weights = Weights::planned(isa, plan, &model);
                let mut sums = ChunkSums::new(features, classes);
                let mut scratch = Scratch::new(classes);
                kernel::step(
                    &weights,
                    images,
                    &labels,
                    rows,
                    ahead,
                    &mut sums,
                    &mut scratch,
                );
                let scored = kernel::loss_and_correct(&weights, images, &labels, 0..count);
                (sums, scored)
            };
            for images in [
                Images::from_u8(1, features, &bytes),
                Images::from_bytes(1, features, &bytes, PixelFormat::F32).unwrap(),
            ] {
                let (expected, expected_score) = run(Plan::default_for(isa), &images);
                for tiles in Tiles::ALL {
                    for block in [Some(1024), Some(4096), None] {
                        for prefetch_rows in [1, 8, 256] {
                            let plan = Plan {
                                tiles,
                                forward_block_bytes: block,
                                prefetch_rows,
                            };
                            let (sums, score) = run(plan, &images);
                            let what = format!("{} {plan} {features}x{classes}", isa.name());
                            assert_eq!(
                                sums.loss_sum.to_bits(),
                                expected.loss_sum.to_bits(),
                                "{what}"
                            );
                            assert_eq!(sums.correct, expected.correct, "{what}");
                            assert_eq!(sums.grad_weights, expected.grad_weights, "{what}");
                            assert_eq!(sums.grad_bias, expected.grad_bias, "{what}");
                            assert_eq!(score.0.to_bits(), expected_score.0.to_bits(), "{what}");
                            assert_eq!(score.1, expected_score.1, "{what}");
                        }
                    }
                }
            }
        }
    }
}
