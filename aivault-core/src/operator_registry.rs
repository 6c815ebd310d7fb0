//! Operator providers: TOML files in `<vault dir>/registry/` (same schema as the built-in
//! `registry/*.toml`) that add providers next to the built-in ones. An operator file may add
//! providers, but never redefine a built-in provider, capability or claimed secret name: a
//! file that tries, or does not parse, is skipped with a warning naming the file and line, and
//! every other provider keeps working.
//!
//! Whoever can write the data directory can drop a file here, so a file is used only once the
//! operator trusted it (`aivault provider trust FILE`): the vault records its name and SHA-256
//! in an authenticated row. A new or changed file is skipped with a warning until then.

use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::registry::{ProviderDef, Registry};

/// The registry a vault uses: the built-in one, or the built-in one extended with operator
/// providers.
#[derive(Debug)]
pub enum RegistryRef {
    /// Only the embedded providers (no operator files).
    Builtin(&'static Registry),
    /// Embedded plus operator providers.
    Extended(Box<Registry>),
}

impl Deref for RegistryRef {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        match self {
            RegistryRef::Builtin(registry) => registry,
            RegistryRef::Extended(registry) => registry,
        }
    }
}

/// The directory operator provider files are read from.
pub fn operator_registry_dir(vault_dir: &Path) -> PathBuf {
    vault_dir.join("registry")
}

/// The id of a trust row: `<file name>:<sha256 of its bytes, hex>`.
pub(crate) fn trust_id(file_name: &str, bytes: &[u8]) -> String {
    use sha2::Digest;
    format!(
        "{file_name}:{}",
        crate::crypto::to_hex(&sha2::Sha256::digest(bytes))
    )
}

/// The SHA-256 (hex) of a trust id.
pub(crate) fn trust_file_name_hash(id: &str) -> &str {
    id.rsplit_once(':').map_or("", |(_, hash)| hash)
}

/// The file name of a trust id.
pub(crate) fn trust_file_name(id: &str) -> &str {
    id.rsplit_once(':').map_or(id, |(name, _)| name)
}

/// Checks one operator file as [`load`] would, for `provider trust`: returns its provider.
///
/// # Errors
/// `invalid_input` naming the problem (parse error with line and column, a redefinition).
pub(crate) fn check_file(path: &Path) -> crate::error::Result<ProviderDef> {
    let builtin = Registry::builtin();
    load_file(path, builtin, builtin.providers()).map_err(crate::error::Error::invalid)
}

/// The trust ids of every file in `<vault_dir>/registry/` the loader accepts (the upgrade of
/// a vault that used operator providers before they needed trust).
pub(crate) fn loadable_trust_ids(vault_dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    let Ok(entries) = std::fs::read_dir(operator_registry_dir(vault_dir)) else {
        return ids;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    let builtin = Registry::builtin();
    let mut accepted = builtin.providers().to_vec();
    for path in files {
        if let (Ok(provider), Ok(bytes)) =
            (load_file(&path, builtin, &accepted), std::fs::read(&path))
        {
            accepted.push(provider);
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            ids.push(trust_id(&name, &bytes));
        }
    }
    ids
}

/// Loads the built-in registry plus every valid `*.toml` in `<vault_dir>/registry/` (sorted
/// by file name) that `trusted` returns true for (given its trust id; it is asked only when
/// there are files). Returns the registry, one warning per skipped file, and the trust ids
/// of the files in use (their rows are authenticated at the first keyed call).
pub fn load(
    vault_dir: &Path,
    trusted: &mut dyn FnMut() -> Vec<String>,
) -> (RegistryRef, Vec<String>, Vec<String>) {
    match list_files(vault_dir) {
        Ok(files) if files.is_empty() => (
            RegistryRef::Builtin(Registry::builtin()),
            Vec::new(),
            Vec::new(),
        ),
        Ok(files) => load_files(&files, &trusted()),
        Err(warning) => (
            RegistryRef::Builtin(Registry::builtin()),
            vec![warning],
            Vec::new(),
        ),
    }
}

/// The `*.toml` files of `<vault_dir>/registry/`, sorted by name (none when the directory
/// does not exist), or the warning that it cannot be read.
fn list_files(vault_dir: &Path) -> std::result::Result<Vec<PathBuf>, String> {
    let dir = operator_registry_dir(vault_dir);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(format!(
                "{}: cannot read operator providers: {e}",
                dir.display()
            ));
        }
    };
    files.sort();
    Ok(files)
}

