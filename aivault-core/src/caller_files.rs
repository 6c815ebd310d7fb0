//! Files a caller names (`--body-file-path`, `--multipart-file`, `--request-file`, a request's
//! `{"file": PATH}` part): the broker sends their bytes upstream, where an echoing or storing
//! endpoint hands them back to the caller. So a caller-named file must never be one of the
//! vault's own (the key file, the database, an unlock session) nor a pseudo-file that exposes
//! process state (`/proc/self/environ` holds `AIVAULT_KEY`).
//!
//! The check is made on the file actually opened: it is opened first (non-blocking, so a FIFO
//! cannot hang the call), then its real path (from `/proc/self/fd`, after every symlink) and
//! its inode (a hard link to the key file has another path but the same inode) are compared
//! with the protected places. Only a regular file is read, and never past the size cap.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};

/// The most a caller-named file may hold when the capability's policy sets no request cap.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

/// System pseudo-filesystems: never a caller's document, often process secrets.
const SYSTEM_ROOTS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The places a caller-named file may not come from: the vault's data directory, its key
/// directory, its session directory, the key file itself (and its staged copies), and
/// `/proc`, `/sys`, `/dev`.
#[derive(Debug, Clone, Default)]
pub struct ProtectedPaths {
    /// Directories (canonical where they exist) whose contents are refused.
    dirs: Vec<PathBuf>,
    /// (device, inode) of every file in them, so a hard link elsewhere is refused too.
    inodes: HashSet<(u64, u64)>,
}

impl ProtectedPaths {
    /// The protected places of the vault `config` describes, whose key file (file provider)
    /// is `key_file`.
    pub fn for_vault(config: &Config, key_file: Option<&Path>) -> ProtectedPaths {
        let mut protected = ProtectedPaths::default();
        for root in SYSTEM_ROOTS {
            protected.add_dir(Path::new(root), false);
        }
        protected.add_dir(&config.dir, true);
        protected.add_dir(&config.runtime_dir, true);
        if let Some(dir) = config.default_key_file.parent() {
            protected.add_dir(dir, true);
        }
        if let Some(key_file) = key_file {
            protected.add_key_file(key_file);
        }
        protected
    }

    fn add_dir(&mut self, dir: &Path, with_inodes: bool) {
        let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        if with_inodes {
            self.add_inodes_under(&canonical, 2);
        }
        for path in [dir.to_path_buf(), canonical] {
            if !self.dirs.contains(&path) {
                self.dirs.push(path);
            }
        }
    }

