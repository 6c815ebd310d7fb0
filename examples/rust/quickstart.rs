//! aivault from Rust: create a secret, list its metadata, let a credential inject it into a call
//! to a local HTTP service, and handle errors.
//!
//!     cargo run -p aivault-core --example quickstart [PORT] < value
//!
//! The secret's value is read from standard input (one line), so it never shows in the process
//! list. The service is `127.0.0.1:PORT` (plain HTTP, a local service: the credential opts in
//! with `allowPrivateNetwork` and `insecureHttp`); without PORT the example starts its own
//! loopback service that echoes the request back. The vault lives in a temporary directory.

use std::io::BufRead;

use aivault_core::{
    Config, ErrorKind, Invocation, NewCapability, NewCredential, NewSecret, RequestBody, Scope,
    SecretFilter, SecretValue, Vault,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: Option<u16> = std::env::args().nth(1).map(|p| p.parse()).transpose()?;
    let mut value = String::new();
    std::io::stdin().lock().read_line(&mut value)?;
    let value = SecretValue::from(value.trim_end_matches(['\r', '\n']).to_string());

    // Without a port, a loopback service of our own (it echoes what it receives).
    let local = port
        .is_none()
        .then(|| aivault_testkit::Upstream::http(aivault_testkit::echo_handler()));
    let port = port
        .or(local.as_ref().map(|u| u.port()))
        .unwrap_or_default();

    // A vault: a file-provider vault is created in the directory on first open.
    let dir = tempfile::tempdir()?;
    let vault = Vault::open(Config::for_binding(Some(dir.path()))?)?;

    // 1. A secret: the value goes in; only metadata ever comes out.
    let secret = vault
        .create_secret(NewSecret {
            name: "ACME_TOKEN".into(),
            value,
            scope: Scope::Global,
            aliases: vec!["acme".into()],
        })?
        .secret;
    let list = vault.list_secrets(&SecretFilter::default())?;
    println!("secrets: {}", serde_json::to_string(&list)?);

    // 2. A credential that injects it as a bearer token towards the local service, and a
    //    capability that allows GET under /v1 there.
    let mut credential = NewCredential {
        id: "acme".into(),
        provider: "acme".into(),
        secret_refs: vec![format!("vault:secret:{}", secret.secret_id)],
        auth: Default::default(),
        hosts: vec![format!("127.0.0.1:{port}")],
        workspace_id: None,
        group_id: None,
        network: Default::default(),
    };
    credential.auth.kind = Some("header".into());
    credential.network.allow_private_network = true;
    credential.network.insecure_http = true;
    vault.create_credential(credential)?;
    vault.create_capability(NewCapability {
        id: "acme/api".into(),
        provider: None,
        credential: Some("acme".into()),
        methods: vec!["GET".into()],
        paths: vec!["/v1".into()],
        hosts: Vec::new(),
    })?;

    // 3. The call: the broker injects the key; this program never holds it again.
    let call = |capability: &str, method: &str| Invocation {
        capability: capability.into(),
        method: Some(method.into()),
        path: Some("/v1/ping".into()),
        body: RequestBody::Empty,
        ..Invocation::default()
    };
    let response = vault.invoke(&call("acme/api", "GET"))?;
    println!("status: {}", response.status);
    println!("body: {}", String::from_utf8_lossy(&response.body));

    // 4. Errors carry a stable kind.
    for (what, capability, method) in [
        ("unknown capability", "acme/nope", "GET"),
        ("method not allowed", "acme/api", "DELETE"),
    ] {
        match vault.invoke(&call(capability, method)) {
            Ok(_) => return Err(format!("{what}: the call went through").into()),
            Err(e) => {
                println!("{what}: {} ({})", e.kind(), e.message());
                if ![ErrorKind::CapabilityNotFound, ErrorKind::PolicyViolation].contains(&e.kind())
                {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}
