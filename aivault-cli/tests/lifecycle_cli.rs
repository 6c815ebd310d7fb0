//! The vault lifecycle through the real binary: status, init with each key provider, unlock,
//! lock, rotate-master, audit, help and completions.

mod common;

use common::Env;

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_HEX: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

#[test]
fn status_never_creates_a_vault() {
    let env = Env::new();
    let run = env.run(&["status"]).ok();
    assert!(run.stdout.starts_with("Vault\n  Status: not initialized\n"));
    assert!(!env.dir.exists(), "status must not create anything");
    let json = env.run(&["status", "-v"]).ok().json();
    assert_eq!(json["status"]["initialized"], false);
    assert!(!env.dir.exists());
}

#[test]
fn first_secrets_command_creates_a_file_vault() {
    let env = Env::new();
    env.create("A", "b", &[]);
    let status = env.run(&["status", "-v"]).ok().json();
    assert_eq!(status["status"]["initialized"], true);
    assert_eq!(status["status"]["locked"], false);
    assert_eq!(status["status"]["providerType"], "file");
    assert_eq!(status["status"]["kekId"].as_str().expect("kekId").len(), 32);
    assert_eq!(
        status["paths"]["keyFile"],
        env.dir.join("kek.key").display().to_string()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&env.dir), 0o700);
    assert_eq!(mode(&env.dir.join("vault.db")), 0o600);
    assert_eq!(mode(&env.dir.join("kek.key")), 0o600);
    let human = env.run(&["status"]).ok();
    assert!(
        human
            .stdout
            .contains("  Status: unlocked\n  Provider: Key file\n")
    );
    env.run(&["init", "--provider", "file"])
        .fails(4, "already_exists");
}

#[test]
fn init_provider_is_exactly_the_one_asked_for() {
    let mut env = Env::new();
    env.run(&["init", "--provider", "env"])
        .fails(5, "vault_locked");
    env.set("AIVAULT_KEY", "not-a-key");
    env.run(&["init", "--provider", "env"])
        .fails(2, "invalid_input");
    env.run(&["init", "--provider", "file", "--env-var", "X"])
        .fails(2, "invalid_input");
    let run = env.run(&["init", "--provider", "env", "--file-path", "k.key"]);
    let run = run.fails(2, "invalid_input");
    assert!(
        run.stderr
            .contains("a key file path applies to the file key provider only")
    );
    let run = env.run(&["init", "--provider", "file", "--passphrase", "p"]);
    let run = run.fails(2, "invalid_input");
    assert!(
        run.stderr
            .contains("a passphrase applies to the passphrase key provider only")
    );
    let status = env.run(&["status", "-v"]).ok().json();
    assert_eq!(
        status["status"]["initialized"], false,
        "a rejected init created a vault"
    );
    env.set("AIVAULT_KEY", KEY_B64);
    let run = env.run(&["init", "--provider", "env"]).ok();
    assert_eq!(run.stderr, "Vault initialized (provider: env)\n");
    assert!(run.stdout.contains("Provider: Environment variable"));
    let status = env.run(&["status", "-v"]).ok().json();
    assert_eq!(status["status"]["providerType"], "env");
    assert_eq!(status["paths"]["keyEnvVar"], "AIVAULT_KEY");
    assert!(!env.dir.join("kek.key").exists());
}

#[test]
fn env_provider_missing_or_wrong_key_writes_nothing() {
    let mut env = Env::new();
    env.set("AIVAULT_KEY", KEY_B64);
    env.run(&["init", "--provider", "env"]).ok();
    env.create("FIRST", "one", &[]);
    let before = env.snapshot();

    env.unset("AIVAULT_KEY");
    let run = env
        .run(&["secrets", "create", "--name", "SECOND", "--value", "two"])
        .fails(5, "vault_locked");
    assert!(run.stderr.contains("AIVAULT_KEY is not set"));
    env.set("AIVAULT_KEY", KEY_HEX);
    let run = env
        .run(&["secrets", "create", "--name", "SECOND", "--value", "two"])
        .fails(6, "decrypt_failed");
    assert!(!run.stderr.contains(KEY_HEX) && !run.stderr.contains(KEY_B64));
    env.run(&[
        "secrets",
        "rotate",
        "--id",
        before.0[0]["secretId"].as_str().expect("id"),
        "--value",
        "x",
    ])
    .fails(6, "decrypt_failed");
    env.run(&["audit", "verify"]).fails(6, "decrypt_failed");
    let status = env.run(&["status", "-v"]).ok().json();
    assert_eq!(status["status"]["locked"], true);

    env.set("AIVAULT_KEY", KEY_B64);
    assert_eq!(
        env.snapshot(),
        before,
        "nothing was written with a missing or wrong key"
    );
    env.assert_intact();
}

