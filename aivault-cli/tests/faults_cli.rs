//! Faults the vault must survive, driven through real processes: SIGKILL in the middle of
//! `import` and `rotate-master`, eight processes racing on a fresh directory, and bad input
//! that must fail clearly and persist nothing.

mod common;

use std::time::Duration;

use common::Env;

fn entries(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("--entry={prefix}_{i:04}=value-{i}"))
        .collect()
}

fn import_args(entries: &[String]) -> Vec<&str> {
    let mut args = vec!["secrets", "import"];
    args.extend(entries.iter().map(String::as_str));
    args
}

#[test]
fn import_killed_mid_transaction_is_wholly_absent() {
    let env = Env::new();
    env.create("OPENAI_API_KEY", "sk-before", &[]);
    env.create("KEEP_ME", "kept", &[]);
    let before = env.snapshot();
    let batch = entries("KILLED", 200);
    let mut child = env.spawn(&import_args(&batch), &[("AIVAULT_DEV_STALL", "import-mid")]);
    env.wait_for_stall("import-mid", &mut child);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    assert_eq!(
        env.snapshot(),
        before,
        "a killed import must leave no trace"
    );
    env.assert_intact();
    // The same import then succeeds completely.
    let run = env.run(&import_args(&batch)).ok();
    assert_eq!(
        run.json()["created"].as_array().expect("created").len(),
        200
    );
    assert_eq!(env.secrets().len(), 202);
    env.assert_intact();
}

