//! `aivault proxy ca [--out PATH] [--rotate]`: the proxy's local CA certificate.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aivault_core::{Config, Error, ErrorKind, ProxyCa, Result};

use crate::cli::{ProxyCaArgs, ProxyCommand};
use crate::commands::open_vault;
use crate::output::Output;

/// Runs a `proxy` subcommand.
pub fn run(command: ProxyCommand, config: Config, out: &Output) -> Result<()> {
    match command {
        ProxyCommand::Ca(args) => ca(args, config, out),
    }
}

fn ca(args: ProxyCaArgs, config: Config, out: &Output) -> Result<()> {
    let vault = open_vault(config, out)?;
    let ca = if args.rotate {
        vault.rotate_proxy_ca()?
    } else {
        vault.proxy_ca()?
    };
    let pem = ca.certificate_pem();
    if let Some(path) = &args.out {
        write_public(path, pem.as_bytes())?;
    }
    if out.verbose {
        out.json(&serde_json::json!({
            "id": ca.id(),
            "certificatePem": pem,
            "permittedHosts": ca.permitted_hosts(),
            "out": args.out,
        }));
    } else if args.out.is_none() {
        print!("{pem}");
    }
    note(&ca, args.out.as_deref(), args.rotate, out);
    Ok(())
}

fn note(ca: &ProxyCa, path: Option<&Path>, rotated: bool, out: &Output) {
    let what = if rotated {
        "Proxy CA rotated"
    } else {
        "Proxy CA"
    };
    let target = path.map_or(String::new(), |p| format!(", written to {}", p.display()));
    out.note(&format!(
        "{what}: {} ({} permitted host patterns){target}",
        ca.id(),
        ca.permitted_hosts().len()
    ));
}

/// Writes a public file (mode 0644): a new file, or over an existing regular file; never
/// through a symlink (`O_NOFOLLOW`) nor over a directory, device or FIFO.
fn write_public(path: &Path, bytes: &[u8]) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::new(
            ErrorKind::PolicyViolation,
            format!("refusing to write {}: {why}", path.display()),
        ))
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_symlink() {
            return refuse("it is a symlink");
        }
        if !meta.is_file() {
            return refuse("it is not a regular file");
        }
    }
    let io = |e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!("cannot write {}: {e}", path.display()),
        )
    };
    let nofollow = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(nofollow.bits() as i32)
        .open(path)
        .map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return refuse("it is not a regular file");
    }
    file.set_len(0).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(io)?;
    file.sync_all().map_err(io)
}
