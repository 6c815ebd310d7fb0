//! `aivault secrets import-codex`, run as real `aivault` processes with `HOME` set to a
//! temporary directory holding `.codex/auth.json`: the refusals (no file, not a regular file,
//! malformed JSON, no token, no account id) store nothing and never print the file's
//! content; a good file is created, then updated, as `CODEX_OAUTH_JSON`, and the codex
//! capabilities are then invoked through the CLI against a loopback chatgpt.com and
//! auth.openai.com (debug-build `AIVAULT_DEV_RESOLVE` + `AIVAULT_DEV_CA_CERT`).

mod common;

use std::path::{Path, PathBuf};

use aivault_testkit::{Pki, Recorded, Reply, Upstream};
use base64::Engine as _;
use common::{Env, Run, canary, canary_forms, contains, files_under};

const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
}

/// An unsigned JWT with `exp` and a marker claim.
fn jwt(exp: i64, marker: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        b64(r#"{"alg":"none"}"#),
        b64(&format!(r#"{{"exp":{exp},"m":"{marker}"}}"#)),
        b64("sig")
    )
}

/// A temporary HOME with `.codex/`, and an Env whose HOME points at it.
fn codex_home() -> (Env, PathBuf) {
    let mut env = Env::new();
    let home = env.root.path().join("home");
    std::fs::create_dir_all(home.join(".codex")).expect("mkdir");
    env.set("HOME", home.to_str().expect("utf8"));
    (env, home.join(".codex").join("auth.json"))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write auth.json");
}

/// Every output of `runs`, the audit log and every vault file hold none of `needles`.
fn assert_nowhere(env: &Env, runs: &[&Run], needles: &[&str]) {
    let audit = env.run(&["audit", "-v"]);
    for needle in needles {
        for run in runs.iter().copied().chain([&audit]) {
            assert!(!run.stdout.contains(needle), "stdout leaks {needle}");
            assert!(!run.stderr.contains(needle), "stderr leaks {needle}");
        }
        for (path, bytes) in files_under(&env.dir) {
            for form in canary_forms(needle) {
                assert!(
                    !contains(&bytes, &form),
                    "{} leaks {needle}",
                    path.display()
                );
            }
        }
    }
}

/// Refusals: no file (`not_found`, naming the default path), a directory, malformed JSON,
/// an API-key sign-in without tokens, and a sign-in without `account_id` (`invalid_input`
/// naming the field). No vault is created and nothing is printed from the file.
#[test]
fn import_codex_refuses_bad_files_without_showing_them() {
    let (env, auth) = codex_home();
    let secret = canary("codex");

    let run = env.run(&["secrets", "import-codex"]).fails(3, "not_found");
    assert!(
        run.stderr.contains(&auth.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("codex login"), "{}", run.stderr);
    assert!(
        !env.dir.exists(),
        "no vault is created for a refused import"
    );

    let dir = env.root.path().join("a-directory");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let run = env
        .run(&[
            "secrets",
            "import-codex",
            "--file",
            dir.to_str().expect("utf8"),
        ])
        .fails(2, "invalid_input");
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);

    write(
        &auth,
        &format!(r#"{{"tokens":{{"refresh_token":"{secret}""#),
    );
    let malformed = env
        .run(&["secrets", "import-codex"])
        .fails(2, "invalid_input");
    assert!(
        malformed.stderr.contains("not valid JSON"),
        "{}",
        malformed.stderr
    );

    write(
        &auth,
        &format!(r#"{{"OPENAI_API_KEY":"{secret}","tokens":null}}"#),
    );
    let api_key = env
        .run(&["secrets", "import-codex"])
        .fails(2, "invalid_input");
    assert!(
        api_key.stderr.contains("\"tokens.refresh_token\""),
        "{}",
        api_key.stderr
    );

    write(
        &auth,
        &format!(r#"{{"tokens":{{"refresh_token":"{secret}","id_token":"x"}}}}"#),
    );
    let no_account = env
        .run(&["secrets", "import-codex"])
        .fails(2, "invalid_input");
    assert!(
        no_account.stderr.contains("\"tokens.account_id\""),
        "{}",
        no_account.stderr
    );
    assert!(
        !env.dir.exists(),
        "no vault is created for a refused import"
    );
    assert_nowhere(&env, &[&malformed, &api_key, &no_account], &[&secret]);
}

/// A good `~/.codex/auth.json` is created as CODEX_OAUTH_JSON (provisioning the codex
/// credential with its three capabilities), a second import updates the same secret (new
/// value version), and `invoke` then reaches `/backend-api/codex/responses` and
/// `/backend-api/wham/usage` with the refreshed token and the `chatgpt-account-id` header.
#[test]
fn import_codex_creates_then_updates_and_the_capabilities_work() {
    let (mut env, auth) = codex_home();
    let pki = Pki::new(&["chatgpt.com", "auth.openai.com"]);
    let issued = jwt(now_secs() + 3600, &canary("issued"));
    let issued_for_server = issued.clone();
    let upstream = Upstream::https(&pki, move |req: &Recorded| {
        if req.target == "/oauth/token" {
            return Reply::json(format!(
                r#"{{"access_token":"{issued_for_server}","expires_in":3600,"refresh_token":"rt-rotated"}}"#
            ));
        }
        Reply::json(format!(
            r#"{{"path":"{}","auth":"{}","account":"{}"}}"#,
            req.target,
            req.header("authorization").unwrap_or(""),
            req.header("chatgpt-account-id").unwrap_or("")
        ))
    });
    env.route_to(&["chatgpt.com", "auth.openai.com"], &upstream, &pki);

    let refresh = canary("refresh");
    let account = canary("account");
    let expired = jwt(now_secs() - 60, &canary("expired"));
    write(
        &auth,
        &format!(
            r#"{{"OPENAI_API_KEY":null,"tokens":{{"id_token":"idt","access_token":"{expired}","refresh_token":"{refresh}","account_id":"{account}"}},"last_refresh":"2025-06-01T00:00:00Z"}}"#
        ),
    );
    let created = env.run(&["secrets", "import-codex"]).ok();
    let json = created.json();
    assert_eq!(json["action"], "created");
    assert_eq!(json["secret"]["name"], "CODEX_OAUTH_JSON");
    assert_eq!(json["secret"]["pinnedProvider"], "openai");
    assert_eq!(json["secret"]["valueVersion"], 1);
    let id = json["secret"]["secretId"].as_str().expect("id").to_string();
    assert!(
        created.stderr.contains(&format!(
            "Secret created: CODEX_OAUTH_JSON (from {}, pinned to provider: openai)",
            auth.display()
        )),
        "{}",
        created.stderr
    );
    assert!(
        created.stderr.contains("(3 capabilities enabled)"),
        "{}",
        created.stderr
    );

    // Updated in place from an explicit --file.
    let other = env.root.path().join("elsewhere.json");
    std::fs::copy(&auth, &other).expect("copy");
    let updated = env
        .run(&[
            "secrets",
            "import-codex",
            "--file",
            other.to_str().expect("utf8"),
        ])
        .ok();
    let json = updated.json();
    assert_eq!(json["action"], "updated");
    assert_eq!(json["secret"]["secretId"], id.as_str());
    assert_eq!(json["secret"]["valueVersion"], 2);
    assert!(
        updated.stderr.contains("Secret updated: CODEX_OAUTH_JSON"),
        "{}",
        updated.stderr
    );
    let names: Vec<String> = env
        .run(&["secrets", "list", "-v"])
        .ok()
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, ["CODEX_OAUTH_JSON"]);

    let responses = env
        .run(&[
            "invoke",
            "openai/codex-responses",
            "--path",
            "/responses",
            "--body",
            r#"{"model":"gpt-5-codex","input":"hi"}"#,
        ])
        .ok();
    let usage = env.run(&["json", "openai/codex-usage"]).ok();
    let requests = upstream.requests();
    let tokens: Vec<&Recorded> = requests
        .iter()
        .filter(|r| r.target == "/oauth/token")
        .collect();
    assert_eq!(
        tokens.len(),
        1,
        "refreshed once, then written back and reused"
    );
    assert_eq!(
        tokens[0].body_text(),
        format!("grant_type=refresh_token&refresh_token={refresh}&client_id={CLIENT_ID}")
    );
    assert_eq!(tokens[0].header("authorization"), None);
    let api: Vec<&Recorded> = requests
        .iter()
        .filter(|r| r.target != "/oauth/token")
        .collect();
    let targets: Vec<&str> = api.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        ["/backend-api/codex/responses", "/backend-api/wham/usage"]
    );
    for request in &api {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {issued}").as_str())
        );
        assert_eq!(request.header("chatgpt-account-id"), Some(account.as_str()));
    }
    assert!(
        responses
            .stdout
            .contains(r#""path":"/backend-api/codex/responses""#),
        "{}",
        responses.stdout
    );
    assert!(
        usage.stdout.contains("/backend-api/wham/usage"),
        "{}",
        usage.stdout
    );
    assert_nowhere(
        &env,
        &[&created, &updated, &responses, &usage],
        &[&refresh, &account, &expired, &issued],
    );
}
