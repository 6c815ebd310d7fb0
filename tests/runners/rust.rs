//! The Rust conformance runner: executes `scenarios.json` over `aivault_core::Vault` (and
//! `aivault_core::requests`, the structured arguments every binding shares) and prints one
//! result line per step, as tests/README.md describes.
//!
//!     aivault-conformance-rust SCENARIOS_FILE VAULT_ROOT

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use aivault_conformance::{Step, substitute};
use aivault_core::requests::{
    AuditQueryRequest, BindingFilterRequest, BindingRequest, CapabilityRequest, CredentialRequest,
    InvokeRequest, PolicyRequest, scope,
};
use aivault_core::{
    AuditQuery, Config, Error, ErrorKind, GroupRef, NewCapability, NewCredential, NewSecret,
    PolicyUpdate, ScopeKind, SecretFilter, SecretUpdate, SecretValue, Vault,
};
use serde_json::{Map, Value, json};

/// A runner failure that is not a step's result (bad scenario file, unknown op).
type Broken = String;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: {} SCENARIOS_FILE VAULT_ROOT", args[0]);
        std::process::exit(2);
    }
    if let Err(e) = run(Path::new(&args[1]), Path::new(&args[2])) {
        eprintln!("runner broke: {e}");
        std::process::exit(1);
    }
}

fn run(file: &Path, root: &Path) -> Result<(), Broken> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let scenarios = aivault_conformance::load(&text)?;
    let mut stdout = std::io::stdout().lock();
    for (i, scenario) in scenarios.iter().enumerate() {
        let vault = Config::for_binding(Some(&root.join(i.to_string()))).and_then(Vault::open);
        let vault = vault.map_err(|e| format!("open vault {i}: {}: {}", e.kind(), e.message()))?;
        let mut saved: BTreeMap<String, String> = BTreeMap::new();
        for (n, step) in scenario.steps.iter().enumerate() {
            let args = match substitute::value(&Value::Object(step.args.clone()), &saved) {
                Value::Object(args) => args,
                _ => Map::new(),
            };
            let result = match call(&vault, &step.op, &args)? {
                Ok(value) => {
                    save(step, &value, &mut saved);
                    json!({ "ok": value })
                }
                Err(e) => json!({ "error": e.kind().as_str() }),
            };
            let line = json!({"scenario": scenario.name, "step": n, "result": result});
            writeln!(stdout, "{line}").map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Remembers the fields a step's `save` names.
fn save(step: &Step, value: &Value, saved: &mut BTreeMap<String, String>) {
    for (var, field) in &step.save {
        if let Some(v) = field.as_str().and_then(|f| value.get(f)) {
            saved.insert(var.clone(), substitute::saved(v));
        }
    }
}

/// Runs one operation: `Err` when the runner cannot (unknown op), else the binding's result.
fn call(
    vault: &Vault,
    op: &str,
    args: &Map<String, Value>,
) -> Result<Result<Value, Error>, Broken> {
    let a = Args(args);
    Ok(match op {
        "status" => json_of(Vault::status(vault.config().clone())),
        "secrets.create" => (|| {
            let secret = NewSecret {
                name: a.text("name")?.unwrap_or_default(),
                value: SecretValue::from(a.text("value")?.unwrap_or_default()),
                scope: a.scope()?,
                aliases: a.parse("aliases")?.unwrap_or_default(),
            };
            json_of(vault.create_secret(secret).map(|o| o.secret))
        })(),
        "secrets.list" => (|| {
            let filter = SecretFilter {
                kind: a
                    .text("scope")?
                    .as_deref()
                    .map(ScopeKind::parse)
                    .transpose()?,
                workspace_id: a.text("workspaceId")?,
                group_id: a.text("groupId")?,
            };
            json_of(vault.list_secrets(&filter))
        })(),
        "secrets.update" => (|| {
            let update = SecretUpdate {
                name: a.text("name")?,
                aliases: a.parse("aliases")?,
            };
            json_of(vault.update_secret(&a.id()?, update))
        })(),
        "secrets.rotate" => (|| {
            let value = SecretValue::from(a.text("value")?.unwrap_or_default());
            json_of(vault.rotate_secret(&a.id()?, value).map(|o| o.secret))
        })(),
        "secrets.delete" => (|| json_of(vault.delete_secret(&a.id()?)))(),
        "secrets.attachGroup" | "secrets.detachGroup" => (|| {
            let group = GroupRef::new(
                &a.text("workspaceId")?.unwrap_or_default(),
                &a.text("groupId")?.unwrap_or_default(),
            )?;
            let id = a.id()?;
            if op == "secrets.attachGroup" {
                json_of(vault.attach_group(&id, &group))
            } else {
                json_of(vault.detach_group(&id, &group))
            }
        })(),
        "secrets.import" => (|| {
            let entries: BTreeMap<String, String> = a.parse("entries")?.unwrap_or_default();
            let entries = entries
                .into_iter()
                .map(|(name, value)| (name, SecretValue::from(value)))
                .collect();
            json_of(vault.import_secrets(entries, &a.scope()?))
        })(),
        "credentials.create" => (|| {
            let request: CredentialRequest = a.whole()?;
            json_of(vault.create_credential(NewCredential::from(request)))
        })(),
        "credentials.list" => json_of(vault.list_credentials()),
        "credentials.delete" => (|| json_of(vault.delete_credential(&a.id()?)))(),
        "capabilities.list" => json_of(vault.list_capabilities()),
        "capabilities.describe" => (|| json_of(vault.describe_capability(&a.id()?)))(),
        "capabilities.create" => (|| {
            let request: CapabilityRequest = a.whole()?;
            json_of(vault.create_capability(NewCapability::from(request)))
        })(),
        "capabilities.delete" => (|| json_of(vault.delete_capability(&a.id()?)))(),
        "capabilities.setPolicy" => (|| {
            let request: PolicyRequest = a.parse("policy")?.ok_or_else(|| missing("policy"))?;
            json_of(vault.set_policy(&a.id()?, PolicyUpdate::from(request)))
        })(),
        "capabilities.bind" => (|| {
            let request: BindingRequest = a.whole()?;
            json_of(vault.bind(request.into_new()?))
        })(),
        "capabilities.unbind" => (|| {
            let request: BindingRequest = a.whole()?;
            let scope = request.scope()?;
            json_of(vault.unbind(&request.capability, &scope, request.consumer.as_deref()))
        })(),
        "capabilities.bindings" => (|| {
            let request: BindingFilterRequest = a.whole()?;
            json_of(vault.bindings(&request.into_filter()?))
        })(),
        "capabilities.route" => (|| {
            let text = |k| a.text(k).map(Option::unwrap_or_default);
            json_of(vault.route(&text("host")?, &text("method")?, &text("path")?))
        })(),
        "invoke" => invoke(vault, args),
        "audit.query" => (|| {
            let request: AuditQueryRequest = a.whole()?;
            json_of(vault.audit(&AuditQuery::from(request)))
        })(),
        "audit.verify" => json_of(vault.verify_audit()),
        other => return Err(format!("unknown op '{other}'")),
    })
}

/// `invoke`: the request less its body (`body` text, or `json` sent as its JSON text); the
/// result as `{"status", "headers": {lowercase-name: value}, "body": text}`.
fn invoke(vault: &Vault, args: &Map<String, Value>) -> Result<Value, Error> {
    let mut request = args.clone();
    let body = match (request.remove("body"), request.remove("json")) {
        (Some(Value::String(text)), _) => text.into_bytes(),
        (Some(_), _) => return Err(invalid("body must be a string")),
        (None, Some(json)) => json.to_string().into_bytes(),
        (None, None) => Vec::new(),
    };
    let request: InvokeRequest = Args(&request).whole()?;
    let response = vault.invoke(&request.into_invocation(body))?;
    let headers: Map<String, Value> = response
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), Value::String(value.clone())))
        .collect();
    Ok(json!({
        "status": response.status,
        "headers": headers,
        "body": String::from_utf8_lossy(&response.body),
    }))
}

