//! The store's write-ahead log across real `aivault` processes: a one-shot `invoke` leaves its
//! audit frames in `vault.db-wal` (no checkpoint, no fsync at exit) and the next process reads
//! them; every operator command leaves `vault.db` complete on its own, so a copy of it without
//! the `-wal`/`-shm` files is a full backup; the WAL stays bounded over many invokes; the files
//! stay mode 0600 and hold no secret value.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aivault_testkit::{Pki, Upstream, echo_handler};
use common::{Env, canary, canary_forms, contains, files_under};

/// A vault with OPENAI_API_KEY and a loopback HTTPS upstream standing in for api.openai.com.
struct Broker {
    env: Env,
    upstream: Upstream,
    _pki: Pki,
    key: String,
}

impl Broker {
    fn new() -> Broker {
        let pki = Pki::new(&["api.openai.com"]);
        let upstream = Upstream::https(&pki, echo_handler());
        let mut env = Env::new();
        env.route_to(&["api.openai.com"], &upstream, &pki);
        let key = canary("openai");
        env.create("OPENAI_API_KEY", &key, &["--scope", "global"]);
        Broker {
            env,
            upstream,
            _pki: pki,
            key,
        }
    }

    fn invoke(&self) {
        let run = self.env.run(&["invoke", "openai/models"]).ok();
        assert!(!run.stdout.contains(&self.key), "{}", run.stdout);
    }

    fn wal(&self) -> PathBuf {
        self.env.dir.join("vault.db-wal")
    }

    fn wal_len(&self) -> u64 {
        std::fs::metadata(self.wal()).expect("vault.db-wal").len()
    }

    /// `aivault audit --kind capability.invoke` as seen by a new process.
    fn invoke_events(&self) -> usize {
        self.env
            .run(&["audit", "--kind", "capability.invoke", "--limit", "1000"])
            .ok()
            .json()
            .as_array()
            .expect("events")
            .len()
    }

    /// Both private files exist with mode 0600, and no file of the vault holds the key.
    fn assert_files_private_and_clean(&self) {
        for name in ["vault.db", "vault.db-wal", "vault.db-shm"] {
            let path = self.env.dir.join(name);
            let mode = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        for (path, bytes) in files_under(&self.env.dir) {
            for form in canary_forms(&self.key) {
                assert!(!contains(&bytes, &form), "key found in {}", path.display());
            }
        }
    }
}

/// Copies `vault.db` alone (no `-wal`, no `-shm`) and the key file into a new vault directory,
/// as a backup that copies only the database would, and returns an `Env` on the copy.
fn copy_db_alone(from: &Env) -> Env {
    let mut copy = Env::new();
    std::fs::create_dir_all(&copy.dir).expect("mkdir copy");
    std::fs::set_permissions(&copy.dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for name in ["vault.db", "kek.key"] {
        std::fs::copy(from.dir.join(name), copy.dir.join(name)).expect("copy");
    }
    for (name, value) in &from.vars {
        if name != "AIVAULT_DIR" && name != "AIVAULT_RUNTIME_DIR" {
            copy.set(name, value);
        }
    }
    copy
}

/// Rows of `kind` in the audit table of the database file `db`, read without its WAL.
fn audit_rows_in_file(db: &Path, kind: &str) -> i64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let lone = dir.path().join("lone.db");
    std::fs::copy(db, &lone).expect("copy");
    let conn = rusqlite::Connection::open(&lone).expect("open copy");
    conn.query_row(
        "SELECT count(*) FROM audit_events WHERE kind = ?",
        [kind],
        |row| row.get(0),
    )
    .expect("count")
}

#[test]
fn an_invoke_leaves_its_audit_frames_in_the_wal_for_the_next_process() {
    let broker = Broker::new();
    assert_eq!(
        broker.wal_len(),
        0,
        "secrets create checkpointed and truncated"
    );

    broker.invoke();
    assert_eq!(broker.upstream.requests().len(), 1);
    assert!(broker.wal_len() > 0, "the invoke's records stay in the WAL");
    // vault.db itself does not have the event yet: only the WAL does.
    let db = broker.env.dir.join("vault.db");
    assert_eq!(audit_rows_in_file(&db, "capability.invoke"), 0);
    // A new process sees it (and the chain verifies).
    assert_eq!(broker.invoke_events(), 1);
    broker.env.run(&["audit", "verify"]).ok();
    broker.assert_files_private_and_clean();
    // A copy of vault.db alone is a consistent vault up to the last operator command.
    let copy = copy_db_alone(&broker.env);
    copy.assert_intact();
    assert!(
        copy.audit_kinds(&["--kind", "capability.invoke"])
            .is_empty()
    );
    assert_eq!(copy.secret_names(), ["OPENAI_API_KEY"]);

    // The next operator command moves everything into vault.db and empties the WAL.
    broker.env.create("MY_CUSTOM_KEY", &canary("custom"), &[]);
    assert_eq!(broker.wal_len(), 0);
    assert_eq!(audit_rows_in_file(&db, "capability.invoke"), 1);
    broker.assert_files_private_and_clean();
}

#[test]
fn after_an_operator_command_vault_db_alone_is_a_complete_copy() {
    let broker = Broker::new();
    broker.invoke(); // the WAL now holds frames
    assert!(broker.wal_len() > 0);
    let value = canary("second");
    let id = broker.env.create("MY_CUSTOM_KEY", &value, &[]);

    let copy = copy_db_alone(&broker.env);
    let mut names = copy.secret_names();
    names.sort();
    assert_eq!(names, ["MY_CUSTOM_KEY", "OPENAI_API_KEY"]);
    assert_eq!(copy.audit_kinds(&["--kind", "capability.invoke"]).len(), 1);
    copy.assert_intact();
    // The copy is a working vault: the value decrypts under the copied key.
    let run = copy
        .run(&[
            "secrets",
            "rotate",
            "--id",
            &id,
            "--value",
            &canary("third"),
        ])
        .ok();
    assert!(!run.stdout.contains(&value));
}

#[test]
fn the_wal_stays_bounded_over_many_invokes() {
    let broker = Broker::new();
    let mut sizes = Vec::new();
    for _ in 0..90 {
        broker.invoke();
        sizes.push(broker.wal_len());
    }
    // About 16 KiB per call; a commit that finds the WAL over 1 MiB checkpoints and
    // truncates it, so it never holds much more than that.
    let largest = *sizes.iter().max().expect("sizes");
    assert!(
        largest < (1 << 20) + (64 << 10),
        "WAL grew to {largest}: {sizes:?}"
    );
    assert!(
        sizes.windows(2).any(|w| w[1] < w[0]),
        "the WAL was never truncated: {sizes:?}"
    );
    assert_eq!(broker.invoke_events(), 90);
    broker.env.assert_intact();
    broker.assert_files_private_and_clean();
}
