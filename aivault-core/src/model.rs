//! The data model shared by the store, the registry and every wrapper: scopes, secret
//! metadata and credentials. Values never appear in these types.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::registry::AuthSpec;

/// Where a secret or credential lives. Serialized as the product brief does:
/// `"global"`, `{"workspace":{"workspace_id":"w"}}`, `{"group":{"workspace_id":"w","group_id":"g"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Visible to every caller.
    Global,
    /// Visible to callers in one workspace.
    Workspace {
        /// The workspace id.
        workspace_id: String,
    },
    /// Visible to callers in one group of one workspace.
    Group {
        /// The workspace id.
        workspace_id: String,
        /// The group id within the workspace.
        group_id: String,
    },
}

/// The three scope levels, as named on the command line (`--scope global|workspace|group`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// [`Scope::Global`].
    Global,
    /// [`Scope::Workspace`].
    Workspace,
    /// [`Scope::Group`].
    Group,
}

impl ScopeKind {
    /// The stable lower-case name (`global`, `workspace`, `group`), also the store's column value.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Global => "global",
            ScopeKind::Workspace => "workspace",
            ScopeKind::Group => "group",
        }
    }

    /// Parses a stable name back into a kind.
    pub fn parse(s: &str) -> Result<ScopeKind> {
        match s {
            "global" => Ok(ScopeKind::Global),
            "workspace" => Ok(ScopeKind::Workspace),
            "group" => Ok(ScopeKind::Group),
            other => Err(Error::invalid(format!(
                "unknown scope '{other}' (expected global, workspace or group)"
            ))),
        }
    }
}

impl Scope {
    /// Builds a scope from its kind and ids, enforcing the rules of the command line:
    /// `workspace` needs a workspace id, `group` needs both, a group id needs a workspace id,
    /// and `global` takes neither.
    pub fn from_parts(
        kind: ScopeKind,
        workspace_id: Option<&str>,
        group_id: Option<&str>,
    ) -> Result<Scope> {
        if group_id.is_some() && workspace_id.is_none() {
            return Err(Error::invalid("--group-id requires --workspace-id"));
        }
        match kind {
            ScopeKind::Global => {
                if workspace_id.is_some() || group_id.is_some() {
                    return Err(Error::invalid(
                        "--scope global takes no --workspace-id or --group-id (use --scope workspace or --scope group)",
                    ));
                }
                Ok(Scope::Global)
            }
            ScopeKind::Workspace => {
                let ws = workspace_id
                    .ok_or_else(|| Error::invalid("--scope workspace requires --workspace-id"))?;
                if group_id.is_some() {
                    return Err(Error::invalid(
                        "--scope workspace takes no --group-id (use --scope group)",
                    ));
                }
                Ok(Scope::Workspace {
                    workspace_id: validate_context_id("workspace id", ws)?,
                })
            }
            ScopeKind::Group => {
                let ws = workspace_id
                    .ok_or_else(|| Error::invalid("--scope group requires --workspace-id"))?;
                let g =
                    group_id.ok_or_else(|| Error::invalid("--scope group requires --group-id"))?;
                Ok(Scope::Group {
                    workspace_id: validate_context_id("workspace id", ws)?,
                    group_id: validate_context_id("group id", g)?,
                })
            }
        }
    }

    /// The scope's level.
    pub fn kind(&self) -> ScopeKind {
        match self {
            Scope::Global => ScopeKind::Global,
            Scope::Workspace { .. } => ScopeKind::Workspace,
            Scope::Group { .. } => ScopeKind::Group,
        }
    }

    /// The workspace id, for workspace and group scopes.
    pub fn workspace_id(&self) -> Option<&str> {
        match self {
            Scope::Global => None,
            Scope::Workspace { workspace_id } | Scope::Group { workspace_id, .. } => {
                Some(workspace_id)
            }
        }
    }

