//! In-process benchmarks of the HTTPS proxy's local CA ([`ProxyCa`]), on a real vault in a
//! temporary directory: what a new host's first `CONNECT` pays before its TLS handshake.
//!
//! - `proxy_ca/mint_leaf/new_host`: [`ProxyCa::mint_leaf`] for a host never minted before
//!   (`h<n>.openai.azure.com`, under the registry's `*.openai.azure.com`, so each iteration
//!   names a new host the CA's constraints permit): a new ECDSA P-256 key and a certificate
//!   signed by the CA. Target: at most 2 ms.
//! - `proxy_ca/mint_leaf/cached`: the same call for a host already minted (the in-memory
//!   cache every later `CONNECT` to that host hits).
//! - `proxy_ca/vault_proxy_ca/stored`: [`Vault::proxy_ca`] on a handle that already unsealed
//!   the CA (what the proxy calls at every `CONNECT`: the stored row read and its MAC checked,
//!   the unsealed CA from the handle's cache).
//! - `proxy_ca/vault_proxy_ca/first_use_per_handle`: [`Vault::proxy_ca`] on a new handle (the
//!   CA's key unsealed once per server process).
//!
//! Run with `cargo bench -p aivault-core --bench proxy_ca`; `-- --test` runs every benchmark
//! once.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use aivault_core::{Config, Vault};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tempfile::TempDir;

/// A new vault whose proxy CA exists (generated at first use).
fn vault_with_ca() -> (TempDir, Vault) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let vault = Vault::open(Config::in_dir(dir.path())).expect("open vault");
    vault.proxy_ca().expect("generate the proxy CA");
    (dir, vault)
}

fn bench_mint_leaf(c: &mut Criterion) {
    let (_dir, vault) = vault_with_ca();
    let ca = vault.proxy_ca().expect("proxy CA");
    let mut group = c.benchmark_group("proxy_ca/mint_leaf");
    let next = AtomicUsize::new(0);
    group.bench_function("new_host", |b| {
        b.iter_batched(
            || format!("h{}.openai.azure.com", next.fetch_add(1, Ordering::Relaxed)),
            |host| black_box(ca.mint_leaf(&host).expect("mint")),
            BatchSize::SmallInput,
        );
    });
    ca.mint_leaf("api.openai.com").expect("mint");
    group.bench_function("cached", |b| {
        b.iter(|| black_box(ca.mint_leaf(black_box("api.openai.com")).expect("cached")));
    });
    group.finish();
}

fn bench_vault_proxy_ca(c: &mut Criterion) {
    let (dir, vault) = vault_with_ca();
    let mut group = c.benchmark_group("proxy_ca/vault_proxy_ca");
    group.bench_function("stored", |b| {
        b.iter(|| black_box(vault.proxy_ca().expect("proxy CA")));
    });
    group.bench_function("first_use_per_handle", |b| {
        b.iter_batched(
            || Vault::open(Config::in_dir(dir.path())).expect("open vault"),
            // The handle is returned, so that closing it falls outside the timing.
            |fresh| {
                let ca = fresh.proxy_ca().expect("proxy CA");
                (fresh, black_box(ca))
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_mint_leaf, bench_vault_proxy_ca);
criterion_main!(benches);
