//! Compiles the provider registry: every `registry/*.toml` file is parsed here and written to
//! `$OUT_DIR/registry_static.rs` as static Rust data (`StaticProvider` values and sorted lookup
//! tables, see `src/registry_static.rs`), so a process never parses the registry at start-up
//! and a command that needs one provider builds only that one. A syntax error, an unknown key
//! or a duplicate id fails the build and names the file; the schema rules are checked in
//! `registry.rs` and its tests, and a test compares this output with serde's reading of the
//! same files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

use toml::{Table, Value};

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let registry_dir = manifest_dir.join("..").join("registry");
    println!("cargo:rerun-if-changed={}", registry_dir.display());

    let mut files: Vec<PathBuf> = fs::read_dir(&registry_dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", registry_dir.display()))
        .map(|entry| entry.expect("readable registry entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();

    let mut out = Generated::default();
    for path in &files {
        out.provider(path);
    }
    let code = out.finish();
    let target =
        PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("registry_static.rs");
    fs::write(&target, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
}

/// The generated source and the lookup tables gathered along the way.
#[derive(Default)]
struct Generated {
    providers: String,
    count: usize,
    by_provider: BTreeMap<String, usize>,
    by_capability: BTreeMap<String, usize>,
    /// Secret name → (provider, credential, role, optional).
    by_secret: BTreeMap<String, (usize, usize, String, bool)>,
}

impl Generated {
    fn provider(&mut self, path: &Path) {
        println!("cargo:rerun-if-changed={}", path.display());
        let shown = path.display().to_string();
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {shown}: {e}"));
        let table: Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{shown}: {e}"));
        let file_name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let source = format!("registry/{file_name}");
        let p = self.count;
        self.count += 1;

        let mut t = Fields::new(table, &source, "provider");
        let id = t.string("id");
        let name = t.string("name");
        let docs = t.opt_string("docs");
        let hosts = t.strings("hosts");
        let credentials = t.tables("credentials");
        let capabilities = t.tables("capabilities");
        t.done();

        if self.by_provider.insert(id.clone(), p).is_some() {
            panic!("{source}: provider '{id}' is defined twice");
        }
        let mut code = String::new();
        let _ = write!(
            code,
            "StaticProvider {{ id: {}, name: {}, docs: {}, hosts: {}, source: {}, credentials: &[",
            lit(&id),
            lit(&name),
            opt_lit(docs.as_deref()),
            lits(&hosts),
            lit(&source)
        );
        for (c, credential) in credentials.into_iter().enumerate() {
            code.push_str(&self.credential(credential, &source, p, c));
            code.push(',');
        }
        code.push_str("], capabilities: &[");
        for capability in capabilities {
            let mut t = Fields::new(capability, &source, "capability");
            let cap_id = t.string("id");
            let description = t.opt_string("description");
            let methods = t.strings("methods");
            let paths = t.strings("paths");
            let cap_hosts = t.opt_strings("hosts");
            let upstream_prefix = t.opt_string("upstream_prefix");
            t.done();
            if self.by_capability.insert(cap_id.clone(), p).is_some() {
                panic!("{source}: capability '{cap_id}' is defined twice");
            }
            let _ = write!(
                code,
                "StaticCapability {{ id: {}, description: {}, methods: {}, paths: {}, hosts: {}, upstream_prefix: {} }},",
                lit(&cap_id),
                opt_lit(description.as_deref()),
                lits(&methods),
                lits(&paths),
                opt_lits(cap_hosts.as_deref()),
                opt_lit(upstream_prefix.as_deref())
            );
        }
        code.push_str("] }");
        let _ = writeln!(self.providers, "    {code},");
    }

    fn credential(&mut self, table: Table, source: &str, p: usize, c: usize) -> String {
        let mut t = Fields::new(table, source, "credential");
        let id = t.opt_string("id").unwrap_or_else(|| "default".to_string());
        let priority = t.opt_int("priority").unwrap_or(0);
        let secrets = t.string_map("secrets");
        let optional_secrets = t.opt_string_map("optional_secrets").unwrap_or_default();
        let hosts = t.opt_strings("hosts");
        let capabilities = t.opt_strings("capabilities");
        let auth = t.table("auth");
        t.done();
        let roles = secrets
            .iter()
            .map(|r| (r, false))
            .chain(optional_secrets.iter().map(|r| (r, true)));
        for ((role, name), optional) in roles {
            if self
                .by_secret
                .insert(name.clone(), (p, c, role.clone(), optional))
                .is_some()
            {
                panic!("{source}: secret name '{name}' is claimed twice");
            }
        }
        format!(
            "StaticCredential {{ id: {}, priority: {priority}, secrets: {}, optional_secrets: {}, hosts: {}, capabilities: {}, auth: {} }}",
            lit(&id),
            pairs(&secrets),
            pairs(&optional_secrets),
            opt_lits(hosts.as_deref()),
            opt_lits(capabilities.as_deref()),
            auth_code(auth, source)
        )
    }

    fn finish(self) -> String {
        let mut code = String::from(
            "// Generated by aivault-core/build.rs from registry/*.toml: do not edit.\n\n",
        );
        let _ = writeln!(
            code,
            "pub(crate) static PROVIDERS: [StaticProvider; {}] = [\n{}];\n",
            self.count, self.providers
        );
        let _ = writeln!(
            code,
            "/// Provider id → index in [`PROVIDERS`], sorted by id.\npub(crate) static BY_PROVIDER: [(&str, u16); {}] = [",
            self.by_provider.len()
        );
        for (id, p) in &self.by_provider {
            let _ = writeln!(code, "    ({}, {p}),", lit(id));
        }
        code.push_str("];\n\n");
        let _ = writeln!(
            code,
            "/// Capability id → index of its provider, sorted by id.\npub(crate) static BY_CAPABILITY: [(&str, u16); {}] = [",
            self.by_capability.len()
        );
        for (id, p) in &self.by_capability {
            let _ = writeln!(code, "    ({}, {p}),", lit(id));
        }
        code.push_str("];\n\n");
        let _ = writeln!(
            code,
            "/// Claimed secret name → (provider, credential, role, optional), sorted by name.\npub(crate) static BY_SECRET: [(&str, u16, u16, &str, bool); {}] = [",
            self.by_secret.len()
        );
        for (name, (p, c, role, optional)) in &self.by_secret {
            let _ = writeln!(
                code,
                "    ({}, {p}, {c}, {}, {optional}),",
                lit(name),
                lit(role)
            );
        }
        code.push_str("];\n");
        code
    }
}

/// The auth table as a `StaticAuth` expression, with serde's defaults filled in.
fn auth_code(table: Table, source: &str) -> String {
    let mut t = Fields::new(table, source, "auth");
    let kind = t.string("kind");
    let code = match kind.as_str() {
        "header" => format!(
            "StaticAuth::Header {{ header_name: {}, value_template: {} }}",
            lit(&t.string("header_name")),
            lit(&t.string("value_template"))
        ),
        "query" => format!(
            "StaticAuth::Query {{ param_name: {}, value_template: {} }}",
            lit(&t.string("param_name")),
            lit(&t
                .opt_string("value_template")
                .unwrap_or_else(|| "{{secret}}".to_string()))
        ),
        "path" => format!(
            "StaticAuth::Path {{ prefix_template: {} }}",
            lit(&t.string("prefix_template"))
        ),
        "basic" => format!(
            "StaticAuth::Basic {{ username_template: {}, password_template: {} }}",
            lit(&t.string("username_template")),
            lit(&t.string("password_template"))
        ),
        "multi-header" => {
            let headers: Vec<String> = t
                .tables("headers")
                .into_iter()
                .map(|h| {
                    let mut h = Fields::new(h, source, "header");
                    let code = format!(
                        "({}, {})",
                        lit(&h.string("header_name")),
                        lit(&h.string("value_template"))
                    );
                    h.done();
                    code
                })
                .collect();
            format!(
                "StaticAuth::MultiHeader {{ headers: &[{}] }}",
                headers.join(", ")
            )
        }
        "multi-query" => {
            let params: Vec<String> = t
                .tables("params")
                .into_iter()
                .map(|q| {
                    let mut q = Fields::new(q, source, "param");
                    let code = format!(
                        "({}, {})",
                        lit(&q.string("param_name")),
                        lit(&q.string("value_template"))
                    );
                    q.done();
                    code
                })
                .collect();
            format!(
                "StaticAuth::MultiQuery {{ params: &[{}] }}",
                params.join(", ")
            )
        }
        "oauth2" => {
            let grant = match t.string("grant_type").as_str() {
                "refresh_token" => "OAuthGrant::RefreshToken",
                "client_credentials" => "OAuthGrant::ClientCredentials",
                other => panic!("{source}: unknown grant_type '{other}'"),
            };
            let token_endpoint = t.string("token_endpoint");
            let scopes = t.opt_strings("scopes").unwrap_or_default();
            let token_auth = match t.opt_string("token_auth").as_deref() {
                None | Some("basic") => "TokenAuth::Basic",
                Some("body") => "TokenAuth::Body",
                Some(other) => panic!("{source}: unknown token_auth '{other}'"),
            };
            let public_client_id = t.opt_string("public_client_id");
            let account_header = t.opt_table("account_header").map(|h| {
                let mut h = Fields::new(h, source, "account_header");
                let code = format!("({}, {})", lit(&h.string("name")), lit(&h.string("field")));
                h.done();
                code
            });
            format!(
                "StaticAuth::Oauth2 {{ grant_type: {grant}, token_endpoint: {}, scopes: {}, token_auth: {token_auth}, public_client_id: {}, account_header: {} }}",
                lit(&token_endpoint),
                lits(&scopes),
                opt_lit(public_client_id.as_deref()),
                account_header.map_or("None".to_string(), |h| format!("Some({h})"))
            )
        }
        "aws-sigv4" => format!(
            "StaticAuth::AwsSigv4 {{ service: {}, region: {} }}",
            lit(&t.string("service")),
            lit(&t.string("region"))
        ),
        "hmac" => format!(
            "StaticAuth::Hmac {{ header_name: {}, value_template: {}, timestamp_header: {} }}",
            lit(&t.string("header_name")),
            lit(&t.string("value_template")),
            opt_lit(t.opt_string("timestamp_header").as_deref())
        ),
        "mtls" => "StaticAuth::Mtls".to_string(),
        other => panic!("{source}: unknown auth kind '{other}'"),
    };
    t.done();
    code
}

/// A TOML table whose keys are taken one by one; keys left over are refused (the schema's
/// `deny_unknown_fields`).
struct Fields<'a> {
    table: Table,
    source: &'a str,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(table: Table, source: &'a str, what: &'static str) -> Fields<'a> {
        Fields {
            table,
            source,
            what,
        }
    }

    fn fail(&self, message: String) -> ! {
        panic!("{}: {}: {message}", self.source, self.what)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.table.remove(key)
    }

    fn required(&mut self, key: &str) -> Value {
        self.take(key)
            .unwrap_or_else(|| self.fail(format!("missing key '{key}'")))
    }

    fn to_string(&self, key: &str, value: Value) -> String {
        match value {
            Value::String(s) => s,
            other => self.fail(format!("'{key}' must be a string, not {other}")),
        }
    }

    fn to_strings(&self, key: &str, value: Value) -> Vec<String> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .map(|item| self.to_string(key, item))
                .collect(),
            other => self.fail(format!("'{key}' must be an array of strings, not {other}")),
        }
    }

    fn to_table(&self, key: &str, value: Value) -> Table {
        match value {
            Value::Table(table) => table,
            other => self.fail(format!("'{key}' must be a table, not {other}")),
        }
    }

    fn string(&mut self, key: &str) -> String {
        let value = self.required(key);
        self.to_string(key, value)
    }

    fn opt_string(&mut self, key: &str) -> Option<String> {
        self.take(key).map(|value| self.to_string(key, value))
    }

    fn strings(&mut self, key: &str) -> Vec<String> {
        let value = self.required(key);
        self.to_strings(key, value)
    }

    fn opt_strings(&mut self, key: &str) -> Option<Vec<String>> {
        self.take(key).map(|value| self.to_strings(key, value))
    }

    fn opt_int(&mut self, key: &str) -> Option<i32> {
        self.take(key).map(|value| match value {
            Value::Integer(n) => {
                i32::try_from(n).unwrap_or_else(|_| self.fail(format!("'{key}' is out of range")))
            }
            other => self.fail(format!("'{key}' must be an integer, not {other}")),
        })
    }

    fn table(&mut self, key: &str) -> Table {
        let value = self.required(key);
        self.to_table(key, value)
    }

    fn opt_table(&mut self, key: &str) -> Option<Table> {
        self.take(key).map(|value| self.to_table(key, value))
    }

    fn tables(&mut self, key: &str) -> Vec<Table> {
        match self.required(key) {
            Value::Array(items) => items
                .into_iter()
                .map(|item| self.to_table(key, item))
                .collect(),
            other => self.fail(format!("'{key}' must be an array of tables, not {other}")),
        }
    }

    fn string_map(&mut self, key: &str) -> BTreeMap<String, String> {
        let value = self.required(key);
        self.to_string_map(key, value)
    }

    fn opt_string_map(&mut self, key: &str) -> Option<BTreeMap<String, String>> {
        self.take(key).map(|value| self.to_string_map(key, value))
    }

    fn to_string_map(&self, key: &str, value: Value) -> BTreeMap<String, String> {
        self.to_table(key, value)
            .into_iter()
            .map(|(role, name)| {
                let name = self.to_string(key, name);
                (role, name)
            })
            .collect()
    }

    fn done(self) {
        if let Some(key) = self.table.keys().next() {
            self.fail(format!("unknown key '{key}'"));
        }
    }
}

/// A Rust string literal (`Debug` of a `str` is one).
fn lit(s: &str) -> String {
    format!("{s:?}")
}

fn opt_lit(s: Option<&str>) -> String {
    s.map_or("None".to_string(), |s| format!("Some({})", lit(s)))
}

fn lits(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| lit(s)).collect();
    format!("&[{}]", items.join(", "))
}

fn opt_lits(items: Option<&[String]>) -> String {
    items.map_or("None".to_string(), |items| format!("Some({})", lits(items)))
}

fn pairs(map: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("({}, {})", lit(k), lit(v)))
        .collect();
    format!("&[{}]", items.join(", "))
}