    /// The group id, for group scopes.
    pub fn group_id(&self) -> Option<&str> {
        match self {
            Scope::Group { group_id, .. } => Some(group_id),
            _ => None,
        }
    }
}

impl Scope {
    /// The context scope of optional workspace and group ids: none is global, a workspace id
    /// alone is that workspace, both are that group. A group id alone is refused.
    pub fn from_context(workspace_id: Option<&str>, group_id: Option<&str>) -> Result<Scope> {
        let kind = match (workspace_id, group_id) {
            (None, None) => ScopeKind::Global,
            (Some(_), None) => ScopeKind::Workspace,
            _ => ScopeKind::Group,
        };
        Scope::from_parts(kind, workspace_id, group_id)
    }

    /// Whether `self` is `other` or one of its ancestors (global ⊇ workspace(ws) ⊇ group(ws, g)):
    /// a secret in `self` may serve a credential or binding in `other`.
    pub fn covers(&self, other: &Scope) -> bool {
        match self {
            Scope::Global => true,
            Scope::Workspace { workspace_id } => other.workspace_id() == Some(workspace_id),
            Scope::Group { .. } => self == other,
        }
    }
}

/// `global`, `workspace:<ws>` or `group:<ws>:<g>`.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Workspace { workspace_id } => write!(f, "workspace:{workspace_id}"),
            Scope::Group {
                workspace_id,
                group_id,
            } => write!(f, "group:{workspace_id}:{group_id}"),
        }
    }
}

/// A (workspace, group) pair a global secret is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRef {
    /// The workspace id.
    pub workspace_id: String,
    /// The group id.
    pub group_id: String,
}

impl GroupRef {
    /// Validates both ids.
    pub fn new(workspace_id: &str, group_id: &str) -> Result<GroupRef> {
        Ok(GroupRef {
            workspace_id: validate_context_id("workspace id", workspace_id)?,
            group_id: validate_context_id("group id", group_id)?,
        })
    }
}

/// A secret's metadata: everything but the value. This is what listing and every
/// secret command print (field names are the product brief's camelCase JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretMeta {
    /// The secret's UUID.
    pub secret_id: String,
    /// The unique name within its scope.
    pub name: String,
    /// Extra unique labels within its scope, sorted.
    pub aliases: Vec<String>,
    /// Where the secret lives.
    pub scope: Scope,
    /// The registry provider this secret is pinned to (immutable once set).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pinned_provider: Option<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// Last change of name, aliases, groups or value, milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
    /// Starts at 1; each rotation adds 1.
    pub value_version: u64,
    /// Groups a global secret is attached to, sorted.
    pub attached_groups: Vec<GroupRef>,
}

impl SecretMeta {
    /// `vault:secret:<id>`, the reference credentials and bindings use.
    pub fn secret_ref(&self) -> String {
        format!("{SECRET_REF_PREFIX}{}", self.secret_id)
    }
}

/// Prefix of a secret reference (`vault:secret:<id>`).
pub const SECRET_REF_PREFIX: &str = "vault:secret:";

/// Parses `vault:secret:<uuid>` into the secret id.
pub fn parse_secret_ref(reference: &str) -> Result<String> {
    let id = reference
        .trim()
        .strip_prefix(SECRET_REF_PREFIX)
        .ok_or_else(|| Error::invalid("invalid secret ref (expected vault:secret:<id>)"))?;
    validate_secret_id(id)
}

/// Checks that `id` is a canonical lower-case UUID, as every secret id is.
pub fn validate_secret_id(id: &str) -> Result<String> {
    let id = id.trim();
    match uuid::Uuid::try_parse(id) {
        Ok(parsed) if parsed.hyphenated().to_string() == id => Ok(id.to_string()),
        _ => Err(Error::invalid(format!(
            "invalid secret id '{}' (expected a UUID such as 0b8f...-...)",
            printable(id)
        ))),
    }
}

/// Which credential links a secret: a credential id and the role the secret plays in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSecret {
    /// The placeholder name used by auth templates (`secret`, `key`, `token`, ...).
    pub role: String,
    /// `vault:secret:<id>`.
    pub secret_ref: String,
}