#[test]
fn env_provider_custom_variable_and_rotation() {
    let mut env = Env::new();
    env.set("MY_VAULT_KEY", KEY_B64);
    env.run(&["init", "--provider", "env", "--env-var", "MY_VAULT_KEY"])
        .ok();
    env.create("S", "v", &[]);
    env.run(&["rotate-master"]).fails(2, "invalid_input");
    let run = env.run(&["rotate-master", "--new-key", KEY_HEX]).ok();
    assert!(
        run.stderr
            .contains("Set the vault's key variable to the new key")
    );
    env.run(&["secrets", "verify"]).fails(6, "decrypt_failed");
    env.set("MY_VAULT_KEY", KEY_HEX);
    env.assert_intact();
}

#[test]
fn passphrase_vault_lock_unlock_and_rotation() {
    let mut env = Env::new();
    env.run(&["init", "--provider", "passphrase"])
        .fails(2, "invalid_input");
    env.run_with_stdin(
        &["init", "--provider", "passphrase", "--passphrase-stdin"],
        b"correct horse\n",
    )
    .ok();
    env.create("S", "v", &[]);
    let status = env.run(&["status", "-v"]).ok().json();
    assert_eq!(status["status"]["providerType"], "passphrase");
    assert_eq!(status["status"]["locked"], false);

    let run = env.run(&["lock"]).ok();
    assert_eq!(run.stderr, "Vault locked\n");
    assert!(run.stdout.contains("Status: locked"));
    let before = env.snapshot();
    env.run(&["secrets", "create", "--name", "T", "--value", "v"])
        .fails(5, "vault_locked");
    env.run_with_stdin(&["unlock", "--passphrase-stdin"], b"wrong\n")
        .fails(6, "decrypt_failed");
    assert_eq!(env.snapshot(), before);

    // AIVAULT_PASSPHRASE works for one process without a session.
    env.set("AIVAULT_PASSPHRASE", "correct horse");
    env.create("T", "v", &[]);
    env.unset("AIVAULT_PASSPHRASE");
    env.run(&["secrets", "create", "--name", "U", "--value", "v"])
        .fails(5, "vault_locked");

    env.run(&["unlock", "--passphrase", "correct horse"]).ok();
    env.create("U", "v", &[]);
    env.run_with_stdin(
        &["rotate-master", "--new-passphrase-stdin"],
        b"battery staple\n",
    )
    .ok();
    env.assert_intact();
    env.run(&["lock"]).ok();
    env.run_with_stdin(&["unlock", "--passphrase-stdin"], b"correct horse\n")
        .fails(6, "decrypt_failed");
    env.run_with_stdin(&["unlock", "--passphrase-stdin"], b"battery staple\n")
        .ok();
    env.assert_intact();
    let kinds = env.audit_kinds(&["--limit", "1000"]);
    for kind in [
        "vault.init",
        "vault.lock",
        "vault.unlock",
        "vault.rotate_master_key",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "missing {kind}");
    }
}

#[test]
fn file_rotation_replaces_the_key_file() {
    let env = Env::new();
    for i in 0..5 {
        env.create(&format!("S{i}"), "v", &[]);
    }
    let old = std::fs::read(env.dir.join("kek.key")).expect("key");
    env.run(&["rotate-master"]).ok();
    let new = std::fs::read(env.dir.join("kek.key")).expect("key");
    assert_ne!(old, new);
    env.run(&["rotate-master", "--new-key", KEY_B64]).ok();
    assert_eq!(
        std::fs::read_to_string(env.dir.join("kek.key"))
            .expect("key")
            .lines()
            .last(),
        Some(KEY_B64)
    );
    env.run(&["rotate-master", "--new-key", KEY_B64])
        .fails(2, "invalid_input");
    env.assert_intact();
    // A new passphrase turns it into a passphrase vault (unlocked by the rotation's session).
    let run = env
        .run_with_stdin(
            &["rotate-master", "--new-passphrase-stdin"],
            b"new pass phrase\n",
        )
        .ok();
    assert!(
        run.stderr
            .contains("now uses a passphrase instead of the file provider"),
        "{}",
        run.stderr
    );
    let status = env.run(&["status", "-v"]).ok().json();
    assert_eq!(status["status"]["providerType"], "passphrase");
    assert_eq!(env.secret_names().len(), 5);
    env.run(&["lock"]).ok();
    env.run(&["secrets", "create", "--name", "X", "--value", "v"])
        .fails(5, "vault_locked");
    env.run_with_stdin(&["unlock", "--passphrase-stdin"], b"new pass phrase\n")
        .ok();
    assert_eq!(env.secret_names().len(), 5);
}

