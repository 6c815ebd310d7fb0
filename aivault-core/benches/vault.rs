//! In-process benchmarks of the [`Vault`] facade on real vaults (SQLite in WAL mode with
//! `synchronous=FULL`, file key provider) in temporary directories.
//!
//! - `import/1000_into_empty`: `import_secrets` of 1,000 entries into a freshly created vault.
//! - `list/10000`: `list_secrets` over a vault of 10,000 secrets.
//! - `create/one_into_10000`: one `create_secret` into a vault of 10,000 secrets.
//! - `import_1000_into/{0,9000}`: `import_secrets` of 1,000 entries into a fresh copy of a
//!   vault that already holds 0 or 9,000 secrets; the two figures should be close, showing that
//!   the cost of an import does not grow with the vault.
//! - `plan/{context}/{secrets}`: one [`Vault::plan`] of `openai/chat-completions` (the broker's
//!   per-call resolution: one read transaction) in a vault holding only `OPENAI_API_KEY`
//!   (`no_context/1`), and in vaults of 0 and of 10,000 custom secrets plus `OPENAI_API_KEY` in
//!   global and in workspace `bench-ws` scope (credentials `openai` and `openai:ws:bench-ws`;
//!   2 and 10,002 secrets), the global one attached to group `bench-ws2/bench-g`: no context
//!   (`openai`), the workspace context (`openai:ws:bench-ws`) and the group context (global
//!   `openai`, found through the attachment). `/2` and `/10002` should be close.
//! - `catalog/{list_capabilities,describe_capability}/{0,10000}`: [`Vault::list_capabilities`]
//!   (every registry capability, 76 providers) and [`Vault::describe_capability`] of
//!   `openai/chat-completions` in an empty vault and in a vault of 10,000 secrets; neither
//!   reads a secret, so the two sizes should cost the same.
//!
//! Secret names are custom (`BENCH_KEY_0001`...): names claimed by the provider registry
//! (`OPENAI_API_KEY`...) are few, so a vault of thousands of secrets is custom names almost
//! entirely, and those skip provisioning.
//!
//! Run with `cargo bench -p aivault-core --bench vault`; `-- --test` runs every benchmark once.

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aivault_core::{
    Config, GroupRef, NewSecret, PlanContext, Scope, SecretFilter, SecretValue, Vault,
};
use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use tempfile::TempDir;

/// Entries per import command, as the CLI benchmark uses.
const CHUNK: usize = 1_000;
/// Size of the "large" vault.
const LARGE: usize = 10_000;
/// The capability the planning and catalog benchmarks resolve and describe.
const CAPABILITY: &str = "openai/chat-completions";

/// `count` entries `{prefix}_{start..}` with distinct, realistic-length values.
fn entries(prefix: &str, start: usize, count: usize) -> Vec<(String, SecretValue)> {
    (start..start + count)
        .map(|i| {
            (
                format!("{prefix}_{i:05}"),
                SecretValue::from(format!("sk-bench-{i:05}-0123456789abcdefghijklmnopqrstuv")),
            )
        })
        .collect()
}

/// A new vault in a new temporary directory.
fn new_vault() -> (TempDir, Vault) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let vault = Vault::open(Config::in_dir(dir.path())).expect("open vault");
    (dir, vault)
}

/// A new vault holding `count` custom-named secrets, imported in chunks of [`CHUNK`].
fn vault_with(count: usize) -> (TempDir, Vault) {
    let (dir, vault) = new_vault();
    for start in (0..count).step_by(CHUNK) {
        let n = CHUNK.min(count - start);
        vault
            .import_secrets(entries("BENCH_KEY", start, n), &Scope::Global)
            .expect("fill vault");
    }
    (dir, vault)
}

/// A closed vault of `count` secrets to copy from (closing checkpoints the WAL).
fn template(count: usize) -> TempDir {
    let (dir, vault) = vault_with(count);
    drop(vault);
    dir
}

/// A fresh copy of a template vault's files (`kek.key`, `vault.db` and any `-wal`/`-shm`).
fn copy_of(template: &Path) -> TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    for entry in std::fs::read_dir(template).expect("read template") {
        let entry = entry.expect("template entry");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy file");
        }
    }
    dir
}

