//! Every command line of the "Secrets" section of the product brief (`cli.md`), run
//! unchanged against the real binary, with the documented output.

mod common;

use common::Env;

#[test]
fn create_registry_secret_prints_metadata_and_the_two_lines() {
    let env = Env::new();
    let run = env
        .run(&[
            "secrets",
            "create",
            "--name",
            "OPENAI_API_KEY",
            "--value",
            "sk-...openai",
            "--scope",
            "global",
        ])
        .ok();
    assert_eq!(
        run.stderr,
        "Secret created: OPENAI_API_KEY (pinned to provider: openai)\n\
         Credential auto-provisioned: openai (17 capabilities enabled)\n"
    );
    let meta = run.json();
    assert_eq!(meta["name"], "OPENAI_API_KEY");
    assert_eq!(meta["scope"], "global");
    assert_eq!(meta["pinnedProvider"], "openai");
    assert_eq!(meta["valueVersion"], 1);
    assert_eq!(meta["aliases"], serde_json::json!([]));
    assert_eq!(meta["attachedGroups"], serde_json::json!([]));
    let id = meta["secretId"].as_str().expect("id");
    assert_eq!(id.len(), 36);
    assert!(meta["createdAtMs"].as_i64().expect("ms") > 1_600_000_000_000);
    assert!(!run.stdout.contains("sk-...openai"));

    let credentials = env.run(&["credential", "list", "-v"]).ok().json();
    let openai = &credentials["credentials"][0];
    assert_eq!(openai["id"], "openai");
    assert_eq!(openai["hosts"], serde_json::json!(["api.openai.com"]));
    assert_eq!(openai["capabilities"].as_array().expect("caps").len(), 17);
    assert_eq!(
        openai["secrets"][0]["secretRef"],
        format!("vault:secret:{id}")
    );
}

#[test]
fn custom_secret_has_no_pin_and_no_provisioning() {
    let env = Env::new();
    let run = env
        .run(&[
            "secrets",
            "create",
            "--name",
            "MY_CUSTOM_KEY",
            "--value",
            "...",
            "--scope",
            "global",
        ])
        .ok();
    assert_eq!(run.stderr, "");
    let meta = run.json();
    assert!(meta.get("pinnedProvider").is_none());
    let credentials = env.run(&["credential", "list", "-v"]).ok().json();
    assert_eq!(credentials["credentials"], serde_json::json!([]));
}

#[test]
fn aliases_workspace_and_group_scopes() {
    let env = Env::new();
    let meta = env
        .run(&[
            "secrets",
            "create",
            "--name",
            "OPENAI_API_KEY",
            "--value",
            "sk-...openai",
            "--scope",
            "global",
            "--alias",
            "openai",
            "--alias",
            "gpt-key",
        ])
        .ok()
        .json();
    assert_eq!(meta["aliases"], serde_json::json!(["gpt-key", "openai"]));

    let ws = env
        .run(&[
            "secrets",
            "create",
            "--name",
            "OPENAI_API_KEY",
            "--value",
            "sk-...openai",
            "--scope",
            "workspace",
            "--workspace-id",
            "my-workspace",
        ])
        .ok();
    assert_eq!(
        ws.json()["scope"],
        serde_json::json!({"workspace": {"workspace_id": "my-workspace"}})
    );
    assert!(
        ws.stderr.contains(
            "Credential auto-provisioned: openai:ws:my-workspace (17 capabilities enabled)"
        )
    );

    let group = env
        .run(&[
            "secrets",
            "create",
            "--name",
            "OPENAI_API_KEY",
            "--value",
            "sk-...openai",
            "--scope",
            "group",
            "--workspace-id",
            "my-workspace",
            "--group-id",
            "my-group",
        ])
        .ok();
    assert_eq!(
        group.json()["scope"],
        serde_json::json!({"group": {"workspace_id": "my-workspace", "group_id": "my-group"}})
    );
    assert!(
        group
            .stderr
            .contains("Credential auto-provisioned: openai:group:my-workspace:my-group")
    );

    let all = env.secrets();
    assert_eq!(all.len(), 3);
    let global = env.run(&["secrets", "list", "--scope", "global"]).ok();
    assert!(global.stdout.contains("OPENAI_API_KEY") && global.stdout.contains("1 secret\n"));
    let ws_list = env
        .run(&[
            "secrets",
            "list",
            "--scope",
            "workspace",
            "--workspace-id",
            "my-ws",
        ])
        .ok();
    assert_eq!(ws_list.stdout, "No secrets found.\n");
    let ws_list = env
        .run(&[
            "secrets",
            "list",
            "--scope",
            "workspace",
            "--workspace-id",
            "my-workspace",
            "-v",
        ])
        .ok()
        .json();
    assert_eq!(ws_list.as_array().expect("array").len(), 1);
}