#[test]
fn import_killed_at_random_instants_is_all_or_nothing() {
    let env = Env::new();
    env.create("BASE", "base", &[]);
    for (round, delay_ms) in [5u64, 20, 40, 60, 90, 130].into_iter().enumerate() {
        let batch = entries(&format!("R{round}"), 300);
        let mut child = env.spawn(&import_args(&batch), &[]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().expect("reap");
        let names = env.secret_names();
        let present = names
            .iter()
            .filter(|n| n.starts_with(&format!("R{round}_")))
            .count();
        assert!(
            present == 0 || present == 300,
            "round {round}: {present} of 300 imported"
        );
        env.assert_intact();
    }
}

fn staged_keys(env: &Env) -> Vec<String> {
    std::fs::read_dir(&env.dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("kek.key.new-"))
        .collect()
}

fn kek_id(env: &Env) -> String {
    env.run(&["status", "-v"]).ok().json()["status"]["kekId"]
        .as_str()
        .expect("kekId")
        .to_string()
}

#[test]
fn rotate_master_killed_before_commit_keeps_the_old_key() {
    let env = Env::new();
    for i in 0..20 {
        env.create(&format!("S{i}"), &format!("value-{i}"), &[]);
    }
    let old = kek_id(&env);
    let old_key = std::fs::read(env.dir.join("kek.key")).expect("key");
    let mut child = env.spawn(
        &["rotate-master"],
        &[("AIVAULT_DEV_STALL", "rotate-master-before-commit")],
    );
    env.wait_for_stall("rotate-master-before-commit", &mut child);
    assert_eq!(
        staged_keys(&env).len(),
        1,
        "the new key is staged before the commit"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    env.assert_intact();
    assert_eq!(kek_id(&env), old);
    assert_eq!(
        std::fs::read(env.dir.join("kek.key")).expect("key"),
        old_key,
        "the key file is untouched"
    );
    // The next rotation removes the stale staged key and works.
    env.run(&["rotate-master"]).ok();
    assert_ne!(kek_id(&env), old);
    assert!(staged_keys(&env).is_empty());
    env.assert_intact();
}

#[test]
fn rotate_master_killed_after_commit_finishes_on_next_open() {
    let env = Env::new();
    for i in 0..20 {
        env.create(&format!("S{i}"), &format!("value-{i}"), &[]);
    }
    let old = kek_id(&env);
    let old_key = std::fs::read(env.dir.join("kek.key")).expect("key");
    let mut child = env.spawn(
        &["rotate-master"],
        &[("AIVAULT_DEV_STALL", "rotate-master-after-commit")],
    );
    env.wait_for_stall("rotate-master-after-commit", &mut child);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    env.assert_intact();
    let new = kek_id(&env);
    assert_ne!(new, old, "the committed rotation stands");
    assert_ne!(
        std::fs::read(env.dir.join("kek.key")).expect("key"),
        old_key,
        "the staged key was promoted"
    );
    assert!(staged_keys(&env).is_empty());
}

#[test]
fn eight_processes_race_on_a_fresh_directory() {
    let env = Env::new();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let name = format!("RACE_{i}");
            let value = format!("value-{i}");
            env.spawn(
                &["secrets", "create", "--name", &name, "--value", &value],
                &[],
            )
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        let run = common::to_run(output);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let status = env.run(&["status", "-v"]).ok().json();
    assert_eq!(status["counts"]["secrets"], 8);
    let mut names = env.secret_names();
    names.sort();
    assert_eq!(
        names,
        (0..8).map(|i| format!("RACE_{i}")).collect::<Vec<_>>()
    );
    env.assert_intact();
    let inits = env.run(&["audit", "--kind", "vault.init"]).ok().json();
    assert_eq!(
        inits.as_array().expect("events").len(),
        1,
        "exactly one vault was created"
    );
}

#[test]
fn bad_input_fails_clearly_and_persists_nothing() {
    let env = Env::new();
    let id = env.create("TAKEN", "v", &["--alias", "taken-alias"]);
    env.create("OPENAI_API_KEY", "sk-openai", &[]);
    let before = env.snapshot();
    let missing = "0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70";
    let cases: Vec<(Vec<&str>, i32, &str, &str)> = vec![
        (
            vec!["secrets", "create", "--nme", "X", "--value", "v"],
            2,
            "invalid_input",
            "--nme",
        ),
        (
            vec![
                "secrets", "create", "--name", "X", "--value", "v", "--scope", "planet",
            ],
            2,
            "invalid_input",
            "'<redacted>' for '--scope <SCOPE>'",
        ),
        (
            vec!["secrets", "create", "--name", "", "--value", "v"],
            2,
            "invalid_input",
            "cannot be empty",
        ),
        (
            vec!["secrets", "create", "--name", "   ", "--value", "v"],
            2,
            "invalid_input",
            "cannot be empty",
        ),
        (
            vec!["secrets", "create", "--name", "X", "--value", ""],
            2,
            "invalid_input",
            "value cannot be empty",
        ),
        (
            vec!["secrets", "create", "--name", "TAKEN", "--value", "v"],
            4,
            "already_exists",
            "TAKEN",
        ),
        (
            vec!["secrets", "create", "--name", "taken-alias", "--value", "v"],
            4,
            "already_exists",
            "taken-alias",
        ),
        (
            vec![
                "secrets", "create", "--name", "X", "--value", "v", "--alias", "TAKEN",
            ],
            4,
            "already_exists",
            "TAKEN",
        ),
        (
            vec![
                "secrets", "create", "--name", "X", "--value", "v", "--alias", "X",
            ],
            2,
            "invalid_input",
            "twice",
        ),
        (
            vec![
                "secrets",
                "create",
                "--name",
                "X",
                "--value",
                "v",
                "--group-id",
                "g",
            ],
            2,
            "invalid_input",
            "--group-id requires --workspace-id",
        ),
        (
            vec![
                "secrets",
                "create",
                "--name",
                "X",
                "--value",
                "v",
                "--scope",
                "workspace",
            ],
            2,
            "invalid_input",
            "--workspace-id",
        ),
        (
            vec![
                "secrets",
                "create",
                "--name",
                "X",
                "--value",
                "v",
                "--scope",
                "group",
                "--workspace-id",
                "w",
            ],
            2,
            "invalid_input",
            "--group-id",
        ),
        (
            vec![
                "secrets",
                "create",
                "--name",
                "X",
                "--value",
                "v",
                "--scope",
                "workspace",
                "--workspace-id",
                "bad id",
            ],
            2,
            "invalid_input",
            "workspace id",
        ),
        (
            vec!["secrets", "rotate", "--id", missing, "--value", "v"],
            3,
            "not_found",
            missing,
        ),
        (
            vec!["secrets", "rotate", "--id", "not-a-uuid", "--value", "v"],
            2,
            "invalid_input",
            "not-a-uuid",
        ),
        (
            vec!["secrets", "delete", "--id", missing],
            3,
            "not_found",
            missing,
        ),
        (
            vec!["secrets", "update", "--id", missing, "--name", "Y"],
            3,
            "not_found",
            missing,
        ),
        (
            vec!["secrets", "update", "--id", &id],
            2,
            "invalid_input",
            "nothing to update",
        ),
        (
            vec!["secrets", "update", "--id", &id, "--name", "OPENAI_API_KEY"],
            7,
            "policy_violation",
            "claimed",
        ),
        (
            vec![
                "secrets",
                "update",
                "--id",
                &id,
                "--alias",
                "a",
                "--clear-aliases",
            ],
            2,
            "invalid_input",
            "--clear-aliases",
        ),
        (
            vec![
                "secrets",
                "detach-group",
                "--id",
                &id,
                "--workspace-id",
                "w",
                "--group-id",
                "g",
            ],
            3,
            "not_found",
            "not attached",
        ),
        (
            vec!["secrets", "import", "--entry", "A=1", "--entry", "A=2"],
            2,
            "invalid_input",
            "more than once",
        ),
        (
            vec!["secrets", "import", "--entry", "OK=1", "--entry", "=2"],
            2,
            "invalid_input",
            "cannot be empty",
        ),
        (
            vec![
                "secrets",
                "import",
                "--entry",
                "OK=1",
                "--entry",
                "sk-looks-like-a-value",
            ],
            2,
            "invalid_input",
            "--entry number 2",
        ),
        (
            vec![
                "secrets",
                "import",
                "--entry",
                "OK=1",
                "--entry",
                "taken-alias=2",
            ],
            4,
            "already_exists",
            "taken-alias",
        ),
        (
            vec!["secrets", "import"],
            2,
            "invalid_input",
            "nothing to import",
        ),
        (
            vec!["secrets", "list", "--group-id", "g"],
            2,
            "invalid_input",
            "--workspace-id",
        ),
        (
            vec!["audit", "--limit", "many"],
            2,
            "invalid_input",
            "for '--limit <LIMIT>'",
        ),
    ];
    for (args, code, kind, needle) in cases {
        let run = env.run(&args);
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with(&format!("error[{kind}]: ")),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(needle),
            "{args:?} should mention {needle:?}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("sk-looks-like-a-value"),
            "a value was echoed: {}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "{args:?}");
        assert_eq!(env.snapshot(), before, "{args:?} changed the vault");
    }
}

#[test]
fn verbose_errors_are_json() {
    let env = Env::new();
    let run = env.run(&[
        "secrets",
        "delete",
        "--id",
        "0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70",
        "-v",
    ]);
    assert_eq!(run.code, 3);
    let error: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("JSON error");
    assert_eq!(error["error"]["kind"], "not_found");
    assert!(
        error["error"]["message"]
            .as_str()
            .expect("message")
            .contains("0b8f6a52")
    );
}

#[test]
fn tampered_row_fails_only_that_secret() {
    let env = Env::new();
    let victim = env.create("VICTIM", "victim-value", &[]);
    env.create("BYSTANDER", "bystander-value", &[]);
    // Flip the pinned provider of the victim's row with the sqlite3 C library via Python,
    // exactly what an attacker with write access to vault.db could do.
    let db = env.dir.join("vault.db");
    let script = format!(
        "import sqlite3; c = sqlite3.connect({db:?}); c.execute(\"UPDATE secrets SET pinned_provider = 'openai' WHERE id = '{victim}'\"); c.commit()",
        db = db.display().to_string()
    );
    let status = std::process::Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("python3");
    assert!(status.success());
    let run = env.run(&["secrets", "verify", "-v"]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["checked"], 2);
    assert_eq!(report["failed"].as_array().expect("failed").len(), 1);
    assert_eq!(report["failed"][0]["secretId"], victim.as_str());
    assert_eq!(report["failed"][0]["kind"], "decrypt_failed");
    assert!(
        run.stderr
            .starts_with("{\"error\":{\"kind\":\"decrypt_failed\"")
    );
    // The vault still works for everything else.
    env.create("AFTER", "after-value", &[]);
}
