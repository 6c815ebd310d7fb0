//! Canary values stored through every input path never appear in stdout, stderr, errors, the
//! audit log, or the bytes of any file in the vault or runtime directories (raw, hex or
//! base64).

mod common;

use common::{Env, Run, canary, canary_forms, contains, files_under};

#[test]
fn canaries_never_leak() {
    let mut env = Env::new();
    let canaries: Vec<String> = (0..8).map(|i| canary(&format!("c{i}"))).collect();
    let mut runs: Vec<Run> = Vec::new();

    let file = env.root.path().join("value.txt");
    std::fs::write(&file, format!("{}\n", canaries[1])).expect("write");
    let dotenv = env.root.path().join("app.env");
    std::fs::write(
        &dotenv,
        format!(
            "TRELLO_API_KEY={}\nTRELLO_TOKEN=\"{}\"\n",
            canaries[4], canaries[5]
        ),
    )
    .expect("write");

    runs.push(
        env.run(&[
            "secrets",
            "create",
            "--name",
            "OPENAI_API_KEY",
            "--value",
            &canaries[0],
            "--alias",
            "gpt",
        ])
        .ok(),
    );
    let id = runs[0].json()["secretId"].as_str().expect("id").to_string();
    runs.push(
        env.run(&[
            "secrets",
            "create",
            "--name",
            "FROM_FILE",
            "--value-file",
            file.to_str().expect("utf8"),
        ])
        .ok(),
    );
    runs.push(
        env.run_with_stdin(
            &[
                "secrets",
                "create",
                "--name",
                "FROM_STDIN",
                "--value-stdin",
                "--scope",
                "workspace",
                "--workspace-id",
                "w",
            ],
            canaries[2].as_bytes(),
        )
        .ok(),
    );
    runs.push(
        env.run(&["secrets", "rotate", "--id", &id, "--value", &canaries[3]])
            .ok(),
    );
    runs.push(
        env.run(&[
            "secrets",
            "import",
            "--env-file",
            dotenv.to_str().expect("utf8"),
        ])
        .ok(),
    );
    let entry = format!("GITHUB_TOKEN={}", canaries[6]);
    runs.push(env.run(&["secrets", "import", "--entry", &entry]).ok());
    // Failures must not echo values either.
    runs.push(env.run(&[
        "secrets",
        "create",
        "--name",
        "OPENAI_API_KEY",
        "--value",
        &canaries[7],
    ]));
    runs.push(env.run(&["secrets", "import", "--entry", &canaries[7]]));
    // A value given where a flag was expected: clap's usage error must not echo it.
    runs.push(env.run(&["secrets", "create", "--name", "X", &canaries[7]]));
    runs.push(env.run(&[
        "secrets",
        "create",
        "--name",
        "X",
        "--scope",
        &canaries[7],
        "--value",
        "v",
    ]));
    runs.push(env.run(&[
        "secrets",
        "import",
        "--entry",
        &format!("GITHUB_TOKEN={}", canaries[7]),
        "--entry",
        &format!("GITHUB_TOKEN={}", canaries[7]),
    ]));
    runs.push(env.run(&[
        "secrets",
        "create",
        "--name",
        "X",
        "--value",
        &canaries[7],
        "--scope",
        "galaxy",
    ]));
    runs.push(env.run(&[
        "secrets",
        "rotate",
        "--id",
        "0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70",
        "--value",
        &canaries[7],
    ]));
    // Credentials, capabilities, policies and bindings built on those secrets.
    let secret_ref = format!("vault:secret:{id}");
    let custom = format!("vault:secret:{}", env.create("ACME_KEY", &canaries[7], &[]));
    for args in [
        &[
            "credential",
            "create",
            "acme",
            "--provider",
            "acme",
            "--secret-ref",
            custom.as_str(),
            "--auth",
            "header",
            "--header-name",
            "x-key",
            "--value-template",
            "Key {{secret}}",
            "--host",
            "api.acme.example",
        ][..],
        &[
            "capability",
            "create",
            "acme/reports",
            "--credential",
            "acme",
            "--method",
            "GET",
            "--path",
            "/v1/reports",
        ],
        &[
            "capability",
            "policy",
            "set",
            "--capability",
            "acme/reports",
            "--rate-limit-per-minute",
            "5",
        ],
        &[
            "capability",
            "bind",
            "--capability",
            "openai/chat-completions",
            "--secret-ref",
            secret_ref.as_str(),
            "--consumer",
            "agent",
        ],
        &[
            "credential",
            "create",
            "mine",
            "--provider",
            "openai",
            "--secret-ref",
            secret_ref.as_str(),
        ],
        &["capability", "describe", "openai/chat-completions"],
        &["capability", "bindings", "-v"],
        &["credential", "list"],
        &["capability", "list"],
    ] {
        runs.push(env.run(args).ok());
    }
    // Refused: another provider's pinned secret.
    runs.push(env.run(&[
        "credential",
        "create",
        "evil",
        "--provider",
        "acme",
        "--secret-ref",
        &secret_ref,
        "--auth",
        "header",
        "--header-name",
        "x",
        "--value-template",
        "{{secret}}",
        "--host",
        "api.acme.example",
    ]));
    // Every read-only view, plain and verbose.
    for args in [
        &["secrets", "list"][..],
        &["secrets", "list", "-v"],
        &["credential", "list", "-v"],
        &["capability", "list", "-v"],
        &["status", "-v"],
        &["audit", "--limit", "10000"],
        &["audit", "verify", "-v"],
        &["secrets", "verify", "-v"],
    ] {
        runs.push(env.run(args).ok());
    }
    // Rotating the master key and a passphrase-free lifecycle do not leak either.
    runs.push(env.run(&["rotate-master"]).ok());
    runs.push(env.run(&["secrets", "verify"]).ok());
    // A deleted secret's ciphertext is gone from the files too (checked below with the rest).
    let delete_id = env.create("DELETE_ME", &canaries[7], &[]);
    runs.push(env.run(&["secrets", "delete", "--id", &delete_id]).ok());
    env.set("NO_COLOR", "1");

    for (i, run) in runs.iter().enumerate() {
        for value in &canaries {
            for form in canary_forms(value) {
                assert!(
                    !contains(run.stdout.as_bytes(), &form),
                    "run {i} stdout leaked a canary: {}",
                    run.stdout
                );
                assert!(
                    !contains(run.stderr.as_bytes(), &form),
                    "run {i} stderr leaked a canary: {}",
                    run.stderr
                );
            }
        }
    }
    let mut files = files_under(&env.dir);
    files.extend(files_under(&env.runtime));
    assert!(files.iter().any(|(p, _)| p.ends_with("vault.db")));
    for (path, bytes) in &files {
        for value in &canaries {
            for form in canary_forms(value) {
                assert!(
                    !contains(bytes, &form),
                    "{} holds a canary in plaintext",
                    path.display()
                );
            }
        }
    }
}
