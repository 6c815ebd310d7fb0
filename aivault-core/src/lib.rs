//! aivault-core: a local vault of encrypted secrets that callers never read.
//!
//! Secrets are stored with envelope encryption in one SQLite database; a registry of
//! providers pins each known secret name to its provider and provisions the credential and
//! capabilities that let a broker inject it on the wire. [`Vault`] is the one API every
//! wrapper (CLI, C, Python, Node) calls.
//!
//! ```no_run
//! use aivault_core::{Config, NewSecret, Scope, Vault};
//!
//! let vault = Vault::open(Config::in_dir("/tmp/my-vault"))?;
//! let outcome = vault.create_secret(NewSecret {
//!     name: "OPENAI_API_KEY".into(),
//!     value: "sk-example".into(),
//!     scope: Scope::Global,
//!     aliases: vec![],
//! })?;
//! assert_eq!(outcome.secret.pinned_provider.as_deref(), Some("openai"));
//! # Ok::<(), aivault_core::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod audit;
mod audit_queue;
mod bindings;
pub mod broker;
pub mod caller_files;
mod capabilities;
mod catalog;
pub mod codex;
pub mod config;
mod credentials;
pub mod crypto;
pub mod dotenv;
pub mod envelope;
pub mod error;
mod forwarded;
#[doc(hidden)]
pub mod fuzzing;
mod hosts;
mod integrity;
pub mod keys;
pub mod migrate;
pub mod model;
pub mod oauth_setup;
pub mod operator_registry;
mod overlap;
mod provider_trust;
pub mod provision;
mod proxy_ca;
mod refusal_throttle;
pub mod registry;
mod registry_static;
pub mod remote;
pub mod requests;
mod resolve;
mod route;
mod secrets;
pub mod sensitive;
pub mod store;
pub mod tokens;
mod vault;
mod verify;

pub use audit::{AuditEvent, AuditVerification};
pub use bindings::{BindOutcome, BindingFilter, NewBinding, UnbindOutcome};
pub use broker::{
    BufferedResponse, Decoded, FileReferences, Invocation, InvokeResponse, MultipartPart, Planned,
    RequestBody, ResponseStream,
};
pub use capabilities::{
    CapabilityDeletion, CapabilityOrigin, CapabilityPolicy, CapabilityView, NewCapability,
    PolicyUpdate,
};
pub use catalog::{
    Allow, CallShape, CapabilityDescription, CapabilityInfo, CapabilityListing, PolicyEntry, Setup,
};
pub use config::{AuditMode, Config};
pub use credentials::{AuthOptions, CredentialDeletion, NewCredential};
pub use error::{Error, ErrorKind, Result};
pub use keys::KeyProviderKind;
pub use model::{
    Binding, Credential, CredentialOrigin, CustomCapability, GroupRef, NetworkOptions, Policy,
    Scope, ScopeKind, SecretMeta,
};
pub use provider_trust::TrustedProviderFile;
pub use provision::Provisioning;
pub use proxy_ca::{ProxyCa, ProxyLeaf};
pub use registry::Registry;
pub use resolve::{Plan, PlanContext};
pub use route::Route;
pub use secrets::{
    DeleteOutcome, ImportReport, NewSecret, SecretOutcome, SecretUpdate, SecretsCheck,
};
pub use sensitive::{Key32, SecretValue};
pub use store::{AuditQuery, SecretFilter};
pub use tokens::{CreatedToken, NewToken, TokenGrant, TokenMeta};
pub use vault::{InitOptions, NewMasterKey, Status, StatusCounts, StatusPaths, Vault, VaultState};
pub use verify::VaultVerification;
