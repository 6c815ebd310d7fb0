//! The command-line grammar (clap). Flag names and JSON field names match the product brief
//! (`../shared/reference/cli.md`) so existing scripts keep working.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::deferred::Deferred;

/// aivault: a local vault that lets agents use API keys without ever holding them.
#[derive(Debug, Parser)]
#[command(name = "aivault", version, about, long_about = None, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Print full JSON instead of human-readable output.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Shown after `aivault --help`.
const EXIT_CODES_HELP: &str = "\
Environment:
  AIVAULT_DIR          vault directory (default ~/.aivault/data)
  AIVAULT_KEY          master key of an env-provider vault (base64 or 64 hex digits)
  AIVAULT_PASSPHRASE   passphrase of a passphrase vault (instead of `aivault unlock`)
  AIVAULT_RUNTIME_DIR  where `aivault unlock` keeps its session (default $XDG_RUNTIME_DIR/aivault,
                       else /dev/shm/aivault-<uid>; never the vault directory)
  NO_COLOR             disable colour

Exit codes:
  0 success            1 internal           2 invalid_input (and usage errors)
  3 not_found          4 already_exists     5 vault_locked
  6 decrypt_failed     7 policy_violation   8 capability_not_found
  9 credential_not_found                    10 credential_ambiguous
  11 rate_limited      12 upstream_error    13 io
  14 integrity_failed  15 unauthorized";

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show whether the vault exists and is unlocked, its key provider, key id and paths.
    #[command(after_help = "Example:\n  aivault status\n  aivault status -v")]
    Status,

    /// Create the vault with a chosen key provider.
    #[command(
        after_help = "Examples:\n  aivault init --provider file\n  aivault init --provider env --env-var AIVAULT_KEY\n  aivault init --provider passphrase --passphrase-stdin < passphrase.txt"
    )]
    Init(Deferred<InitArgs>),

    /// Unlock a passphrase vault for this user's processes (until `aivault lock`).
    #[command(
        after_help = "Examples:\n  aivault unlock                 # prompts on the terminal\n  aivault unlock --passphrase-stdin < passphrase.txt"
    )]
    Unlock(Deferred<PassphraseArgs>),

    /// Lock a passphrase vault (removes the unlock session).
    #[command(after_help = "Example:\n  aivault lock")]
    Lock,

    /// Rotate the master key: re-wraps every secret's key in one transaction.
    #[command(
        name = "rotate-master",
        after_help = "Examples:\n  aivault rotate-master                       # file vault: fresh random key\n  aivault rotate-master --new-key \"$(head -c32 /dev/urandom | base64)\"\n  aivault rotate-master --new-passphrase-stdin < new-passphrase.txt"
    )]
    RotateMaster(Deferred<RotateMasterArgs>),

    /// Show the audit log (JSON, newest first) or verify its HMAC chain.
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "Examples:\n  aivault audit --limit 50\n  aivault audit --kind secret.rotate\n  aivault audit verify"
    )]
    Audit(Deferred<AuditArgs>),

    /// Check the whole vault: every secret decrypts, every credential, capability, policy
    /// and binding row matches its MAC, the audit chain is intact (reports ids, never values).
    #[command(
        after_help = "Examples:\n  aivault verify\n  aivault verify -v   # the full report as JSON"
    )]
    Verify,

    /// Store and manage secrets (values are never printed).
    #[command(subcommand)]
    Secrets(Deferred<SecretsCommand>),

    /// Manage credentials (which secrets are injected, how, towards which hosts).
    #[command(subcommand)]
    Credential(Deferred<CredentialCommand>),

    /// Manage capabilities (what callers may invoke), their policies and bindings.
    #[command(subcommand)]
    Capability(Deferred<CapabilityCommand>),

    /// Manage caller tokens: what an agent holds instead of the key (capabilities and one
    /// context; only a hash is stored).
    #[command(subcommand)]
    Token(Deferred<TokenCommand>),

    /// The local CA of `aivault serve --proxy` (print, export, rotate).
    #[command(subcommand)]
    Proxy(Deferred<ProxyCommand>),

    /// Run any tool (curl, git, an SDK, an agent) with its HTTPS traffic sent through
    /// aivault's proxy: it holds placeholders, never a key; the proxy injects the real one.
    #[command(after_help = RUN_HELP)]
    Run(Deferred<RunArgs>),

    /// Write (or print) a service definition that runs `aivault serve` for this user.
    #[command(subcommand)]
    Setup(Deferred<SetupCommand>),

    /// A Model Context Protocol server on stdio: tools list_capabilities, describe_capability
    /// and invoke (through `aivault serve` when AIVAULT_SOCKET and AIVAULT_TOKEN are set).
    Mcp,

    /// Serve callers over a Unix socket until SIGTERM/SIGINT: the vault stays in this
    /// process; callers hold only the socket and a token (`aivault token create`).
    #[command(after_help = SERVE_HELP)]
    Serve(Deferred<ServeArgs>),

    /// Import a vault of the original aivault tool (secrets, credentials, capabilities,
    /// policies, bindings) in one transaction; the source is only read.
    #[command(after_help = MIGRATE_HELP)]
    Migrate(Deferred<MigrateArgs>),

    /// Invoke a capability: the broker injects the credential; prints the upstream body.
    #[command(after_help = INVOKE_HELP)]
    Invoke(Deferred<InvokeArgs>),

    /// Invoke and print `{"planned":{..},"response":{"status","json"}}`.
    #[command(after_help = INVOKE_HELP)]
    Json(Deferred<InvokeArgs>),

    /// Invoke and render the JSON body as markdown.
    #[command(visible_alias = "md", after_help = INVOKE_HELP)]
    Markdown(Deferred<InvokeArgs>),

    /// OAuth 2.0 helpers (the consent step; the broker does the refreshing).
    #[command(subcommand)]
    Oauth(Deferred<OauthCommand>),

    /// Operator provider files in `<vault dir>/registry/`.
    #[command(subcommand)]
    Provider(Deferred<ProviderCommand>),

    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  aivault completions bash > ~/.local/share/bash-completion/completions/aivault"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

