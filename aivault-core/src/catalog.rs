//! Read-only views of what the vault enables: credentials, and capabilities grouped as
//! ready (a credential enables them) or available (a secret is still needed).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::model::Credential;
use crate::vault::Vault;

/// What a capability allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Allow {
    /// Allowed hosts.
    pub hosts: Vec<String>,
    /// Allowed methods.
    pub methods: Vec<String>,
    /// Allowed path prefixes (segment-aware).
    pub path_prefixes: Vec<String>,
}

/// A capability in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityInfo {
    /// `provider/name`.
    pub id: String,
    /// The provider.
    pub provider: String,
    /// What it allows.
    pub allow: Allow,
    /// Credentials that enable it (ready capabilities).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
    /// Secret names to store to enable it (available capabilities).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_secrets: Vec<String>,
}

/// Capabilities grouped by readiness, each sorted by id. JSON keys follow the product brief:
/// `capabilities` are ready, `registryCapabilities` still need a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityListing {
    /// Enabled by at least one credential.
    #[serde(rename = "capabilities")]
    pub ready: Vec<CapabilityInfo>,
    /// Registry capabilities no credential enables yet.
    #[serde(rename = "registryCapabilities")]
    pub available: Vec<CapabilityInfo>,
}

impl Vault {
    /// Every credential, sorted by id.
    pub fn list_credentials(&self) -> Result<Vec<Credential>> {
        self.read(|tx| tx.credential_list())
    }

    /// Every registry capability, ready or available.
    pub fn list_capabilities(&self) -> Result<CapabilityListing> {
        let credentials = self.list_credentials()?;
        let mut enabled: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for credential in &credentials {
            for capability in &credential.capabilities {
                enabled
                    .entry(capability.as_str())
                    .or_default()
                    .push(credential.id.clone());
            }
        }
        let mut listing = CapabilityListing {
            ready: Vec::new(),
            available: Vec::new(),
        };
        for provider in self.registry().providers() {
            for capability in &provider.capabilities {
                let mut info = CapabilityInfo {
                    id: capability.id.clone(),
                    provider: provider.id.clone(),
                    allow: Allow {
                        hosts: provider.capability_hosts(capability).to_vec(),
                        methods: capability.methods.clone(),
                        path_prefixes: capability.paths.clone(),
                    },
                    credentials: Vec::new(),
                    required_secrets: Vec::new(),
                };
                match enabled.get(capability.id.as_str()) {
                    Some(ids) => {
                        info.credentials = ids.clone();
                        listing.ready.push(info);
                    }
                    None => {
                        // The most preferred alternative that serves it says what to store.
                        let setup = provider
                            .credentials
                            .iter()
                            .filter(|c| {
                                provider
                                    .capabilities_for(c)
                                    .iter()
                                    .any(|cap| cap.id == capability.id)
                            })
                            .max_by_key(|c| c.priority);
                        if let Some(def) = setup {
                            info.required_secrets = def.secrets.values().cloned().collect();
                        }
                        listing.available.push(info);
                    }
                }
            }
        }
        listing.ready.sort_by(|a, b| a.id.cmp(&b.id));
        listing.available.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listing)
    }
}
