//! Every command line of the "Credentials" and "Capabilities" sections of the product brief
//! (`cli.md`), run unchanged against the real binary, and the bad input each must survive:
//! a non-zero exit, one clear error line, and nothing persisted.

mod common;

use common::{Env, Run, canary};
use serde_json::Value;

/// Everything a failed command must leave untouched.
fn state(env: &Env) -> (Value, Value, Value, Value, Value) {
    let (secrets, credentials, counts) = env.snapshot();
    (
        secrets,
        credentials,
        counts,
        env.run(&["capability", "list", "-v"]).ok().json(),
        env.run(&["capability", "bindings", "-v"]).ok().json(),
    )
}

/// Runs a command that must fail with `code`/`kind` and a message containing `needle`, and
/// checks it persisted nothing.
fn refused(env: &Env, args: &[&str], code: i32, kind: &str, needle: &str) -> Run {
    let before = state(env);
    let run = env.run(args).fails(code, kind);
    assert!(
        run.stderr.contains(needle),
        "{args:?}: expected {needle:?} in:\n{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{args:?} printed:\n{}", run.stdout);
    assert_eq!(state(env), before, "{args:?} changed the vault");
    run
}

fn secret_ref(env: &Env, name: &str, value: &str) -> String {
    format!("vault:secret:{}", env.create(name, value, &[]))
}

