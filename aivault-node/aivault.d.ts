/**
 * aivault for Node. Every method returns a Promise and runs off the event loop; a failure
 * rejects with an `Error` (a `TypeError` for an argument of the wrong type) whose `code` is
 * one of {@link ERROR_CODES}. No function returns a secret value.
 */
import type {
  Audit,
  Capabilities,
  Credentials,
  RemoteCapabilities,
  Secrets,
} from './index'

export type { Audit, Capabilities, Credentials, RemoteCapabilities, Secrets }

/** The stable error kinds (DESIGN §7), the `code` of every aivault error. */
export type ErrorCode =
  | 'invalid_input'
  | 'not_found'
  | 'already_exists'
  | 'vault_locked'
  | 'decrypt_failed'
  | 'policy_violation'
  | 'capability_not_found'
  | 'credential_not_found'
  | 'credential_ambiguous'
  | 'rate_limited'
  | 'upstream_error'
  | 'io'
  | 'internal'
  | 'integrity_failed'
  | 'unauthorized'

/** Every `code` an aivault error can carry. */
export declare const ERROR_CODES: readonly ErrorCode[]

/** An aivault failure: a JS `Error` (or `TypeError`) with `code` set. */
export interface AivaultError extends Error {
  code: ErrorCode
}

/** Where a secret lives, as the CLI's JSON. */
export type Scope =
  | 'global'
  | { workspace: { workspace_id: string } }
  | { group: { workspace_id: string; group_id: string } }

/** Secret metadata (never the value), as the CLI's JSON. */
export interface SecretMeta {
  secretId: string
  name: string
  aliases: string[]
  scope: Scope
  pinnedProvider?: string
  createdAtMs: number
  updatedAtMs: number
  valueVersion: number
  attachedGroups: Array<{ workspaceId: string; groupId: string }>
}

/** `invoke`'s request. */
export interface InvokeRequest {
  capability: string
  method?: string
  /** Path and query, appended to the capability's upstream. */
  path?: string
  headers?: Record<string, string> | Array<{ name: string; value: string }>
  /** The request body (exclusive with `json`). */
  body?: string | Buffer | Uint8Array
  /** Any JSON value, sent as the body with `content-type: application/json`. */
  json?: unknown
  credential?: string
  workspaceId?: string
  groupId?: string
  consumer?: string
  timeoutMs?: number
}

/** A complete, redacted upstream response. */
export declare class InvokeResponse {
  /** The upstream status, relayed as is (4xx and 5xx resolve too). */
  readonly status: number
  /** `{ 'lower-case-name': 'value' }`; auth-class, cookie and framing headers never appear. */
  readonly headers: Record<string, string>
  /** The body (redacted). */
  readonly body: Buffer
  /** The request the broker made (`url` shows `REDACTED` where a secret goes). */
  readonly planned: { capability: string; credential: string; method: string; url: string }
  /** Whether the status is 2xx. */
  readonly ok: boolean
  /** The body as UTF-8 text. */
  text(): string
  /** The body parsed as JSON. */
  json(): any
}

/** A scope or filter: the kind and the ids (without `scope`, the most specific of the ids). */
export interface ScopeArgs {
  scope?: 'global' | 'workspace' | 'group'
  workspaceId?: string
  groupId?: string
}

/** `vault.secrets`: values go in, only metadata comes out. */
export interface SecretsApi {
  create(args: { name: string; value: string | Buffer | Uint8Array; aliases?: string[] } & ScopeArgs): Promise<SecretMeta>
  list(filter?: ScopeArgs): Promise<SecretMeta[]>
  update(id: string, changes: { name?: string; aliases?: string[] }): Promise<SecretMeta>
  rotate(id: string, value: string | Buffer | Uint8Array): Promise<SecretMeta>
  delete(id: string): Promise<{ secret: SecretMeta; removedCredentials: string[]; removedBindings: number }>
  attachGroup(id: string, group: { workspaceId: string; groupId: string }): Promise<SecretMeta>
  detachGroup(id: string, group: { workspaceId: string; groupId: string }): Promise<SecretMeta>
  import(entries: Record<string, string>, scope?: ScopeArgs): Promise<{ created: string[]; rotated: string[]; skipped: string[] }>
}

/** An aivault vault, opened at its first call. */
export declare class Vault {
  /**
   * @param path the vault directory (default: `AIVAULT_DIR`, else `~/.aivault/data`); a
   *   file-provider vault is created there at the first call if none exists.
   */
  constructor(path?: string | null)
  /** Secrets: values go in, only metadata comes out. */
  readonly secrets: SecretsApi
  /** Credentials: which secret is injected, how, towards which hosts. */
  readonly credentials: Credentials
  /** Capabilities, policies, bindings, and routing a URL to a capability. */
  readonly capabilities: Capabilities
  /** The audit log. */
  readonly audit: Audit
  /**
   * A WHATWG fetch that sends each request through the broker: the capability is the one
   * whose host, method and path admit the request (`capabilities.route`), placeholder API
   * keys are dropped, and the vault injects the real one. A request no capability allows
   * rejects with an error whose `code` is `capability_not_found`.
   */
  readonly fetch: typeof globalThis.fetch
  /** The vault's state (the CLI's `status -v`). */
  status(): Promise<Record<string, any>>
  /** Calls a capability through the broker and waits for the whole response. */
  invoke(request: InvokeRequest): Promise<InvokeResponse>
}

/**
 * A running `aivault serve` and a caller token: the same `invoke`, `capabilities` (list,
 * describe, route) and `fetch` as a {@link Vault}, limited to the token's capabilities and
 * context. The process never opens the vault.
 */
export declare class RemoteVault {
  /**
   * Contacts nothing. Throws `invalid_input` without a socket, `unauthorized` without a token.
   * @param socket the server's socket (default: `AIVAULT_SOCKET`)
   * @param token the caller token from `aivault token create` (default: `AIVAULT_TOKEN`)
   */
  constructor(socket?: string | null, token?: string | null)
  /** The server's socket. */
  readonly socket: string
  /** The token's capabilities: list, describe, route. */
  readonly capabilities: RemoteCapabilities
  /** As `Vault.fetch`, routed among the token's capabilities. */
  readonly fetch: typeof globalThis.fetch
  /**
   * Calls a capability through the server; as `Vault.invoke`, plus `unauthorized` (a refused
   * token, a call outside it) and `io` (no server).
   */
  invoke(request: InvokeRequest): Promise<InvokeResponse>
}

/** A {@link RemoteVault} for `socket` and `token` (defaults: `AIVAULT_SOCKET`, `AIVAULT_TOKEN`). */
export declare function connect(options?: { socket?: string | null; token?: string | null }): RemoteVault
