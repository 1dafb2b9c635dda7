//! One minibatch step of each kernel (fused, GEMM baseline, reference),
//! single-threaded, on real Fashion-MNIST rows drawn in shuffled order (and
//! once on rows that stay in cache):
//! `cargo bench --bench kernel`.
//!
//! Throughput is in samples; at 31,360 FLOP per sample, 1 M samples/s is
//! 31.4 GFLOP/s.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use softreg::app::timing::fused_minibatch;
use softreg::data::{Dataset, PixelFormat};
use softreg::kernel::gemm::GemmScratch;
use softreg::kernel::{self, ChunkSums, Isa, Scratch, Weights};
use softreg::model::Model;
use softreg::random::SeededRng;
use softreg::reference;
use softreg::train::CHUNK_ROWS;

fn kernel_step(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist");
    let f32_data = Dataset::load_as(dir.as_ref(), Some(10), PixelFormat::F32).unwrap();
    let u8_data = Dataset::load_as(dir.as_ref(), Some(10), PixelFormat::U8).unwrap();
    let mut rng = SeededRng::new(1);
    let model = Model::init(784, 10, &mut rng);
    let mut order: Vec<usize> = (0..f32_data.train.len()).collect();
    rng.shuffle(&mut order);
    let weights = Weights::new(Isa::best(), &model);
    let mut sums = ChunkSums::new(784, 10);
    let mut scratch = Scratch::new(10);
    let mut gemm_scratch = GemmScratch::new(784, 10, CHUNK_ROWS);

    let mut group = c.benchmark_group("kernel");
    for batch in [64, 256, 1024] {
        group.throughput(Throughput::Elements(batch as u64));
        // Each iteration takes the next minibatch of the shuffled order, as
        // training does, so rows come from memory rather than from cache.
        for (name, data) in [("fused-f32", &f32_data), ("fused-u8", &u8_data)] {
            let train = &data.train;
            let mut batches = order.chunks_exact(batch).cycle();
            group.bench_function(BenchmarkId::new(name, batch), |b| {
                b.iter(|| {
                    let rows = batches.next().unwrap();
                    black_box(fused_minibatch(
                        &weights,
                        train,
                        rows,
                        &mut sums,
                        &mut scratch,
                    ))
                })
            });
        }
        let train = &f32_data.train;
        let mut batches = order.chunks_exact(batch).cycle();
        group.bench_function(BenchmarkId::new("gemm", batch), |b| {
            b.iter(|| {
                let rows = batches.next().unwrap();
                for chunk in rows.chunks(CHUNK_ROWS) {
                    kernel::gemm::step(
                        Isa::best(),
                        &model,
                        &train.images,
                        &train.labels,
                        chunk,
                        &mut sums,
                        &mut gemm_scratch,
                    );
                }
                black_box(sums.loss_sum)
            })
        });
        let mut batches = order.chunks_exact(batch).cycle();
        group.bench_function(BenchmarkId::new("reference", batch), |b| {
            b.iter(|| {
                let rows = batches.next().unwrap();
                black_box(reference::step(&model, &train.images, &train.labels, rows).loss)
            })
        });
    }

    // The kernel's own speed, without memory stalls: the same 64 rows (200 KB
    // of f32 pixels, so they stay in L2) four times per 256-row minibatch.
    let train = &f32_data.train;
    let hot_rows = order[..CHUNK_ROWS].repeat(256 / CHUNK_ROWS);
    group.throughput(Throughput::Elements(hot_rows.len() as u64));
    group.bench_function(BenchmarkId::new("fused-f32-hot-rows", 256), |b| {
        b.iter(|| {
            black_box(fused_minibatch(
                &weights,
                train,
                &hot_rows,
                &mut sums,
                &mut scratch,
            ))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = kernel_step
}
criterion_main!(benches);
