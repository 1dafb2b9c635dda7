//! Human-readable lines for the terminal.
//!
//! ```
//! use softreg::report::format_duration;
//! assert_eq!(format_duration(0.0123), "12.3 ms");
//! assert_eq!(format_duration(2.5), "2.50 s");
//! ```

use crate::train::EpochReport;

/// Floating-point operations to train on one sample: a multiply-add per weight
/// for the logits and another for the weight gradient.
pub fn flop_per_sample(features: usize, classes: usize) -> f64 {
    4.0 * (features * classes) as f64
}

/// A duration in seconds as `12.3 ms` below one second, `2.50 s` above.
pub fn format_duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

/// The tutorial's epoch line followed by the epoch's training time and throughput:
/// `epoch 1, loss 0.7874, train acc 0.749, test acc 0.791  (12.3 ms, 4.87 M samples/s, 152.7 GFLOP/s)`.
pub fn epoch_line(report: &EpochReport, flop_per_sample: f64) -> String {
    let rate = report.samples_per_second();
    format!(
        "epoch {}, loss {:.4}, train acc {:.3}, test acc {:.3}  ({}, {:.2} M samples/s, {:.1} GFLOP/s)",
        report.epoch,
        report.loss,
        report.train_acc,
        report.test_acc,
        format_duration(report.train_seconds),
        rate / 1e6,
        rate * flop_per_sample / 1e9,
    )
}

/// The closing line: epochs, training time, total time and final test accuracy.
pub fn summary_line(epochs: &[EpochReport], total_seconds: f64) -> String {
    let train_seconds: f64 = epochs.iter().map(|e| e.train_seconds).sum();
    let final_acc = epochs
        .last()
        .map_or_else(|| "n/a".to_string(), |e| format!("{:.3}", e.test_acc));
    format!(
        "trained {} epochs in {} ({} total with loading and evaluation), final test acc {final_acc}",
        epochs.len(),
        format_duration(train_seconds),
        format_duration(total_seconds),
    )
}