/// (a) 1,000 entries into a freshly created, empty vault.
fn bench_import_empty(c: &mut Criterion) {
    let mut group = c.benchmark_group("import");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("1000_into_empty", |b| {
        b.iter_batched(
            || {
                let (dir, vault) = new_vault();
                (dir, vault, entries("BENCH_NEW", 0, CHUNK))
            },
            // Everything is returned so that dropping the vault and its directory is not timed.
            |(dir, vault, batch)| {
                let report = vault.import_secrets(batch, &Scope::Global);
                (dir, vault, black_box(report.expect("import")))
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// (b) listing 10,000 secrets and (c) creating one secret in a vault of 10,000.
fn bench_large_vault(c: &mut Criterion) {
    let (_dir, vault) = vault_with(LARGE);
    assert_eq!(
        vault
            .list_secrets(&SecretFilter::default())
            .expect("list")
            .len(),
        LARGE
    );

    let mut group = c.benchmark_group("list");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("10000", |b| {
        b.iter(|| black_box(vault.list_secrets(&SecretFilter::default()).expect("list")));
    });
    group.finish();

    // Each iteration adds a secret: a few hundred more on top of 10,000 change nothing.
    let next = AtomicUsize::new(0);
    let mut group = c.benchmark_group("create");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("one_into_10000", |b| {
        b.iter_batched(
            || {
                let i = next.fetch_add(1, Ordering::Relaxed);
                NewSecret {
                    name: format!("BENCH_CREATE_{i:06}"),
                    value: SecretValue::from(format!("sk-create-{i:06}-0123456789abcdef")),
                    scope: Scope::Global,
                    aliases: vec![],
                }
            },
            |secret| black_box(vault.create_secret(secret).expect("create")),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// (d) 1,000 entries into a fresh copy of a vault of 0 and of 9,000 secrets.
fn bench_import_growth(c: &mut Criterion) {
    let mut group = c.benchmark_group("import_1000_into");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(8));
    for existing in [0, LARGE - CHUNK] {
        let template = template(existing);
        group.bench_with_input(
            BenchmarkId::from_parameter(existing),
            &existing,
            |b, &existing| {
                b.iter_batched(
                    || {
                        let dir = copy_of(template.path());
                        let vault = Vault::open(Config::in_dir(dir.path())).expect("open copy");
                        (dir, vault, entries("BENCH_KEY", existing, CHUNK))
                    },
                    |(dir, vault, batch)| {
                        let report = vault.import_secrets(batch, &Scope::Global);
                        (dir, vault, black_box(report.expect("import")))
                    },
                    BatchSize::PerIteration,
                );
            },
        );
    }
    group.finish();
}

/// Stores `OPENAI_API_KEY` in `scope` (provisioning its `openai` credential there).
fn store_openai_key(vault: &Vault, scope: Scope) -> aivault_core::SecretMeta {
    vault
        .create_secret(NewSecret {
            name: "OPENAI_API_KEY".into(),
            value: SecretValue::from("sk-bench-openai-0123456789abcdefghijklmnopqrstuv"),
            scope,
            aliases: vec![],
        })
        .expect("create OPENAI_API_KEY")
        .secret
}

/// A context of optional workspace and group ids.
fn context(workspace: Option<&str>, group: Option<&str>) -> PlanContext {
    PlanContext {
        workspace_id: workspace.map(str::to_string),
        group_id: group.map(str::to_string),
        ..PlanContext::default()
    }
}

/// Adds the credentials the planning benchmark resolves to `vault`: `OPENAI_API_KEY` in global
/// scope (credential `openai`, attached to group `bench-ws2/bench-g`) and in workspace
/// `bench-ws` (credential `openai:ws:bench-ws`).
fn add_openai_credentials(vault: &Vault) {
    let global = store_openai_key(vault, Scope::Global);
    store_openai_key(
        vault,
        Scope::Workspace {
            workspace_id: "bench-ws".into(),
        },
    );
    vault
        .attach_group(
            &global.secret_id,
            &GroupRef {
                workspace_id: "bench-ws2".into(),
                group_id: "bench-g".into(),
            },
        )
        .expect("attach group");
}

/// (e) `plan` per call: in a vault of 1 secret, and with the same two credentials in vaults of
/// 2 and 10,002 secrets.
fn bench_plan(c: &mut Criterion) {
    let (_one_dir, one) = new_vault();
    store_openai_key(&one, Scope::Global);
    let (_two_dir, two) = new_vault();
    add_openai_credentials(&two);
    let (_large_dir, large) = vault_with(LARGE);
    add_openai_credentials(&large);

    let no_context = context(None, None);
    let workspace = context(Some("bench-ws"), None);
    let group_attached = context(Some("bench-ws2"), Some("bench-g"));
    let mut cases = vec![("no_context", 1, &one, &no_context, "openai")];
    for (secrets, vault) in [(2, &two), (LARGE + 2, &large)] {
        cases.push(("no_context", secrets, vault, &no_context, "openai"));
        cases.push((
            "workspace",
            secrets,
            vault,
            &workspace,
            "openai:ws:bench-ws",
        ));
        cases.push(("group_attached", secrets, vault, &group_attached, "openai"));
    }
    let mut group = c.benchmark_group("plan");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, secrets, vault, context, credential) in cases {
        let plan = vault.plan(CAPABILITY, context).expect("plan");
        assert_eq!(plan.credential, credential, "{name}/{secrets}");
        group.bench_function(BenchmarkId::new(name, secrets), |b| {
            b.iter(|| black_box(vault.plan(black_box(CAPABILITY), context).expect("plan")));
        });
    }
    group.finish();
}

/// (f) `list_capabilities` and `describe_capability` in an empty vault and in one of 10,000.
fn bench_catalog(c: &mut Criterion) {
    let (_empty_dir, empty) = new_vault();
    let (_large_dir, large) = vault_with(LARGE);
    let mut group = c.benchmark_group("catalog");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (secrets, vault) in [(0, &empty), (LARGE, &large)] {
        let listing = vault.list_capabilities().expect("list capabilities");
        assert!(listing.available.len() > 500, "{}", listing.available.len());
        group.bench_with_input(
            BenchmarkId::new("list_capabilities", secrets),
            vault,
            |b, vault| b.iter(|| black_box(vault.list_capabilities().expect("list"))),
        );
        group.bench_with_input(
            BenchmarkId::new("describe_capability", secrets),
            vault,
            |b, vault| {
                b.iter(|| {
                    black_box(
                        vault
                            .describe_capability(black_box(CAPABILITY))
                            .expect("describe"),
                    )
                });
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_import_empty,
    bench_large_vault,
    bench_import_growth,
    bench_plan,
    bench_catalog
);
criterion_main!(benches);