impl CredentialSecret {
    /// The role of one secret holding a JSON object of every role of the credential
    /// (`{"username": .., "password": ..}`), read into the roles at invoke. Not a valid
    /// `--secret-ref ROLE`, so it never clashes with a template's role.
    pub const ALL_ROLES: &'static str = "*";
}

/// Whether a credential was provisioned from the registry or created by an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialOrigin {
    /// Auto-provisioned when the provider's secrets were stored.
    Registry,
    /// Created with `credential create`.
    Custom,
}

impl CredentialOrigin {
    /// Stable name stored in the vault.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialOrigin::Registry => "registry",
            CredentialOrigin::Custom => "custom",
        }
    }
}

/// A credential: which secrets to inject, how, and towards which hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// Unique id (`openai`, `openai:ws:<ws>`, `openai:group:<ws>:<g>`, or an operator's own).
    pub id: String,
    /// The provider it serves.
    pub provider: String,
    /// The registry credential alternative it was provisioned from (`default` for most).
    pub alternative: String,
    /// Registry or custom.
    pub origin: CredentialOrigin,
    /// Its scope (the scope of the secrets it was provisioned from).
    pub scope: Scope,
    /// Auth strategy with templates (`{{secret}}`), never values.
    pub auth: AuthSpec,
    /// Allowed upstream hosts (patterns such as `*.myshopify.com` allowed).
    pub hosts: Vec<String>,
    /// The secrets it injects, by template role.
    pub secrets: Vec<CredentialSecret>,
    /// Capability ids this credential enables.
    pub capabilities: Vec<String>,
    /// Network opt-ins of an operator credential (private hosts, plain HTTP, a private CA).
    #[serde(default, skip_serializing_if = "NetworkOptions::is_default")]
    pub network: NetworkOptions,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// Last update time, milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
}

/// Network opt-ins of a custom (operator) credential. Registry credentials, and any credential
/// whose secret is pinned to a registry provider, never have them: DESIGN §6.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkOptions {
    /// May connect to loopback and private addresses (local model servers, tests).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private_network: bool,
    /// May use plain HTTP, towards a loopback address only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_http: bool,
    /// A private CA (PEM) trusted for this credential's hosts only, in addition to the web roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
}

impl NetworkOptions {
    /// True when nothing is opted in.
    pub fn is_default(&self) -> bool {
        *self == NetworkOptions::default()
    }
}

/// A capability an operator created (`capability create`), next to the registry's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomCapability {
    /// Unique id, distinct from every registry capability.
    pub id: String,
    /// The provider whose credentials serve it.
    pub provider: String,
    /// The one credential that serves it, when created with `--credential`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential: Option<String>,
    /// Allowed hosts (concrete or registry patterns).
    pub hosts: Vec<String>,
    /// Allowed upper-case methods.
    pub methods: Vec<String>,
    /// Allowed path prefixes (segment-aware).
    pub paths: Vec<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

/// Limits and response rules of one capability (`capability policy set`); every field is
/// optional and an empty policy restricts nothing beyond the capability itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Maximum invocations per minute, across processes.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    /// Maximum request body size.
    #[serde(default)]
    pub max_request_body_bytes: Option<u64>,
    /// Maximum response body size.
    #[serde(default)]
    pub max_response_body_bytes: Option<u64>,
    /// Strings redacted from response bodies.
    #[serde(default)]
    pub response_body_blocklist: Vec<String>,
}

impl Policy {
    /// Whether the policy sets nothing.
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }
}

/// A binding: for one capability, in one scope and optionally for one consumer, inject this
/// secret instead of the credential's own. One binding per (capability, scope, consumer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    /// The capability id.
    pub capability: String,
    /// The scope of callers it applies to.
    pub scope: Scope,
    /// The caller it applies to; `None` applies to every caller in the scope.
    #[serde(default)]
    pub consumer: Option<String>,
    /// `vault:secret:<id>`.
    pub secret_ref: String,
    /// Creation (or last re-binding) time, milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
}

