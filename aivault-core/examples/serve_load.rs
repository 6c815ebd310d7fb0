//! A load generator for `aivault serve` (`scripts/bench_serve.py`): THREADS threads send
//! CALLS calls in all to the socket with the token, each `invoke CAPABILITY` at PATH through
//! the library's remote client, and print one JSON line: calls, seconds, calls per second,
//! and the median and 99th-percentile latency in microseconds.
//!
//! Usage: `serve_load SOCKET TOKEN CAPABILITY PATH THREADS CALLS`

#![allow(clippy::unwrap_used)] // A benchmark helper: failing loudly is the point.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aivault_core::Invocation;
use aivault_core::remote::client;
use aivault_core::remote::wire::Render;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, token, capability, path, threads, calls] = &args[..] else {
        eprintln!("usage: serve_load SOCKET TOKEN CAPABILITY PATH THREADS CALLS");
        std::process::exit(2);
    };
    let socket = PathBuf::from(socket);
    let threads: usize = threads.parse().unwrap();
    let calls: usize = calls.parse().unwrap();
    let invocation = Invocation {
        capability: capability.clone(),
        path: Some(path.clone()),
        ..Invocation::default()
    };
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let mut latencies: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    while next.fetch_add(1, Ordering::Relaxed) < calls {
                        let t = Instant::now();
                        let mut response =
                            client::call(&socket, token, &invocation, Render::Body).unwrap();
                        assert_eq!(response.status(), 200);
                        while response.next_chunk().unwrap().is_some() {}
                        mine.push(t.elapsed().as_micros() as u64);
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "{{\"calls\": {}, \"seconds\": {seconds:.3}, \"per_sec\": {:.0}, \"p50_us\": {}, \"p99_us\": {}}}",
        latencies.len(),
        latencies.len() as f64 / seconds,
        at(0.5),
        at(0.99)
    );
}
