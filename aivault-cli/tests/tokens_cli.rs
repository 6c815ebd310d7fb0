//! `aivault token create | list | revoke` through the real binary: the token is printed once
//! on stdout (and nowhere else: not in the listing, the audit log or any file), bad arguments
//! are clear errors that store nothing, and revocation is immediate.

mod common;

use common::{Env, contains, files_under};

#[test]
fn a_token_is_printed_once_and_never_again() {
    let env = Env::new();
    let run = env
        .run(&[
            "token",
            "create",
            "--name",
            "research-agent",
            "--capability",
            "openai/chat-completions",
            "--capability",
            "anthropic/*",
            "--ttl",
            "7d",
        ])
        .ok();
    let token = run.stdout.trim().to_string();
    assert!(
        token.starts_with("avt_") && token.len() == 47,
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("Token created: research-agent"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("expires 20"), "{}", run.stderr);
    assert!(!run.stderr.contains(&token));

    let list = env.run(&["token", "list"]).ok();
    assert!(list.stdout.contains("research-agent") && list.stdout.contains("[active]"));
    let verbose = env.run(&["token", "list", "-v"]).ok().json();
    let tokens = verbose["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["capabilities"][1], "anthropic/*");
    assert!(tokens[0]["expiresAtMs"].as_i64().is_some());
    let audit = env.run(&["audit", "-v"]).ok();
    for output in [
        &list.stdout,
        &verbose.to_string(),
        &audit.stdout,
        &audit.stderr,
    ] {
        assert!(!output.contains(&token));
    }
    for (path, bytes) in files_under(&env.dir) {
        assert!(
            !contains(&bytes, token.as_bytes()),
            "token in {}",
            path.display()
        );
    }

    let revoke = env.run(&["token", "revoke", "research-agent"]).ok();
    assert!(
        revoke.stderr.contains("Token revoked: research-agent"),
        "{}",
        revoke.stderr
    );
    let list = env.run(&["token", "list", "-v"]).ok().json();
    assert_eq!(list["tokens"][0]["state"], "revoked");
    env.run(&["token", "revoke", "nobody"])
        .fails(3, "not_found");
}

#[test]
fn bad_token_arguments_are_clear_errors_that_store_nothing() {
    let env = Env::new();
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["--name", "a b", "--capability", "openai/*"],
            2,
            "invalid_input",
        ),
        (
            &[
                "--name",
                "x",
                "--capability",
                "openai/*",
                "--ttl",
                "forever",
            ],
            2,
            "invalid_input",
        ),
        (
            &["--name", "x", "--capability", "openai/*", "--ttl", "400d"],
            2,
            "invalid_input",
        ),
        (
            &["--name", "x", "--capability", "acme/none"],
            8,
            "capability_not_found",
        ),
        (
            &[
                "--name",
                "x",
                "--capability",
                "openai/*",
                "--consumer",
                "a b",
            ],
            2,
            "invalid_input",
        ),
    ];
    for (args, code, kind) in cases {
        let mut full = vec!["token", "create"];
        full.extend_from_slice(args);
        let run = env.run(&full).fails(code, kind);
        assert!(run.stdout.is_empty(), "{args:?} printed {}", run.stdout);
    }
    // Usage errors (clap): a capability is required; a group needs its workspace.
    let run = env.run(&["token", "create", "--name", "x"]);
    assert_eq!(run.code, 2);
    let run = env.run(&[
        "token",
        "create",
        "--name",
        "x",
        "--capability",
        "openai/*",
        "--group-id",
        "g",
    ]);
    assert_eq!(run.code, 2);
    env.run(&[
        "token",
        "create",
        "--name",
        "dup",
        "--capability",
        "openai/*",
    ])
    .ok();
    env.run(&[
        "token",
        "create",
        "--name",
        "dup",
        "--capability",
        "openai/*",
    ])
    .fails(4, "already_exists");
    let list = env.run(&["token", "list", "-v"]).ok().json();
    assert_eq!(list["tokens"].as_array().map(Vec::len), Some(1));
}