const MIGRATE_HELP: &str = "\
The original vault's key comes from where its vault.json says: its key file, or its variable
(AIVAULT_KEY); a passphrase vault asks for its passphrase. Names, ids and bindings that already
exist here are skipped (\"exists\"), so running migrate again imports nothing twice. Records that
cannot be imported are listed with why; the rest is imported. -v prints the report as JSON.

Examples:
  aivault migrate                                   # from ~/.aivault/data/vault
  aivault migrate --from /backup/aivault/vault --key-file /backup/aivault/kek.key
  aivault migrate --passphrase-stdin < passphrase.txt
  aivault migrate -v > migration-report.json";

/// `aivault migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The original vault's directory (holds vault.json); default: the original's default
    /// location, ~/.aivault/data/vault.
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,
    /// The original's key file, when it is not where its vault.json says (base64 or hex).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["passphrase", "passphrase_stdin"])]
    pub key_file: Option<PathBuf>,
    /// The original vault's passphrase (visible in the process list; prefer
    /// --passphrase-stdin).
    #[arg(long, conflicts_with = "passphrase_stdin")]
    pub passphrase: Option<String>,
    /// Read the original vault's passphrase from standard input (one line).
    #[arg(long)]
    pub passphrase_stdin: bool,
}

/// Key providers of `init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// A random key in a 0600 file (default).
    File,
    /// A key in an environment variable.
    Env,
    /// A key derived from a passphrase (Argon2id).
    Passphrase,
}

/// `aivault init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Key provider.
    #[arg(long, value_enum, default_value = "file")]
    pub provider: ProviderArg,
    /// Env provider: the variable holding the key.
    #[arg(long, value_name = "NAME")]
    pub env_var: Option<String>,
    /// File provider: the key file; must be the configured one (`AIVAULT_KEY_FILE`, else the
    /// default), since the location is never read from the database.
    #[arg(long, value_name = "PATH")]
    pub file_path: Option<PathBuf>,
    /// File provider: create the vault although aivault's key file exists without one (its
    /// vault.db was deleted or moved; restoring it is usually what you want).
    #[arg(long)]
    pub force: bool,
    /// Passphrase provider: the passphrase.
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

/// A passphrase from a flag, stdin, `AIVAULT_PASSPHRASE` or a terminal prompt.
#[derive(Debug, Args)]
pub struct PassphraseArgs {
    /// The passphrase (visible in the process list; prefer --passphrase-stdin).
    #[arg(long, conflicts_with = "passphrase_stdin")]
    pub passphrase: Option<String>,
    /// Read the passphrase from standard input (one line).
    #[arg(long)]
    pub passphrase_stdin: bool,
}

/// `aivault rotate-master`.
#[derive(Debug, Args)]
pub struct RotateMasterArgs {
    /// The new 32-byte key, base64 or 64 hex digits (file and env vaults).
    #[arg(long, value_name = "KEY", conflicts_with_all = ["new_passphrase", "new_passphrase_stdin"])]
    pub new_key: Option<String>,
    /// The new passphrase (prefer --new-passphrase-stdin); a file or env vault becomes a
    /// passphrase vault.
    #[arg(long, conflicts_with = "new_passphrase_stdin")]
    pub new_passphrase: Option<String>,
    /// Read the new passphrase from standard input (one line).
    #[arg(long)]
    pub new_passphrase_stdin: bool,
}

/// `aivault audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// `verify`.
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Show at most N events.
    #[arg(long, default_value_t = 200)]
    pub limit: u64,
    /// Only events before this time (milliseconds since the epoch).
    #[arg(long, value_name = "T")]
    pub before_ts_ms: Option<i64>,
    /// Only events of this kind (e.g. secret.create).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only events about this secret.
    #[arg(long, value_name = "ID")]
    pub secret_id: Option<String>,
}

/// `aivault audit verify`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the HMAC chain; fails if any event was edited, removed or reordered.
    #[command(after_help = "Example:\n  aivault audit verify")]
    Verify,
}

/// Scope levels on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// Every caller.
    Global,
    /// Callers of one workspace (needs --workspace-id).
    Workspace,
    /// Callers of one group (needs --workspace-id and --group-id).
    Group,
}

/// `--scope` with its ids.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// Scope (global, workspace or group).
    #[arg(long, value_enum, default_value = "global")]
    pub scope: ScopeArg,
    /// Workspace id (workspace and group scopes).
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,
    /// Group id (group scope).
    #[arg(long, value_name = "ID")]
    pub group_id: Option<String>,
}

