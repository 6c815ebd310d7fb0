//! The built-in provider registry against the reference provider table
//! (`tests/fixtures/providers.tsv`, one row per capability), plus an independent re-check of
//! the registry rules over every provider, so a hole in `Registry::problems` cannot hide a bad
//! provider file.
//!
//! The registry follows the table except for the deviations listed in `DEVIATIONS`,
//! `RENAMED_CAPABILITIES` and `OAUTH2_TOKEN_ENDPOINTS`; each one is explained in a `#` comment at
//! the top of the provider's TOML file.

use std::collections::{BTreeMap, BTreeSet};

use aivault_core::Registry;
use aivault_core::registry::{AuthSpec, CapabilityDef, CredentialDef, OAuthGrant, ProviderDef};

/// Capability ids of the table that the registry spells differently (none: the registry keeps
/// every id, so skills written for the table keep working).
const RENAMED_CAPABILITIES: &[(&str, &str)] = &[];

/// Host deviations: (provider, table host, registry hosts replacing it). Applies to the
/// provider's hosts and to every capability host.
const DEVIATIONS: &[(&str, &str, &[&str])] = &[
    // Each store has its own `<store>.myshopify.com`; no request goes to `myshopify.com`.
    ("shopify", "myshopify.com", &["*.myshopify.com"]),
    // DeepL API Pro keys only work on api.deepl.com; the table only has the Free host.
    (
        "deepl",
        "api-free.deepl.com",
        &["api-free.deepl.com", "api.deepl.com"],
    ),
    // Domains in Mailgun's EU region use api.eu.mailgun.net.
    (
        "mailgun",
        "api.mailgun.net",
        &["api.eu.mailgun.net", "api.mailgun.net"],
    ),
    // The table refreshes Google tokens through a third-party relay; the registry uses
    // Google's own token endpoint instead.
    (
        "google-calendar",
        "auth.moldable.sh",
        &["oauth2.googleapis.com"],
    ),
    (
        "google-gmail",
        "auth.moldable.sh",
        &["oauth2.googleapis.com"],
    ),
];

/// OAuth 2.0 token endpoints that replace the table's (provider, registry endpoint).
const OAUTH2_TOKEN_ENDPOINTS: &[(&str, &str)] = &[
    ("google-calendar", "https://oauth2.googleapis.com/token"),
    ("google-gmail", "https://oauth2.googleapis.com/token"),
];

/// The chatgpt.com capabilities of OpenAI: served by the `CODEX_OAUTH_JSON` alternative, not
/// by the table's `OPENAI_API_KEY`.
const CODEX_CAPABILITIES: [&str; 3] = [
    "openai/codex-realtime",
    "openai/codex-responses",
    "openai/codex-usage",
];

/// One row of the reference table.
#[derive(Debug)]
struct Row {
    provider: String,
    secret_names: Vec<String>,
    auth_kind: String,
    auth_detail: String,
    provider_hosts: Vec<String>,
    capability: String,
    cap_hosts: Vec<String>,
    methods: Vec<String>,
    path_prefixes: Vec<String>,
}

fn list(field: &str) -> Vec<String> {
    field
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn table() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/providers.tsv");
    let text = std::fs::read_to_string(path).expect("tests/fixtures/providers.tsv is readable");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header line").split('\t').collect();
    assert_eq!(
        header,
        [
            "provider",
            "secret_names",
            "auth_kind",
            "auth_detail",
            "provider_hosts",
            "capability",
            "cap_hosts",
            "methods",
            "path_prefixes"
        ]
    );
    lines
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 9, "row has 9 columns: {line}");
            Row {
                provider: f[0].into(),
                secret_names: list(f[1]),
                auth_kind: f[2].into(),
                auth_detail: f[3].into(),
                provider_hosts: list(f[4]),
                capability: f[5].into(),
                cap_hosts: list(f[6]),
                methods: list(f[7]),
                path_prefixes: list(f[8]),
            }
        })
        .collect()
}

fn registry() -> &'static Registry {
    Registry::builtin()
}

