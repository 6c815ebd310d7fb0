//! `aivault verify` through the real binary: a vault whose rows were rewritten behind its
//! back (the local attacker) fails with `integrity_failed` (exit 14) naming what was altered,
//! never a value.

mod common;

use common::Env;

#[test]
fn verify_reports_tampered_rows_without_values() {
    let env = Env::new();
    let value = "sk-canary-verify-0123456789";
    env.run(&[
        "secrets",
        "create",
        "--name",
        "OPENAI_API_KEY",
        "--value",
        value,
    ])
    .ok();
    let run = env.run(&["verify"]).ok();
    assert!(run.stdout.contains("Vault intact"), "{}", run.stdout);
    let report = env.run(&["verify", "-v"]).ok().json();
    assert_eq!(report["ok"], true);

    let conn = rusqlite::Connection::open(env.dir.join("vault.db")).expect("open vault.db");
    conn.execute(
        "UPDATE credentials SET hosts = '[\"attacker.example\"]' WHERE id = 'openai'",
        [],
    )
    .expect("tamper");
    drop(conn);
    let run = env.run(&["verify"]).fails(14, "integrity_failed");
    assert!(run.stderr.contains("credential 'openai'"), "{}", run.stderr);
    assert!(!run.stderr.contains(value) && !run.stdout.contains(value));
    let run = env
        .run(&["invoke", "openai/models"])
        .fails(14, "integrity_failed");
    assert!(!run.stderr.contains(value));
}