/// Where a secret value comes from: exactly one source.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ValueArgs {
    /// The value (visible in the process list; prefer --value-file or --value-stdin).
    #[arg(long)]
    pub value: Option<String>,
    /// Read the value from a file (one trailing newline is removed).
    #[arg(long, value_name = "PATH")]
    pub value_file: Option<PathBuf>,
    /// Read the value from standard input (one trailing newline is removed).
    #[arg(long)]
    pub value_stdin: bool,
}

/// `aivault secrets ...`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// List secrets (metadata only, never values).
    #[command(
        after_help = "Examples:\n  aivault secrets list\n  aivault secrets list --scope global\n  aivault secrets list --scope workspace --workspace-id my-ws\n  aivault secrets list -v"
    )]
    List {
        /// Only this scope level.
        #[arg(long, value_enum)]
        scope: Option<ScopeArg>,
        /// Only this workspace.
        #[arg(long, value_name = "ID")]
        workspace_id: Option<String>,
        /// Only this group.
        #[arg(long, value_name = "ID")]
        group_id: Option<String>,
    },

    /// Create an encrypted secret; registry names are pinned and auto-provisioned.
    #[command(
        after_help = "Examples:\n  aivault secrets create --name OPENAI_API_KEY --value \"sk-...\" --scope global\n  aivault secrets create --name MY_CUSTOM_KEY --value-file key.txt\n  printf %s \"$TOKEN\" | aivault secrets create --name GITHUB_TOKEN --value-stdin\n  aivault secrets create --name OPENAI_API_KEY --value \"sk-...\" --scope workspace --workspace-id my-workspace"
    )]
    Create {
        /// Unique name within the scope.
        #[arg(long)]
        name: String,
        /// The value.
        #[command(flatten)]
        value: ValueArgs,
        /// Scope.
        #[command(flatten)]
        scope: ScopeArgs,
        /// An alias (repeatable).
        #[arg(long = "alias", value_name = "ALIAS")]
        aliases: Vec<String>,
    },

    /// Rename a secret or replace its aliases (not its value: use rotate).
    #[command(
        after_help = "Examples:\n  aivault secrets update --id <secret-id> --name NEW_NAME\n  aivault secrets update --id <secret-id> --alias new-alias\n  aivault secrets update --id <secret-id> --clear-aliases"
    )]
    Update {
        /// The secret's id.
        #[arg(long)]
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// Replace the aliases with these (repeatable).
        #[arg(long = "alias", value_name = "ALIAS", conflicts_with = "clear_aliases")]
        aliases: Vec<String>,
        /// Remove every alias.
        #[arg(long)]
        clear_aliases: bool,
    },

    /// Replace a secret's value (fresh encryption key, version + 1).
    #[command(
        after_help = "Example:\n  aivault secrets rotate --id <secret-id> --value \"new-value\""
    )]
    Rotate {
        /// The secret's id.
        #[arg(long)]
        id: String,
        /// The new value.
        #[command(flatten)]
        value: ValueArgs,
    },

    /// Delete a secret, destroying its ciphertext and the credentials that use it.
    #[command(after_help = "Example:\n  aivault secrets delete --id <secret-id>")]
    Delete {
        /// The secret's id.
        #[arg(long)]
        id: String,
    },

    /// Attach a global secret to a workspace group.
    #[command(
        name = "attach-group",
        after_help = "Example:\n  aivault secrets attach-group --id <secret-id> --workspace-id my-workspace --group-id my-group"
    )]
    AttachGroup(GroupArgs),

    /// Detach a secret from a workspace group.
    #[command(
        name = "detach-group",
        after_help = "Example:\n  aivault secrets detach-group --id <secret-id> --workspace-id my-workspace --group-id my-group"
    )]
    DetachGroup(GroupArgs),

    /// Import many secrets in one transaction (existing names are rotated).
    #[command(
        after_help = "Examples:\n  aivault secrets import --entry OPENAI_API_KEY=sk-... --entry ANTHROPIC_API_KEY=sk-ant-... --scope global\n  aivault secrets import --env-file .env"
    )]
    Import {
        /// KEY=VALUE (repeatable).
        #[arg(long = "entry", value_name = "KEY=VALUE")]
        entries: Vec<String>,
        /// A dotenv file of KEY=VALUE lines.
        #[arg(long, value_name = "PATH")]
        env_file: Option<PathBuf>,
        /// Scope.
        #[command(flatten)]
        scope: ScopeArgs,
    },

    /// Decrypt every secret to check the vault (values are discarded, never shown).
    #[command(after_help = "Example:\n  aivault secrets verify")]
    Verify,

    /// Store the Codex CLI's ChatGPT sign-in (auth.json) as CODEX_OAUTH_JSON (created, or
    /// updated when it exists), enabling the openai/codex-* capabilities.
    #[command(
        name = "import-codex",
        after_help = "The default file is $CODEX_HOME/auth.json, else ~/.codex/auth.json (run `codex login` first).\n\nExamples:\n  aivault secrets import-codex\n  aivault secrets import-codex --file /path/to/auth.json\n  aivault secrets import-codex --scope workspace --workspace-id my-ws"
    )]
    ImportCodex {
        /// The Codex auth.json to read.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// Scope.
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

/// `--id --workspace-id --group-id`.
#[derive(Debug, Args)]
pub struct GroupArgs {
    /// The secret's id.
    #[arg(long)]
    pub id: String,
    /// Workspace id.
    #[arg(long, value_name = "ID")]
    pub workspace_id: String,
    /// Group id.
    #[arg(long, value_name = "ID")]
    pub group_id: String,
}

/// `aivault setup ...`.
#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// A systemd user unit (~/.config/systemd/user/aivault.service): restarted on failure,
    /// hardened (NoNewPrivileges, ProtectSystem, PrivateTmp, ...).
    #[command(
        after_help = "Examples:\n  aivault setup systemd --print\n  aivault setup systemd --http 127.0.0.1:8787 && systemctl --user daemon-reload && systemctl --user enable --now aivault"
    )]
    Systemd(SetupArgs),
    /// A launchd LaunchAgent (~/Library/LaunchAgents/dev.aivault.serve.plist).
    #[command(
        after_help = "Examples:\n  aivault setup launchd --print\n  aivault setup launchd && launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/dev.aivault.serve.plist"
    )]
    Launchd(SetupArgs),
}

