//! Where a vault lives and where its keys come from. [`Config::from_env`] is the one place
//! in the core that reads the process environment; everything else takes a [`Config`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::broker::netguard::{DevRoutes, HostLookup, SystemLookup};
use crate::error::{Error, Result};
use crate::sensitive::SecretValue;

/// Looks up a variable (the env key provider's key, `AIVAULT_PASSPHRASE`).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<SecretValue> + Send + Sync>;

/// Variable naming the vault directory.
pub const ENV_DIR: &str = "AIVAULT_DIR";
/// Variable naming the file provider's key file (overrides the default location).
pub const ENV_KEY_FILE: &str = "AIVAULT_KEY_FILE";
/// Default variable of the env key provider.
pub const ENV_KEY: &str = "AIVAULT_KEY";
/// Variable holding a passphrase vault's passphrase (an alternative to `aivault unlock`).
pub const ENV_PASSPHRASE: &str = "AIVAULT_PASSPHRASE";
/// Variable overriding where unlock sessions are kept.
pub const ENV_RUNTIME_DIR: &str = "AIVAULT_RUNTIME_DIR";
/// Test hook (debug builds only): stop forever at a named point so a test can kill the process.
pub const ENV_DEV_STALL: &str = "AIVAULT_DEV_STALL";
/// Test routing (debug builds only): `host=127.0.0.1:PORT,...` sends calls for `host` to a
/// loopback upstream, past the network guard.
pub const ENV_DEV_RESOLVE: &str = "AIVAULT_DEV_RESOLVE";
/// Test CA (debug builds only): a PEM file whose certificates replace the web roots, so a
/// loopback TLS server can stand in for `api.openai.com`.
pub const ENV_DEV_CA_CERT: &str = "AIVAULT_DEV_CA_CERT";

/// Settings of one vault handle.
#[derive(Clone)]
pub struct Config {
    /// The vault directory (holds `vault.db`).
    pub dir: PathBuf,
    /// The key file of file-provider vaults. It comes from configuration only, never from
    /// the database (see `README`, security): `AIVAULT_KEY_FILE`, else the default.
    pub default_key_file: PathBuf,
    /// Directory of unlock sessions of passphrase vaults.
    pub runtime_dir: PathBuf,
    /// Variable lookup for the env key provider and `AIVAULT_PASSPHRASE`.
    pub env: EnvLookup,
    /// Debug-build test hook, see [`ENV_DEV_STALL`].
    pub dev_stall: Option<String>,
    /// Debug-build test routing, see [`ENV_DEV_RESOLVE`].
    pub dev_routes: DevRoutes,
    /// Debug-build test CA (PEM), see [`ENV_DEV_CA_CERT`].
    pub dev_ca_cert: Option<String>,
    /// Name resolution of the broker (the system's; tests substitute a table to prove the
    /// network guard refuses what names resolve to).
    pub lookup: Arc<dyn HostLookup>,
    /// How invoke audit events are written (see [`AuditMode`]).
    pub audit: AuditMode,
}

