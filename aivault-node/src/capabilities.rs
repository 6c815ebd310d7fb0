//! `vault.capabilities`: list, describe, create, delete, policies, bindings, and routing a
//! plain HTTP request to the capability that allows it (what `vault.fetch` asks).

use std::sync::Arc;

use aivault_core::requests::{
    BindingFilterRequest, BindingRequest, CapabilityRequest, PolicyRequest,
};
use aivault_core::{NewCapability, PolicyUpdate};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Unknown};
use napi_derive::napi;

use crate::args;
use crate::call::{Call, Json, json};
use crate::vault::Handle;

/// The capabilities of a vault (registry and operator-defined).
#[napi]
pub struct Capabilities {
    handle: Arc<Handle>,
}

impl Capabilities {
    pub(crate) fn new(handle: Arc<Handle>) -> Capabilities {
        Capabilities { handle }
    }
}

#[napi]
impl Capabilities {
    /// `{capabilities: [ready...], registryCapabilities: [available...], policies: [...]}`.
    #[napi(catch_unwind, ts_return_type = "Promise<Record<string, any>>")]
    pub fn list(&self) -> AsyncTask<Call<Json>> {
        json(&self.handle, Ok(()), |vault, ()| vault.list_capabilities())
    }

    /// How to call a capability (methods, paths, hosts, auth, policy, setup still needed).
    #[napi(
        catch_unwind,
        ts_args_type = "id: string",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn describe(&self, env: Env, id: Unknown) -> AsyncTask<Call<Json>> {
        let id = args::text(&env, id, "id");
        json(&self.handle, id, |vault, id| vault.describe_capability(&id))
    }

    /// Creates an operator capability: `{id, provider? | credential?, methods, paths, hosts?}`.
    #[napi(
        catch_unwind,
        ts_args_type = "request: { id: string; provider?: string; credential?: string; methods: string[]; paths: string[]; hosts?: string[] }",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn create(&self, env: Env, request: Unknown) -> AsyncTask<Call<Json>> {
        let request = args::object::<CapabilityRequest>(&env, request, "request");
        json(&self.handle, request, |vault, request| {
            vault.create_capability(NewCapability::from(request))
        })
    }

    /// Deletes an operator capability with its policy and bindings.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn delete(&self, env: Env, id: Unknown) -> AsyncTask<Call<Json>> {
        let id = args::text(&env, id, "id");
        json(&self.handle, id, |vault, id| vault.delete_capability(&id))
    }

    /// Sets fields of a capability's policy (absent fields keep their value).
    #[napi(
        catch_unwind,
        ts_args_type = "id: string, policy: { rateLimitPerMinute?: number; maxRequestBodyBytes?: number; maxResponseBodyBytes?: number; responseBlock?: string[] }",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn set_policy(&self, env: Env, id: Unknown, policy: Unknown) -> AsyncTask<Call<Json>> {
        let args = args::text(&env, id, "id")
            .and_then(|id| Ok((id, args::object::<PolicyRequest>(&env, policy, "policy")?)));
        json(&self.handle, args, |vault, (id, policy)| {
            vault.set_policy(&id, PolicyUpdate::from(policy))
        })
    }

    /// Binds a capability to a secret for a scope (and consumer).
    #[napi(
        catch_unwind,
        ts_args_type = "binding: { capability: string; secretRef: string; scope?: 'global' | 'workspace' | 'group'; workspaceId?: string; groupId?: string; consumer?: string }",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn bind(&self, env: Env, binding: Unknown) -> AsyncTask<Call<Json>> {
        let args = args::object::<BindingRequest>(&env, binding, "binding")
            .and_then(|b| Ok(b.into_new()?));
        json(&self.handle, args, |vault, binding| vault.bind(binding))
    }

    /// Removes a binding; resolves to whether one was removed.
    #[napi(
        catch_unwind,
        ts_args_type = "binding: { capability: string; scope?: 'global' | 'workspace' | 'group'; workspaceId?: string; groupId?: string; consumer?: string }",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn unbind(&self, env: Env, binding: Unknown) -> AsyncTask<Call<Json>> {
        let args = args::object::<BindingRequest>(&env, binding, "binding")
            .and_then(|b| Ok((b.scope()?, b)));
        json(&self.handle, args, |vault, (scope, b)| {
            vault.unbind(&b.capability, &scope, b.consumer.as_deref())
        })
    }

    /// Bindings, filtered.
    #[napi(
        catch_unwind,
        ts_args_type = "filter?: { capability?: string; scope?: 'global' | 'workspace' | 'group'; workspaceId?: string; groupId?: string; consumer?: string }",
        ts_return_type = "Promise<Array<Record<string, any>>>"
    )]
    pub fn bindings(&self, env: Env, filter: Option<Unknown>) -> AsyncTask<Call<Json>> {
        let filter = match filter {
            Some(f) => args::optional_object::<BindingFilterRequest>(&env, f, "filter"),
            None => Ok(BindingFilterRequest::default()),
        }
        .and_then(|f| Ok(f.into_filter()?));
        json(&self.handle, filter, |vault, filter| {
            vault.bindings(&filter)
        })
    }

    /// The capability a plain HTTP request goes through: `{capability, path}` (the path to
    /// invoke it with, upstream prefix removed); `capability_not_found` when none allows it.
    #[napi(
        catch_unwind,
        ts_args_type = "host: string, method: string, path: string",
        ts_return_type = "Promise<{ capability: string; path: string }>"
    )]
    pub fn route(
        &self,
        env: Env,
        host: Unknown,
        method: Unknown,
        path: Unknown,
    ) -> AsyncTask<Call<Json>> {
        let args = (|| {
            Ok((
                args::text(&env, host, "host")?,
                args::text(&env, method, "method")?,
                args::text(&env, path, "path")?,
            ))
        })();
        json(&self.handle, args, |vault, (host, method, path)| {
            vault.route(&host, &method, &path)
        })
    }
}