/// Options of `aivault setup systemd | launchd`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Print the definition instead of writing it.
    #[arg(long)]
    pub print: bool,
    /// Replace an existing file with other content.
    #[arg(long)]
    pub force: bool,
    /// The socket `aivault serve` listens on (default: its own default).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Also serve the HTTP gateway on this loopback address.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
}

/// `aivault serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The socket (default $AIVAULT_RUNTIME_DIR/broker.sock, else
    /// $XDG_RUNTIME_DIR/aivault/broker.sock, else /tmp/aivault-<uid>/broker.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The socket's mode: 0600 (this user only) or 0660 (with --socket-group).
    #[arg(long, value_name = "MODE", default_value = "0600")]
    pub socket_mode: String,
    /// The group that may connect (name or number), with --socket-mode 0660.
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,
    /// Only these peer uids may call (repeatable; default: anyone who can open the socket).
    #[arg(long = "allow-uid", value_name = "UID")]
    pub allow_uids: Vec<u32>,
    /// Connections served at once; more are refused with rate_limited.
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_connections: usize,
    /// Connections one peer uid may hold at once (its idle connections never starve others).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections_per_uid: usize,
    /// Also serve the HTTP gateway on this loopback address (`127.0.0.1:PORT`; port 0 picks
    /// one): `/<provider>/<path>` for unchanged SDKs and `POST /v1/invoke`.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Also serve the HTTPS forward proxy on this loopback address (`127.0.0.1:PORT`; port 0
    /// picks one): tools set `HTTPS_PROXY=http://aivault:<token>@127.0.0.1:PORT` and trust
    /// `aivault proxy ca`; hosts of the token's capabilities get the vault's credentials.
    #[arg(long, value_name = "ADDR")]
    pub proxy: Option<String>,
    /// With --proxy: tunnel CONNECTs to hosts matching PATTERN blind, with no credential
    /// (`git.example.com`, `*.example.com`, `*`; public addresses only). Repeatable.
    #[arg(long = "passthrough-host", value_name = "PATTERN")]
    pub passthrough_hosts: Vec<String>,
    /// The largest request body accepted (a capability's maxRequestBodyBytes may lower it).
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: u64,
}

/// Examples of `aivault serve`.
pub const SERVE_HELP: &str = "\
Examples:
  aivault serve &
  TOKEN=$(aivault token create --name agent --capability openai/chat-completions)
  AIVAULT_SOCKET=/run/user/1000/aivault/broker.sock AIVAULT_TOKEN=$TOKEN aivault json openai/chat-completions --body '{...}'
  aivault serve --socket /srv/aivault/broker.sock --socket-mode 0660 --socket-group agents --allow-uid 1001
  aivault serve --proxy 127.0.0.1:8788 &   # then, for any tool:
  aivault proxy ca --out ~/.aivault/proxy-ca.pem
  HTTPS_PROXY=http://aivault:$TOKEN@127.0.0.1:8788 curl --cacert ~/.aivault/proxy-ca.pem https://api.openai.com/v1/models";

/// `aivault proxy ...`.
#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Print (or write) the certificate of the local CA that `aivault serve --proxy` signs
    /// its leaf certificates with (generated at first use; its key never leaves the vault).
    #[command(
        after_help = "The CA's X.509 name constraints permit only the hosts of the vault's capabilities when it was made: after adding a capability on a new host, run --rotate and give clients the new certificate.\n\nExamples:\n  aivault proxy ca > aivault-ca.pem\n  aivault proxy ca --out ~/.aivault/proxy-ca.pem\n  aivault proxy ca --rotate --out ~/.aivault/proxy-ca.pem\n  aivault proxy ca -v      # id and permitted hosts as JSON"
    )]
    Ca(ProxyCaArgs),
}

/// `aivault proxy ca`.
#[derive(Debug, Args)]
pub struct ProxyCaArgs {
    /// Write the PEM to this file (mode 0644; never through a symlink or over anything but a
    /// regular file) instead of printing it.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Replace the CA with a new one (its constraints follow the capabilities of now); leaf
    /// certificates of the old one stop verifying once clients trust the new one.
    #[arg(long)]
    pub rotate: bool,
}

