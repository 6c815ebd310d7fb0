//! Runs one property: a fixed number of cases in the default test run (small, so the whole
//! `props_*` set stays within ~30 s of a debug `cargo test`), `PROPTEST_CASES` cases when that
//! is set, or as many cases as fit in `AIVAULT_FUZZ_SECONDS` seconds (`scripts/fuzz.sh`), in
//! batches with fresh random seeds. Failures are shrunk and their seeds saved next to the test
//! file (`proptest-regressions/`), and replayed first by every later run.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

/// Runs `test` over `strategy`; panics with the minimal failing input on a failure.
pub fn run<S: Strategy>(
    source_file: &'static str,
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let config = |cases: u32| Config {
        cases,
        source_file: Some(source_file),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    };
    let timed = std::env::var("AIVAULT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| s > 0);
    let started = Instant::now();
    let mut total: u64 = 0;
    match timed {
        None => {
            let cases = std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(default_cases);
            let mut runner = TestRunner::new(config(cases));
            if let Err(e) = runner.run(&strategy, &test) {
                panic!("property {name} failed: {e}");
            }
            total += u64::from(cases);
        }
        Some(seconds) => {
            let budget = Duration::from_secs(seconds);
            while started.elapsed() < budget {
                let batch = 500;
                let mut runner = TestRunner::new(config(batch));
                if let Err(e) = runner.run(&strategy, &test) {
                    panic!("property {name} failed after {total} cases: {e}");
                }
                total += u64::from(batch);
            }
        }
    }
    eprintln!(
        "property {name}: {total} cases, 0 failures, {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