/// Maximum length of names, aliases and ids.
pub const MAX_LABEL_LEN: usize = 256;

/// Validates a secret name or alias: trimmed, non-empty, at most 256 characters, no control
/// characters. Returns the trimmed label.
pub fn validate_label(what: &str, label: &str) -> Result<String> {
    let trimmed = label.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(format!("{what} cannot be empty")));
    }
    if trimmed.chars().count() > MAX_LABEL_LEN {
        return Err(Error::invalid(format!(
            "{what} is longer than {MAX_LABEL_LEN} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{what} '{}' contains control characters",
            printable(trimmed)
        )));
    }
    Ok(trimmed.to_string())
}

/// Validates a workspace or group id: 1–128 characters of `A-Z a-z 0-9 . _ -`.
pub fn validate_context_id(what: &str, id: &str) -> Result<String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(id.to_string())
    } else {
        Err(Error::invalid(format!(
            "invalid {what} '{}' (use 1-128 characters of A-Z, a-z, 0-9, '.', '_', '-')",
            printable(id)
        )))
    }
}

/// Normalizes aliases as the product brief does: validated, trimmed, de-duplicated, sorted.
pub fn normalize_aliases(aliases: &[String]) -> Result<Vec<String>> {
    let mut out = aliases
        .iter()
        .map(|a| validate_label("alias", a))
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// A short, printable rendering of user input for error messages (control characters escaped,
/// long input cut). Only for names and ids, never for values.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_default).collect();
    if s.chars().count() > 80 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_json_matches_the_brief() {
        assert_eq!(
            serde_json::to_string(&Scope::Global).expect("json"),
            r#""global""#
        );
        let ws = Scope::from_parts(ScopeKind::Workspace, Some("w"), None).expect("scope");
        assert_eq!(
            serde_json::to_string(&ws).expect("json"),
            r#"{"workspace":{"workspace_id":"w"}}"#
        );
        let g = Scope::from_parts(ScopeKind::Group, Some("w"), Some("g")).expect("scope");
        assert_eq!(
            serde_json::to_string(&g).expect("json"),
            r#"{"group":{"workspace_id":"w","group_id":"g"}}"#
        );
        assert_eq!(g.to_string(), "group:w:g");
    }

    #[test]
    fn scope_rules() {
        use ScopeKind::*;
        assert!(Scope::from_parts(Workspace, None, None).is_err());
        assert!(Scope::from_parts(Group, Some("w"), None).is_err());
        assert!(Scope::from_parts(Group, None, Some("g")).is_err());
        assert!(Scope::from_parts(Global, None, Some("g")).is_err());
        assert!(Scope::from_parts(Global, Some("w"), None).is_err());
        assert!(Scope::from_parts(Workspace, Some("w"), Some("g")).is_err());
        assert!(Scope::from_parts(Workspace, Some("bad id"), None).is_err());
        assert!(Scope::from_parts(Workspace, Some("a:b"), None).is_err());
    }

    #[test]
    fn labels_and_refs() {
        assert_eq!(validate_label("name", "  KEY ").expect("ok"), "KEY");
        assert!(validate_label("name", "   ").is_err());
        assert!(validate_label("name", "A\nB").is_err());
        assert_eq!(
            normalize_aliases(&["b".into(), " a".into(), "b".into()]).expect("ok"),
            ["a", "b"]
        );
        let id = "0b8f6a52-2f5e-4b43-9a8e-2b3c4d5e6f70";
        assert_eq!(
            parse_secret_ref(&format!("vault:secret:{id}")).expect("ok"),
            id
        );
        assert!(parse_secret_ref(id).is_err());
        assert!(parse_secret_ref("vault:secret:").is_err());
        assert!(parse_secret_ref("vault:secret:not-a-uuid").is_err());
    }
}