const RUN_HELP: &str = "\
The child gets HTTPS_PROXY/HTTP_PROXY (and lower-case) = http://aivault:<token>@127.0.0.1:PORT,
NO_PROXY=localhost,127.0.0.1,::1, a CA bundle (the system roots plus aivault's CA) in
SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, NODE_EXTRA_CA_CERTS, GIT_SSL_CAINFO and
CODEX_CA_CERTIFICATE, and `aivault-placeholder-<NAME>` for each secret name (OPENAI_API_KEY...)
the token's capabilities use. Every secret name the registry knows, every secret name of the
vault and the vault's own key variables are removed from its environment.

Without AIVAULT_SOCKET the proxy runs inside this command, on the vault here; with it (and a
token) the command asks that `aivault serve --proxy` for its address and CA. The exit code is
the child's (128+N when a signal N ended it); SIGTERM, SIGHUP, SIGINT and SIGQUIT are passed on
(SIGINT and SIGQUIT from the terminal already reach the child).

Examples:
  aivault run -- curl -s https://api.openai.com/v1/models      # every ready capability
  aivault run --capability openai/models -- curl -s https://api.openai.com/v1/models
  aivault run --capability 'openai/*' -- python agent.py
  AIVAULT_SOCKET=$XDG_RUNTIME_DIR/aivault/broker.sock AIVAULT_TOKEN=$TOKEN aivault run -- curl -s https://api.openai.com/v1/models
  aivault run --token \"$TOKEN\" --print-env > ~/.config/aivault/agent.env   # for a harness";

/// `aivault run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The caller token the child uses (default: AIVAULT_TOKEN). Visible in the process
    /// list: prefer AIVAULT_TOKEN.
    #[arg(long, value_name = "TOKEN", conflicts_with = "capabilities")]
    pub token: Option<String>,
    /// Mint a token for this capability id or glob (repeatable), revoked when the child
    /// exits (needs the vault here, not AIVAULT_SOCKET). Without it and without a token:
    /// every capability a credential of this vault enables.
    #[arg(long = "capability", value_name = "ID_OR_GLOB")]
    pub capabilities: Vec<String>,
    /// With --capability: the minted token's lifetime, a backstop should this command be
    /// killed before it can revoke the token (default 12h; 45s, 30m, 1h, 7d).
    #[arg(long, value_name = "DURATION", requires = "capabilities")]
    pub ttl: Option<String>,
    /// With --capability: the workspace the minted token's calls run in.
    #[arg(long, value_name = "ID", requires = "capabilities")]
    pub workspace_id: Option<String>,
    /// With --capability: the group (of that workspace) its calls run in.
    #[arg(long, value_name = "ID", requires = "workspace_id")]
    pub group_id: Option<String>,
    /// With --capability: the consumer its calls run as.
    #[arg(long, requires = "capabilities")]
    pub consumer: Option<String>,
    /// Without AIVAULT_SOCKET: tunnel CONNECTs to hosts matching PATTERN blind, with no
    /// credential (`telemetry.example.com`, `*.example.com`, `*`; public addresses only).
    /// Repeatable. Through aivault serve, the server's --passthrough-host applies.
    #[arg(long = "passthrough-host", value_name = "PATTERN")]
    pub passthrough_hosts: Vec<String>,
    /// Print the variables as `export NAME='value'` lines (-v: one JSON object) and run
    /// nothing: for a harness, with a long-lived token and a running `aivault serve --proxy`.
    #[arg(long)]
    pub print_env: bool,
    /// With --print-env: where to write the CA bundle (default
    /// $XDG_CACHE_HOME/aivault/proxy-ca-bundle.pem, else ~/.cache/aivault/...).
    #[arg(long, value_name = "PATH", requires = "print_env")]
    pub ca_bundle: Option<PathBuf>,
    /// Use the proxy of the `aivault serve` at this socket instead of the vault here (needs a
    /// token). --print-env uses the default socket when this is unset.
    #[arg(long, env = "AIVAULT_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The command and its arguments (after `--`).
    #[arg(
        value_name = "CMD",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required_unless_present = "print_env"
    )]
    pub command: Vec<String>,
}

/// `aivault token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a caller token; prints it once on stdout (only its hash is stored).
    #[command(
        after_help = "The token may list, describe and invoke the capabilities it names (ids or globs such as 'openai/*'), always in the context it names; it can never create, change or delete anything, nor read the audit log.\n\nExamples:\n  aivault token create --name research-agent --capability openai/chat-completions --ttl 7d\n  aivault token create --name team-bot --capability 'github/*' --workspace-id acme --group-id ops --consumer bot"
    )]
    Create(TokenCreateArgs),
    /// List tokens (names, grants, expiry, state; never a token).
    #[command(after_help = "Examples:\n  aivault token list\n  aivault token list -v")]
    List,
    /// Revoke a token: every call with it fails `unauthorized` from then on.
    #[command(after_help = "Example:\n  aivault token revoke research-agent")]
    Revoke {
        /// The token's name or id (`tok_...`).
        name_or_id: String,
    },
}