#[test]
fn audit_lists_newest_first_with_filters() {
    let env = Env::new();
    let id = env.create("A", "v", &[]);
    env.create("B", "v", &[]);
    env.run(&["secrets", "rotate", "--id", &id, "--value", "w"])
        .ok();
    let all = env.run(&["audit"]).ok().json();
    let events = all.as_array().expect("events");
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    assert_eq!(events[0]["kind"], "secret.rotate");
    assert_eq!(
        env.run(&["audit", "--limit", "2"])
            .ok()
            .json()
            .as_array()
            .expect("events")
            .len(),
        2
    );
    let only = env.run(&["audit", "--kind", "secret.create"]).ok().json();
    assert_eq!(only.as_array().expect("events").len(), 2);
    let by_secret = env.run(&["audit", "--secret-id", &id]).ok().json();
    assert_eq!(by_secret.as_array().expect("events").len(), 2);
    let first_ts = events.last().expect("init")["tsMs"].as_i64().expect("ts");
    let before = env
        .run(&["audit", "--before-ts-ms", &first_ts.to_string()])
        .ok()
        .json();
    assert_eq!(before, serde_json::json!([]));
    let verified = env.run(&["audit", "verify"]).ok();
    assert_eq!(
        verified.stdout,
        format!("Audit log intact: {} events verified\n", events.len())
    );
}

#[test]
fn audit_verify_detects_tampering() {
    let env = Env::new();
    for i in 0..4 {
        env.create(&format!("S{i}"), "v", &[]);
    }
    env.run(&["audit", "verify"]).ok();
    let db = env.dir.join("vault.db");
    let sql = "UPDATE audit_events SET note = 'name=FORGED' WHERE seq = 3";
    let script = format!(
        "import sqlite3; c = sqlite3.connect({:?}); c.execute({sql:?}); c.commit()",
        db.display().to_string()
    );
    assert!(
        std::process::Command::new("python3")
            .args(["-c", &script])
            .status()
            .expect("python3")
            .success()
    );
    let run = env.run(&["audit", "verify", "-v"]);
    assert_eq!(run.code, 14, "{}", run.stderr);
    assert_eq!(run.json()["ok"], false);
    assert_eq!(run.json()["firstBadSeq"], 3);
    let human = env.run(&["audit", "verify"]).fails(14, "integrity_failed");
    assert!(human.stderr.contains("event 3"));
}

#[test]
fn help_has_an_example_for_every_command() {
    let env = Env::new();
    let top = env.run(&["--help"]).ok();
    assert!(top.stdout.contains("Exit codes:"));
    let commands: &[&[&str]] = &[
        &["status"],
        &["init"],
        &["unlock"],
        &["lock"],
        &["rotate-master"],
        &["audit"],
        &["audit", "verify"],
        &["completions"],
        &["secrets", "list"],
        &["secrets", "create"],
        &["secrets", "update"],
        &["secrets", "rotate"],
        &["secrets", "delete"],
        &["secrets", "attach-group"],
        &["secrets", "detach-group"],
        &["secrets", "import"],
        &["secrets", "verify"],
        &["credential", "list"],
        &["capability", "list"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let run = env.run(&args).ok();
        assert!(
            run.stdout.contains("Example"),
            "{command:?} --help has no example:\n{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains(&format!("aivault {}", command.join(" "))),
            "{command:?}"
        );
    }
}

#[test]
fn completions_for_each_shell() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = env.run(&["completions", shell]).ok();
        assert!(run.stdout.contains("secrets"), "{shell}");
        assert!(run.stdout.contains("rotate-master"), "{shell}");
    }
    env.run(&["completions", "tcsh"]).fails(2, "invalid_input");
}

