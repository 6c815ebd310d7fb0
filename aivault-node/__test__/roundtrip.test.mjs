// Round trip through every namespace: create -> list (metadata only) -> invoke against a
// loopback server that records the injected key; the canary never comes back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CANARY, Vault, InvokeResponse, assertNoCanary, setup, tempDir, upstream } from './helpers.mjs'

test('create, list metadata only, invoke injects the key upstream', async (t) => {
  const server = await upstream(t)
  const vault = new Vault(tempDir(t))
  const meta = await setup(vault, server.port)
  assert.equal(meta.name, 'ACME_TOKEN')
  assert.equal(meta.valueVersion, 1)
  assert.equal(meta.scope, 'global')

  const list = await vault.secrets.list()
  assert.deepEqual(list.map((s) => s.secretId), [meta.secretId])
  assert.ok(!('value' in list[0]))

  const response = await vault.invoke({ capability: 'acme/api', path: '/v1/ping?x=1', headers: { 'x-trace': 't1' } })
  assert.ok(response instanceof InvokeResponse)
  assert.equal(response.status, 200)
  assert.equal(response.ok, true)
  assert.deepEqual(response.json(), { ok: true, path: '/v1/ping?x=1' })
  assert.equal(response.headers['x-upstream'], 'yes')
  assert.ok(Buffer.isBuffer(response.body))
  assert.equal(response.planned.capability, 'acme/api')
  assert.equal(response.planned.method, 'GET')

  assert.equal(server.received.length, 1)
  const got = server.received[0]
  assert.equal(got.headers.authorization, `Bearer ${CANARY}`)
  assert.equal(got.headers['x-trace'], 't1')
  assertNoCanary(meta, list, response, response.text(), await vault.status(), await vault.audit.query())
})

test('invoke sends a body as bytes, text or JSON', async (t) => {
  const server = await upstream(t)
  const vault = new Vault(tempDir(t))
  await setup(vault, server.port)
  await vault.invoke({ capability: 'acme/api', method: 'POST', path: '/v1/a', body: Buffer.from([0, 1, 2, 255]) })
  await vault.invoke({ capability: 'acme/api', method: 'POST', path: '/v1/b', body: 'hello' })
  await vault.invoke({ capability: 'acme/api', method: 'POST', path: '/v1/c', json: { n: 1, s: ['x'] } })
  const [bytes, text, json] = server.received
  assert.deepEqual([...bytes.body], [0, 1, 2, 255])
  assert.equal(text.body.toString(), 'hello')
  assert.deepEqual(JSON.parse(json.body.toString()), { n: 1, s: ['x'] })
  assert.equal(json.headers['content-type'], 'application/json')
})

test('an upstream 4xx resolves with its status and body', async (t) => {
  const server = await upstream(t, (_r, res) => { res.writeHead(418, { 'content-type': 'text/plain' }); res.end('teapot') })
  const vault = new Vault(tempDir(t))
  await setup(vault, server.port)
  const response = await vault.invoke({ capability: 'acme/api', path: '/v1/x' })
  assert.equal(response.status, 418)
  assert.equal(response.ok, false)
  assert.equal(response.text(), 'teapot')
})

test('every namespace operation round-trips (metadata only)', async (t) => {
  const server = await upstream(t)
  const vault = new Vault(tempDir(t))
  const meta = await setup(vault, server.port)

  const status = await vault.status()
  assert.equal(status.status.initialized, true)

  const renamed = await vault.secrets.update(meta.secretId, { name: 'ACME_KEY', aliases: ['acme'] })
  assert.equal(renamed.name, 'ACME_KEY')
  assert.deepEqual(renamed.aliases, ['acme'])
  const rotated = await vault.secrets.rotate(meta.secretId, Buffer.from(`${CANARY}-2`))
  assert.equal(rotated.valueVersion, 2)
  await vault.invoke({ capability: 'acme/api', path: '/v1/r' })
  assert.equal(server.received.at(-1).headers.authorization, `Bearer ${CANARY}-2`)

  const attached = await vault.secrets.attachGroup(meta.secretId, { workspaceId: 'w', groupId: 'g' })
  assert.deepEqual(attached.attachedGroups, [{ workspaceId: 'w', groupId: 'g' }])
  const detached = await vault.secrets.detachGroup(meta.secretId, { workspaceId: 'w', groupId: 'g' })
  assert.deepEqual(detached.attachedGroups, [])

  const imported = await vault.secrets.import({ ONE: `${CANARY}-1`, TWO: `${CANARY}-3`, EMPTY: '' }, { scope: 'workspace', workspaceId: 'w' })
  assert.deepEqual(imported.created.sort(), ['ONE', 'TWO'])
  assert.deepEqual(imported.skipped, ['EMPTY'])
  const inWorkspace = await vault.secrets.list({ scope: 'workspace', workspaceId: 'w' })
  assert.deepEqual(inWorkspace.map((s) => s.name).sort(), ['ONE', 'TWO'])

  const credentials = await vault.credentials.list()
  assert.ok(credentials.some((c) => c.id === 'acme'))

  const capabilities = await vault.capabilities.list()
  assert.ok(capabilities.capabilities.some((c) => c.id === 'acme/api'))
  const described = await vault.capabilities.describe('acme/api')
  assert.equal(described.capability, 'acme/api')
  const policy = await vault.capabilities.setPolicy('acme/api', { rateLimitPerMinute: 100, maxRequestBodyBytes: 1000 })
  assert.equal(policy.policy.rateLimitPerMinute, 100)

  const route = await vault.capabilities.route(`127.0.0.1:${server.port}`, 'get', '/v1/models?limit=2')
  assert.deepEqual(route, { capability: 'acme/api', path: '/v1/models?limit=2' })

  const bound = await vault.capabilities.bind({ capability: 'acme/api', secretRef: `vault:secret:${meta.secretId}`, scope: 'workspace', workspaceId: 'w' })
  assert.equal(bound.binding.capability, 'acme/api')
  const bindings = await vault.capabilities.bindings({ capability: 'acme/api' })
  assert.equal(bindings.length, 1)
  const unbound = await vault.capabilities.unbind({ capability: 'acme/api', scope: 'workspace', workspaceId: 'w' })
  assert.equal(unbound.removed, true)
  assert.equal((await vault.capabilities.bindings()).length, 0)

  const verified = await vault.audit.verify()
  assert.equal(verified.ok, true)
  const events = await vault.audit.query({ limit: 3 })
  assert.equal(events.length, 3)

  const deletedCap = await vault.capabilities.delete('acme/api')
  assert.equal(deletedCap.removedCapability, true)
  const deletedCred = await vault.credentials.delete('acme')
  assert.equal(deletedCred.removed, true)
  const deleted = await vault.secrets.delete(meta.secretId)
  assert.equal(deleted.secret.secretId, meta.secretId)

  assertNoCanary(status, renamed, rotated, attached, detached, imported, inWorkspace, credentials, capabilities, described, policy, route, bound, bindings, unbound, verified, events, deletedCap, deletedCred, deleted)
})
