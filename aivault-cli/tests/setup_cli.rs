//! `aivault setup systemd | launchd`: the service definitions run this binary's `serve`,
//! restart on failure, carry the hardening options, are written where the service manager
//! looks (an existing file with other content is kept unless `--force`), or printed.

mod common;

use common::{Env, bin};

#[test]
fn the_systemd_unit_runs_serve_hardened_and_is_written_once() {
    let mut env = Env::new();
    let home = env.root.path().join("home");
    env.set("HOME", &home.display().to_string());
    let printed = env
        .run(&["setup", "systemd", "--print", "--http", "127.0.0.1:8787"])
        .ok()
        .stdout;
    let exe = std::fs::canonicalize(bin()).expect("binary");
    for line in [
        format!("ExecStart={} serve --http 127.0.0.1:8787", exe.display()),
        "Restart=on-failure".into(),
        "NoNewPrivileges=yes".into(),
        "ProtectSystem=strict".into(),
        "PrivateTmp=yes".into(),
        "LimitCORE=0".into(),
        format!("Environment=AIVAULT_DIR={}", env.dir.display()),
        "WantedBy=default.target".into(),
    ] {
        assert!(
            printed.lines().any(|l| l == line),
            "no {line:?} in:\n{printed}"
        );
    }
    let read_write = printed
        .lines()
        .find(|l| l.starts_with("ReadWritePaths="))
        .expect("ReadWritePaths");
    assert!(
        read_write.contains(&env.dir.display().to_string()),
        "{read_write}"
    );

    let path = home.join(".config/systemd/user/aivault.service");
    let run = env
        .run(&["setup", "systemd", "--http", "127.0.0.1:8787"])
        .ok();
    assert_eq!(run.stdout.trim(), path.display().to_string());
    assert!(
        run.stderr.contains("systemctl --user enable --now aivault"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).expect("unit"), printed);
    // The same content again is fine; other content is kept unless --force.
    env.run(&["setup", "systemd", "--http", "127.0.0.1:8787"])
        .ok();
    std::fs::write(&path, "[Service]\nExecStart=/bin/true\n").expect("edit");
    env.run(&["setup", "systemd"]).fails(4, "already_exists");
    assert_eq!(
        std::fs::read_to_string(&path).expect("kept"),
        "[Service]\nExecStart=/bin/true\n"
    );
    env.run(&["setup", "systemd", "--force"]).ok();
    assert!(
        std::fs::read_to_string(&path)
            .expect("replaced")
            .contains("serve")
    );
}

#[test]
fn the_launchd_agent_runs_serve_and_restarts_on_failure() {
    let mut env = Env::new();
    let home = env.root.path().join("home");
    env.set("HOME", &home.display().to_string());
    let socket = env.root.path().join("a & b").join("broker.sock");
    let socket_arg = socket.display().to_string();
    let printed = env
        .run(&["setup", "launchd", "--print", "--socket", &socket_arg])
        .ok()
        .stdout;
    let exe = std::fs::canonicalize(bin()).expect("binary");
    for needle in [
        "<string>dev.aivault.serve</string>".to_string(),
        format!("<string>{}</string>", exe.display()),
        "<string>serve</string>".into(),
        "<key>SuccessfulExit</key>\n    <false/>".into(),
        "<key>RunAtLoad</key>\n  <true/>".into(),
        "a &amp; b".into(),
        format!(
            "<key>AIVAULT_DIR</key>\n    <string>{}</string>",
            env.dir.display()
        ),
    ] {
        assert!(printed.contains(&needle), "no {needle:?} in:\n{printed}");
    }
    assert!(!printed.contains("a & b"), "unescaped XML");
    let run = env.run(&["setup", "launchd", "--socket", &socket_arg]).ok();
    let path = home.join("Library/LaunchAgents/dev.aivault.serve.plist");
    assert_eq!(run.stdout.trim(), path.display().to_string());
    assert_eq!(std::fs::read_to_string(&path).expect("plist"), printed);
}
