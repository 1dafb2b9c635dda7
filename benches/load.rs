//! Opening the data set: mapping the raw idx files and converting the pixels,
//! and the first run's gzip decompression: `cargo bench --bench load`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use softreg::data::{Dataset, FILE_STEMS, PixelFormat};

fn load(c: &mut Criterion) {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist");
    // Make sure the raw cache exists, so that the first group measures mapping only.
    Dataset::load(&bundled, Some(10)).unwrap();

    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    // Throughput in images: 70,000 (train and test) per load.
    group.throughput(Throughput::Elements(70_000));
    group.bench_function("mapped-raw-to-f32", |b| {
        b.iter(|| {
            black_box(
                Dataset::load_as(&bundled, Some(10), PixelFormat::F32)
                    .unwrap()
                    .classes,
            )
        })
    });
    group.bench_function("mapped-raw-to-u8", |b| {
        b.iter(|| {
            black_box(
                Dataset::load_as(&bundled, Some(10), PixelFormat::U8)
                    .unwrap()
                    .classes,
            )
        })
    });
    group.bench_function("first-run-gunzip", |b| {
        b.iter_batched(
            || {
                // A directory holding only the .gz files: each load decompresses.
                let dir = tempfile::tempdir().unwrap();
                for stem in FILE_STEMS {
                    let name = format!("{stem}.gz");
                    std::fs::copy(bundled.join(&name), dir.path().join(&name)).unwrap();
                }
                dir
            },
            |dir| black_box(Dataset::load(dir.path(), Some(10)).unwrap().classes),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = load
}
criterion_main!(benches);