/// [`load`] of listed files, given the trust ids the vault holds.
fn load_files(files: &[PathBuf], trusted: &[String]) -> (RegistryRef, Vec<String>, Vec<String>) {
    let builtin = Registry::builtin();
    let mut providers = builtin.providers().to_vec();
    let mut warnings = Vec::new();
    let mut in_use = Vec::new();
    for path in files {
        let provider = load_file(path, builtin, &providers).and_then(|provider| {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let id = trust_id(&name, &bytes);
            if !trusted.contains(&id) {
                return Err(format!(
                    "{}: not trusted (new, or changed since it was trusted): review it, then run `aivault provider trust {}`",
                    path.display(),
                    path.display()
                ));
            }
            in_use.push(id);
            Ok(provider)
        });
        match provider {
            Ok(provider) => providers.push(provider),
            Err(problem) => warnings.push(format!("{problem}; provider file skipped")),
        }
    }
    if providers.len() == builtin.providers().len() {
        return (RegistryRef::Builtin(builtin), warnings, Vec::new());
    }
    match Registry::from_providers(providers) {
        Ok(registry) => (RegistryRef::Extended(Box::new(registry)), warnings, in_use),
        // Unreachable: every accepted file was indexed together with its predecessors.
        Err(e) => {
            warnings.push(format!("operator providers ignored: {}", e.message()));
            (RegistryRef::Builtin(builtin), warnings, Vec::new())
        }
    }
}

/// A vault's registry, loaded at its first use: a command that needs no provider (`status`,
/// `secrets list`) never builds one. The operator files are listed, and the trust ids the
/// vault holds for them read, when the vault is opened (so the load never needs the store
/// and sees exactly what [`load`] would have seen then); the files themselves are read and
/// checked at the first use, as strictly as [`load`] does.
#[derive(Debug)]
pub(crate) struct LazyRegistry {
    /// The operator files, or the warning that their directory cannot be read.
    files: std::result::Result<Vec<PathBuf>, String>,
    /// The trust ids the vault held at open (read only when there are files).
    trusted: Vec<String>,
    loaded: std::sync::OnceLock<(RegistryRef, Vec<String>, Vec<String>)>,
}

impl LazyRegistry {
    /// Lists the operator files of `vault_dir`; `trusted` is asked only when there are some.
    pub(crate) fn open(vault_dir: &Path, trusted: &mut dyn FnMut() -> Vec<String>) -> LazyRegistry {
        let files = list_files(vault_dir);
        let trusted = match &files {
            Ok(files) if !files.is_empty() => trusted(),
            _ => Vec::new(),
        };
        LazyRegistry {
            files,
            trusted,
            loaded: std::sync::OnceLock::new(),
        }
    }

    fn has_files(&self) -> bool {
        self.files.as_ref().is_ok_and(|files| !files.is_empty())
    }

    fn loaded(&self) -> &(RegistryRef, Vec<String>, Vec<String>) {
        self.loaded.get_or_init(|| match &self.files {
            Ok(files) if !files.is_empty() => load_files(files, &self.trusted),
            Ok(_) => (
                RegistryRef::Builtin(Registry::builtin()),
                Vec::new(),
                Vec::new(),
            ),
            Err(warning) => (
                RegistryRef::Builtin(Registry::builtin()),
                vec![warning.clone()],
                Vec::new(),
            ),
        })
    }

    /// Whether the registry was loaded (tests: what loads it).
    #[cfg(test)]
    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded.get().is_some()
    }

    /// The registry: built-in providers plus the trusted operator files.
    pub(crate) fn registry(&self) -> &Registry {
        &self.loaded().0
    }

    /// One line per skipped operator file (loads the registry only when there are files).
    pub(crate) fn warnings(&self) -> &[String] {
        match &self.files {
            Ok(files) if files.is_empty() => &[],
            Err(warning) => std::slice::from_ref(warning),
            Ok(_) => &self.loaded().1,
        }
    }

    /// The trust ids of the operator files in use (loads the registry only when there are
    /// files: without files none is in use).
    pub(crate) fn in_use(&self) -> &[String] {
        if self.has_files() {
            &self.loaded().2
        } else {
            &[]
        }
    }
}