#[test]
fn list_is_metadata_only() {
    let env = Env::new();
    let value = common::canary("list");
    env.create("MY_CUSTOM_KEY", &value, &["--alias", "custom"]);
    let human = env.run(&["secrets", "list"]).ok();
    assert!(
        human
            .stdout
            .starts_with("Secrets\n  MY_CUSTOM_KEY\n      ID: ")
    );
    assert!(human.stdout.contains("      Aliases: custom\n"));
    assert!(
        human
            .stdout
            .ends_with("1 secret\nUse --verbose for full JSON detail.\n")
    );
    let verbose = env.run(&["secrets", "list", "-v"]).ok();
    for run in [&human, &verbose] {
        assert!(!run.stdout.contains(&value) && !run.stderr.contains(&value));
    }
    let fields: Vec<String> = verbose.json()[0]
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        fields,
        [
            "aliases",
            "attachedGroups",
            "createdAtMs",
            "name",
            "scope",
            "secretId",
            "updatedAtMs",
            "valueVersion"
        ]
    );
}

#[test]
fn update_rotate_delete_and_groups() {
    let env = Env::new();
    let id = env.create("MY_CUSTOM_KEY", "v1", &[]);

    let renamed = env
        .run(&["secrets", "update", "--id", &id, "--name", "NEW_NAME"])
        .ok()
        .json();
    assert_eq!(renamed["name"], "NEW_NAME");
    let aliased = env
        .run(&["secrets", "update", "--id", &id, "--alias", "new-alias"])
        .ok()
        .json();
    assert_eq!(aliased["aliases"], serde_json::json!(["new-alias"]));
    let cleared = env
        .run(&["secrets", "update", "--id", &id, "--clear-aliases"])
        .ok()
        .json();
    assert_eq!(cleared["aliases"], serde_json::json!([]));

    let rotated = env
        .run(&["secrets", "rotate", "--id", &id, "--value", "new-value"])
        .ok()
        .json();
    assert_eq!(rotated["valueVersion"], 2);

    let attached = env
        .run(&[
            "secrets",
            "attach-group",
            "--id",
            &id,
            "--workspace-id",
            "my-workspace",
            "--group-id",
            "my-group",
        ])
        .ok()
        .json();
    assert_eq!(
        attached["attachedGroups"],
        serde_json::json!([{"workspaceId": "my-workspace", "groupId": "my-group"}])
    );
    let detached = env
        .run(&[
            "secrets",
            "detach-group",
            "--id",
            &id,
            "--workspace-id",
            "my-workspace",
            "--group-id",
            "my-group",
        ])
        .ok()
        .json();
    assert_eq!(detached["attachedGroups"], serde_json::json!([]));

    let kinds = env.audit_kinds(&["--secret-id", &id]);
    assert_eq!(
        kinds,
        [
            "secret.detach",
            "secret.attach",
            "secret.rotate",
            "secret.update",
            "secret.update",
            "secret.update",
            "secret.create"
        ]
    );

    let deleted = env.run(&["secrets", "delete", "--id", &id]).ok().json();
    assert_eq!(deleted["secretId"], id.as_str());
    assert!(env.secrets().is_empty());
    env.run(&["secrets", "rotate", "--id", &id, "--value", "x"])
        .fails(3, "not_found");
    env.assert_intact();
}

#[test]
fn delete_removes_dependent_credentials_and_frees_the_name() {
    let env = Env::new();
    let id = env.create("OPENAI_API_KEY", "sk-1-openai", &[]);
    let run = env.run(&["secrets", "delete", "--id", &id]).ok();
    assert_eq!(run.stderr, "Credential removed: openai\n");
    let credentials = env.run(&["credential", "list"]).ok();
    assert_eq!(credentials.stdout, "No credentials found.\n");
    let again = env
        .run(&[
            "secrets",
            "create",
            "--name",
            "OPENAI_API_KEY",
            "--value",
            "sk-2-openai",
            "--scope",
            "global",
        ])
        .ok();
    assert!(
        again
            .stderr
            .contains("Credential auto-provisioned: openai (17 capabilities enabled)")
    );
    let kinds = env.audit_kinds(&["--limit", "10"]);
    assert!(kinds.contains(&"secret.delete".to_string()));
    assert!(kinds.contains(&"credential.delete".to_string()));
}

#[test]
fn import_processes_each_entry_as_create() {
    let env = Env::new();
    let run = env
        .run(&[
            "secrets",
            "import",
            "--entry",
            "OPENAI_API_KEY=sk-...openai",
            "--entry",
            "ANTHROPIC_API_KEY=sk-ant-...",
            "--entry",
            "GITHUB_TOKEN=ghp-...github",
            "--scope",
            "global",
        ])
        .ok();
    assert_eq!(
        run.json(),
        serde_json::json!({"created": ["ANTHROPIC_API_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY"], "rotated": [], "skipped": []})
    );
    assert_eq!(
        run.stderr,
        "Credential auto-provisioned: anthropic (2 capabilities enabled)\n\
         Credential auto-provisioned: github (9 capabilities enabled)\n\
         Credential auto-provisioned: openai (17 capabilities enabled)\n"
    );
    // Existing names are rotated; empty values are skipped; `=` inside values is kept.
    let again = env
        .run(&[
            "secrets",
            "import",
            "--entry",
            "OPENAI_API_KEY=sk=new=openai",
            "--entry",
            "EMPTY=",
            "--entry",
            "NEW_ONE=a=b",
        ])
        .ok();
    assert_eq!(
        again.json(),
        serde_json::json!({"created": ["NEW_ONE"], "rotated": ["OPENAI_API_KEY"], "skipped": ["EMPTY"]})
    );
    let openai = env
        .secrets()
        .into_iter()
        .find(|s| s["name"] == "OPENAI_API_KEY")
        .expect("openai");
    assert_eq!(openai["valueVersion"], 2);
    env.assert_intact();
}

