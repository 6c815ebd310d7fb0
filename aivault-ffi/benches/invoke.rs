//! The C ABI's invoke against the Rust core's, same process, same loopback HTTP upstream, two
//! vaults set up alike: `aivault_invoke` (request JSON in, `aivault_response` out, status and body read,
//! response freed; called through its `extern "C"` symbol, the code a C program runs) against
//! `Vault::invoke` with an `Invocation` built in Rust. Target: the C path within 5 % of Rust.
//!
//! The two are interleaved to cancel drift (the machine is shared and every call appends an
//! audit event with an fsync): each round times a batch of C calls and a batch of Rust calls,
//! alternating which goes first; the report is the median of the per-round ratios, with the
//! median per-call times of each side.
//!
//! `cargo bench -p aivault-ffi --bench invoke` measures (release optimizations); `-- --test`
//! is the smoke mode scripts/test.sh runs (a few calls of each, statuses checked).
#![allow(unsafe_code)] // Calls the C ABI's entry points, as a C program would.
#![allow(clippy::unwrap_used)] // A benchmark: failing loudly is the point.

use std::ffi::CString;
use std::time::Instant;

use aivault_core::{
    Config, Invocation, NetworkOptions, NewCapability, NewCredential, NewSecret, RequestBody,
    Scope, SecretValue, Vault,
};
use aivault_ffi::boundary::aivault_status;
use aivault_ffi::invoke::{
    aivault_invoke, aivault_response_body, aivault_response_free, aivault_response_status,
};
use aivault_ffi::vault::{aivault_vault, aivault_vault_free, aivault_vault_open};
use aivault_testkit::Upstream;

/// Sets up a vault in `dir` whose capability `bench/api` calls the upstream on `port`.
fn setup(dir: &std::path::Path, port: u16) {
    let vault = Vault::open(Config::for_binding(Some(dir)).unwrap()).unwrap();
    let secret = vault
        .create_secret(NewSecret {
            name: "BENCH_TOKEN".into(),
            value: SecretValue::from("bench-token-value".to_string()),
            scope: Scope::Global,
            aliases: Vec::new(),
        })
        .unwrap()
        .secret;
    let mut credential = NewCredential {
        id: "bench".into(),
        provider: "bench".into(),
        secret_refs: vec![format!("vault:secret:{}", secret.secret_id)],
        auth: Default::default(),
        hosts: vec![format!("127.0.0.1:{port}")],
        workspace_id: None,
        group_id: None,
        network: NetworkOptions::default(),
    };
    credential.auth.kind = Some("header".into());
    credential.network.allow_private_network = true;
    credential.network.insecure_http = true;
    vault.create_credential(credential).unwrap();
    vault
        .create_capability(NewCapability {
            id: "bench/api".into(),
            provider: None,
            credential: Some("bench".into()),
            methods: vec!["GET".into()],
            paths: vec!["/v1".into()],
            hosts: Vec::new(),
        })
        .unwrap();
}

/// One call through the C ABI; returns the body length.
fn c_call(handle: *const aivault_vault, request: &CString) -> usize {
    let mut response = std::ptr::null_mut();
    // SAFETY: a live handle, a NUL-terminated request, no body, a writable out pointer.
    let status =
        unsafe { aivault_invoke(handle, request.as_ptr(), std::ptr::null(), 0, &mut response) };
    assert_eq!(status, aivault_status::AIVAULT_OK);
    let mut len = 0;
    // SAFETY: the live response just returned, released once.
    unsafe {
        assert_eq!(aivault_response_status(response), 200);
        assert!(!aivault_response_body(response, &mut len).is_null());
        aivault_response_free(response);
    }
    len
}

/// One call through the Rust core; returns the body length.
fn rust_call(vault: &Vault) -> usize {
    let invocation = Invocation {
        capability: "bench/api".into(),
        credential: None,
        workspace_id: None,
        group_id: None,
        consumer: None,
        method: None,
        path: Some("/v1/ping".into()),
        headers: Vec::new(),
        body: RequestBody::Empty,
        timeout: None,
        caller: None,
    };
    let response = vault.invoke(&invocation).unwrap();
    assert_eq!(response.status, 200);
    response.body.len()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let (rounds, batch, warmup) = if smoke { (2, 3, 2) } else { (201, 50, 500) };

    let upstream = Upstream::http_ok(r#"{"object":"list","data":[{"id":"bench"}]}"#);
    // Two vaults set up alike, one per side: two handles on one vault slow each other down
    // (two Rust handles alternating on one vault measured ~3x a lone handle), which is not what
    // this compares.
    let (rust_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    setup(rust_dir.path(), upstream.port());
    setup(c_dir.path(), upstream.port());
    let rust = Vault::open(Config::for_binding(Some(rust_dir.path())).unwrap()).unwrap();
    let dir = CString::new(c_dir.path().to_str().unwrap()).unwrap();
    let mut handle = std::ptr::null_mut();
    // SAFETY: a NUL-terminated path and a writable out pointer.
    let status = unsafe { aivault_vault_open(dir.as_ptr(), &mut handle) };
    assert_eq!(status, aivault_status::AIVAULT_OK);
    let request = CString::new(r#"{"capability":"bench/api","path":"/v1/ping"}"#).unwrap();

    for _ in 0..warmup {
        assert_eq!(c_call(handle, &request), rust_call(&rust));
    }
    let (mut c_times, mut rust_times, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let time = |f: &dyn Fn()| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed().as_secs_f64() / f64::from(batch)
        };
        let c_batch = || {
            std::hint::black_box(c_call(handle, &request));
        };
        let rust_batch = || {
            std::hint::black_box(rust_call(&rust));
        };
        let (c, r) = if round % 2 == 0 {
            let c = time(&c_batch);
            (c, time(&rust_batch))
        } else {
            let r = time(&rust_batch);
            (time(&c_batch), r)
        };
        c_times.push(c);
        rust_times.push(r);
        ratios.push(c / r);
    }
    // SAFETY: the handle from aivault_vault_open, no longer used.
    unsafe { aivault_vault_free(handle) };

    let (c, r, ratio) = (
        median(&mut c_times),
        median(&mut rust_times),
        median(&mut ratios),
    );
    println!(
        "invoke over loopback HTTP, {rounds} interleaved rounds of {batch} calls each{}:",
        if smoke { " (smoke mode)" } else { "" }
    );
    println!("  C ABI aivault_invoke : {:>9.1} us/call (median)", c * 1e6);
    println!("  Rust Vault::invoke   : {:>9.1} us/call (median)", r * 1e6);
    println!(
        "  C / Rust             : {ratio:.3} (median of per-round ratios; ratio of the medians {:.3}; target <= 1.05)",
        c / r
    );
}
