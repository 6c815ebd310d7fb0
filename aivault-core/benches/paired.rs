//! `Vault::invoke` against a plain `ureq` agent, measured in interleaved pairs.
//!
//! Criterion (`broker.rs`) times one function for seconds, then the other; on a shared VM the
//! machine's speed drifts between the two, and the same binary measured `vault/ureq` anywhere
//! from 1.14 to 1.45. Here every round times a block of brokered calls and a block of plain
//! calls back to back (alternating which goes first), on the same upstream and fixtures as
//! `broker.rs`, and the ratio is taken within the round; the median of the per-round ratios is
//! the figure of record. Each case prints the ratio of wall time and of process CPU time
//! (every thread: callers, the in-process upstream, the audit writer).
//!
//! A block must outlast the audit writer's 5 ms gathering window: with blocks of 50 calls
//! (about 1.6 ms) part of the writer's work for the brokered calls ran during the plain
//! block, and one core measured 1.41 where blocks of 200 to 5,000 calls measured 1.73-1.77.
//!
//! Cases: `invoke_http` and `invoke_https` (one thread), and `throughput_2_threads` (HTTP,
//! two threads sharing one agent or one `Vault`; there the wall figure is calls/s, and the
//! target is `vault/ureq >= 0.80`).
//!
//! `--one-core` pins the process to one CPU and runs the one-thread cases only: the wall time
//! is then the CPU work of the whole exchange. Without it the one-thread figures on this
//! 2-vCPU VM are bimodal: each keep-alive connection has its own upstream thread, and whether
//! the scheduler keeps it on the caller's CPU decides a call's latency more than the work does
//! (plain HTTP: 22 or 86 us per call, the same binary from one run to the next).
//!
//! Run with `cargo bench -p aivault-core --bench paired [-- [CASE] [--one-core] [--rounds N]
//! [--calls K]]` (defaults: every case, 101 rounds of blocks of 200 calls); `-- --test` runs
//! one short round of each (scripts/test.sh does). `--only vault|ureq` times one side alone,
//! for a profiler (`scripts/profile_broker.py` compares the two sides' profiles per call).

mod fixtures;

use std::hint::black_box;
use std::time::{Duration, Instant};

use aivault_testkit::{Pki, Upstream};
use fixtures::{
    BENCH_CAPABILITY, BODY_LEN, OPENAI_CAPABILITY, bench_vault, handler, invocation, openai_vault,
    plain_agent, plain_get, two_threads, vault_get,
};

/// Every case, in the order they run.
const CASES: [&str; 3] = ["invoke_http", "invoke_https", "throughput_2_threads"];

/// What to run, from the command line.
struct Options {
    filter: Option<String>,
    rounds: usize,
    calls: u64,
    one_core: bool,
    /// `--only vault|ureq`: time one side alone (for a profiler), no comparison.
    only: Option<Side>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Vault,
    Plain,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            filter: None,
            rounds: 101,
            calls: 200,
            one_core: false,
            only: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--test" => {
                    options.rounds = 1;
                    options.calls = 5;
                }
                "--rounds" => options.rounds = number(args.next(), "--rounds"),
                "--calls" => options.calls = number(args.next(), "--calls") as u64,
                "--one-core" => options.one_core = true,
                "--only" => {
                    options.only = match args.next().as_deref() {
                        Some("vault") => Some(Side::Vault),
                        Some("ureq") => Some(Side::Plain),
                        _ => panic!("--only takes vault or ureq"),
                    }
                }
                // Passed by `cargo bench`.
                "--bench" => {}
                other if other.starts_with('-') => panic!("unknown option {other}"),
                other => options.filter = Some(other.to_owned()),
            }
        }
        assert!(options.rounds > 0 && options.calls > 0, "nothing to run");
        options
    }

    /// A filter naming a case runs that case only; otherwise every case containing it.
    fn wants(&self, case: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|f| case == f || (!CASES.contains(&f) && case.contains(f)))
    }
}

fn number(arg: Option<String>, flag: &str) -> usize {
    arg.and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("{flag} takes a positive number"))
}

/// The wall time and the process CPU time (every thread: callers, upstream, audit writer)
/// of one block of calls.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

/// Per-round samples of a block of `calls` calls of each side.
struct Rounds {
    vault: Vec<Sample>,
    plain: Vec<Sample>,
}

fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `block` (which makes the calls) and measures it.
fn sample(block: impl FnOnce()) -> Sample {
    let (wall, cpu) = (Instant::now(), process_cpu());
    block();
    Sample {
        cpu: process_cpu() - cpu,
        wall: wall.elapsed(),
    }
}

/// Runs `rounds` rounds of a measured block of each side (`block(vault?, calls)` makes the
/// calls), alternating which side goes first, after one unmeasured warm-up round.
fn paired(options: &Options, block: &dyn Fn(bool, u64)) -> Rounds {
    block(true, options.calls);
    block(false, options.calls);
    let mut rounds = Rounds {
        vault: Vec::with_capacity(options.rounds),
        plain: Vec::with_capacity(options.rounds),
    };
    for round in 0..options.rounds {
        let vault_first = round % 2 == 0;
        let first = sample(|| block(vault_first, options.calls));
        let second = sample(|| block(!vault_first, options.calls));
        let (vault, plain) = if vault_first {
            (first, second)
        } else {
            (second, first)
        };
        rounds.vault.push(vault);
        rounds.plain.push(plain);
    }
    rounds
}