/// Parses and checks one operator file against the built-in registry and the providers
/// accepted so far.
fn load_file(
    path: &Path,
    builtin: &Registry,
    accepted: &[ProviderDef],
) -> std::result::Result<ProviderDef, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let mut provider: ProviderDef = toml::from_str(&text).map_err(|e| {
        let (line, column) = e
            .span()
            .map_or((1, 1), |span| line_column(&text, span.start));
        format!("{shown}:{line}:{column}: {}", e.message().trim())
    })?;
    provider.source = shown.to_string();
    if builtin.provider(&provider.id).is_some() {
        return Err(format!(
            "{shown}: provider '{}' is built in and cannot be redefined",
            provider.id
        ));
    }
    for capability in &provider.capabilities {
        if builtin.capability(&capability.id).is_some() {
            return Err(format!(
                "{shown}: capability '{}' is built in and cannot be redefined",
                capability.id
            ));
        }
    }
    for credential in &provider.credentials {
        for name in credential
            .secrets
            .values()
            .chain(credential.optional_secrets.values())
        {
            if let Some(claim) = builtin.claim(name) {
                return Err(format!(
                    "{shown}: secret name '{name}' is claimed by built-in provider '{}'",
                    claim.provider.id
                ));
            }
        }
    }
    let alone = Registry::from_providers(vec![provider.clone()]).map_err(|e| e.to_string())?;
    let problems = alone.problems();
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let mut together = accepted.to_vec();
    together.push(provider.clone());
    Registry::from_providers(together).map_err(|e| e.message().to_string())?;
    Ok(provider)
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACME: &str = r#"
id = "acme"
name = "Acme"
hosts = ["api.acme-corp.com"]
[[credentials]]
secrets = { secret = "ACME_API_KEY" }
auth = { kind = "header", header_name = "x-api-key", value_template = "{{secret}}" }
[[capabilities]]
id = "acme/items"
methods = ["GET"]
paths = ["/v1/items"]
"#;

    /// Without operator files the vault's store is never asked for trust ids and nothing is
    /// loaded until the registry is used; warnings and trust ids are known without loading.
    #[test]
    fn without_files_nothing_is_read_or_loaded_before_first_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut asked = 0;
        let lazy = LazyRegistry::open(dir.path(), &mut || {
            asked += 1;
            Vec::new()
        });
        assert_eq!(asked, 0);
        assert!(lazy.warnings().is_empty());
        assert!(lazy.in_use().is_empty());
        assert!(lazy.loaded.get().is_none(), "loaded before first use");
        assert!(lazy.registry().provider("openai").is_some());
        assert!(lazy.loaded.get().is_some());
    }

    /// With files, the trust ids are read at open (the load never needs the store); the files
    /// are read and checked at first use, exactly as `load` does: an untrusted file is skipped
    /// with a warning, a trusted one is used and its trust id reported for the keyed check.
    #[test]
    fn files_are_checked_at_first_use_against_the_trust_read_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry_dir = operator_registry_dir(dir.path());
        std::fs::create_dir(&registry_dir).expect("mkdir");
        std::fs::write(registry_dir.join("acme.toml"), ACME).expect("write");
        let id = trust_id("acme.toml", ACME.as_bytes());

        let mut asked = 0;
        let untrusted = LazyRegistry::open(dir.path(), &mut || {
            asked += 1;
            Vec::new()
        });
        assert_eq!(asked, 1);
        assert!(untrusted.loaded.get().is_none(), "loaded at open");
        let warnings = untrusted.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("not trusted"), "{warnings:?}");
        assert!(untrusted.registry().provider("acme").is_none());
        assert!(untrusted.in_use().is_empty());

        let trusted = LazyRegistry::open(dir.path(), &mut || vec![id.clone()]);
        assert!(trusted.loaded.get().is_none(), "loaded at open");
        assert_eq!(trusted.in_use(), std::slice::from_ref(&id));
        assert!(trusted.warnings().is_empty());
        assert!(trusted.registry().provider("acme").is_some());
        assert!(trusted.registry().provider("openai").is_some());

        // Changed between open and first use: its new bytes are not the trusted ones.
        let changed = LazyRegistry::open(dir.path(), &mut || vec![id.clone()]);
        std::fs::write(
            registry_dir.join("acme.toml"),
            ACME.replace("Acme", "Evil Acme"),
        )
        .expect("change");
        assert!(changed.registry().provider("acme").is_none());
        assert!(changed.in_use().is_empty());
        assert_eq!(changed.warnings().len(), 1);
    }

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }
}
