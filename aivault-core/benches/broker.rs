//! In-process benchmarks of the broker ([`Vault::invoke`]) against a plain `ureq` client, on
//! loopback upstreams (`aivault-testkit`) answering every request with the same 1 KiB JSON
//! body, over keep-alive connections on both sides. Vaults are real (SQLite in WAL mode with
//! `synchronous=FULL`, file key provider) in temporary directories.
//!
//! - `invoke_http/{ureq,vault}`: a plain `ureq::Agent` GET of `http://127.0.0.1:PORT/v1/models`
//!   (with an `authorization` header, as the broker sends) against `Vault::invoke` of the
//!   custom capability `bench/models`: custom credential `bench` (provider `bench`, header auth,
//!   host `api.bench.test`, `allow_private_network` + `insecure_http`) routed to the same
//!   server by `Config::dev_routes` (`api.bench.test=127.0.0.1:PORT`).
//! - `invoke_https/{ureq,vault}`: the same over TLS: plain `ureq` trusting the test CA, to
//!   `https://localhost:PORT/v1/models`, against `Vault::invoke` of the registry capability
//!   `openai/models` (`api.openai.com` routed to the server, test CA as `Config::dev_ca_cert`).
//! - `throughput_2_threads/{ureq,vault}` (HTTP): two threads sharing one agent, or one
//!   `Vault`; the time is per call (elements/s = calls/s of both threads together).
//! - `breakdown/*`: the broker's own steps, on the `invoke_http` vault: `plan` ([`Vault::plan`],
//!   one read transaction), `secret_read` (the read transaction fetching the envelope, on a
//!   second connection to the same database), `decrypt` (unwrap the DEK and open the value),
//!   the three phases of a real call timed apart (`call_headers`: `invoke_stream` until the
//!   status and headers, i.e. plan, unseal, request building and the upstream round trip;
//!   `call_body`: reading the 1 KiB body through the redactor; `call_audit`: `finish`, the
//!   call's audit append), and the per-call `capability.invoke` audit append: `audit_append_store` is what the broker
//!   does (one write transaction through `SqliteStore`: head read, HMAC, insert, two meta
//!   updates, commit with `synchronous=FULL`, i.e. one WAL fsync); `audit_sql_full` and
//!   `audit_sql_normal` run the same SQL on a raw connection with `synchronous=FULL` and
//!   `NORMAL` (no fsync at commit in WAL mode), to show what the fsync costs. The audit cases
//!   write to a vault of their own.
//! - `vault_size/{1,1060}`: `Vault::invoke` of `openai/models` (HTTPS) in a vault holding only
//!   `OPENAI_API_KEY`, and in one holding secrets of 60 registry providers (60 credentials)
//!   plus 1,000 custom secrets; the two should cost the same (only the credential's secret is
//!   read and decrypted).
//!
//! Compare `vault` with `ureq` in the same run (the machine is noisy): the broker's overhead is
//! the difference, and the target is `vault/ureq <= 1.15`.
//!
//! Run with `cargo bench -p aivault-core --bench broker`; `-- --test` runs every benchmark
//! once (scripts/test.sh does). `scripts/bench_invoke.py --criterion` runs it and prints the
//! ratios.

mod fixtures;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aivault_core::audit::{AuditEvent, AuditRecord};
use aivault_core::envelope::{self, Binding};
use aivault_core::store::{self, SqliteStore, StoreTx};
use aivault_core::{Key32, PlanContext, Vault, keys};
use aivault_testkit::{Pki, Upstream};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fixtures::{
    BENCH_CAPABILITY, BENCH_KEY, BODY_LEN, EXTRA_SECRETS, OPENAI_CAPABILITY, PROVIDERS,
    bench_vault, handler, invocation, new_vault, openai_vault, plain_agent, plain_get, two_threads,
    vault_get,
};

/// Prints how many connections `upstream` accepted for 50 calls of `call` (1 with keep-alive).
fn report_connections(what: &str, upstream: &Upstream, call: &dyn Fn()) {
    let before = upstream.connections();
    (0..50).for_each(|_| call());
    eprintln!(
        "note: {what}: 50 calls opened {} connection(s)",
        upstream.connections() - before
    );
}