/// `aivault token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// A unique name (1-64 characters of A-Z, a-z, 0-9, '.', '_', '-').
    #[arg(long)]
    pub name: String,
    /// A capability id or glob it may use (repeatable).
    #[arg(long = "capability", value_name = "ID_OR_GLOB", required = true)]
    pub capabilities: Vec<String>,
    /// The workspace every call runs in.
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,
    /// The group (of that workspace) every call runs in.
    #[arg(long, value_name = "ID", requires = "workspace_id")]
    pub group_id: Option<String>,
    /// The consumer every call runs as (for consumer bindings).
    #[arg(long)]
    pub consumer: Option<String>,
    /// Lifetime: 45s, 30m, 1h, 7d (at most 366d); none by default.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
}

/// `aivault credential ...`.
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Create a credential: which secret(s) a provider's requests carry, how, and where.
    #[command(
        after_help = "Registry providers default --auth and --host from the registry; other providers need both.\n\nExamples:\n  aivault credential create my-store --provider shopify --secret-ref vault:secret:<id> --host my-store.myshopify.com\n  aivault credential create acme --provider acme --secret-ref vault:secret:<id> --auth header --header-name authorization --value-template \"Bearer {{secret}}\" --host api.acme.example\n  aivault credential create team-trello --provider trello --secret-ref key=vault:secret:<id1> --secret-ref token=vault:secret:<id2> --workspace-id my-workspace"
    )]
    Create(Box<CredentialCreateArgs>),
    /// List credentials.
    #[command(after_help = "Examples:\n  aivault credential list\n  aivault credential list -v")]
    List,
    /// Delete a credential (an auto-provisioned one stays revoked until its secret is
    /// created, rotated or imported again).
    #[command(after_help = "Example:\n  aivault credential delete openai")]
    Delete {
        /// The credential id.
        id: String,
    },
}

/// `aivault credential create`.
#[derive(Debug, Args)]
pub struct CredentialCreateArgs {
    /// The credential id.
    pub id: String,
    /// The provider (a registry provider id, or your own).
    #[arg(long)]
    pub provider: String,
    /// The secret to inject: `vault:secret:<id>`, or `ROLE=vault:secret:<id>` when the
    /// strategy takes several (repeatable); one secret without a role for several roles holds
    /// them as a JSON object (`{"username":..,"password":..}`).
    #[arg(long = "secret-ref", value_name = "REF", required = true)]
    pub secret_refs: Vec<String>,
    /// Auth strategy (default: the registry's).
    #[arg(long, value_parser = ["header", "query", "path", "basic", "multi-header", "multi-query", "oauth2", "aws-sigv4", "hmac", "mtls"])]
    pub auth: Option<String>,
    /// Allowed host (repeatable; default: the registry's hosts). Providers of your own may add
    /// a port (`git.example.com:8443`); with --allow-private-network also one-label names and
    /// IP literals (`192.168.1.20:8080`, `[::1]:11434`).
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Header name (header, hmac).
    #[arg(long)]
    pub header_name: Option<String>,
    /// Value template such as `Bearer {{secret}}` (header, query, hmac).
    #[arg(long)]
    pub value_template: Option<String>,
    /// Query parameter: `NAME` (query) or `NAME=TEMPLATE` (multi-query; repeatable).
    #[arg(long = "query-param", value_name = "PARAM")]
    pub query_params: Vec<String>,
    /// Path prefix template such as `/bot{{secret}}` (path).
    #[arg(long)]
    pub path_prefix_template: Option<String>,
    /// `NAME=TEMPLATE` header (multi-header; repeatable).
    #[arg(long = "auth-header", value_name = "NAME=TEMPLATE")]
    pub auth_headers: Vec<String>,
    /// Username template (basic; default `{{username}}`).
    #[arg(long)]
    pub username_template: Option<String>,
    /// Password template (basic; default `{{password}}`).
    #[arg(long)]
    pub password_template: Option<String>,
    /// OAuth2 grant: refresh_token (default) or client_credentials.
    #[arg(long)]
    pub grant_type: Option<String>,
    /// OAuth2 token endpoint (https, on one of the hosts).
    #[arg(long)]
    pub token_endpoint: Option<String>,
    /// OAuth2 scope (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// OAuth2 client authentication at the token endpoint: basic (default, RFC 6749 §2.3.1) or body.
    #[arg(long, value_name = "basic|body")]
    pub token_auth: Option<String>,
    /// AWS service (aws-sigv4).
    #[arg(long)]
    pub aws_service: Option<String>,
    /// AWS region (aws-sigv4).
    #[arg(long)]
    pub aws_region: Option<String>,
    /// Header carrying the signed timestamp (hmac).
    #[arg(long)]
    pub timestamp_header: Option<String>,
    /// Scope the credential to a workspace.
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,
    /// Scope the credential to a group of the workspace.
    #[arg(long, value_name = "ID")]
    pub group_id: Option<String>,
    /// Let this credential reach loopback and private addresses (local services; providers
    /// of your own only).
    #[arg(long)]
    pub allow_private_network: bool,
    /// Use plain HTTP, towards a loopback host only (needs --allow-private-network).
    #[arg(long)]
    pub insecure_http: bool,
    /// Trust this private CA (PEM file) for this credential's hosts, instead of the web roots.
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
}

