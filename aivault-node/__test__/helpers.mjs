// Shared by the tests: a temporary vault, a loopback upstream that records what it received,
// the canary secret value, and the setup of a credential + capability towards the upstream.
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import assert from 'node:assert/strict'

export { Vault, ERROR_CODES, InvokeResponse } from '../aivault.js'

/** A secret value the tests then look for everywhere it must not be. */
export const CANARY = 'sk-canary-NODE-7f3a9c1e5b'

/** A fresh directory, removed when the test ends. */
export function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'aivault-node-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A real HTTP server on 127.0.0.1 that records every request (method, url, headers, body)
 * and answers with `respond(record, res)` or, by default, `{"ok": true, "path": url}`.
 */
export async function upstream(t, respond) {
  const received = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      const record = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) }
      received.push(record)
      if (respond) return respond(record, res)
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' })
      res.end(JSON.stringify({ ok: true, path: req.url }))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return { port: server.address().port, received, server }
}

/**
 * A secret holding `value`, a credential injecting it as a bearer token towards
 * 127.0.0.1:`port` (plain HTTP to a local service, opted in), and capability `acme/api`
 * allowing `methods` under `paths`. Returns the secret's metadata.
 */
export async function setup(vault, port, { value = CANARY, methods = ['GET', 'POST'], paths = ['/v1'], id = 'acme' } = {}) {
  const meta = await vault.secrets.create({ name: `${id.toUpperCase()}_TOKEN`, value })
  await vault.credentials.create({
    id,
    provider: id,
    secretRefs: [`vault:secret:${meta.secretId}`],
    auth: { kind: 'header' },
    hosts: [`127.0.0.1:${port}`],
    network: { allowPrivateNetwork: true, insecureHttp: true },
  })
  await vault.capabilities.create({ id: `${id}/api`, credential: id, methods, paths })
  return meta
}

/** Asserts the canary appears in none of the values' JSON nor `util.inspect` output. */
export function assertNoCanary(...values) {
  for (const value of values) {
    const json = JSON.stringify(value, (_k, v) => (Buffer.isBuffer(v) || v?.type === 'Buffer' ? Buffer.from(v.data ?? v).toString('latin1') : v)) ?? ''
    const shown = inspect(value, { depth: 10, showHidden: true, getters: true })
    assert.ok(!json.includes(CANARY), `canary in JSON: ${json.slice(0, 200)}`)
    assert.ok(!shown.includes(CANARY), `canary in inspect output: ${shown.slice(0, 200)}`)
  }
}

/** The rejection of `promise` (fails when it resolves). */
export async function rejection(promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  assert.fail('expected a rejection')
}
