//! The `Vault` class: opening (lazily, on the pool), status, and the namespaces.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aivault_core::{Config, Vault as CoreVault};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Unknown};
use napi_derive::napi;

use crate::args;
use crate::audit::Audit;
use crate::call::{Call, Json, json};
use crate::capabilities::Capabilities;
use crate::credentials::Credentials;
use crate::error::Failure;
use crate::secrets::Secrets;

/// Where a vault lives and, once a call has opened it, the open vault. Opening touches disk
/// and may create the vault, so it happens on the thread pool at the first call, never in the
/// constructor; concurrent first calls wait for one open.
pub struct Handle {
    dir: Option<PathBuf>,
    vault: Mutex<Option<Arc<CoreVault>>>,
}

impl Handle {
    /// The open vault (opening it on first use with the binding rule: test hooks cleared).
    pub(crate) fn vault(&self) -> Result<Arc<CoreVault>, Failure> {
        let mut slot = self
            .vault
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(vault) = slot.as_ref() {
            return Ok(Arc::clone(vault));
        }
        let config = Config::for_binding(self.dir.as_deref())?;
        let vault = Arc::new(CoreVault::open(config)?);
        *slot = Some(Arc::clone(&vault));
        Ok(vault)
    }
}

/// An aivault vault. `new Vault(path?)` names the directory (default: `AIVAULT_DIR`, else
/// `~/.aivault/data`, with its key found as the CLI finds it); a file-provider vault is created
/// there at the first call if none exists. Every method returns a Promise and runs off the
/// event loop. One handle may serve any number of concurrent calls.
#[napi]
pub struct Vault {
    handle: Arc<Handle>,
}

#[napi]
impl Vault {
    /// Names the vault; nothing is opened until the first call.
    #[napi(catch_unwind, constructor, ts_args_type = "path?: string | null")]
    pub fn new(env: Env, path: Unknown) -> napi::Result<Vault> {
        let dir = args::optional_text(&env, path, "path").map_err(|f| f.into_napi(&env))?;
        Ok(Vault {
            handle: Arc::new(Handle {
                dir: dir.map(PathBuf::from),
                vault: Mutex::new(None),
            }),
        })
    }

    /// The vault's state (the CLI's `status -v`: initialized, locked, provider, key id, paths,
    /// counts).
    #[napi(catch_unwind, ts_return_type = "Promise<Record<string, any>>")]
    pub fn status(&self) -> AsyncTask<Call<Json>> {
        json(&self.handle, Ok(()), |vault, ()| {
            CoreVault::status(vault.config().clone())
        })
    }

    /// Secrets: values go in, only metadata comes out.
    #[napi(getter)]
    pub fn secrets(&self) -> Secrets {
        Secrets::new(Arc::clone(&self.handle))
    }

    /// Credentials: how a secret is injected, towards which hosts.
    #[napi(getter)]
    pub fn credentials(&self) -> Credentials {
        Credentials::new(Arc::clone(&self.handle))
    }

    /// Capabilities, their policies and bindings, and routing a URL to one.
    #[napi(getter)]
    pub fn capabilities(&self) -> Capabilities {
        Capabilities::new(Arc::clone(&self.handle))
    }

    /// The audit log.
    #[napi(getter)]
    pub fn audit(&self) -> Audit {
        Audit::new(Arc::clone(&self.handle))
    }

    /// Calls a capability through the broker; see [`crate::invoke`].
    #[napi(
        catch_unwind,
        ts_args_type = "request: { capability: string; method?: string; path?: string; headers?: Record<string, string> | Array<{ name: string; value: string }>; credential?: string; workspaceId?: string; groupId?: string; consumer?: string; timeoutMs?: number }, body?: string | Buffer | Uint8Array | null, json?: unknown",
        ts_return_type = "Promise<InvokeResult>"
    )]
    pub fn invoke(
        &self,
        env: Env,
        request: Unknown,
        body: Option<Unknown>,
        json: Option<Unknown>,
    ) -> AsyncTask<Call<crate::invoke::InvokeReply>> {
        crate::invoke::invoke(&env, &self.handle, request, body, json)
    }

    /// A plain HTTP request sent through the capability that allows it (what `vault.fetch`
    /// does): `capabilities.route(host, method, path)` then `invoke` with the routed path, in
    /// one pool task. `capability_not_found` when no capability allows it.
    #[napi(
        catch_unwind,
        ts_args_type = "host: string, method: string, path: string, headers: Array<{ name: string; value: string }>, body?: Buffer | Uint8Array | string | null",
        ts_return_type = "Promise<InvokeResult>"
    )]
    pub fn send(
        &self,
        env: Env,
        host: Unknown,
        method: Unknown,
        path: Unknown,
        headers: Unknown,
        body: Option<Unknown>,
    ) -> AsyncTask<Call<crate::invoke::InvokeReply>> {
        crate::invoke::send(&env, &self.handle, [host, method, path], headers, body)
    }
}