fn provider(id: &str) -> &'static ProviderDef {
    registry()
        .provider(id)
        .unwrap_or_else(|| panic!("provider '{id}' is in the registry"))
}

fn set<S: AsRef<str>>(items: &[S]) -> BTreeSet<String> {
    items.iter().map(|s| s.as_ref().to_string()).collect()
}

/// The registry id of a table capability id.
fn registry_capability_id(table_id: &str) -> &str {
    RENAMED_CAPABILITIES
        .iter()
        .find(|(from, _)| *from == table_id)
        .map_or(table_id, |(_, to)| to)
}

/// The hosts the registry should have for a list of table hosts of `provider`.
fn expected_hosts(provider: &str, table_hosts: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for host in table_hosts {
        match DEVIATIONS
            .iter()
            .find(|(p, from, _)| *p == provider && from == host)
        {
            Some((_, _, to)) => out.extend(to.iter().map(|h| h.to_string())),
            None => {
                out.insert(host.clone());
            }
        }
    }
    out
}

fn registry_auth_kind(table_kind: &str) -> &str {
    match table_kind {
        "o_auth2" => "oauth2",
        "multi_header" => "multi-header",
        "multi_query" => "multi-query",
        other => other,
    }
}

/// The alternative of `provider` that claims `name`.
fn alternative_claiming<'a>(provider: &'a ProviderDef, name: &str) -> Option<&'a CredentialDef> {
    provider.credentials.iter().find(|c| {
        c.secrets.values().any(|n| n == name) || c.optional_secrets.values().any(|n| n == name)
    })
}

fn capability_ids(provider: &ProviderDef, credential: &CredentialDef) -> BTreeSet<String> {
    provider
        .capabilities_for(credential)
        .iter()
        .map(|c| c.id.clone())
        .collect()
}

/// `auth_detail` of the table: JSON, or a Python list literal for the multi-* kinds.
fn parse_detail(detail: &str) -> serde_json::Value {
    if detail.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(detail)
        .or_else(|_| serde_json::from_str(&detail.replace('\'', "\"")))
        .unwrap_or_else(|e| panic!("auth_detail '{detail}' does not parse: {e}"))
}

fn text<'v>(value: &'v serde_json::Value, key: &str) -> &'v str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("'{key}' in {value}"))
}

/// (name, template) pairs of a table multi-* detail, names lower-cased.
fn pairs(detail: &serde_json::Value, name_key: &str) -> Vec<(String, String)> {
    detail
        .as_array()
        .expect("a list")
        .iter()
        .map(|entry| {
            (
                text(entry, name_key).to_ascii_lowercase(),
                text(entry, "value_template").to_string(),
            )
        })
        .collect()
}

