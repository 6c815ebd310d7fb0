//! The remote form: `connect({ socket, token })` gives a `RemoteVault` with the same `invoke`,
//! `capabilities.list | describe | route` and (in `aivault.js`) `fetch` as a `Vault`, sent to
//! a running `aivault serve`. The process never opens the vault: it holds a socket path and a
//! caller token. A thin translation of `aivault_core::remote::client::Remote`; every call is
//! a round trip, run on the libuv pool.

use std::path::PathBuf;
use std::sync::Arc;

use aivault_core::remote::client::Remote;
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Unknown};
use napi_derive::napi;

use crate::args;
use crate::call::{Call, Json, task, to_json};
use crate::error::Failure;
use crate::invoke::{InvokeReply, invocation, invoke_args, routed, send_args};

/// A running `aivault serve` and a caller token. `new RemoteVault(socket?, token?)` (default:
/// `AIVAULT_SOCKET`, `AIVAULT_TOKEN`) contacts nothing; it throws `invalid_input` without a
/// socket and `unauthorized` without a token. Every method returns a Promise and runs off the
/// event loop; calls are limited to the token's capabilities and context.
#[napi]
pub struct RemoteVault {
    remote: Arc<Remote>,
}

#[napi]
impl RemoteVault {
    /// Names the server and the token; nothing is contacted until the first call.
    #[napi(
        catch_unwind,
        constructor,
        ts_args_type = "socket?: string | null, token?: string | null"
    )]
    pub fn new(env: Env, socket: Option<Unknown>, token: Option<Unknown>) -> napi::Result<Self> {
        let remote = (|| {
            let socket = match socket {
                Some(s) => args::optional_text(&env, s, "socket")?,
                None => None,
            };
            let token = match token {
                Some(t) => args::optional_text(&env, t, "token")?,
                None => None,
            };
            Ok(Remote::connect(socket.map(PathBuf::from), token)?)
        })()
        .map_err(|f: Failure| f.into_napi(&env))?;
        Ok(RemoteVault {
            remote: Arc::new(remote),
        })
    }

    /// The server's socket.
    #[napi(getter)]
    pub fn socket(&self) -> String {
        self.remote.socket().display().to_string()
    }

    /// The token's capabilities: list, describe, route.
    #[napi(getter)]
    pub fn capabilities(&self) -> RemoteCapabilities {
        RemoteCapabilities {
            remote: Arc::clone(&self.remote),
        }
    }

    /// `Vault.invoke` through the server: the same request and result; `unauthorized` for a
    /// refused token or a call outside it, `io` when the server cannot be reached.
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
    ) -> AsyncTask<Call<InvokeReply>> {
        let args = invoke_args(&env, request, body, json);
        let remote = Arc::clone(&self.remote);
        task(move || Ok(InvokeReply(remote.invoke(&invocation(args?)?)?)))
    }

    /// A plain HTTP request routed among the token's capabilities and invoked (what `fetch`
    /// does), in one pool task; `capability_not_found` when none allows it.
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
    ) -> AsyncTask<Call<InvokeReply>> {
        let args = send_args(&env, [host, method, path], headers, body);
        let remote = Arc::clone(&self.remote);
        task(move || {
            let (host, method, path, headers, body) = args?;
            let route = remote.route(&host, &method, &path)?;
            Ok(InvokeReply(
                remote.invoke(&routed(route, method, headers, body))?,
            ))
        })
    }
}

/// The token's capabilities, as the server shows them.
#[napi]
pub struct RemoteCapabilities {
    remote: Arc<Remote>,
}

#[napi]
impl RemoteCapabilities {
    /// `{capabilities: [...], ...}`: only the token's capabilities.
    #[napi(catch_unwind, ts_return_type = "Promise<Record<string, any>>")]
    pub fn list(&self) -> AsyncTask<Call<Json>> {
        let remote = Arc::clone(&self.remote);
        task(move || to_json(&remote.list_capabilities()?))
    }

    /// How to call capability `id`; `unauthorized` for one the token does not name.
    #[napi(
        catch_unwind,
        ts_args_type = "id: string",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn describe(&self, env: Env, id: Unknown) -> AsyncTask<Call<Json>> {
        let id = args::text(&env, id, "id");
        let remote = Arc::clone(&self.remote);
        task(move || to_json(&remote.describe_capability(&id?)?))
    }

    /// The token's capability a plain HTTP request goes through: `{capability, path}`;
    /// `capability_not_found` when none allows it.
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
        let args = (|| -> Result<_, Failure> {
            Ok((
                args::text(&env, host, "host")?,
                args::text(&env, method, "method")?,
                args::text(&env, path, "path")?,
            ))
        })();
        let remote = Arc::clone(&self.remote);
        task(move || {
            let (host, method, path) = args?;
            to_json(&remote.route(&host, &method, &path)?)
        })
    }
}
