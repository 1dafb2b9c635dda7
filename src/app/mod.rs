//! What only the command line needs: the text and JSON it prints
//! ([`report`], [`fit_report`], [`sweep_report`], [`bench_report`]), the figures it draws ([`figures`]), classifying a user's own
//! pictures ([`user_image`]), describing a data directory ([`info`]) and
//! measuring the machine ([`bench`](mod@bench), [`bench_shape`], [`peak`], [`timing`], [`tune`]) and keeping the plan it chose ([`plan_cache`]). Nothing below `app` imports
//! from it.

pub mod bench;
pub mod bench_report;
pub mod bench_shape;
pub mod figures;
pub mod fit_report;
pub mod info;
pub mod json;
pub mod peak;
pub mod plan_cache;
pub mod report;
pub mod sweep_report;
pub mod timing;
pub mod tune;
pub mod user_image;