/// (1) Single-threaded latency, HTTP and HTTPS.
fn bench_latency(c: &mut Criterion) {
    let http = Upstream::http(handler());
    let (_dir, vault, _) = bench_vault(http.port());
    let bench = invocation(BENCH_CAPABILITY);
    let plain = plain_agent(None);
    let url = http.url("/v1/models");
    assert_eq!(plain_get(&plain, &url).len(), BODY_LEN);
    assert_eq!(vault_get(&vault, &bench).len(), BODY_LEN);
    report_connections("invoke_http/ureq", &http, &|| {
        plain_get(&plain, &url);
    });
    report_connections("invoke_http/vault", &http, &|| {
        vault_get(&vault, &bench);
    });

    let mut group = c.benchmark_group("invoke_http");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("ureq", |b| b.iter(|| black_box(plain_get(&plain, &url))));
    group.bench_function("vault", |b| b.iter(|| black_box(vault_get(&vault, &bench))));
    group.finish();

    let pki = Pki::new(&["api.openai.com", "localhost"]);
    let https = Upstream::https(&pki, handler());
    let (_dir, vault) = openai_vault(https.port(), &pki, false);
    let openai = invocation(OPENAI_CAPABILITY);
    let plain = plain_agent(Some(&pki));
    let url = format!("https://localhost:{}/v1/models", https.port());
    assert_eq!(plain_get(&plain, &url).len(), BODY_LEN);
    assert_eq!(vault_get(&vault, &openai).len(), BODY_LEN);
    report_connections("invoke_https/ureq", &https, &|| {
        plain_get(&plain, &url);
    });
    report_connections("invoke_https/vault", &https, &|| {
        vault_get(&vault, &openai);
    });

    let mut group = c.benchmark_group("invoke_https");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("ureq", |b| b.iter(|| black_box(plain_get(&plain, &url))));
    group.bench_function("vault", |b| {
        b.iter(|| black_box(vault_get(&vault, &openai)));
    });
    group.finish();
}

/// (1) Throughput: two threads sharing one agent / one vault (HTTP).
fn bench_throughput(c: &mut Criterion) {
    let http = Upstream::http(handler());
    let (_dir, vault, _) = bench_vault(http.port());
    let bench = invocation(BENCH_CAPABILITY);
    let plain = plain_agent(None);
    let url = http.url("/v1/models");

    let mut group = c.benchmark_group("throughput_2_threads");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("ureq", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                black_box(plain_get(&plain, &url));
            })
        });
    });
    group.bench_function("vault", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                black_box(vault_get(&vault, &bench));
            })
        });
    });
    group.finish();
}

/// A write transaction appending one audit-like record, as `audit::append` does: read the
/// head, HMAC the event, insert it, update the two head entries.
fn append_record(tx: &dyn StoreTx, key: &Key32, seq: u64) -> aivault_core::Result<()> {
    let previous = tx.meta_get("bench_head_mac")?;
    let event = AuditEvent {
        seq,
        ts_ms: 1_700_000_000_000,
        kind: "capability.invoke".into(),
        secret_id: Some("00000000-0000-4000-8000-000000000000".into()),
        credential_id: Some("bench".into()),
        capability: Some(BENCH_CAPABILITY.into()),
        scope: Some("global".into()),
        note: Some(
            "outcome=ok method=GET host=api.bench.test path=/v1/models status=200 \
             request_bytes=0 response_bytes=1024 duration_ms=0"
                .into(),
        ),
    };
    let text = serde_json::to_vec(&event).expect("serialize event");
    let mac =
        aivault_core::crypto::hmac_parts(key, &[previous.unwrap_or_default().as_bytes(), &text]);
    tx.audit_append(&AuditRecord { event, mac })?;
    tx.meta_set("bench_head_seq", &seq.to_string())?;
    tx.meta_set("bench_head_mac", &aivault_core::crypto::to_hex(&mac))?;
    Ok(())
}

/// The same append as raw SQL on a connection with the given `synchronous` setting.
fn append_sql(conn: &rusqlite::Connection, seq: u64) {
    let tx = conn.unchecked_transaction().expect("begin");
    tx.prepare_cached(
        "INSERT INTO audit_events (seq, ts_ms, kind, secret_id, credential_id, capability, \
         scope, note, mac) VALUES (?, 1700000000000, 'capability.invoke', \
         '00000000-0000-4000-8000-000000000000', 'bench', 'bench/models', 'global', \
         'outcome=ok method=GET host=api.bench.test path=/v1/models status=200 \
         request_bytes=0 response_bytes=1024 duration_ms=0', zeroblob(32))",
    )
    .expect("prepare insert")
    .execute([seq as i64])
    .expect("insert");
    for key in ["bench_head_seq", "bench_head_mac"] {
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = ?2",
        )
        .expect("prepare meta")
        .execute([key, &seq.to_string()])
        .expect("meta");
    }
    tx.commit().expect("commit");
}

/// `iters` brokered calls through `invoke_stream`; the time spent in phase 0 (until the
/// headers), 1 (reading the body) or 2 (`finish`: the audit append).
fn phased_calls(vault: &Vault, iters: u64, phase: usize) -> Duration {
    let invocation = invocation(BENCH_CAPABILITY);
    let mut spent = [Duration::ZERO; 3];
    for _ in 0..iters {
        let start = Instant::now();
        let mut stream = vault.invoke_stream(&invocation).expect("invoke_stream");
        let headers = Instant::now();
        let mut body = vec![0u8; BODY_LEN];
        std::io::Read::read_exact(&mut stream, &mut body).expect("body");
        let read = Instant::now();
        stream.finish();
        let done = Instant::now();
        // Reach the end of the body (untimed) so that the connection goes back to the pool,
        // as in `invoke`; `finish` already wrote the audit event.
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut stream, &mut rest).expect("end of body");
        assert!(rest.is_empty());
        spent[0] += headers - start;
        spent[1] += read - headers;
        spent[2] += done - read;
        black_box(body);
    }
    spent[phase]
}

