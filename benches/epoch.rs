//! One training epoch on the real data at 1 and 2 threads (fused kernel, both
//! pixel formats), and one evaluation of the test set: `cargo bench --bench epoch`.
//!
//! Throughput is in samples (60,000 per epoch, 10,000 per evaluation).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use softreg::compute::Compute;
use softreg::data::{Dataset, PixelFormat};
use softreg::eval::evaluate;
use softreg::kernel::Kernel;
use softreg::model::Model;
use softreg::random::SeededRng;
use softreg::train::{RunConfig, TrainConfig, train};

fn data_dir() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist")
}

fn epoch(c: &mut Criterion) {
    let mut group = c.benchmark_group("epoch");
    group.sample_size(10);
    for (name, format) in [
        ("fused-f32", PixelFormat::F32),
        ("fused-u8", PixelFormat::U8),
    ] {
        let data = Dataset::load_as(data_dir().as_ref(), Some(10), format).unwrap();
        group.throughput(Throughput::Elements(data.train.len() as u64));
        for threads in [1, 2] {
            let config = TrainConfig {
                run: RunConfig {
                    epochs: 1,
                    ..RunConfig::default()
                },
                compute: Compute {
                    threads: Some(threads),
                    ..Compute::default()
                },
                ..TrainConfig::default()
            };
            // One epoch from a fresh model; the test-set evaluation after it is
            // included, as it is in every epoch of `train` (about 1/6 of the work).
            group.bench_function(BenchmarkId::new(name, format!("{threads}-threads")), |b| {
                b.iter(|| black_box(train(&data, &config, |_| {}).unwrap().model.bias[0]))
            });
        }
    }
    group.finish();

    let data = Dataset::load(data_dir().as_ref(), Some(10)).unwrap();
    let model = Model::init(784, 10, &mut SeededRng::new(1));
    let mut group = c.benchmark_group("evaluate");
    group.throughput(Throughput::Elements(
        data.test.as_ref().unwrap().len() as u64
    ));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        group.bench_function(
            BenchmarkId::new("fused-f32", format!("{threads}-threads")),
            |b| {
                b.iter(|| {
                    pool.install(|| {
                        black_box(evaluate(
                            Kernel::Fused,
                            &model,
                            data.test.as_ref().unwrap(),
                            0..data.test.as_ref().unwrap().len(),
                        ))
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = epoch
}
criterion_main!(benches);