fn json_of<T: serde::Serialize>(result: Result<T, Error>) -> Result<Value, Error> {
    let value = result?;
    serde_json::to_value(value).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

fn missing(name: &str) -> Error {
    invalid(format!("missing argument '{name}'"))
}

/// A step's arguments, read the way a binding reads its parameters.
struct Args<'a>(&'a Map<String, Value>);

impl Args<'_> {
    /// An optional string argument (`null` counts as absent).
    fn text(&self, name: &str) -> Result<Option<String>, Error> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!("argument '{name}' must be a string"))),
        }
    }

    fn id(&self) -> Result<String, Error> {
        self.text("id")?.ok_or_else(|| missing("id"))
    }

    /// An optional structured argument.
    fn parse<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|_| invalid(format!("argument '{name}' has the wrong shape"))),
        }
    }

    /// The whole argument object as one of the core's request types (as the C ABI's JSON).
    fn whole<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_value(Value::Object(self.0.clone()))
            .map_err(|e| invalid(format!("invalid arguments: {e}")))
    }

    /// `scope`, `workspaceId`, `groupId` as the core reads a scope.
    fn scope(&self) -> Result<aivault_core::Scope, Error> {
        scope(
            self.text("scope")?.as_deref(),
            self.text("workspaceId")?.as_deref(),
            self.text("groupId")?.as_deref(),
        )
    }
}