/// The registry auth matches the table's auth detail (header names compared
/// case-insensitively; the registry lower-cases them).
fn assert_auth_detail(row: &Row, auth: &AuthSpec) {
    let detail = parse_detail(&row.auth_detail);
    let at = &row.capability;
    match auth {
        AuthSpec::Header {
            header_name,
            value_template,
        } => {
            assert!(
                header_name.eq_ignore_ascii_case(text(&detail, "header_name")),
                "{at}: header name {header_name} vs {detail}"
            );
            assert_eq!(value_template, text(&detail, "value_template"), "{at}");
        }
        AuthSpec::Query {
            param_name,
            value_template,
        } => {
            assert_eq!(param_name, text(&detail, "param_name"), "{at}");
            let expected = detail["value_template"].as_str().unwrap_or("{{secret}}");
            assert_eq!(value_template, expected, "{at}");
        }
        AuthSpec::Path { prefix_template } => {
            assert_eq!(prefix_template, text(&detail, "prefix_template"), "{at}");
        }
        AuthSpec::MultiHeader { headers } => {
            let ours: Vec<(String, String)> = headers
                .iter()
                .map(|h| (h.header_name.to_ascii_lowercase(), h.value_template.clone()))
                .collect();
            assert_eq!(ours, pairs(&detail, "header_name"), "{at}");
        }
        AuthSpec::MultiQuery { params } => {
            let ours: Vec<(String, String)> = params
                .iter()
                .map(|p| (p.param_name.to_ascii_lowercase(), p.value_template.clone()))
                .collect();
            assert_eq!(ours, pairs(&detail, "param_name"), "{at}");
        }
        AuthSpec::Oauth2 {
            grant_type,
            token_endpoint,
            scopes,
            ..
        } => {
            let grant = match grant_type {
                OAuthGrant::RefreshToken => "refresh_token",
                OAuthGrant::ClientCredentials => "client_credentials",
            };
            assert_eq!(grant, text(&detail, "grant_type"), "{at}");
            let expected_endpoint = OAUTH2_TOKEN_ENDPOINTS
                .iter()
                .find(|(p, _)| *p == row.provider)
                .map_or_else(|| text(&detail, "token_endpoint"), |(_, e)| e);
            assert_eq!(token_endpoint, expected_endpoint, "{at}");
            let table_scopes: Vec<&str> = detail["scopes"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
                .unwrap_or_default();
            assert_eq!(set(scopes), set(&table_scopes), "{at}");
        }
        AuthSpec::Basic {
            username_template,
            password_template,
        } => {
            // The table has no detail for basic auth; the templates are the providers'.
            let expected: (&str, &str) = match row.provider.as_str() {
                "mailgun" => ("api", "{{secret}}"),
                "twilio" => ("{{account_sid}}", "{{auth_token}}"),
                other => panic!("{at}: no expected basic templates for '{other}'"),
            };
            assert_eq!(
                (username_template.as_str(), password_template.as_str()),
                expected,
                "{at}"
            );
        }
        AuthSpec::AwsSigv4 { .. } | AuthSpec::Hmac { .. } | AuthSpec::Mtls {} => {
            panic!("{at}: the table has no {} provider", auth.kind_name())
        }
    }
}

#[test]
fn builtin_registry_has_no_problems() {
    let problems = registry().problems();
    assert!(
        problems.is_empty(),
        "registry problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_table_row_is_in_the_registry() {
    let rows = table();
    assert_eq!(
        rows.len(),
        283,
        "the reference table has 283 capability rows"
    );
    let table_providers: BTreeSet<&str> = rows.iter().map(|r| r.provider.as_str()).collect();
    assert_eq!(
        table_providers.len(),
        44,
        "the reference table has 44 providers"
    );

    for row in &rows {
        let id = registry_capability_id(&row.capability);
        let (owner, capability) = registry()
            .capability(id)
            .unwrap_or_else(|| panic!("capability {id} (table {}) exists", row.capability));
        assert_eq!(owner.id, row.provider, "{id} belongs to {}", row.provider);
        assert_eq!(set(&capability.methods), set(&row.methods), "{id} methods");
        assert_eq!(
            set(&capability.paths),
            set(&row.path_prefixes),
            "{id} path prefixes"
        );
        assert_eq!(
            set(owner.capability_hosts(capability)),
            expected_hosts(&row.provider, &row.cap_hosts),
            "{id} hosts"
        );
        let provider_hosts = set(&owner.hosts);
        for host in expected_hosts(&row.provider, &row.provider_hosts) {
            assert!(
                provider_hosts.contains(&host),
                "{}: provider host {host} is missing",
                owner.id
            );
        }

        let mut alternatives = BTreeSet::new();
        for name in &row.secret_names {
            let claim = registry()
                .claim(name)
                .unwrap_or_else(|| panic!("{name} is claimed ({id})"));
            assert_eq!(
                claim.provider.id, row.provider,
                "{name} is claimed by its provider"
            );
            assert!(!claim.optional, "{name} is a required secret");
            alternatives.insert(claim.credential.id.clone());
        }
        assert_eq!(
            alternatives.len(),
            1,
            "{id}: the row's secrets {:?} form one credential alternative",
            row.secret_names
        );
        let alternative = alternative_claiming(owner, &row.secret_names[0]).expect("claimed");
        assert_eq!(
            set(&alternative.secrets.values().collect::<Vec<_>>()),
            set(&row.secret_names),
            "{id}: the alternative claims exactly the row's secrets"
        );
        assert_eq!(
            alternative.auth.kind_name(),
            registry_auth_kind(&row.auth_kind),
            "{id} auth kind"
        );
        assert_auth_detail(row, &alternative.auth);

        let serves = capability_ids(owner, alternative).contains(id);
        if CODEX_CAPABILITIES.contains(&id) {
            // Deviation: the chatgpt.com capabilities need the ChatGPT sign-in, not the API key.
            assert!(!serves, "{id} is not served by OPENAI_API_KEY");
        } else {
            assert!(
                serves,
                "{id} is served by the alternative claiming {:?}",
                row.secret_names
            );
        }
    }
}

#[test]
fn catalog_size_and_table_providers() {
    let providers = registry().providers();
    assert!(
        providers.len() >= 65,
        "{} providers, expected at least 65",
        providers.len()
    );
    let mut table_capabilities: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in table() {
        table_capabilities
            .entry(row.provider.clone())
            .or_default()
            .insert(registry_capability_id(&row.capability).to_string());
    }
    for (id, expected) in &table_capabilities {
        let p = provider(id);
        let ours: BTreeSet<String> = p.capabilities.iter().map(|c| c.id.clone()).collect();
        assert_eq!(&ours, expected, "{id}: exactly the table's capabilities");
    }
}

#[test]
fn openai_api_key_and_codex_alternatives() {
    let openai = provider("openai");
    let key = registry().claim("OPENAI_API_KEY").expect("OPENAI_API_KEY");
    assert_eq!(key.provider.id, "openai");
    let enabled = openai.capabilities_for(key.credential);
    assert_eq!(enabled.len(), 17);
    for capability in &enabled {
        assert_eq!(
            openai.capability_hosts(capability),
            ["api.openai.com"],
            "{}",
            capability.id
        );
    }
    assert_eq!(openai.credential_hosts(key.credential), ["api.openai.com"]);

    let codex = registry()
        .claim("CODEX_OAUTH_JSON")
        .expect("CODEX_OAUTH_JSON");
    assert_eq!(codex.provider.id, "openai");
    assert_ne!(codex.credential.id, key.credential.id);
    assert_eq!(
        capability_ids(openai, codex.credential),
        set(&CODEX_CAPABILITIES)
    );
    match &codex.credential.auth {
        AuthSpec::Oauth2 {
            grant_type,
            token_endpoint,
            ..
        } => {
            assert_eq!(*grant_type, OAuthGrant::RefreshToken);
            assert_eq!(token_endpoint, "https://auth.openai.com/oauth/token");
        }
        other => panic!("codex auth is oauth2, not {}", other.kind_name()),
    }
    assert_eq!(
        set(openai.credential_hosts(codex.credential)),
        set(&["auth.openai.com", "chatgpt.com"])
    );
    for id in CODEX_CAPABILITIES {
        let (_, capability) = registry().capability(id).expect("codex capability");
        assert_eq!(openai.capability_hosts(capability), ["chatgpt.com"], "{id}");
    }
}

#[test]
fn fal_claims_two_names_with_different_priorities() {
    let fal_key = registry().claim("FAL_KEY").expect("FAL_KEY");
    let fal_api_key = registry().claim("FAL_API_KEY").expect("FAL_API_KEY");
    assert_eq!(fal_key.provider.id, "fal");
    assert_eq!(fal_api_key.provider.id, "fal");
    assert_ne!(fal_key.credential.id, fal_api_key.credential.id);
    assert!(
        fal_key.credential.priority > fal_api_key.credential.priority,
        "FAL_KEY wins over FAL_API_KEY"
    );
    assert_eq!(fal_key.credential.auth, fal_api_key.credential.auth);
    let fal = provider("fal");
    assert_eq!(
        capability_ids(fal, fal_key.credential),
        capability_ids(fal, fal_api_key.credential)
    );
}

#[test]
fn datadog_needs_two_secrets_in_two_headers() {
    let claim = registry()
        .claim("DATADOG_API_KEY")
        .expect("DATADOG_API_KEY");
    assert_eq!(claim.provider.id, "datadog");
    let names: Vec<&str> = claim
        .credential
        .secrets
        .values()
        .map(String::as_str)
        .collect();
    assert_eq!(set(&names), set(&["DATADOG_API_KEY", "DATADOG_APP_KEY"]));
    match &claim.credential.auth {
        AuthSpec::MultiHeader { headers } => {
            let names: Vec<&str> = headers.iter().map(|h| h.header_name.as_str()).collect();
            assert_eq!(names, ["dd-api-key", "dd-application-key"]);
        }
        other => panic!("datadog auth is multi-header, not {}", other.kind_name()),
    }
    let app = registry()
        .claim("DATADOG_APP_KEY")
        .expect("DATADOG_APP_KEY");
    assert_eq!(app.credential.id, claim.credential.id);
}

#[test]
fn an_aws_sigv4_provider_claims_the_aws_variables() {
    let sigv4: Vec<&ProviderDef> = registry()
        .providers()
        .iter()
        .filter(|p| {
            p.credentials
                .iter()
                .any(|c| c.auth.kind_name() == "aws-sigv4")
        })
        .collect();
    assert!(!sigv4.is_empty(), "an aws-sigv4 provider exists");
    let claim = registry()
        .claim("AWS_ACCESS_KEY_ID")
        .expect("AWS_ACCESS_KEY_ID");
    assert_eq!(claim.credential.auth.kind_name(), "aws-sigv4");
    assert_eq!(claim.role, "access_key_id");
    let secret = registry()
        .claim("AWS_SECRET_ACCESS_KEY")
        .expect("secret key");
    assert_eq!(secret.role, "secret_access_key");
    let token = registry()
        .claim("AWS_SESSION_TOKEN")
        .expect("session token");
    assert_eq!(token.role, "session_token");
    assert!(token.optional);
    assert_eq!(secret.provider.id, claim.provider.id);
    assert_eq!(token.provider.id, claim.provider.id);
}

#[test]
fn per_tenant_providers_use_wildcard_hosts() {
    for id in ["jira", "zendesk", "mailchimp", "shopify"] {
        let p = provider(id);
        assert!(!p.hosts.is_empty(), "{id} has hosts");
        for host in &p.hosts {
            assert!(
                host.starts_with("*."),
                "{id}: host {host} is a per-tenant pattern"
            );
        }
        for capability in &p.capabilities {
            for host in p.capability_hosts(capability) {
                assert!(host.starts_with("*."), "{}: host {host}", capability.id);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Independent re-check of the registry rules.

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Capability names also allow '_' (the table's `calendly/event_types`).
fn valid_capability_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '_'])
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_secret_name(s: &str) -> bool {
    s.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn valid_role(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A lower-case DNS name of at least two labels, optionally with one leading `*.` label.
fn valid_host(pattern: &str) -> bool {
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && host.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && !labels
            .last()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a concrete host (or pattern) lies within a pattern: equal, or one label under a
/// `*.` pattern.
fn host_within(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => false,
    }
}

/// `{{name}}` placeholders of a template; `None` when the braces are unbalanced.
fn placeholders(template: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = template;
    loop {
        let open = rest.find("{{");
        let close = rest.find("}}");
        match (open, close) {
            (None, None) => return Some(out),
            (Some(o), Some(c)) if o < c => {
                let inner = &rest[o + 2..c];
                if inner.contains("{{") {
                    return None;
                }
                out.push(inner.trim().to_string());
                rest = &rest[c + 2..];
            }
            _ => return None,
        }
    }
}

fn check_capability(provider: &ProviderDef, capability: &CapabilityDef, errors: &mut Vec<String>) {
    let id = &capability.id;
    match id.split_once('/') {
        Some((prefix, name)) if prefix == provider.id && valid_capability_name(name) => {}
        _ => errors.push(format!("{id}: id is not '{}/<name>'", provider.id)),
    }
    if capability.methods.is_empty() {
        errors.push(format!("{id}: no methods"));
    }
    for method in &capability.methods {
        let known = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        if !known.contains(&method.as_str()) {
            errors.push(format!(
                "{id}: method '{method}' is not an upper-case HTTP method"
            ));
        }
    }
    if set(&capability.methods).len() != capability.methods.len() {
        errors.push(format!("{id}: duplicate methods"));
    }
    if capability.paths.is_empty() {
        errors.push(format!("{id}: no path prefixes"));
    }
    for path in &capability.paths {
        if !path.starts_with('/') || path.contains("..") || path.contains(['?', '#', ' ', '\\']) {
            errors.push(format!("{id}: bad path prefix '{path}'"));
        }
    }
    for host in provider.capability_hosts(capability) {
        if !valid_host(host) {
            errors.push(format!("{id}: bad host '{host}'"));
        }
        if !provider.hosts.contains(host) {
            errors.push(format!("{id}: host '{host}' is not a provider host"));
        }
    }
    let served = provider
        .credentials
        .iter()
        .any(|c| capability_ids(provider, c).contains(id));
    if !served {
        errors.push(format!("{id}: served by no credential alternative"));
    }
}

fn check_credential(provider: &ProviderDef, credential: &CredentialDef, errors: &mut Vec<String>) {
    let at = format!("{} alternative '{}'", provider.id, credential.id);
    if credential.secrets.is_empty() {
        errors.push(format!("{at}: claims no secret"));
    }
    let roles: BTreeSet<&str> = credential
        .secrets
        .keys()
        .chain(credential.optional_secrets.keys())
        .map(String::as_str)
        .collect();
    for (role, name) in credential
        .secrets
        .iter()
        .chain(&credential.optional_secrets)
    {
        if !valid_role(role) {
            errors.push(format!("{at}: bad role '{role}'"));
        }
        if !valid_secret_name(name) {
            errors.push(format!(
                "{at}: secret name '{name}' is not UPPER_SNAKE_CASE"
            ));
        }
    }
    let kind = credential.auth.kind_name();
    for template in credential.auth.templates() {
        match placeholders(template) {
            None => errors.push(format!("{at}: unbalanced braces in '{template}'")),
            Some(names) => {
                for name in names {
                    let signature = kind == "hmac" && name == "signature";
                    if !signature && !roles.contains(name.as_str()) {
                        errors.push(format!(
                            "{at}: template '{template}' names '{name}', not a secret role"
                        ));
                    }
                }
            }
        }
    }
    let required: &[&str] = match kind {
        "aws-sigv4" => &["access_key_id", "secret_access_key"],
        "mtls" => &["certificate", "private_key"],
        "oauth2" | "hmac" => &["secret"],
        _ => &[],
    };
    for role in required {
        if !credential.secrets.contains_key(*role) {
            errors.push(format!("{at}: {kind} needs a secret with role '{role}'"));
        }
    }
    match &credential.auth {
        AuthSpec::Header { header_name, .. } | AuthSpec::Hmac { header_name, .. }
            if header_name.trim().is_empty() =>
        {
            errors.push(format!("{at}: empty header name"));
        }
        AuthSpec::MultiHeader { headers } if headers.is_empty() => {
            errors.push(format!("{at}: no headers"));
        }
        AuthSpec::MultiQuery { params } if params.is_empty() => {
            errors.push(format!("{at}: no parameters"));
        }
        _ => {}
    }
    let hosts = provider.credential_hosts(credential);
    for host in hosts {
        if !valid_host(host) {
            errors.push(format!("{at}: bad host '{host}'"));
        }
        if !provider.hosts.contains(host) {
            errors.push(format!("{at}: host '{host}' is not a provider host"));
        }
    }
    if let AuthSpec::Oauth2 { token_endpoint, .. } = &credential.auth {
        let host = token_endpoint
            .strip_prefix("https://")
            .and_then(|rest| rest.split(['/', '?']).next())
            .unwrap_or_default();
        if !hosts.iter().any(|p| host_within(p, host)) {
            errors.push(format!(
                "{at}: token endpoint '{token_endpoint}' is not https on its hosts"
            ));
        }
    }
    if let Some(ids) = &credential.capabilities {
        for id in ids {
            if !provider.capabilities.iter().any(|c| &c.id == id) {
                errors.push(format!("{at}: unknown capability '{id}'"));
            }
        }
    }
    let enabled = provider.capabilities_for(credential);
    if enabled.is_empty() {
        errors.push(format!("{at}: enables no capability"));
    }
    for capability in enabled {
        for host in provider.capability_hosts(capability) {
            if !hosts.iter().any(|p| host_within(p, host)) {
                errors.push(format!(
                    "{at}: enables {} on '{host}', outside its hosts",
                    capability.id
                ));
            }
        }
    }
}

#[test]
fn every_provider_follows_the_registry_rules() {
    let mut errors = Vec::new();
    let mut provider_ids = BTreeSet::new();
    let mut capability_owner: BTreeMap<&str, &str> = BTreeMap::new();
    let mut secret_owner: BTreeMap<&str, (&str, &str)> = BTreeMap::new();

    for provider in registry().providers() {
        let pid = provider.id.as_str();
        if !provider_ids.insert(pid) {
            errors.push(format!("provider '{pid}' is defined twice"));
        }
        if !valid_id(pid) {
            errors.push(format!(
                "provider id '{pid}' is not lower-case a-z, 0-9, '-'"
            ));
        }
        if provider.source != format!("registry/{pid}.toml") {
            errors.push(format!(
                "{pid}: defined in {}, not registry/{pid}.toml",
                provider.source
            ));
        }
        if provider.name.trim().is_empty() {
            errors.push(format!("{pid}: empty name"));
        }
        if provider.hosts.is_empty() {
            errors.push(format!("{pid}: no hosts"));
        }
        for host in &provider.hosts {
            if !valid_host(host) {
                errors.push(format!("{pid}: bad host '{host}'"));
            }
        }
        if set(&provider.hosts).len() != provider.hosts.len() {
            errors.push(format!("{pid}: duplicate hosts"));
        }
        if provider.credentials.is_empty() {
            errors.push(format!("{pid}: no credential alternative"));
        }
        if provider.capabilities.is_empty() {
            errors.push(format!("{pid}: no capability"));
        }
        let mut alternatives = BTreeSet::new();
        for credential in &provider.credentials {
            if !alternatives.insert(credential.id.as_str()) {
                errors.push(format!("{pid}: alternative '{}' twice", credential.id));
            }
            for name in credential
                .secrets
                .values()
                .chain(credential.optional_secrets.values())
            {
                if let Some((other, alt)) =
                    secret_owner.insert(name.as_str(), (pid, credential.id.as_str()))
                {
                    errors.push(format!(
                        "secret name {name} is claimed by {other} ({alt}) and {pid} ({})",
                        credential.id
                    ));
                }
            }
            check_credential(provider, credential, &mut errors);
        }
        for capability in &provider.capabilities {
            if let Some(other) = capability_owner.insert(capability.id.as_str(), pid) {
                errors.push(format!(
                    "capability '{}' is defined by {other} and {pid}",
                    capability.id
                ));
            }
            check_capability(provider, capability, &mut errors);
        }
    }
    assert!(
        errors.is_empty(),
        "registry rule violations:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_rule_checks_catch_bad_input() {
    assert!(valid_host("api.openai.com"));
    assert!(valid_host("*.myshopify.com"));
    for bad in [
        "API.openai.com",
        "localhost",
        "127.0.0.1",
        "a.*.com",
        "*x.com",
        "*.*.com",
        "x.com:443",
        "https://x.com",
    ] {
        assert!(!valid_host(bad), "{bad}");
    }
    assert!(host_within("*.supabase.co", "ref.supabase.co"));
    assert!(!host_within("*.supabase.co", "a.b.supabase.co"));
    assert!(!host_within("*.supabase.co", "supabase.co"));
    assert_eq!(
        placeholders("Bearer {{secret}}"),
        Some(vec!["secret".to_string()])
    );
    assert_eq!(
        placeholders("{{ email }}/token"),
        Some(vec!["email".to_string()])
    );
    assert_eq!(placeholders("{{secret}"), None);
    assert_eq!(placeholders("}}x{{"), None);
    assert!(valid_secret_name("CO_API_KEY"));
    assert!(!valid_secret_name("lower_key"));
    assert!(!valid_secret_name("1KEY"));
}