/// A command's arguments are built only when it is named (src/deferred.rs): help and the
/// completion scripts must still see every command, subcommand and option, and a command's
/// help keeps its own summary line.
#[test]
fn help_and_completions_see_every_deferred_command() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = env.run(&["completions", shell]).ok();
        // An option two levels down (`secrets create --value-stdin`).
        assert!(run.stdout.contains("value-stdin"), "{shell}");
    }
    // bash lists `aivault help <command> <subcommand>` too.
    let bash = env.run(&["completions", "bash"]).ok().stdout;
    for path in [
        "help__subcmd__audit__subcmd__verify",
        "help__subcmd__capability__subcmd__bind",
        "help__subcmd__secrets__subcmd__create",
    ] {
        assert!(bash.contains(path), "bash completion lacks {path}");
    }
    for (command, summary) in [
        (
            "invoke",
            "Invoke a capability: the broker injects the credential",
        ),
        ("init", "Create the vault with a chosen key provider"),
        ("secrets", "Store and manage secrets"),
    ] {
        let run = env.run(&[command, "--help"]).ok();
        assert!(
            run.stdout.starts_with(summary),
            "{command}:\n{}",
            run.stdout
        );
    }
    let run = env.run(&["help", "secrets", "create"]).ok();
    assert!(run.stdout.contains("--value-stdin"), "{}", run.stdout);
}

#[test]
fn no_colour_unless_a_terminal() {
    let mut env = Env::new();
    env.unset("NO_COLOR");
    env.create("A", "b", &[]);
    for args in [
        &["status"][..],
        &["secrets", "list"],
        &["capability", "list"],
    ] {
        let run = env.run(args).ok();
        assert!(
            !run.stdout.contains('\x1b'),
            "{args:?} printed colour to a pipe"
        );
    }
    let run = env.run(&[
        "secrets",
        "delete",
        "--id",
        "0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70",
    ]);
    assert!(!run.stderr.contains('\x1b'));
}

/// Runs `aivault status` on a pseudo-terminal (util-linux `script`) and returns what it printed.
fn status_on_a_terminal(env: &Env, no_color: bool) -> String {
    let command = format!("{} status", common::bin());
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"]);
    cmd.env_remove("NO_COLOR");
    for (name, value) in &env.vars {
        if name != "NO_COLOR" {
            cmd.env(name, value);
        }
    }
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let output = cmd.output().expect("util-linux script");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    let env = Env::new();
    env.create("A", "b", &[]);
    let coloured = status_on_a_terminal(&env, false);
    assert!(coloured.contains("\x1b[32munlocked\x1b[0m"), "{coloured:?}");
    let plain = status_on_a_terminal(&env, true);
    assert!(plain.contains("Status: unlocked"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
}

/// The original aivault tool's key at the shared default path (`~/.aivault/keys/kek.key`,
/// base64 without aivault's header) is never adopted by a first command nor touched by
/// rotation; named with `--file-path` it is used, and rotation moves the vault off it.
#[test]
fn the_original_tools_default_key_file_is_left_alone() {
    let mut env = Env::new();
    env.unset("AIVAULT_DIR");
    let home = env.root.path().join("home");
    env.set("HOME", &home.display().to_string());
    let keys = home.join(".aivault").join("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    let theirs = keys.join("kek.key");
    std::fs::write(&theirs, KEY_B64).expect("their key");
    // The other tool keeps its key private (0600): only such a file is ever adopted.
    std::fs::set_permissions(&theirs, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");

    let run = env
        .run(&["secrets", "create", "--name", "S", "--value", "v"])
        .fails(4, "already_exists");
    assert!(
        run.stderr.contains(&theirs.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(KEY_B64));
    assert_eq!(std::fs::read_to_string(&theirs).expect("read"), KEY_B64);

    env.run(&[
        "init",
        "--provider",
        "file",
        "--file-path",
        &theirs.display().to_string(),
    ])
    .ok();
    env.run(&["secrets", "create", "--name", "S", "--value", "v"])
        .ok();
    env.run(&["rotate-master"]).ok();
    assert_eq!(std::fs::read_to_string(&theirs).expect("read"), KEY_B64);
    let status = env.run(&["status", "-v"]).ok().json();
    let key_file = status["paths"]["keyFile"]
        .as_str()
        .expect("keyFile")
        .to_string();
    assert!(
        key_file.starts_with(&keys.display().to_string()),
        "{key_file}"
    );
    assert!(key_file.ends_with(".key") && key_file != theirs.display().to_string());
    assert!(
        std::fs::read_to_string(&key_file)
            .expect("own key")
            .starts_with("aivault-key v1 ")
    );
    assert_eq!(env.secret_names(), ["S"]);
}