/// `aivault invoke | json | markdown` and their `capability` aliases.
#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The capability id (`openai/chat-completions`).
    pub capability: String,
    /// HTTP method (default: the capability's only method).
    #[arg(long, short = 'X')]
    pub method: Option<String>,
    /// Path and query under the capability's prefixes (default: its only path).
    #[arg(long)]
    pub path: Option<String>,
    /// A request header `NAME=VALUE` or `"NAME: VALUE"` (repeatable; never auth headers: the
    /// broker injects them).
    #[arg(long = "header", short = 'H', value_name = "NAME=VALUE")]
    pub headers: Vec<String>,
    /// The request body as text.
    #[arg(long, conflicts_with_all = ["body_file_path", "multipart_fields", "multipart_files"])]
    pub body: Option<String>,
    /// The request body from a file.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["multipart_fields", "multipart_files"])]
    pub body_file_path: Option<PathBuf>,
    /// A multipart text field `NAME=VALUE` (repeatable).
    #[arg(long = "multipart-field", value_name = "NAME=VALUE")]
    pub multipart_fields: Vec<String>,
    /// A multipart file `FIELD=PATH` (repeatable).
    #[arg(long = "multipart-file", value_name = "FIELD=PATH")]
    pub multipart_files: Vec<String>,
    /// The whole request as JSON: `{"method","path","headers":{..},"body":..|"multipart":{..}}`.
    #[arg(long, conflicts_with_all = ["request_file", "body", "body_file_path", "multipart_fields", "multipart_files"])]
    pub request: Option<String>,
    /// The whole request as a JSON file.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["body", "body_file_path", "multipart_fields", "multipart_files"])]
    pub request_file: Option<PathBuf>,
    /// Let the request JSON name files (`"multipart": {"f": {"file": "PATH"}}`); refused
    /// otherwise, since the JSON often comes from the agent. The vault's own files, /proc,
    /// /sys and /dev are refused either way.
    #[arg(long)]
    pub allow_file_references: bool,
    /// The credential to use when several could serve the capability.
    #[arg(long)]
    pub credential: Option<String>,
    /// Caller context: workspace.
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,
    /// Caller context: group of the workspace.
    #[arg(long, value_name = "ID")]
    pub group_id: Option<String>,
    /// Caller context: the calling agent or tool (for consumer bindings).
    #[arg(long)]
    pub consumer: Option<String>,
    /// Whole-call timeout in milliseconds (default 300000).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Write the body as it arrives (invoke only).
    #[arg(long)]
    pub stream: bool,
    /// Exit with code 12 (upstream_error) when the upstream status is 400 or more (the body is
    /// still printed).
    #[arg(long)]
    pub fail: bool,
    /// Send the call to a running `aivault serve` at this socket instead of opening the vault
    /// (needs AIVAULT_TOKEN).
    #[arg(long, env = "AIVAULT_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// Shown after the invoke commands' help.
pub const INVOKE_HELP: &str = "\
Examples:
  aivault invoke openai/models
  aivault invoke openai/chat-completions --body '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' -H content-type=application/json
  aivault json github/repos --path /user/repos?per_page=5
  aivault md openai/models
  aivault invoke openai/transcription --multipart-field model=whisper-1 --multipart-file file=talk.mp3

Exit codes: 0 when the call completed, whatever the upstream status (`json` prints it);
with --fail, 12 when the status is 400 or more (the body is still printed). Otherwise:
  2 invalid_input (and usage errors)        5 vault_locked
  7 policy_violation (method, path, header, size cap or host refused)
  8 capability_not_found                    9 credential_not_found
  10 credential_ambiguous (pass --credential)
  11 rate_limited                           12 upstream_error (connection, TLS, timeout)
  13 io (a body file cannot be read)        see `aivault --help` for the rest";

/// `aivault provider ...`.
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Trust a provider file in `<vault dir>/registry/` after reviewing it: the vault records
    /// its SHA-256, and uses it from the next command on, until the file changes (a new or
    /// changed file is skipped with a warning until trusted).
    #[command(after_help = "Example:\n  aivault provider trust acme.toml")]
    Trust {
        /// The file (its name, or its path inside the registry directory).
        file: std::path::PathBuf,
    },
}

/// `aivault oauth ...`.
#[derive(Debug, Subcommand)]
pub enum OauthCommand {
    /// Print the consent URL of an authorization-code flow (JSON: consentUrl, state).
    /// Exchange the code for tokens yourself, then store them with
    /// `aivault secrets create --name <NAME> --value-file tokens.json`
    /// (`{"client_id","client_secret","refresh_token"}`).
    #[command(
        after_help = "Example:\n  aivault oauth setup --provider google --auth-url https://accounts.google.com/o/oauth2/v2/auth \\\n    --client-id <client-id> --redirect-uri http://127.0.0.1:8787/callback --scope https://www.googleapis.com/auth/gmail.readonly"
    )]
    Setup(OauthSetupArgs),
}

/// `aivault oauth setup`.
#[derive(Debug, Args)]
pub struct OauthSetupArgs {
    /// The provider.
    #[arg(long)]
    pub provider: String,
    /// The provider's authorization endpoint (https).
    #[arg(long, value_name = "URL")]
    pub auth_url: String,
    /// The application's client id.
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// Where the provider sends the code.
    #[arg(long, value_name = "URI")]
    pub redirect_uri: String,
    /// A scope (repeatable).
    #[arg(long = "scope", value_name = "S")]
    pub scopes: Vec<String>,
    /// The CSRF state (random when absent).
    #[arg(long)]
    pub state: Option<String>,
}