    /// Records the inodes of the files under `dir`, `depth` levels deep (the data directory
    /// holds `registry/`).
    fn add_inodes_under(&mut self, dir: &Path, depth: u32) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() {
                self.inodes.insert((meta.dev(), meta.ino()));
            } else if meta.is_dir() && depth > 1 {
                self.add_inodes_under(&entry.path(), depth - 1);
            }
        }
    }

    /// The key file, wherever the operator put it, and its staged copies beside it (never
    /// its whole directory, which may be the operator's home).
    fn add_key_file(&mut self, key_file: &Path) {
        let name = key_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = key_file.parent().unwrap_or(Path::new("/"));
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with(&name) {
                continue;
            }
            if let Ok(meta) = entry.metadata() {
                self.inodes.insert((meta.dev(), meta.ino()));
            }
        }
    }

    /// Reads the caller-named file `path` (`what` names the flag in errors), refusing more
    /// than `limit` bytes (default [`DEFAULT_MAX_FILE_BYTES`]) before and while reading.
    ///
    /// # Errors
    /// - `io` when it does not exist or cannot be read (one message, naming only `path`);
    /// - `invalid_input` when it is not a regular file (a directory, FIFO, socket, device);
    /// - `policy_violation` when it is one of the vault's own files, lies in a protected
    ///   directory, or exceeds the cap.
    pub fn read(&self, path: &Path, what: &str, limit: Option<u64>) -> Result<Vec<u8>> {
        let (mut file, len) = self.open(path, what)?;
        let cap = limit.unwrap_or(DEFAULT_MAX_FILE_BYTES);
        let too_big = |len: u64| {
            Error::new(
                ErrorKind::PolicyViolation,
                format!(
                    "{what} {} ({len} bytes) exceeds the request body cap of {cap} bytes",
                    path.display()
                ),
            )
        };
        if len > cap {
            return Err(too_big(len));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        (&mut file)
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("cannot read {what} {}", path.display()), e))?;
        if bytes.len() as u64 > cap {
            return Err(too_big(bytes.len() as u64));
        }
        Ok(bytes)
    }

    /// The size of the caller-named file `path`, after the same checks as [`Self::read`].
    pub fn len(&self, path: &Path, what: &str) -> Result<u64> {
        self.open(path, what).map(|(_, len)| len)
    }

    /// Opens `path` without blocking and checks what was opened; returns it with its size.
    fn open(&self, path: &Path, what: &str) -> Result<(File, u64)> {
        let shown = path.display();
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| {
                let kind = e.kind();
                Error::io(
                    format!("cannot read {what} {shown}"),
                    std::io::Error::new(kind, "no such readable file"),
                )
            })?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("cannot read {what} {shown}"), e))?;
        let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .or_else(|_| std::fs::canonicalize(path))
            .unwrap_or_else(|_| path.to_path_buf());
        let inside = self.dirs.iter().any(|dir| real.starts_with(dir))
            || self.inodes.contains(&(meta.dev(), meta.ino()));
        if inside {
            return Err(Error::new(
                ErrorKind::PolicyViolation,
                format!(
                    "{what} {shown} is refused: the broker never sends the vault's own files (data, key and session directories) nor anything under /proc, /sys or /dev"
                ),
            ));
        }
        if !meta.is_file() {
            return Err(Error::invalid(format!(
                "{what} {shown} is not a regular file"
            )));
        }
        Ok((file, meta.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protected(dir: &Path) -> (Config, ProtectedPaths) {
        let config = Config::in_dir(dir.join("vault"));
        std::fs::create_dir_all(&config.dir).expect("ok");
        std::fs::write(config.dir.join("kek.key"), "k").expect("ok");
        let protected = ProtectedPaths::for_vault(&config, Some(&config.dir.join("kek.key")));
        (config, protected)
    }

    #[test]
    fn the_vaults_files_links_and_pseudo_files_are_refused() {
        let tmp = tempfile::tempdir().expect("ok");
        let (config, protected) = protected(tmp.path());
        let key = config.dir.join("kek.key");
        let symlink = tmp.path().join("innocent.txt");
        std::os::unix::fs::symlink(&key, &symlink).expect("ok");
        let hardlink = tmp.path().join("copy.txt");
        std::fs::hard_link(&key, &hardlink).expect("ok");
        for path in [
            key.clone(),
            symlink,
            hardlink,
            config.dir.join("..").join("vault").join("kek.key"),
            PathBuf::from("/proc/self/environ"),
            PathBuf::from("/dev/zero"),
        ] {
            let err = protected
                .read(&path, "--body-file-path", None)
                .expect_err("refused");
            assert_eq!(
                err.kind(),
                ErrorKind::PolicyViolation,
                "{}: {err}",
                path.display()
            );
        }
    }

    #[test]
    fn fifos_directories_missing_files_and_caps() {
        let tmp = tempfile::tempdir().expect("ok");
        let (_, protected) = protected(tmp.path());
        let fifo = tmp.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("ok");
        assert!(status.success());
        let err = protected.read(&fifo, "f", None).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = protected.read(tmp.path(), "f", None).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let missing = tmp.path().join("missing");
        let err = protected.read(&missing, "f", None).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        assert!(err.message().contains("no such readable file"), "{err}");
        let file = tmp.path().join("ten");
        std::fs::write(&file, b"0123456789").expect("ok");
        assert_eq!(
            protected.read(&file, "f", Some(10)).expect("ok"),
            b"0123456789"
        );
        let err = protected.read(&file, "f", Some(9)).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    }
}