/// How a handle writes the audit events of its broker calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuditMode {
    /// A writer thread with its own connection commits them in groups (long-lived handles:
    /// `aivault serve`, the bindings): one commit serves many calls.
    #[default]
    Background,
    /// Each event is committed on the handle's own connection before the call returns
    /// (one-shot processes such as a CLI `invoke`: no thread, no second connection).
    Inline,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("dir", &self.dir)
            .field("default_key_file", &self.default_key_file)
            .field("runtime_dir", &self.runtime_dir)
            .field("dev_stall", &self.dev_stall)
            .field("dev_routes", &self.dev_routes)
            .field("dev_ca_cert", &self.dev_ca_cert.is_some())
            .field("lookup", &self.lookup)
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A vault in `dir` with its key file inside it, unlock sessions in the per-user
    /// `/dev/shm/aivault-<uid>` (never the vault directory), and no variables (for embedding
    /// and tests; use [`Config::with_env`] to supply some).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Config {
        let dir = dir.into();
        Config {
            default_key_file: dir.join("kek.key"),
            // Without a uid the path is refused when a session is written (clear error).
            runtime_dir: crate::keys::default_runtime_dir()
                .unwrap_or_else(|_| PathBuf::from("/dev/shm/aivault")),
            dir,
            env: Arc::new(|_| None),
            dev_stall: None,
            dev_routes: DevRoutes::default(),
            dev_ca_cert: None,
            lookup: Arc::new(SystemLookup),
            audit: AuditMode::Background,
        }
    }

    /// Replaces the variable lookup.
    pub fn with_env(mut self, env: EnvLookup) -> Config {
        self.env = env;
        self
    }

    /// Reads the process environment:
    /// - `AIVAULT_DIR`: the vault directory, and the key file becomes `$AIVAULT_DIR/kek.key`;
    ///   otherwise `~/.aivault/data` with the key in `~/.aivault/keys/kek.key` (outside the
    ///   data, so a copy of the data alone cannot be decrypted).
    /// - `AIVAULT_KEY_FILE`: the file provider's key file instead of that default.
    /// - `AIVAULT_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/aivault`, else `/dev/shm/aivault-<uid>`:
    ///   where `aivault unlock` keeps its session (never the vault directory, so a copy of
    ///   the data taken while unlocked stays locked).
    /// - `AIVAULT_KEY` (or the env provider's configured variable) and `AIVAULT_PASSPHRASE`
    ///   are read lazily, only when a key is needed.
    ///
    /// # Errors
    /// `invalid_input` when no home directory is known and `AIVAULT_DIR` is unset, or when the
    /// debug-only `AIVAULT_DEV_STALL` hook is set in a release build.
    pub fn from_env() -> Result<Config> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let (dir, default_key_file) = match var(ENV_DIR) {
            Some(dir) => {
                let dir = absolute(Path::new(&dir))?;
                (dir.clone(), dir.join("kek.key"))
            }
            None => {
                let home = var("HOME").ok_or_else(|| {
                    Error::invalid("neither AIVAULT_DIR nor HOME is set: cannot locate the vault")
                })?;
                let root = PathBuf::from(home).join(".aivault");
                (root.join("data"), root.join("keys").join("kek.key"))
            }
        };
        let default_key_file = match var(ENV_KEY_FILE) {
            Some(path) => absolute(Path::new(&path))?,
            None => default_key_file,
        };
        let runtime_dir = match (var(ENV_RUNTIME_DIR), var("XDG_RUNTIME_DIR")) {
            (Some(dir), _) => absolute(Path::new(&dir))?,
            (None, Some(xdg)) => PathBuf::from(xdg).join("aivault"),
            (None, None) => crate::keys::default_runtime_dir()?,
        };
        let dev = |name: &str| -> Result<Option<String>> {
            let value = var(name).map(|v| v.to_string_lossy().into_owned());
            if value.is_some() && !cfg!(debug_assertions) {
                return Err(Error::invalid(format!(
                    "{name} is a test hook that release builds refuse; unset it"
                )));
            }
            Ok(value)
        };
        let dev_stall = dev(ENV_DEV_STALL)?;
        let dev_routes = match dev(ENV_DEV_RESOLVE)? {
            Some(spec) => DevRoutes::parse(&spec)?,
            None => DevRoutes::default(),
        };
        let dev_ca_cert =
            match dev(ENV_DEV_CA_CERT)? {
                Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                    Error::io(format!("cannot read {ENV_DEV_CA_CERT} file {path}"), e)
                })?),
                None => None,
            };
        Ok(Config {
            dir,
            default_key_file,
            runtime_dir,
            env: Arc::new(|name| std::env::var(name).ok().map(SecretValue::from)),
            dev_stall,
            dev_routes,
            dev_ca_cert,
            lookup: Arc::new(SystemLookup),
            audit: AuditMode::Background,
        })
    }

    /// The configuration a language binding (C, Python, Node) opens: with `dir`, as
    /// `AIVAULT_DIR=dir` (the key file beside the database unless `AIVAULT_KEY_FILE` names it);
    /// without, the default vault, as [`Config::from_env`]. Key variables (`AIVAULT_KEY`,
    /// `AIVAULT_PASSPHRASE`) and the runtime directory still come from the environment. The
    /// test-only routing and stall hooks are cleared: no binding can ever reach them.
    ///
    /// # Errors
    /// As [`Config::from_env`]; `io` when `dir` cannot be made absolute.
    pub fn for_binding(dir: Option<&Path>) -> Result<Config> {
        let config = Config::from_env()?;
        let config = match dir {
            Some(dir) => {
                let dir = absolute(dir)?;
                let default_key_file = if std::env::var_os(ENV_KEY_FILE).is_some() {
                    config.default_key_file.clone()
                } else {
                    dir.join("kek.key")
                };
                Config {
                    default_key_file,
                    dir,
                    ..config
                }
            }
            None => config,
        };
        Ok(Config {
            dev_stall: None,
            dev_routes: DevRoutes::default(),
            dev_ca_cert: None,
            ..config
        })
    }

    /// Path of the database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("vault.db")
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path)
        .map_err(|e| Error::io(format!("cannot resolve {}", path.display()), e))
}
