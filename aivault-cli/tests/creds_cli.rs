//! `credential create` checks through the real binary: path-prefix templates, duplicate
//! `--auth-header` names, and hosts (upper-case lower-cased, ports, pinned IP literals with
//! `--allow-private-network` reaching a loopback upstream that records what it received).
#![allow(clippy::unwrap_used)]

mod common;

use aivault_testkit::{Upstream, echo_handler};
use common::{Env, canary};

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

/// Bad `--path-prefix-template`s and duplicate `--auth-header` names exit 2 with
/// `invalid_input` naming the flag, print nothing on stdout, never the secret, and store
/// nothing.
#[test]
fn bad_path_templates_and_duplicate_auth_headers_are_refused() {
    let env = Env::new();
    let value = canary("pathtok");
    let token = secret_ref(&env, "PATHCO_TOKEN", &value);
    for template in [
        "/bot{{secret}}#x",
        "/bot{{secret}}?x=1",
        "bot{{secret}}",
        "/bot{{secret}}/..",
        "/bot{{secret}}{{secret}}",
        "/bot%7B{{secret}}",
        "/bot {{secret}}",
    ] {
        let run = env
            .run(&[
                "credential",
                "create",
                "pathco",
                "--provider",
                "pathco",
                "--secret-ref",
                &token,
                "--auth",
                "path",
                "--path-prefix-template",
                template,
                "--host",
                "api.pathco.example",
            ])
            .fails(2, "invalid_input");
        assert!(
            run.stderr.contains("--path-prefix-template"),
            "{template}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{template}: {}", run.stdout);
        assert!(!run.stderr.contains(&value));
    }
    let a = secret_ref(&env, "PATHCO_A", &canary("a"));
    let b = secret_ref(&env, "PATHCO_B", &canary("b"));
    let run = env
        .run(&[
            "credential",
            "create",
            "multi",
            "--provider",
            "pathco",
            "--secret-ref",
            &format!("a={a}"),
            "--secret-ref",
            &format!("b={b}"),
            "--auth",
            "multi-header",
            "--auth-header",
            "X-A={{a}}",
            "--auth-header",
            "x-a={{b}}",
            "--host",
            "api.pathco.example",
        ])
        .fails(2, "invalid_input");
    assert!(run.stderr.contains("--auth-header"), "{}", run.stderr);
    assert!(run.stderr.contains("twice"), "{}", run.stderr);
    assert!(
        credential_ids(&env)
            .iter()
            .all(|id| id != "pathco" && id != "multi")
    );
}

/// A credential on `127.0.0.1:PORT` with `--allow-private-network --insecure-http` reaches a
/// loopback upstream through `invoke`; a capability may name that `host:port`. Upper-case
/// hosts are lower-cased and a port is kept without any opt-in.
#[test]
fn literal_hosts_ports_and_upper_case_through_the_cli() {
    let env = Env::new();
    let upstream = Upstream::http(echo_handler());
    let value = canary("local");
    let key = secret_ref(&env, "LOCALCO_KEY", &value);
    let host = format!("127.0.0.1:{}", upstream.port());
    let created = env
        .run(&[
            "credential",
            "create",
            "local",
            "--provider",
            "localco",
            "--secret-ref",
            &key,
            "--auth",
            "header",
            "--header-name",
            "x-local-key",
            "--value-template",
            "{{secret}}",
            "--host",
            &host,
            "--allow-private-network",
            "--insecure-http",
        ])
        .ok()
        .json();
    assert_eq!(created["hosts"], serde_json::json!([host]));
    let capability = env
        .run(&[
            "capability",
            "create",
            "localco/ping",
            "--credential",
            "local",
            "--method",
            "GET",
            "--path",
            "/v1",
            "--host",
            &host,
        ])
        .ok()
        .json();
    assert_eq!(capability["hosts"], serde_json::json!([host]));
    let run = env
        .run(&["invoke", "localco/ping", "--path", "/v1/ping"])
        .ok();
    assert!(!run.stdout.contains(&value), "{}", run.stdout);
    assert!(!run.stderr.contains(&value), "{}", run.stderr);
    let received = upstream.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].target, "/v1/ping");
    assert_eq!(received[0].header("host"), Some(host.as_str()));
    assert_eq!(received[0].header("x-local-key"), Some(value.as_str()));

    // Without the opt-in the same literal is refused; upper case and a port are fine.
    let run = env
        .run(&[
            "credential",
            "create",
            "literal",
            "--provider",
            "localco",
            "--secret-ref",
            &key,
            "--auth",
            "header",
            "--header-name",
            "x-local-key",
            "--value-template",
            "{{secret}}",
            "--host",
            &host,
        ])
        .fails(2, "invalid_input");
    assert!(run.stderr.contains("IP literal"), "{}", run.stderr);
    let created = env
        .run(&[
            "credential",
            "create",
            "git",
            "--provider",
            "gitco",
            "--secret-ref",
            &key,
            "--auth",
            "header",
            "--header-name",
            "x-git-key",
            "--value-template",
            "{{secret}}",
            "--host",
            "GIT.Example.COM:8443",
        ])
        .ok()
        .json();
    assert_eq!(
        created["hosts"],
        serde_json::json!(["git.example.com:8443"])
    );
}

/// A path-auth secret of `..` is refused at invoke (`policy_violation`, exit 7) and nothing
/// reaches the upstream.
#[test]
fn a_dot_dot_path_secret_is_refused_at_invoke() {
    let env = Env::new();
    let upstream = Upstream::http(echo_handler());
    let host = format!("127.0.0.1:{}", upstream.port());
    let token = secret_ref(&env, "LOCALCO_TOKEN", "..");
    env.run(&[
        "credential",
        "create",
        "local-path",
        "--provider",
        "localco",
        "--secret-ref",
        &token,
        "--auth",
        "path",
        "--path-prefix-template",
        "/{{secret}}",
        "--host",
        &host,
        "--allow-private-network",
        "--insecure-http",
    ])
    .ok();
    env.run(&[
        "capability",
        "create",
        "localco/path",
        "--credential",
        "local-path",
        "--method",
        "GET",
        "--path",
        "/v1",
    ])
    .ok();
    let run = env
        .run(&["invoke", "localco/path", "--path", "/v1/ping"])
        .fails(7, "policy_violation");
    assert!(run.stderr.contains("{{secret}}"), "{}", run.stderr);
    assert!(upstream.requests().is_empty());
}
