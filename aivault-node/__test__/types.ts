// Compiled (not run) by types.test.mjs with `tsc --noEmit --strict`: the published types
// describe the API as the README uses it, and reject misuse.
import { Vault, RemoteVault, connect, ERROR_CODES, type AivaultError, type SecretMeta, type InvokeResponse } from '../aivault'

async function main(): Promise<void> {
  const vault = new Vault('/tmp/vault')
  const meta: SecretMeta = await vault.secrets.create({ name: 'ACME_TOKEN', value: 'v', scope: 'global' })
  const list: SecretMeta[] = await vault.secrets.list({ workspaceId: 'w' })
  const id: string = meta.secretId + list.length
  await vault.secrets.rotate(id, Buffer.from('v2'))
  const response: InvokeResponse = await vault.invoke({ capability: 'acme/api', path: '/v1', json: { q: 1 } })
  const status: number = response.status
  const text: string = response.text()
  const route = await vault.capabilities.route('127.0.0.1:8080', 'GET', '/v1')
  const capability: string = route.capability
  const f: typeof fetch = vault.fetch
  const res: Response = await f('http://127.0.0.1/v1')
  const codes: readonly string[] = ERROR_CODES
  try {
    await vault.audit.verify()
  } catch (e) {
    const code: string = (e as AivaultError).code
    void code
  }
  // @ts-expect-error: value must be a string or bytes
  await vault.secrets.create({ name: 'X', value: 42 })
  // @ts-expect-error: capability is required
  await vault.invoke({ path: '/v1' })
  const remote: RemoteVault = connect({ socket: '/run/aivault.sock', token: 'avt_x' })
  const again: RemoteVault = connect()
  const remoteResponse: InvokeResponse = await remote.invoke({ capability: 'acme/api', body: 'x' })
  const listing: Record<string, any> = await again.capabilities.list()
  const routed: string = (await remote.capabilities.route('h', 'GET', '/v1')).path
  const remoteFetch: typeof fetch = remote.fetch
  const socket: string = new RemoteVault(null, 'avt_x').socket
  // @ts-expect-error: a remote vault cannot create secrets
  void remote.secrets
  void [status, text, capability, res, codes, remoteResponse, listing, routed, remoteFetch, socket]
}
void main
