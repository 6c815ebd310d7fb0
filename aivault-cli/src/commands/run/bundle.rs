//! The CA bundle a child of `aivault run` trusts: the system's roots (so hosts outside the
//! vault, reached through a passthrough or directly, still verify) plus aivault's proxy CA.
//!
//! `run` writes it 0600 in a private 0700 directory removed when the child exits;
//! `--print-env` writes it 0644 at a stable path (replaced atomically, never through a
//! symlink) for a harness configured once.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aivault_core::{Error, ErrorKind, Result};

/// The usual places of the system's bundle: Debian, Ubuntu and Alpine; Fedora and RHEL;
/// openSUSE; macOS and the BSDs.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The largest system bundle read (a few hundred KiB is usual).
const MAX_BUNDLE: u64 = 16 << 20;

/// The system's roots: the parent's `SSL_CERT_FILE` when set, else the first usual bundle
/// that exists; `None` when there is none (the child then trusts aivault's CA alone).
pub fn system_roots() -> Option<(PathBuf, String)> {
    let from_env = std::env::var_os("SSL_CERT_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    from_env
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find_map(|path| {
            let mut text = String::new();
            std::fs::File::open(&path)
                .ok()?
                .take(MAX_BUNDLE)
                .read_to_string(&mut text)
                .ok()?;
            text.contains("-----BEGIN CERTIFICATE-----")
                .then_some((path, text))
        })
}

/// The bundle's text: the system roots, then aivault's CA under a comment naming it.
pub fn compose(system: Option<&str>, ca_pem: &str) -> String {
    let mut text = system.unwrap_or_default().to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("\n# aivault proxy CA (aivault proxy ca)\n");
    text.push_str(ca_pem.trim_end());
    text.push('\n');
    text
}

/// A bundle in a private temporary directory, removed with it.
pub struct TempBundle {
    _dir: tempfile::TempDir,
    /// The bundle file.
    pub path: PathBuf,
}

/// Writes `text` as `ca-bundle.pem` (0600) in a new 0700 directory under the temporary
/// directory.
///
/// # Errors
/// `io` when the directory or file cannot be written.
pub fn temporary(text: &str) -> Result<TempBundle> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("aivault-run-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(|e| io("cannot create a private directory for the CA bundle", e))?;
    let path = dir.path().join("ca-bundle.pem");
    write_new(&path, text, 0o600)?;
    Ok(TempBundle { _dir: dir, path })
}

/// The default path of `--print-env`'s bundle: `$XDG_CACHE_HOME/aivault/proxy-ca-bundle.pem`,
/// else `~/.cache/aivault/proxy-ca-bundle.pem`.
///
/// # Errors
/// `invalid_input` when neither XDG_CACHE_HOME nor HOME is set.
pub fn default_path() -> Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let cache = match (var("XDG_CACHE_HOME"), var("HOME")) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(home)) => PathBuf::from(home).join(".cache"),
        (None, None) => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "neither XDG_CACHE_HOME nor HOME is set: pass --ca-bundle PATH",
            ));
        }
    };
    Ok(cache.join("aivault").join("proxy-ca-bundle.pem"))
}

/// Writes `text` to `path` (0644) by writing a new file next to it and renaming it over:
/// readers never see half a bundle, and a symlink at `path` is replaced, never followed.
/// A missing parent directory is created 0700.
///
/// # Errors
/// `io` when the file cannot be written; `invalid_input` when `path` is a directory.
pub fn write_stable(path: &Path, text: &str) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if path.is_dir() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("--ca-bundle {} is a directory", path.display()),
        ));
    }
    if !parent.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&parent)
            .map_err(|e| io(&format!("cannot create {}", parent.display()), e))?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    let temp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    write_new(&temp, text, 0o644)?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io(&format!("cannot write {}", path.display()), e)
    })
}

/// Creates `path` (never an existing file) with `mode` and writes `text`.
fn write_new(path: &Path, text: &str, mode: u32) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io(&format!("cannot create {}", path.display()), e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io(&format!("cannot write {}", path.display()), e))
}

fn io(what: &str, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("aivault run: {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_ends_with_aivaults_ca() {
        let text = compose(
            Some("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----"),
            "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n",
        );
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\nA\n"));
        assert!(text.ends_with("B\n-----END CERTIFICATE-----\n"));
        assert!(compose(None, "X").ends_with("X\n"));
    }

    #[test]
    fn a_stable_bundle_replaces_a_symlink_without_following_it() {
        let dir = tempfile::tempdir().expect("dir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").expect("victim");
        let path = dir.path().join("sub").join("bundle.pem");
        write_stable(&path, "one").expect("write");
        std::fs::remove_file(&path).expect("rm");
        std::os::unix::fs::symlink(&victim, &path).expect("link");
        write_stable(&path, "two").expect("write");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two");
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        assert!(meta.file_type().is_file());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    }
}