#[test]
fn import_from_a_dotenv_file() {
    let env = Env::new();
    let path = env.root.path().join("app.env");
    std::fs::write(
        &path,
        "# keys\nexport TRELLO_API_KEY=k1-trello\nTRELLO_TOKEN='t 1 trello'\nNOTE=\"multi\nline\"\n",
    )
    .expect("write");
    let run = env
        .run(&[
            "secrets",
            "import",
            "--env-file",
            path.to_str().expect("utf8"),
        ])
        .ok();
    assert_eq!(
        run.json(),
        serde_json::json!({"created": ["NOTE", "TRELLO_API_KEY", "TRELLO_TOKEN"], "rotated": [], "skipped": []})
    );
    assert_eq!(
        run.stderr,
        "Credential auto-provisioned: trello (17 capabilities enabled)\n"
    );
}

#[test]
fn trello_waits_for_its_second_secret() {
    let env = Env::new();
    let first = env
        .run(&[
            "secrets",
            "create",
            "--name",
            "TRELLO_API_KEY",
            "--value",
            "key-trello",
        ])
        .ok();
    assert_eq!(
        first.stderr,
        "Secret created: TRELLO_API_KEY (pinned to provider: trello)\n\
         Waiting for TRELLO_TOKEN to complete trello credential\n"
    );
    let second = env
        .run(&[
            "secrets",
            "create",
            "--name",
            "TRELLO_TOKEN",
            "--value",
            "token-trello",
        ])
        .ok();
    assert_eq!(
        second.stderr,
        "Secret created: TRELLO_TOKEN (pinned to provider: trello)\n\
         Credential auto-provisioned: trello (17 capabilities enabled)\n"
    );
    let credential = &env.run(&["credential", "list", "-v"]).ok().json()["credentials"][0];
    assert_eq!(credential["auth"]["kind"], "multi-query");
    let roles: Vec<&str> = credential["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| s["role"].as_str().expect("role"))
        .collect();
    assert_eq!(roles, ["key", "token"]);
}

#[test]
fn value_sources_file_and_stdin() {
    let env = Env::new();
    let path = env.root.path().join("key.txt");
    std::fs::write(&path, "from-file\n").expect("write");
    env.run(&[
        "secrets",
        "create",
        "--name",
        "FROM_FILE",
        "--value-file",
        path.to_str().expect("utf8"),
    ])
    .ok();
    env.run_with_stdin(
        &["secrets", "create", "--name", "FROM_STDIN", "--value-stdin"],
        b"from-stdin\n",
    )
    .ok();
    env.run(&[
        "secrets",
        "create",
        "--name",
        "TWO",
        "--value",
        "a",
        "--value-stdin",
    ])
    .fails(2, "invalid_input");
    env.run(&["secrets", "create", "--name", "NONE"])
        .fails(2, "invalid_input");
    env.run_with_stdin(
        &["secrets", "create", "--name", "EMPTY", "--value-stdin"],
        b"\n",
    )
    .fails(2, "invalid_input");
    assert_eq!(env.secret_names(), ["FROM_FILE", "FROM_STDIN"]);
}

#[test]
fn capability_list_shows_ready_and_available() {
    let env = Env::new();
    let before = env.run(&["capability", "list"]).ok();
    assert!(before.stdout.starts_with("Available (needs credential)\n"));
    assert!(before.stdout.contains(
        "    Setup: aivault secrets create --name OPENAI_API_KEY --value \"...\" --scope global\n"
    ));
    assert!(before.stdout.contains(
        "    Setup: aivault secrets create --name TRELLO_API_KEY --value \"...\" --scope global && aivault secrets create --name TRELLO_TOKEN --value \"...\" --scope global\n"
    ));
    env.create("OPENAI_API_KEY", "sk-openai", &[]);
    let after = env.run(&["capability", "list", "-v"]).ok().json();
    let ready: Vec<&str> = after["capabilities"]
        .as_array()
        .expect("ready")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ready.len(), 17);
    assert!(ready.iter().all(|id| id.starts_with("openai/")));
    let chat = &after["capabilities"]
        .as_array()
        .expect("ready")
        .iter()
        .find(|c| c["id"] == "openai/chat-completions")
        .expect("chat")["allow"];
    assert_eq!(
        *chat,
        serde_json::json!({"hosts": ["api.openai.com"], "methods": ["GET", "POST"], "pathPrefixes": ["/v1/chat/completions"]})
    );
}