/// Runs one side alone (`--only`): `rounds` blocks after one warm-up block, and prints the
/// time per call.
fn alone(case: &str, options: &Options, side: Side, block: &dyn Fn(bool, u64)) {
    let vault = side == Side::Vault;
    block(vault, options.calls);
    let total = sample(|| (0..options.rounds).for_each(|_| block(vault, options.calls)));
    let calls = (options.rounds as u64 * options.calls) as f64;
    println!(
        "{case} {} alone: {calls} calls, {:.1} us wall and {:.1} us process CPU per call",
        if vault { "vault" } else { "ureq" },
        total.wall.as_secs_f64() * 1e6 / calls,
        total.cpu.as_secs_f64() * 1e6 / calls,
    );
}

/// Compares the two sides of `case` (or times one, with `--only`).
fn run_case(case: &str, options: &Options, throughput: bool, block: &dyn Fn(bool, u64)) {
    match options.only {
        Some(side) => alone(case, options, side, block),
        None => report(case, options, &paired(options, block), throughput),
    }
}

/// The `q` quantile (0..=1) of `values`, nearest rank.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

/// Prints, for wall time and for process CPU time, the median per-round ratio (with
/// quartiles) and the median per call of each side. `throughput`: the wall ratio is calls/s
/// of `vault` over calls/s of `ureq`.
fn report(case: &str, options: &Options, rounds: &Rounds, throughput: bool) {
    let line = |what: &str, of: fn(&Sample) -> Duration, invert: bool| {
        let ratios: Vec<f64> = rounds
            .vault
            .iter()
            .zip(&rounds.plain)
            .map(|(v, p)| {
                let (v, p) = (of(v).as_secs_f64(), of(p).as_secs_f64());
                if invert { p / v } else { v / p }
            })
            .collect();
        let per_call = |samples: &[Sample]| {
            let micros: Vec<f64> = samples
                .iter()
                .map(|s| of(s).as_secs_f64() * 1e6 / options.calls as f64)
                .collect();
            quantile(&micros, 0.5)
        };
        let total = |samples: &[Sample]| samples.iter().map(|s| of(s).as_secs_f64()).sum::<f64>();
        let (v, p) = (total(&rounds.vault), total(&rounds.plain));
        println!(
            "{case} {what}: {:.3} over all rounds, per-round median {:.3} (quartiles \
             {:.3}-{:.3}); per call vault {:.1} us, ureq {:.1} us (medians)",
            if invert { p / v } else { v / p },
            quantile(&ratios, 0.5),
            quantile(&ratios, 0.25),
            quantile(&ratios, 0.75),
            per_call(&rounds.vault),
            per_call(&rounds.plain),
        );
    };
    println!(
        "{case}: {} rounds of {} calls each side",
        options.rounds, options.calls
    );
    if throughput {
        line("calls/s vault/ureq", |s| s.wall, true);
    } else {
        line("time vault/ureq", |s| s.wall, false);
    }
    line("CPU vault/ureq", |s| s.cpu, false);
}

/// Makes `calls` calls of `call`.
fn repeat(calls: u64, call: &dyn Fn()) {
    (0..calls).for_each(|_| call());
}

/// Pins the process (its threads to come included) to the first CPU it may run on.
fn pin_to_one_cpu() {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
    let allowed = sched_getaffinity(None).expect("CPU affinity");
    let cpu = (0..CpuSet::MAX_CPU)
        .find(|&cpu| allowed.is_set(cpu))
        .expect("an allowed CPU");
    let mut one = CpuSet::new();
    one.set(cpu);
    sched_setaffinity(None, &one).expect("pin to one CPU");
    println!("pinned to CPU {cpu}");
}

fn main() {
    let options = Options::parse();
    if options.one_core {
        // Before any thread starts: the upstream's and the audit writer's inherit it.
        pin_to_one_cpu();
    }
    let http = Upstream::http(handler());
    let (_http_dir, http_vault, _) = bench_vault(http.port());
    let bench = invocation(BENCH_CAPABILITY);
    let http_plain = plain_agent(None);
    let http_url = http.url("/v1/models");
    let http_vault_call = || {
        black_box(vault_get(&http_vault, &bench));
    };
    let http_plain_call = || {
        black_box(plain_get(&http_plain, &http_url));
    };
    assert_eq!(vault_get(&http_vault, &bench).len(), BODY_LEN);

    if options.wants("invoke_http") {
        run_case("invoke_http", &options, false, &|vault, calls| {
            let call: &dyn Fn() = if vault {
                &http_vault_call
            } else {
                &http_plain_call
            };
            repeat(calls, call);
        });
    }

    if options.wants("invoke_https") {
        let pki = Pki::new(&["api.openai.com", "localhost"]);
        let https = Upstream::https(&pki, handler());
        let (_https_dir, https_vault) = openai_vault(https.port(), &pki, false);
        let openai = invocation(OPENAI_CAPABILITY);
        let https_plain = plain_agent(Some(&pki));
        let https_url = format!("https://localhost:{}/v1/models", https.port());
        assert_eq!(vault_get(&https_vault, &openai).len(), BODY_LEN);
        run_case("invoke_https", &options, false, &|vault, calls| {
            if vault {
                repeat(calls, &|| {
                    black_box(vault_get(&https_vault, &openai));
                });
            } else {
                repeat(calls, &|| {
                    black_box(plain_get(&https_plain, &https_url));
                });
            }
        });
    }

    if options.wants("throughput_2_threads") && !options.one_core {
        run_case("throughput_2_threads", &options, true, &|vault, calls| {
            let call: &(dyn Fn() + Sync) = if vault {
                &http_vault_call
            } else {
                &http_plain_call
            };
            two_threads(calls, call);
        });
    }
}