/// (1) Where the broker's time goes.
fn bench_breakdown(c: &mut Criterion) {
    let http = Upstream::http(handler());
    let (dir, vault, secret_id) = bench_vault(http.port());
    let context = PlanContext::default();
    let plan = vault.plan(BENCH_CAPABILITY, &context).expect("plan");
    assert_eq!(plan.credential, "bench");

    // A second connection to the same database, and the wrapping key from the key file.
    let mut reader = SqliteStore::open(&dir.path().join("vault.db")).expect("open store");
    let (vault_id, record) = store::read(&mut reader, |tx| {
        Ok((
            tx.meta_get("vault_id")?.expect("vault_id"),
            tx.secret_get(&secret_id)?.expect("secret"),
        ))
    })
    .expect("read secret");
    let master = keys::read_key_file(&dir.path().join("kek.key")).expect("key file");
    let wrapping = keys::wrapping_key(&master);
    let binding = Binding {
        vault_id: &vault_id,
        secret_id: &record.meta.secret_id,
        scope: &record.meta.scope,
        pinned_provider: record.meta.pinned_provider.as_deref(),
        value_version: record.meta.value_version,
    };
    let opened = envelope::open_value(&wrapping, &binding, &record.envelope).expect("decrypt");
    assert_eq!(opened.expose(), BENCH_KEY.as_bytes());

    // The audit cases write to a vault of their own.
    let (audit_dir, audit_vault) = new_vault(|c| c);
    drop(audit_vault);
    let audit_db = audit_dir.path().join("vault.db");
    let mut audit_store = SqliteStore::open(&audit_db).expect("open audit store");
    let full = rusqlite::Connection::open(&audit_db).expect("open FULL");
    full.pragma_update(None, "synchronous", "FULL")
        .expect("FULL");
    let normal = rusqlite::Connection::open(&audit_db).expect("open NORMAL");
    normal
        .pragma_update(None, "synchronous", "NORMAL")
        .expect("NORMAL");
    // Far above the events the vault wrote when it was created.
    let seq = AtomicU64::new(1_000_000);
    let next = || seq.fetch_add(1, Ordering::Relaxed);
    let audit_key = Key32::from_bytes([7u8; 32]);

    let mut group = c.benchmark_group("breakdown");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("plan", |b| {
        b.iter(|| black_box(vault.plan(BENCH_CAPABILITY, &context).expect("plan")));
    });
    group.bench_function("secret_read", |b| {
        b.iter(|| {
            black_box(
                store::read(&mut reader, |tx| tx.secret_get(&secret_id)).expect("read secret"),
            )
        });
    });
    group.bench_function("decrypt", |b| {
        b.iter(|| {
            black_box(envelope::open_value(&wrapping, &binding, &record.envelope).expect("open"))
        });
    });
    // The phases of one real `invoke_stream` call, each timed alone: until the status and
    // headers (plan, unseal, request, upstream), the 1 KiB body read, and `finish` (the audit
    // append of the call).
    for (name, phase) in [("call_headers", 0), ("call_body", 1), ("call_audit", 2)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| phased_calls(&vault, iters, phase));
        });
    }
    group.bench_function("audit_append_store", |b| {
        b.iter(|| {
            store::write(&mut audit_store, |tx| append_record(tx, &audit_key, next()))
                .expect("append");
        });
    });
    group.bench_function("audit_sql_full", |b| b.iter(|| append_sql(&full, next())));
    group.bench_function("audit_sql_normal", |b| {
        b.iter(|| append_sql(&normal, next()));
    });
    group.finish();
}

/// (3) Invoke cost vs vault size.
fn bench_vault_size(c: &mut Criterion) {
    let pki = Pki::new(&["api.openai.com"]);
    let https = Upstream::https(&pki, handler());
    let (_small_dir, small) = openai_vault(https.port(), &pki, false);
    let (_large_dir, large) = openai_vault(https.port(), &pki, true);
    let openai = invocation(OPENAI_CAPABILITY);

    let mut group = c.benchmark_group("vault_size");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (secrets, vault) in [(1, &small), (PROVIDERS + EXTRA_SECRETS, &large)] {
        assert_eq!(vault_get(vault, &openai).len(), BODY_LEN);
        group.bench_with_input(BenchmarkId::from_parameter(secrets), vault, |b, vault| {
            b.iter(|| black_box(vault_get(vault, &openai)));
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_latency,
    bench_throughput,
    bench_breakdown,
    bench_vault_size
);
criterion_main!(benches);
