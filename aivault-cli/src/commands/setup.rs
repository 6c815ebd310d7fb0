//! `aivault setup systemd | launchd`: a service definition that runs `aivault serve` for this
//! user (restarted on failure, hardened), written to the standard place or printed.

use std::path::{Path, PathBuf};

use aivault_core::{Config, Error, ErrorKind, Result};

use crate::cli::{SetupArgs, SetupCommand};
use crate::output::Output;

/// Runs a `setup` subcommand.
pub fn run(command: SetupCommand, config: Config, out: &Output) -> Result<()> {
    let (args, kind) = match command {
        SetupCommand::Systemd(args) => (args, Kind::Systemd),
        SetupCommand::Launchd(args) => (args, Kind::Launchd),
    };
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot locate the aivault binary: {e}"),
            )
        })?;
    let text = match kind {
        Kind::Systemd => systemd_unit(&exe, &config, &args),
        Kind::Launchd => launchd_plist(&exe, &config, &args),
    };
    if args.print {
        out.line(text.trim_end());
        return Ok(());
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "HOME is not set: use --print"))?;
    let path = match kind {
        Kind::Systemd => home.join(".config/systemd/user/aivault.service"),
        Kind::Launchd => home.join("Library/LaunchAgents/dev.aivault.serve.plist"),
    };
    write(&path, &text, args.force)?;
    out.line(&path.display().to_string());
    out.note(&match kind {
        Kind::Systemd => format!(
            "Wrote {}. Start it with: systemctl --user daemon-reload && systemctl --user enable --now aivault",
            path.display()
        ),
        Kind::Launchd => format!(
            "Wrote {}. Start it with: launchctl bootstrap gui/$(id -u) {}",
            path.display(),
            path.display()
        ),
    });
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Systemd,
    Launchd,
}

/// Writes `text` to `path`; an existing file with other content is kept unless `force`.
fn write(path: &Path, text: &str, force: bool) -> Result<()> {
    let io = |what: &str, e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!("cannot {what} {}: {e}", path.display()),
        )
    };
    if let Ok(existing) = std::fs::read_to_string(path)
        && existing != text
        && !force
    {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "{} exists with other content: review it, or pass --force to replace it",
                path.display()
            ),
        ));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| io("write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("write", e))
}

/// The `serve` arguments both service kinds run with.
fn serve_args(args: &SetupArgs) -> Vec<String> {
    let mut out = vec!["serve".to_string()];
    if let Some(socket) = &args.socket {
        out.extend(["--socket".into(), socket.display().to_string()]);
    }
    if let Some(http) = &args.http {
        out.extend(["--http".into(), http.clone()]);
    }
    out
}

/// Variables the service needs to find this vault (only those set here).
fn environment(config: &Config) -> Vec<(&'static str, String)> {
    let mut vars = Vec::new();
    if std::env::var_os("AIVAULT_DIR").is_some() {
        vars.push(("AIVAULT_DIR", config.dir.display().to_string()));
    }
    if std::env::var_os("AIVAULT_KEY_FILE").is_some() {
        vars.push((
            "AIVAULT_KEY_FILE",
            config.default_key_file.display().to_string(),
        ));
    }
    vars
}

/// A systemd user unit: restarted on failure, no new privileges, a read-only system and home
/// but for the vault's own directories, private /tmp and devices, no core files.
fn systemd_unit(exe: &Path, config: &Config, args: &SetupArgs) -> String {
    let quote = |s: &str| {
        if s.contains([' ', '"', '\\']) {
            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
        } else {
            s.to_string()
        }
    };
    let exec: Vec<String> = std::iter::once(exe.display().to_string())
        .chain(serve_args(args))
        .map(|a| quote(&a))
        .collect();
    let mut writable = vec![config.dir.display().to_string()];
    if let Some(keys) = config.default_key_file.parent() {
        writable.push(keys.display().to_string());
    }
    writable.push("%t".into());
    if let Some(dir) = args.socket.as_ref().and_then(|s| s.parent()) {
        writable.push(dir.display().to_string());
    }
    let env: String = environment(config)
        .into_iter()
        .map(|(k, v)| format!("Environment={}\n", quote(&format!("{k}={v}"))))
        .collect();
    format!(
        "\
[Unit]
Description=aivault broker (aivault serve): agents call APIs without holding the keys
Documentation=https://example.invalid/aivault

[Service]
Type=simple
ExecStart={exec}
{env}Restart=on-failure
RestartSec=2
UMask=0077
LimitCORE=0
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={writable}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native

[Install]
WantedBy=default.target
",
        exec = exec.join(" "),
        writable = writable.join(" "),
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A launchd LaunchAgent: started at login, restarted when it exits with a failure.
fn launchd_plist(exe: &Path, config: &Config, args: &SetupArgs) -> String {
    let program: String = std::iter::once(exe.display().to_string())
        .chain(serve_args(args))
        .map(|a| format!("    <string>{}</string>\n", xml(&a)))
        .collect();
    let env: String = environment(config)
        .into_iter()
        .map(|(k, v)| format!("    <key>{k}</key>\n    <string>{}</string>\n", xml(&v)))
        .collect();
    let log = config.dir.join("serve.log");
    format!(
        "\
<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">
<plist version=\"1.0\">
<dict>
  <key>Label</key>
  <string>dev.aivault.serve</string>
  <key>ProgramArguments</key>
  <array>
{program}  </array>
  <key>EnvironmentVariables</key>
  <dict>
{env}  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ProcessType</key>
  <string>Background</string>
  <key>Umask</key>
  <integer>63</integer>
  <key>SoftResourceLimits</key>
  <dict>
    <key>Core</key>
    <integer>0</integer>
  </dict>
  <key>StandardErrorPath</key>
  <string>{log}</string>
</dict>
</plist>
",
        log = xml(&log.display().to_string()),
    )
}
