//! Where the server listens and how it makes sure it is the only one: the socket's directory
//! (owned by this user, no symlink, not writable by others), a stale socket replaced only when
//! nothing answers on it, the socket's mode and group, and one server per vault (a lock file
//! naming the running server's pid).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use aivault_core::{Error, ErrorKind, Result};

fn io_error(what: String, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("aivault serve: {what}: {e}"))
}

/// The socket path: `--socket`, else `$AIVAULT_RUNTIME_DIR/broker.sock`, else
/// `$XDG_RUNTIME_DIR/aivault/broker.sock`, else `/tmp/aivault-<uid>/broker.sock`.
pub fn socket_path(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = flag {
        return std::path::absolute(path)
            .map_err(|e| io_error(format!("cannot resolve {}", path.display()), e));
    }
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = match (var("AIVAULT_RUNTIME_DIR"), var("XDG_RUNTIME_DIR")) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(xdg)) => PathBuf::from(xdg).join("aivault"),
        (None, None) => PathBuf::from(format!(
            "/tmp/aivault-{}",
            rustix::process::getuid().as_raw()
        )),
    };
    Ok(dir.join("broker.sock"))
}

/// Creates the socket's directory (0700) if needed; refuses one that is a symlink, is owned by
/// another user, or that others may write (they could replace the socket).
fn check_dir(dir: &Path) -> Result<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_error(format!("cannot create {}", dir.display()), e))?;
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| io_error(format!("cannot inspect {}", dir.display()), e))?;
    let refuse = |why: &str| {
        Err(Error::new(
            ErrorKind::PolicyViolation,
            format!(
                "aivault serve: refusing socket directory {}: {why}",
                dir.display()
            ),
        ))
    };
    if meta.file_type().is_symlink() {
        return refuse("it is a symlink");
    }
    if !meta.is_dir() {
        return refuse("it is not a directory");
    }
    if meta.uid() != rustix::process::getuid().as_raw() {
        return refuse("it is owned by another user");
    }
    if meta.mode() & 0o022 != 0 {
        return refuse("others may write to it");
    }
    Ok(())
}

/// Binds the socket with `mode` (`0600` or `0660`) and, for `0660`, `group`.
pub fn bind(socket: &Path, mode: &str, group: Option<&str>) -> Result<UnixListener> {
    let mode = match mode {
        "0600" | "600" => 0o600,
        "0660" | "660" => 0o660,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("--socket-mode must be 0600 or 0660, not {other:?}"),
            ));
        }
    };
    if group.is_some() && mode != 0o660 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "--socket-group needs --socket-mode 0660 (else the group cannot connect)",
        ));
    }
    let gid = group.map(group_id).transpose()?;
    let dir = socket
        .parent()
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "the socket path has no directory"))?;
    check_dir(dir)?;
    remove_stale(socket)?;
    let listener = UnixListener::bind(socket)
        .map_err(|e| io_error(format!("cannot listen on {}", socket.display()), e))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_error(format!("cannot set the mode of {}", socket.display()), e))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(socket, None, Some(gid)).map_err(|e| {
            io_error(
                format!(
                    "cannot give {} to group {gid} (the server's user must be a member)",
                    socket.display()
                ),
                e,
            )
        })?;
    }
    Ok(listener)
}

/// Removes a socket left by a crashed server; refuses when a server still answers there or
/// when the path is anything but a socket of this user's.
fn remove_stale(socket: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(socket) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() || meta.uid() != rustix::process::getuid().as_raw() {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "aivault serve: {} exists and is not a socket of this user: not replacing it",
                socket.display()
            ),
        ));
    }
    if UnixStream::connect(socket).is_ok() {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "aivault serve: a server already listens on {}",
                socket.display()
            ),
        ));
    }
    std::fs::remove_file(socket)
        .map_err(|e| io_error(format!("cannot remove the stale {}", socket.display()), e))
}

/// A group name or number to its id (names from /etc/group).
fn group_id(group: &str) -> Result<u32> {
    if let Ok(gid) = group.parse() {
        return Ok(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            (name == group).then_some(gid)
        })
        .next()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("--socket-group: no group named {group:?}"),
            )
        })
}

/// Takes the vault's server lock (`serve.lock` in the data directory), writing this pid in
/// it; a second server on the same vault fails naming the first one's pid. Held until the
/// returned file is dropped (the kernel releases it when the process dies).
pub fn lock_vault(dir: &Path) -> Result<File> {
    let path = dir.join("serve.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io_error(format!("cannot open {}", path.display()), e))?;
    let flags = rustix::fs::FlockOperation::NonBlockingLockExclusive;
    if rustix::fs::flock(&file, flags).is_err() {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "aivault serve: another server (pid {}) is serving this vault",
                pid.trim()
            ),
        ));
    }
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    written.map_err(|e| io_error(format!("cannot write {}", path.display()), e))?;
    Ok(file)
}
