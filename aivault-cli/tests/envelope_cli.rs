//! The `--request` envelope's top-level fields, run as real `aivault` processes against a
//! loopback HTTPS server standing in for `api.openai.com`: every refused envelope sends nothing.

mod common;

use aivault_testkit::{Pki, Upstream, echo_handler};
use common::{Env, canary};

/// A vault whose runs route api.openai.com to a loopback HTTPS server that echoes requests.
fn openai_env() -> (Env, Upstream) {
    let pki = Pki::new(&["api.openai.com"]);
    let upstream = Upstream::https(&pki, echo_handler());
    let mut env = Env::new();
    env.route_to(&["api.openai.com"], &upstream, &pki);
    (env, upstream)
}

#[test]
fn refused_envelopes_send_nothing_upstream() {
    let (env, upstream) = openai_env();
    let key = canary("openai");
    env.run(&[
        "secrets",
        "create",
        "--name",
        "OPENAI_API_KEY",
        "--value",
        &key,
        "--scope",
        "global",
    ])
    .ok();
    for (envelope, kind) in [
        (
            r#"{"capability":"openai/other","request":{"path":"/v1/models"}}"#,
            "invalid_input",
        ),
        (
            r#"{"capability":"OPENAI/MODELS","request":{"path":"/v1/models"}}"#,
            "invalid_input",
        ),
        (
            r#"{"extra":1,"request":{"path":"/v1/models"}}"#,
            "invalid_input",
        ),
        (
            r#"{"credential":null,"request":{"path":"/v1/models"}}"#,
            "invalid_input",
        ),
        (r#"{"request":[1]}"#, "invalid_input"),
        // A repeated key is refused, never "last one wins".
        (
            r#"{"capability":"openai/models","capability":"openai/other","request":{}}"#,
            "invalid_input",
        ),
        (
            r#"{"request":{"path":"/v1/models"},"request":{"path":"/v1/models/x"}}"#,
            "invalid_input",
        ),
        (
            r#"{"credential":"openai","credential":"c-nope","path":"/v1/models"}"#,
            "invalid_input",
        ),
        (
            r#"{"path":"/v1/models","path":"/v1/models/x"}"#,
            "invalid_input",
        ),
        (
            r#"{"path":"/v1/models","headers":{"x-a":"1","x-a":"2"}}"#,
            "invalid_input",
        ),
        (
            r#"{"credential":"c-nope","request":{"path":"/v1/models"}}"#,
            "credential_not_found",
        ),
        (
            r#"{"credential":"c-nope","path":"/v1/models"}"#,
            "credential_not_found",
        ),
    ] {
        let run = env.run(&["json", "openai/models", "--request", envelope]);
        assert_ne!(run.code, 0, "{envelope}");
        assert!(run.stderr.contains(kind), "{envelope}: {}", run.stderr);
        assert!(!run.stderr.contains(&key) && !run.stdout.contains(&key));
    }
    assert_eq!(upstream.requests().len(), 0, "nothing sent");
}

/// The envelope's `credential` acts exactly as `--credential`: it picks that credential's
/// secret, agrees with an equal flag, conflicts with a different one (nothing sent), and a
/// credential outside the caller's context fails as the flag does.
#[test]
fn envelope_credential_selects_exactly_as_the_flag() {
    let (env, upstream) = openai_env();
    let default_key = canary("default");
    let work_key = canary("work");
    let team_key = canary("team");
    env.create("OPENAI_API_KEY", &default_key, &[]);
    let work = env.create("WORK_OPENAI", &work_key, &[]);
    let team = env.create(
        "TEAM_OPENAI",
        &team_key,
        &["--scope", "workspace", "--workspace-id", "team"],
    );
    for (id, secret, extra) in [
        ("c-work", &work, vec![]),
        ("c-team", &team, vec!["--workspace-id", "team"]),
    ] {
        let reference = format!("vault:secret:{secret}");
        let mut args = vec![
            "credential",
            "create",
            id,
            "--provider",
            "openai",
            "--secret-ref",
            &reference,
        ];
        args.extend(extra);
        env.run(&args).ok();
    }

    let sent_key = |args: &[&str]| -> String {
        let before = upstream.requests().len();
        let mut full = vec!["json", "openai/models"];
        full.extend_from_slice(args);
        let run = env.run(&full).ok();
        assert!(!run.stdout.contains(&work_key) && !run.stdout.contains(&default_key));
        let received = upstream.requests();
        assert_eq!(received.len(), before + 1);
        received[before]
            .header("authorization")
            .expect("authorization")
            .trim_start_matches("Bearer ")
            .to_string()
    };
    let work_envelope = r#"{"credential":"c-work","request":{"path":"/v1/models"}}"#;
    assert_eq!(sent_key(&["--request", work_envelope]), work_key);
    assert_eq!(
        sent_key(&[
            "--request",
            r#"{"credential":"c-work","path":"/v1/models"}"#
        ]),
        work_key
    );
    assert_eq!(
        sent_key(&["--request", work_envelope, "--credential", "c-work"]),
        work_key
    );
    assert_eq!(
        sent_key(&[
            "--request",
            r#"{"capability":"openai/models","credential":"openai","request":{"path":"/v1/models"}}"#
        ]),
        default_key
    );

    let before = upstream.requests().len();
    // Two global credentials enable the capability: without a choice it is ambiguous.
    env.run(&[
        "json",
        "openai/models",
        "--request",
        r#"{"path":"/v1/models"}"#,
    ])
    .fails(10, "credential_ambiguous");
    let run = env.run(&[
        "json",
        "openai/models",
        "--request",
        work_envelope,
        "--credential",
        "openai",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("error[invalid_input]"),
        "{}",
        run.stderr
    );
    // Outside its workspace, the envelope fails exactly as the flag does.
    let team_envelope = r#"{"credential":"c-team","request":{"path":"/v1/models"}}"#;
    let by_flag = env.run(&["json", "openai/models", "--credential", "c-team"]);
    let by_envelope = env.run(&["json", "openai/models", "--request", team_envelope]);
    assert_ne!(by_flag.code, 0);
    assert_eq!(by_envelope.code, by_flag.code, "{}", by_envelope.stderr);
    assert_eq!(by_envelope.stderr, by_flag.stderr);
    assert_eq!(upstream.requests().len(), before, "nothing sent");
    // Inside it, both pick the team key.
    assert_eq!(
        sent_key(&["--request", team_envelope, "--workspace-id", "team"]),
        team_key
    );
}

/// Through the binary: `--body-file-path`, `--multipart-file` and `--request-file` naming the
/// vault's key file, its database or `/proc/self/environ` (where `AIVAULT_KEY` would be) are
/// refused with `policy_violation` (exit 7) and nothing is sent; neither output holds the key.
#[test]
fn caller_files_never_read_the_vaults_own_files() {
    let (env, upstream) = openai_env();
    env.create("OPENAI_API_KEY", &canary("openai"), &[]);
    let key_file = env.dir.join("kek.key");
    let key_text = std::fs::read_to_string(&key_file).expect("key file");
    let key_line = key_text.lines().last().expect("key line").to_string();
    let db = env.dir.join("vault.db");
    for path in [
        &key_file,
        &db,
        &std::path::PathBuf::from("/proc/self/environ"),
    ] {
        let path = path.to_str().expect("utf8");
        let multipart = format!("file={path}");
        for args in [
            vec![
                "invoke",
                "openai/files",
                "-X",
                "POST",
                "--body-file-path",
                path,
            ],
            vec![
                "invoke",
                "openai/files",
                "-X",
                "POST",
                "--multipart-file",
                &multipart,
            ],
            vec!["json", "openai/files", "--request-file", path],
        ] {
            let run = env.run(&args).fails(7, "policy_violation");
            assert!(
                run.stderr.contains("never sends the vault's own files"),
                "{}",
                run.stderr
            );
            assert!(!run.stderr.contains(&key_line) && !run.stdout.contains(&key_line));
        }
    }
    assert_eq!(upstream.requests().len(), 0, "nothing sent");
}