/// `aivault capability ...`.
#[derive(Debug, Subcommand)]
pub enum CapabilityCommand {
    /// Invoke a capability (same as `aivault invoke`).
    #[command(visible_alias = "call", after_help = INVOKE_HELP)]
    Invoke(InvokeArgs),
    /// Invoke and print JSON (same as `aivault json`).
    #[command(after_help = INVOKE_HELP)]
    Json(InvokeArgs),
    /// Invoke and render markdown (same as `aivault markdown`).
    #[command(visible_alias = "md", after_help = INVOKE_HELP)]
    Markdown(InvokeArgs),
    /// List capabilities: ready (a credential enables them) and available (needs a secret).
    #[command(after_help = "Examples:\n  aivault capability list\n  aivault capability list -v")]
    List,
    /// How to call a capability: hosts, methods, path prefixes, setup and examples (JSON).
    #[command(
        visible_aliases = ["args", "shape", "inspect"],
        after_help = "Examples:\n  aivault capability describe openai/chat-completions\n  aivault capability shape trello/boards"
    )]
    Describe {
        /// The capability id.
        id: String,
    },
    /// Create your own capability for a provider's or a credential's hosts.
    #[command(
        after_help = "Examples:\n  aivault capability create acme/reports --credential acme --method GET --path /v1/reports\n  aivault capability create openai/containers --provider openai --method GET --method POST --path /v1/containers"
    )]
    Create(CapabilityCreateArgs),
    /// Delete a capability you created (with its policy and bindings).
    #[command(after_help = "Example:\n  aivault capability delete acme/reports")]
    Delete {
        /// The capability id.
        id: String,
    },
    /// Capability policies (rate limit, body caps, response redaction).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Bind a secret to a capability for a scope and (optionally) one consumer.
    #[command(
        after_help = "Examples:\n  aivault capability bind --capability openai/chat-completions --secret-ref vault:secret:<id>\n  aivault capability bind --capability openai/chat-completions --secret-ref vault:secret:<id> --scope workspace --workspace-id my-workspace --consumer research-agent"
    )]
    Bind(BindArgs),
    /// Remove a binding.
    #[command(
        after_help = "Example:\n  aivault capability unbind --capability openai/chat-completions --scope workspace --workspace-id my-workspace --consumer research-agent"
    )]
    Unbind(UnbindArgs),
    /// List bindings.
    #[command(
        after_help = "Examples:\n  aivault capability bindings\n  aivault capability bindings --capability openai/chat-completions -v"
    )]
    Bindings(BindingsArgs),
}

/// `aivault capability create`.
#[derive(Debug, Args)]
pub struct CapabilityCreateArgs {
    /// The capability id (`acme/reports`).
    pub id: String,
    /// The provider whose credentials serve it.
    #[arg(long)]
    pub provider: Option<String>,
    /// The one credential that serves it.
    #[arg(long)]
    pub credential: Option<String>,
    /// Allowed method (repeatable).
    #[arg(long = "method", value_name = "METHOD")]
    pub methods: Vec<String>,
    /// Allowed path prefix, matched segment by segment (repeatable).
    #[arg(long = "path", value_name = "PREFIX")]
    pub paths: Vec<String>,
    /// Allowed host (repeatable; default: the credential's or provider's).
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
}

/// `aivault capability policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Set fields of a capability's policy (others keep their value).
    #[command(
        after_help = "Example:\n  aivault capability policy set --capability openai/chat-completions --rate-limit-per-minute 60 --max-response-body-bytes 1048576 --response-block internal-id"
    )]
    Set(PolicySetArgs),
}

/// `aivault capability policy set`.
#[derive(Debug, Args)]
pub struct PolicySetArgs {
    /// The capability id.
    #[arg(long)]
    pub capability: String,
    /// Maximum invocations per minute, counted across processes; 0 denies every call.
    #[arg(long, value_name = "N")]
    pub rate_limit_per_minute: Option<u32>,
    /// Maximum request body size in bytes.
    #[arg(long, value_name = "N")]
    pub max_request_body_bytes: Option<u64>,
    /// Maximum response body size in bytes.
    #[arg(long, value_name = "N")]
    pub max_response_body_bytes: Option<u64>,
    /// A string to redact from responses (repeatable; replaces the list).
    #[arg(long = "response-block", value_name = "S")]
    pub response_block: Vec<String>,
}

/// `aivault capability bind`.
#[derive(Debug, Args)]
pub struct BindArgs {
    /// The capability id.
    #[arg(long)]
    pub capability: String,
    /// The secret: `vault:secret:<id>`.
    #[arg(long)]
    pub secret_ref: String,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Only for this caller.
    #[arg(long)]
    pub consumer: Option<String>,
}

/// `aivault capability unbind`.
#[derive(Debug, Args)]
pub struct UnbindArgs {
    /// The capability id.
    #[arg(long)]
    pub capability: String,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The caller the binding was for.
    #[arg(long)]
    pub consumer: Option<String>,
}

/// `aivault capability bindings`.
#[derive(Debug, Args)]
pub struct BindingsArgs {
    /// Only this capability.
    #[arg(long)]
    pub capability: Option<String>,
    /// Only this scope level.
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    /// Only this workspace.
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,
    /// Only this group.
    #[arg(long, value_name = "ID")]
    pub group_id: Option<String>,
    /// Only this consumer.
    #[arg(long)]
    pub consumer: Option<String>,
}