fn credential_ids(env: &Env) -> Vec<String> {
    env.run(&["credential", "list", "-v"]).ok().json()["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

fn ready_ids(env: &Env) -> Vec<String> {
    env.run(&["capability", "list", "-v"]).ok().json()["capabilities"]
        .as_array()
        .expect("ready")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn credential_create_runs_every_auth_strategy_of_the_brief() {
    let env = Env::new();
    let value = canary("cred");
    let one = secret_ref(&env, "ACME_KEY", &value);
    let two = secret_ref(&env, "ACME_OTHER", &value);
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "h",
            vec![
                "--auth",
                "header",
                "--header-name",
                "X-Api-Key",
                "--value-template",
                "{{secret}}",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "header",
        ),
        (
            "q",
            vec![
                "--auth".into(),
                "query".into(),
                "--query-param".into(),
                "api_key".into(),
            ],
            "query",
        ),
        (
            "p",
            vec![
                "--auth".into(),
                "path".into(),
                "--path-prefix-template".into(),
                "/bot{{secret}}".into(),
            ],
            "path",
        ),
        (
            "mh",
            vec![
                "--auth".into(),
                "multi-header".into(),
                "--auth-header".into(),
                "x-key=Key {{secret}}".into(),
                "--auth-header".into(),
                "x-id=acct-1".into(),
            ],
            "multi-header",
        ),
        (
            "mq",
            vec![
                "--auth".into(),
                "multi-query".into(),
                "--query-param".into(),
                "key={{secret}}".into(),
                "--query-param".into(),
                "v=2".into(),
            ],
            "multi-query",
        ),
        (
            "o",
            vec![
                "--auth".into(),
                "oauth2".into(),
                "--grant-type".into(),
                "client_credentials".into(),
                "--token-endpoint".into(),
                "https://api.acme.example/oauth/token".into(),
                "--scope".into(),
                "read".into(),
                "--scope".into(),
                "write".into(),
            ],
            "oauth2",
        ),
        (
            "hm",
            vec![
                "--auth".into(),
                "hmac".into(),
                "--header-name".into(),
                "x-signature".into(),
                "--value-template".into(),
                "sha256={{signature}}".into(),
            ],
            "hmac",
        ),
    ];
    for (id, flags, kind) in &cases {
        let mut args = vec![
            "credential",
            "create",
            id,
            "--provider",
            "acme",
            "--secret-ref",
            &one,
            "--host",
            "api.acme.example",
        ];
        args.extend(flags.iter().map(String::as_str));
        let run = env.run(&args).ok();
        let credential = run.json();
        assert_eq!(credential["id"], *id);
        assert_eq!(credential["auth"]["kind"], *kind, "{id}");
        assert_eq!(credential["hosts"], serde_json::json!(["api.acme.example"]));
        assert_eq!(credential["secrets"][0]["secretRef"], one.as_str());
        assert!(run.stderr.starts_with(&format!("Credential created: {id}")));
        assert!(!run.stdout.contains(&value) && !run.stderr.contains(&value));
    }
    // Strategies with several secrets name each role.
    let basic = env
        .run(&[
            "credential",
            "create",
            "b",
            "--provider",
            "acme",
            "--auth",
            "basic",
            "--secret-ref",
            &format!("username={one}"),
            "--secret-ref",
            &format!("password={two}"),
            "--host",
            "api.acme.example",
        ])
        .ok()
        .json();
    assert_eq!(basic["secrets"].as_array().expect("links").len(), 2);
    let aws = env
        .run(&[
            "credential",
            "create",
            "aws",
            "--provider",
            "acme",
            "--auth",
            "aws-sigv4",
            "--aws-service",
            "s3",
            "--aws-region",
            "eu-west-1",
            "--secret-ref",
            &format!("access_key_id={one}"),
            "--secret-ref",
            &format!("secret_access_key={two}"),
            "--host",
            "s3.eu-west-1.amazonaws.com",
        ])
        .ok()
        .json();
    assert_eq!(aws["auth"]["region"], "eu-west-1");
    env.run(&[
        "credential",
        "create",
        "tls",
        "--provider",
        "acme",
        "--auth",
        "mtls",
        "--secret-ref",
        &format!("certificate={one}"),
        "--secret-ref",
        &format!("private_key={two}"),
        "--host",
        "api.acme.example",
    ])
    .ok();
    // Scoped: workspace, and group of the workspace.
    let ws = env
        .run(&[
            "credential",
            "create",
            "acme-ws",
            "--provider",
            "acme",
            "--secret-ref",
            &one,
            "--auth",
            "header",
            "--header-name",
            "authorization",
            "--value-template",
            "Bearer {{secret}}",
            "--host",
            "api.acme.example",
            "--workspace-id",
            "my-workspace",
        ])
        .ok()
        .json();
    assert_eq!(
        ws["scope"],
        serde_json::json!({"workspace": {"workspace_id": "my-workspace"}})
    );
    let group = env
        .run(&[
            "credential",
            "create",
            "acme-g",
            "--provider",
            "acme",
            "--secret-ref",
            &one,
            "--auth",
            "header",
            "--header-name",
            "authorization",
            "--value-template",
            "Bearer {{secret}}",
            "--host",
            "api.acme.example",
            "--workspace-id",
            "my-workspace",
            "--group-id",
            "my-group",
        ])
        .ok()
        .json();
    assert_eq!(group["scope"]["group"]["group_id"], "my-group");

    let listing = env.run(&["credential", "list"]).ok();
    assert!(listing.stdout.starts_with("Credentials\n"));
    assert!(listing.stdout.contains("      Auth: aws-sigv4\n"));
    assert!(
        listing
            .stdout
            .contains("      Scope: group:my-workspace:my-group\n")
    );
    assert!(
        listing.stdout.contains("12 credentials\n"),
        "{}",
        listing.stdout
    );
    for dump in [
        &listing.stdout,
        &env.run(&["credential", "list", "-v"]).ok().stdout,
    ] {
        assert!(!dump.contains(&value));
    }
    assert_eq!(env.audit_kinds(&["--kind", "credential.create"]).len(), 12);
    env.assert_intact();
}

#[test]
fn registry_credentials_default_from_the_registry_and_stay_within_its_hosts() {
    let env = Env::new();
    let token = secret_ref(&env, "SHOPIFY_ACCESS_TOKEN", "shpat-x-token");
    let run = env
        .run(&[
            "credential",
            "create",
            "my-store",
            "--provider",
            "shopify",
            "--secret-ref",
            &token,
            "--host",
            "my-store.myshopify.com",
        ])
        .ok();
    let credential = run.json();
    assert_eq!(credential["auth"]["kind"], "header");
    assert_eq!(credential["auth"]["header_name"], "x-shopify-access-token");
    assert_eq!(
        credential["hosts"],
        serde_json::json!(["my-store.myshopify.com"])
    );
    assert_eq!(
        credential["capabilities"],
        serde_json::json!(["shopify/admin"])
    );
    assert_eq!(
        run.stderr,
        "Credential created: my-store (1 capability enabled)\n"
    );

    // A custom-named key for a registry provider takes the registry's auth and hosts.
    let mine = secret_ref(&env, "MY_OPENAI_KEY", "sk-mine");
    let openai = env
        .run(&[
            "credential",
            "create",
            "team-openai",
            "--provider",
            "openai",
            "--secret-ref",
            &mine,
        ])
        .ok()
        .json();
    assert_eq!(openai["hosts"], serde_json::json!(["api.openai.com"]));
    assert_eq!(openai["capabilities"].as_array().expect("caps").len(), 17);

    refused(
        &env,
        &[
            "credential",
            "create",
            "evil",
            "--provider",
            "shopify",
            "--secret-ref",
            &token,
            "--host",
            "evil.example.com",
        ],
        7,
        "policy_violation",
        "not one of shopify's hosts",
    );
    refused(
        &env,
        &[
            "credential",
            "create",
            "evil",
            "--provider",
            "openai",
            "--secret-ref",
            &token,
        ],
        7,
        "policy_violation",
        "pinned to provider 'shopify'",
    );
    refused(
        &env,
        &[
            "credential",
            "create",
            "openai",
            "--provider",
            "openai",
            "--secret-ref",
            &mine,
        ],
        2,
        "invalid_input",
        "reserved",
    );
    refused(
        &env,
        &[
            "credential",
            "create",
            "my-store",
            "--provider",
            "shopify",
            "--secret-ref",
            &token,
            "--host",
            "b.myshopify.com",
        ],
        4,
        "already_exists",
        "credential 'my-store' already exists",
    );
}

#[test]
fn custom_credentials_refuse_bad_hosts_refs_and_scopes_and_persist_nothing() {
    let env = Env::new();
    let key = secret_ref(&env, "ACME_KEY", &canary("bad"));
    let ws_key = format!(
        "vault:secret:{}",
        env.create(
            "WS_KEY",
            "v",
            &["--scope", "workspace", "--workspace-id", "w1"]
        )
    );
    let header = [
        "--auth",
        "header",
        "--header-name",
        "x-key",
        "--value-template",
        "{{secret}}",
    ];
    let with = |extra: &[&'static str], reference: &str, host: &str| -> Vec<String> {
        let mut args: Vec<String> = [
            "credential",
            "create",
            "acme",
            "--provider",
            "acme",
            "--secret-ref",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(reference.to_string());
        args.extend(header.iter().map(|s| s.to_string()));
        if !host.is_empty() {
            args.extend(["--host".to_string(), host.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let cases: Vec<(Vec<String>, i32, &str, &str)> = vec![
        (
            with(&[], &key, "*.acme.example"),
            2,
            "invalid_input",
            "wildcards are only allowed in the registry",
        ),
        (
            with(&[], &key, "127.0.0.1"),
            2,
            "invalid_input",
            "IP literal",
        ),
        (
            with(&[], &key, "10.0.0.1"),
            2,
            "invalid_input",
            "IP literal",
        ),
        (with(&[], &key, "[::1]"), 2, "invalid_input", "IP literal"),
        (with(&[], &key, "0x7f.1"), 2, "invalid_input", "IP literal"),
        (
            with(&[], &key, ""),
            2,
            "invalid_input",
            "pass at least one --host",
        ),
        (
            with(&["--group-id", "g"], &key, "api.acme.example"),
            2,
            "invalid_input",
            "--group-id requires --workspace-id",
        ),
        (
            with(
                &[],
                "vault:secret:0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70",
                "api.acme.example",
            ),
            3,
            "not_found",
            "not found",
        ),
        (
            with(&[], "secret:abc", "api.acme.example"),
            2,
            "invalid_input",
            "expected vault:secret:<id>",
        ),
        (
            with(&[], "vault:secret:not-a-uuid", "api.acme.example"),
            2,
            "invalid_input",
            "invalid secret id",
        ),
        (
            with(&[], &ws_key, "api.acme.example"),
            7,
            "policy_violation",
            "cannot serve scope global",
        ),
        (
            with(&["--workspace-id", "w2"], &ws_key, "api.acme.example"),
            7,
            "policy_violation",
            "cannot serve scope workspace:w2",
        ),
    ];
    for (args, code, kind, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&env, &args, *code, kind, needle);
    }
    refused(
        &env,
        &[
            "credential",
            "create",
            "acme",
            "--provider",
            "acme",
            "--secret-ref",
            &key,
            "--host",
            "api.acme.example",
        ],
        2,
        "invalid_input",
        "pass --auth and --host",
    );
    refused(
        &env,
        &[
            "credential",
            "create",
            "acme",
            "--provider",
            "acme",
            "--secret-ref",
            &key,
            "--auth",
            "query",
            "--query-param",
            "k",
            "--value-template",
            "{{a}}:{{b}}",
            "--host",
            "api.acme.example",
        ],
        2,
        "invalid_input",
        "say which role secret ACME_KEY plays",
    );
    refused(
        &env,
        &[
            "credential",
            "create",
            "acme",
            "--provider",
            "acme",
            "--secret-ref",
            &key,
            "--auth",
            "oauth2",
            "--token-endpoint",
            "http://api.acme.example/token",
            "--host",
            "api.acme.example",
        ],
        2,
        "invalid_input",
        "token endpoint must be https",
    );
    // Deleting a credential that does not exist is not an error (a second delete, as the
    // original tool): nothing changes and the report says so.
    let run = env.run(&["credential", "delete", "nope"]).ok();
    assert_eq!(
        run.json(),
        serde_json::json!({"removed": false, "id": "nope"})
    );
    assert!(
        run.stderr
            .starts_with("No credential nope: nothing to delete")
    );
}

#[test]
fn deleting_an_auto_provisioned_credential_revokes_it_until_its_secret_changes() {
    let env = Env::new();
    let id = env.create("OPENAI_API_KEY", "sk-1-openai", &[]);
    assert_eq!(ready_ids(&env).len(), 17);
    let run = env.run(&["credential", "delete", "openai"]).ok();
    assert_eq!(
        run.json(),
        serde_json::json!({"removed": true, "id": "openai", "origin": "registry"})
    );
    assert!(run.stderr.starts_with("Credential revoked: openai"));
    assert!(credential_ids(&env).is_empty());
    assert!(ready_ids(&env).is_empty());
    // Renaming aliases or listing does not bring it back.
    env.run(&["secrets", "update", "--id", &id, "--alias", "gpt"])
        .ok();
    env.run(&["secrets", "list", "-v"]).ok();
    assert!(credential_ids(&env).is_empty());
    // Rotating the secret does.
    let rotated = env
        .run(&["secrets", "rotate", "--id", &id, "--value", "sk-2-openai"])
        .ok();
    assert!(
        rotated
            .stderr
            .contains("Credential auto-provisioned: openai (17 capabilities enabled)")
    );
    assert_eq!(credential_ids(&env), ["openai"]);
    // And so does importing it again after another revocation; a second delete reports
    // removed: false with exit 0.
    env.run(&["credential", "delete", "openai"]).ok();
    let again = env.run(&["credential", "delete", "openai"]).ok();
    assert_eq!(
        again.json(),
        serde_json::json!({"removed": false, "id": "openai"})
    );
    env.run(&["secrets", "import", "--entry", "OPENAI_API_KEY=sk-3-openai"])
        .ok();
    assert_eq!(credential_ids(&env), ["openai"]);
    let kinds = env.audit_kinds(&["--kind", "credential.delete"]);
    assert_eq!(kinds.len(), 2);
    env.assert_intact();
}

#[test]
fn capability_list_and_describe_with_its_aliases() {
    let env = Env::new();
    let listing = env.run(&["capability", "list"]).ok();
    assert!(listing.stdout.starts_with("Available (needs credential)\n"));
    assert!(listing.stdout.contains("  trello\n    trello/actions\n"));
    assert!(listing.stdout.contains(
        "    Setup: aivault secrets create --name TRELLO_API_KEY --value \"...\" --scope global && aivault secrets create --name TRELLO_TOKEN --value \"...\" --scope global\n"
    ));
    env.create("OPENAI_API_KEY", "sk-x-openai", &[]);
    let listing = env.run(&["capability", "list"]).ok();
    assert!(
        listing
            .stdout
            .starts_with("Ready (credential configured)\n  openai/assistants\n")
    );
    let verbose = env.run(&["capability", "list", "-v"]).ok().json();
    assert_eq!(verbose["capabilities"].as_array().expect("ready").len(), 17);
    let providers: std::collections::BTreeSet<&str> = verbose["registryCapabilities"]
        .as_array()
        .expect("available")
        .iter()
        .map(|c| c["provider"].as_str().expect("provider"))
        .collect();
    assert!(providers.len() >= 65, "{} providers", providers.len());

    let describe = env
        .run(&["capability", "describe", "openai/transcription"])
        .ok()
        .json();
    assert_eq!(describe["capability"], "openai/transcription");
    assert_eq!(describe["ready"], true);
    assert_eq!(describe["setup"], Value::Null);
    assert_eq!(
        describe["allowed"]["hosts"],
        serde_json::json!(["api.openai.com"])
    );
    assert_eq!(describe["call"]["defaultMethod"], "POST");
    assert_eq!(describe["call"]["defaultPath"], "/v1/audio/transcriptions");
    for alias in ["args", "shape", "inspect"] {
        let same = env
            .run(&["capability", alias, "openai/transcription"])
            .ok()
            .json();
        assert_eq!(same, describe, "{alias}");
    }
    // Works without a credential: how to set it up.
    let boards = env
        .run(&["capability", "describe", "trello/boards"])
        .ok()
        .json();
    assert_eq!(boards["ready"], false);
    assert_eq!(
        boards["setup"]["requiredSecrets"],
        serde_json::json!(["TRELLO_API_KEY", "TRELLO_TOKEN"])
    );
    assert_eq!(
        boards["setup"]["commands"]
            .as_array()
            .expect("commands")
            .len(),
        2
    );
    refused(
        &env,
        &["capability", "describe", "nope/nothing"],
        8,
        "capability_not_found",
        "capability 'nope/nothing' not found",
    );
}

#[test]
fn capability_create_delete_and_policy() {
    let env = Env::new();
    let key = secret_ref(&env, "ACME_KEY", "acme-v");
    env.run(&[
        "credential",
        "create",
        "acme",
        "--provider",
        "acme",
        "--secret-ref",
        &key,
        "--auth",
        "header",
        "--header-name",
        "x-key",
        "--value-template",
        "{{secret}}",
        "--host",
        "api.acme.example",
    ])
    .ok();
    let created = env
        .run(&[
            "capability",
            "create",
            "acme/reports",
            "--credential",
            "acme",
            "--method",
            "GET",
            "--method",
            "post",
            "--path",
            "/v1/reports",
        ])
        .ok()
        .json();
    assert_eq!(created["methods"], serde_json::json!(["GET", "POST"]));
    assert_eq!(created["hosts"], serde_json::json!(["api.acme.example"]));
    env.run(&[
        "capability",
        "create",
        "acme/admin",
        "--provider",
        "acme",
        "--method",
        "GET",
        "--path",
        "/admin",
        "--host",
        "api.acme.example",
    ])
    .ok();
    // On a registry provider the hosts default to its preferred credential's (not chatgpt.com).
    let containers = env
        .run(&[
            "capability",
            "create",
            "openai/containers",
            "--provider",
            "openai",
            "--method",
            "GET",
            "--path",
            "/v1/containers",
        ])
        .ok()
        .json();
    assert_eq!(containers["hosts"], serde_json::json!(["api.openai.com"]));
    assert!(ready_ids(&env).contains(&"acme/reports".to_string()));

    refused(
        &env,
        &[
            "capability",
            "create",
            "acme/x",
            "--credential",
            "acme",
            "--path",
            "/x",
        ],
        2,
        "invalid_input",
        "at least one --method",
    );
    refused(
        &env,
        &[
            "capability",
            "create",
            "acme/x",
            "--credential",
            "acme",
            "--method",
            "GET",
        ],
        2,
        "invalid_input",
        "at least one --path",
    );
    refused(
        &env,
        &[
            "capability",
            "create",
            "acme/x",
            "--credential",
            "acme",
            "--method",
            "GET",
            "--path",
            "v1",
        ],
        2,
        "invalid_input",
        "must start with '/'",
    );
    refused(
        &env,
        &[
            "capability",
            "create",
            "acme/x",
            "--credential",
            "acme",
            "--method",
            "GET",
            "--path",
            "/a/../b",
        ],
        2,
        "invalid_input",
        "'..'",
    );
    refused(
        &env,
        &[
            "capability",
            "create",
            "acme/x",
            "--credential",
            "acme",
            "--method",
            "FETCH",
            "--path",
            "/x",
        ],
        2,
        "invalid_input",
        "invalid method",
    );
    refused(
        &env,
        &[
            "capability",
            "create",
            "acme/x",
            "--method",
            "GET",
            "--path",
            "/x",
        ],
        2,
        "invalid_input",
        "--provider P or --credential C",
    );
    refused(
        &env,
        &[
            "capability",
            "create",
            "acme/reports",
            "--credential",
            "acme",
            "--method",
            "GET",
            "--path",
            "/x",
        ],
        4,
        "already_exists",
        "already exists",
    );
    refused(
        &env,
        &[
            "capability",
            "create",
            "openai/files",
            "--provider",
            "openai",
            "--method",
            "GET",
            "--path",
            "/x",
        ],
        4,
        "already_exists",
        "built in",
    );
    refused(
        &env,
        &[
            "capability",
            "create",
            "acme/x",
            "--credential",
            "acme",
            "--method",
            "GET",
            "--path",
            "/x",
            "--host",
            "other.example",
        ],
        7,
        "policy_violation",
        "outside the allowed hosts",
    );
    refused(
        &env,
        &[
            "capability",
            "create",
            "acme/x",
            "--credential",
            "nope",
            "--method",
            "GET",
            "--path",
            "/x",
        ],
        9,
        "credential_not_found",
        "'nope'",
    );

    let policy = env
        .run(&[
            "capability",
            "policy",
            "set",
            "--capability",
            "openai/chat-completions",
            "--rate-limit-per-minute",
            "60",
            "--max-request-body-bytes",
            "1000",
            "--max-response-body-bytes",
            "2000",
            "--response-block",
            "internal-id",
        ])
        .ok()
        .json();
    assert_eq!(
        policy,
        serde_json::json!({"capabilityId": "openai/chat-completions", "policy": {
            "rateLimitPerMinute": 60, "maxRequestBodyBytes": 1000,
            "maxResponseBodyBytes": 2000, "responseBodyBlocklist": ["internal-id"]}})
    );
    // Later sets keep the other fields.
    let policy = env
        .run(&[
            "capability",
            "policy",
            "set",
            "--capability",
            "openai/chat-completions",
            "--rate-limit-per-minute",
            "5",
        ])
        .ok()
        .json();
    assert_eq!(policy["policy"]["rateLimitPerMinute"], 5);
    assert_eq!(policy["policy"]["maxResponseBodyBytes"], 2000);
    env.run(&[
        "capability",
        "policy",
        "set",
        "--capability",
        "acme/reports",
        "--max-response-body-bytes",
        "10",
    ])
    .ok();
    refused(
        &env,
        &[
            "capability",
            "policy",
            "set",
            "--capability",
            "acme/reports",
        ],
        2,
        "invalid_input",
        "nothing to set",
    );
    refused(
        &env,
        &[
            "capability",
            "policy",
            "set",
            "--capability",
            "acme/reports",
            "--max-request-body-bytes",
            "0",
        ],
        2,
        "invalid_input",
        "at least 1",
    );
    refused(
        &env,
        &[
            "capability",
            "policy",
            "set",
            "--capability",
            "nope/x",
            "--rate-limit-per-minute",
            "1",
        ],
        8,
        "capability_not_found",
        "not found",
    );
    let policies = env.run(&["capability", "list", "-v"]).ok().json()["policies"].clone();
    assert_eq!(policies.as_array().expect("policies").len(), 2);

    refused(
        &env,
        &["capability", "delete", "openai/files"],
        2,
        "invalid_input",
        "built in",
    );
    refused(
        &env,
        &["capability", "delete", "nope/x"],
        8,
        "capability_not_found",
        "not found",
    );
    let deleted = env
        .run(&["capability", "delete", "acme/reports"])
        .ok()
        .json();
    assert_eq!(
        deleted,
        serde_json::json!({"removedCapability": true, "removedPolicy": true, "removedBindings": 0, "id": "acme/reports"})
    );
    assert!(!ready_ids(&env).contains(&"acme/reports".to_string()));
    let policies = env.run(&["capability", "list", "-v"]).ok().json()["policies"].clone();
    assert_eq!(policies.as_array().expect("policies").len(), 1);
    assert_eq!(env.audit_kinds(&["--kind", "capability.create"]).len(), 3);
    env.assert_intact();
}

#[test]
fn bind_unbind_and_bindings() {
    let env = Env::new();
    env.create("OPENAI_API_KEY", "sk-default", &[]);
    let team = secret_ref(&env, "TEAM_OPENAI_KEY", "sk-team");
    let ws = format!(
        "vault:secret:{}",
        env.create(
            "WS_OPENAI_KEY",
            "sk-ws",
            &["--scope", "workspace", "--workspace-id", "my-workspace"]
        )
    );
    let shopify = secret_ref(&env, "SHOPIFY_ACCESS_TOKEN", "shpat-token");
    let bound = env
        .run(&[
            "capability",
            "bind",
            "--capability",
            "openai/chat-completions",
            "--secret-ref",
            &team,
        ])
        .ok()
        .json();
    assert_eq!(bound["replaced"], false);
    assert_eq!(bound["binding"]["scope"], "global");
    let bound = env
        .run(&[
            "capability",
            "bind",
            "--capability",
            "openai/chat-completions",
            "--secret-ref",
            &ws,
            "--scope",
            "workspace",
            "--workspace-id",
            "my-workspace",
            "--consumer",
            "research-agent",
        ])
        .ok()
        .json();
    assert_eq!(bound["binding"]["consumer"], "research-agent");
    // One binding per key: re-binding replaces.
    let rebound = env
        .run(&[
            "capability",
            "bind",
            "--capability",
            "openai/chat-completions",
            "--secret-ref",
            &team,
        ])
        .ok()
        .json();
    assert_eq!(rebound["replaced"], true);
    let all = env.run(&["capability", "bindings", "-v"]).ok().json();
    assert_eq!(all["bindings"].as_array().expect("bindings").len(), 2);
    let human = env.run(&["capability", "bindings"]).ok().stdout;
    assert!(human.starts_with("Capability bindings\n  openai/chat-completions -> vault:secret:"));
    assert!(human.contains("      Consumer: research-agent\n"));
    assert!(human.ends_with("2 bindings\n"));
    let filtered = env
        .run(&[
            "capability",
            "bindings",
            "--scope",
            "workspace",
            "--workspace-id",
            "my-workspace",
            "-v",
        ])
        .ok()
        .json();
    assert_eq!(filtered["bindings"].as_array().expect("bindings").len(), 1);
    let by_consumer = env
        .run(&["capability", "bindings", "--consumer", "nobody", "-v"])
        .ok()
        .json();
    assert!(
        by_consumer["bindings"]
            .as_array()
            .expect("bindings")
            .is_empty()
    );

    refused(
        &env,
        &[
            "capability",
            "bind",
            "--capability",
            "openai/chat-completions",
            "--secret-ref",
            &shopify,
        ],
        7,
        "policy_violation",
        "pinned to provider 'shopify'",
    );
    refused(
        &env,
        &[
            "capability",
            "bind",
            "--capability",
            "openai/chat-completions",
            "--secret-ref",
            &ws,
        ],
        7,
        "policy_violation",
        "cannot serve scope global",
    );
    refused(
        &env,
        &[
            "capability",
            "bind",
            "--capability",
            "trello/boards",
            "--secret-ref",
            &team,
        ],
        2,
        "invalid_input",
        "needs 2 secrets",
    );
    refused(
        &env,
        &[
            "capability",
            "bind",
            "--capability",
            "nope/x",
            "--secret-ref",
            &team,
        ],
        8,
        "capability_not_found",
        "not found",
    );
    refused(
        &env,
        &[
            "capability",
            "bind",
            "--capability",
            "openai/chat-completions",
            "--secret-ref",
            "vault:secret:0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70",
        ],
        3,
        "not_found",
        "not found",
    );
    refused(
        &env,
        &[
            "capability",
            "bind",
            "--capability",
            "openai/chat-completions",
            "--secret-ref",
            "nope",
        ],
        2,
        "invalid_input",
        "vault:secret:<id>",
    );
    refused(
        &env,
        &[
            "capability",
            "bind",
            "--capability",
            "openai/chat-completions",
            "--secret-ref",
            &team,
            "--scope",
            "group",
            "--group-id",
            "g",
        ],
        2,
        "invalid_input",
        "--group-id requires --workspace-id",
    );
    refused(
        &env,
        &["capability", "bindings", "--group-id", "g"],
        2,
        "invalid_input",
        "--group-id requires --workspace-id",
    );

    let unbound = env
        .run(&[
            "capability",
            "unbind",
            "--capability",
            "openai/chat-completions",
            "--scope",
            "workspace",
            "--workspace-id",
            "my-workspace",
            "--consumer",
            "research-agent",
        ])
        .ok()
        .json();
    assert_eq!(unbound["removed"], true);
    let again = env
        .run(&[
            "capability",
            "unbind",
            "--capability",
            "openai/chat-completions",
            "--scope",
            "workspace",
            "--workspace-id",
            "my-workspace",
            "--consumer",
            "research-agent",
        ])
        .ok()
        .json();
    assert_eq!(again["removed"], false);
    // Deleting the bound secret removes its binding.
    let team_id = team.trim_start_matches("vault:secret:");
    env.run(&["secrets", "delete", "--id", team_id]).ok();
    let all = env.run(&["capability", "bindings", "-v"]).ok().json();
    assert!(all["bindings"].as_array().expect("bindings").is_empty());
    let kinds = env.audit_kinds(&["--kind", "capability.unbind"]);
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    env.assert_intact();
}

/// An operator provider file: one header-auth credential claiming `secret`, one capability
/// `<id>/reports`.
fn provider_toml(id: &str, secret: &str) -> String {
    format!(
        r#"id = "{id}"
name = "{id}"
hosts = ["api.{id}.example"]

[[credentials]]
secrets = {{ secret = "{secret}" }}
auth = {{ kind = "header", header_name = "authorization", value_template = "Bearer {{{{secret}}}}" }}

[[capabilities]]
id = "{id}/reports"
methods = ["GET"]
paths = ["/v1/reports"]
"#
    )
}

#[test]
fn a_broken_operator_provider_file_is_named_and_built_ins_keep_working() {
    let env = Env::new();
    env.run(&["status"]).ok();
    let registry = env.dir.join("registry");
    std::fs::create_dir_all(&registry).expect("registry dir");
    std::fs::write(
        registry.join("broken.toml"),
        "id = \"broken\"\nname = \"Broken\"\nhosts = [\"api.broken.example\"\n",
    )
    .expect("write");
    std::fs::write(
        registry.join("acme.toml"),
        provider_toml("acme", "ACME_API_KEY"),
    )
    .expect("write");
    // Claims a built-in name: skipped.
    std::fs::write(
        registry.join("thief.toml"),
        provider_toml("thief", "OPENAI_API_KEY"),
    )
    .expect("write");
    // A new file is used only once the operator trusted it.
    let run = env.run(&["provider", "trust", "acme.toml"]).ok();
    assert!(
        run.stdout.contains("Provider file trusted"),
        "{}",
        run.stdout
    );
    let run = env.run(&["provider", "trust", "broken.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("error[invalid_input]: ") && last.contains("broken.toml:3:"),
        "{}",
        run.stderr
    );
    let run = env
        .run(&[
            "secrets",
            "create",
            "--name",
            "OPENAI_API_KEY",
            "--value",
            "sk-x-openai",
        ])
        .ok();
    let broken = registry.join("broken.toml").display().to_string();
    assert!(
        run.stderr.contains(&format!("warning: {broken}:3:")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("claimed by built-in provider 'openai'"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("Credential auto-provisioned: openai (17 capabilities enabled)")
    );
    let run = env
        .run(&[
            "secrets",
            "create",
            "--name",
            "ACME_API_KEY",
            "--value",
            "acme-key-value",
        ])
        .ok();
    assert!(
        run.stderr
            .contains("Credential auto-provisioned: acme (1 capabilities enabled)"),
        "{}",
        run.stderr
    );
    assert!(ready_ids(&env).contains(&"acme/reports".to_string()));
    let describe = env
        .run(&["capability", "describe", "acme/reports"])
        .ok()
        .json();
    assert_eq!(describe["provider"], "acme");
    // A command that needs the broken provider fails, after the warning that explains why.
    let run = env.run(&["capability", "describe", "broken/x"]);
    assert_eq!(run.code, 8, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("warning: {broken}:3:"))),
        "{}",
        run.stderr
    );
    assert_eq!(
        lines.last().copied(),
        Some(
            "error[capability_not_found]: capability 'broken/x' not found (see `aivault capability list`)"
        )
    );
}
