// Every error kind reachable from Node arrives as a JS Error whose `code` is the stable kind;
// arguments of the wrong type are TypeErrors (code `invalid_input`), never a crash; no error
// message quotes the canary.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, copyFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CANARY, ERROR_CODES, Vault, assertNoCanary, rejection, setup, tempDir, upstream } from './helpers.mjs'

/** Asserts `promise` rejects with an Error whose code is `code`; returns the error. */
async function rejectsWith(promise, code) {
  const error = await rejection(promise)
  assert.ok(error instanceof Error, `not an Error: ${error}`)
  assert.equal(error.code, code, `${error.code}: ${error.message}`)
  assert.ok(error.message.length > 0)
  assertNoCanary(error, error.message, error.stack)
  return error
}

test('ERROR_CODES lists the stable kinds of DESIGN §7', () => {
  assert.deepEqual([...ERROR_CODES], [
    'invalid_input', 'not_found', 'already_exists', 'vault_locked', 'decrypt_failed',
    'policy_violation', 'capability_not_found', 'credential_not_found', 'credential_ambiguous',
    'rate_limited', 'upstream_error', 'io', 'internal', 'integrity_failed', 'unauthorized',
  ])
})

test('each reachable kind is the error code', async (t) => {
  const server = await upstream(t)
  const dir = tempDir(t)
  const vault = new Vault(dir)
  const meta = await setup(vault, server.port)

  await rejectsWith(vault.secrets.create({ name: 'X', value: 'v', scope: 'planet' }), 'invalid_input')
  await rejectsWith(vault.secrets.delete('00000000-0000-0000-0000-000000000000'), 'not_found')
  await rejectsWith(vault.secrets.create({ name: 'ACME_TOKEN', value: CANARY }), 'already_exists')
  await rejectsWith(vault.invoke({ capability: 'acme/api', path: '/v2/outside' }), 'policy_violation')
  await rejectsWith(vault.invoke({ capability: 'acme/api', path: '/v1/x', headers: { Authorization: 'Bearer mine' } }), 'policy_violation')
  await rejectsWith(vault.invoke({ capability: 'nobody/nothing' }), 'capability_not_found')
  await rejectsWith(vault.capabilities.route('example.invalid', 'GET', '/'), 'capability_not_found')

  // A capability for a provider no credential serves.
  await vault.capabilities.create({ id: 'ghost/api', provider: 'ghost', methods: ['GET'], paths: ['/v1'], hosts: ['ghost.example'] })
  await rejectsWith(vault.invoke({ capability: 'ghost/api', path: '/v1' }), 'credential_not_found')

  // Two credentials of one provider at the same level: name one.
  const other = await vault.secrets.create({ name: 'TWIN_TOKEN', value: `${CANARY}-twin` })
  for (const id of ['twin-a', 'twin-b']) {
    await vault.credentials.create({ id, provider: 'twin', secretRefs: [`vault:secret:${other.secretId}`], auth: { kind: 'header' }, hosts: ['twin.example'] })
  }
  await vault.capabilities.create({ id: 'twin/api', provider: 'twin', methods: ['GET'], paths: ['/v1'], hosts: ['twin.example'] })
  await rejectsWith(vault.invoke({ capability: 'twin/api', path: '/v1' }), 'credential_ambiguous')

  await vault.capabilities.setPolicy('acme/api', { rateLimitPerMinute: 1 })
  await vault.invoke({ capability: 'acme/api', path: '/v1/once' })
  await rejectsWith(vault.invoke({ capability: 'acme/api', path: '/v1/twice' }), 'rate_limited')

  // An upstream that is not listening.
  const closed = await upstream(t)
  await new Promise((resolve) => { closed.server.close(resolve) })
  await setup(vault, closed.port, { id: 'gone' })
  await rejectsWith(vault.invoke({ capability: 'gone/api', path: '/v1' }), 'upstream_error')
  assert.ok(meta)
})

test('key and file failures: vault_locked, decrypt_failed, integrity_failed, io', async (t) => {
  const dir = tempDir(t)
  const vault = new Vault(dir)
  const meta = await vault.secrets.create({ name: 'K', value: CANARY })
  const key = join(dir, 'kek.key')

  // Another vault's key in place of this one's: it cannot open the secrets.
  const otherDir = tempDir(t)
  await new Vault(otherDir).status()
  await new Vault(otherDir).secrets.list()
  const saved = join(otherDir, 'saved.key')
  copyFileSync(key, saved)
  copyFileSync(join(otherDir, 'kek.key'), key)
  chmodSync(key, 0o600)
  await rejectsWith(new Vault(dir).secrets.rotate(meta.secretId, 'new'), 'decrypt_failed')

  // A key file others may read is refused.
  copyFileSync(saved, key)
  chmodSync(key, 0o644)
  await rejectsWith(new Vault(dir).secrets.rotate(meta.secretId, 'new'), 'integrity_failed')

  // No key file at all: the vault is locked.
  rmSync(key)
  await rejectsWith(new Vault(dir).secrets.rotate(meta.secretId, 'new'), 'vault_locked')

  // A vault directory that cannot be created.
  const file = join(tempDir(t), 'a-file')
  writeFileSync(file, 'not a directory')
  await rejectsWith(new Vault(join(file, 'vault')).status(), 'io')
})

test('wrong argument types are TypeErrors with code invalid_input, never a crash', async (t) => {
  const vault = new Vault(tempDir(t))
  const cases = [
    () => vault.secrets.create(),
    () => vault.secrets.create(42),
    () => vault.secrets.create('name'),
    () => vault.secrets.create([1, 2]),
    () => vault.secrets.create({ name: 5, value: 'v' }),
    () => vault.secrets.create({ name: 'N', value: 12345 }),
    () => vault.secrets.create({ name: 'N', value: { nested: CANARY } }),
    () => vault.secrets.create({ name: 'N' }),
    () => vault.secrets.list(7),
    () => vault.secrets.update(null, { name: 'x' }),
    () => vault.secrets.rotate('id', undefined),
    () => vault.secrets.rotate(Symbol('id'), 'v'),
    () => vault.secrets.delete({}),
    () => vault.secrets.attachGroup('id', 'w/g'),
    () => vault.secrets.import(['A=b']),
    () => vault.secrets.import({ A: 5 }),
    () => vault.credentials.create(() => 1),
    () => vault.credentials.create({ id: 'c', provider: 'p', secretRefs: 'vault:secret:x' }),
    () => vault.credentials.delete(1n),
    () => vault.capabilities.describe(),
    () => vault.capabilities.setPolicy('x', { rateLimitPerMinute: 'many' }),
    () => vault.capabilities.route('h', 'GET'),
    () => vault.capabilities.bind(true),
    () => vault.audit.query('all'),
    () => vault.invoke(),
    () => vault.invoke('acme/api'),
    () => vault.invoke({ capability: 5 }),
    () => vault.invoke({ capability: 'a/b', body: 12 }),
    () => vault.invoke({ capability: 'a/b', headers: 'x: y' }),
  ]
  for (const call of cases) {
    const error = await rejectsWith(call(), 'invalid_input')
    assert.ok(error instanceof TypeError || /must be|invalid type|missing field|did not match/.test(error.message), `${call}: ${error.name}: ${error.message}`)
  }
  const ctor = (() => { try { return new Vault(5) } catch (e) { return e } })()
  assert.ok(ctor instanceof TypeError)
  assert.equal(ctor.code, 'invalid_input')
})

test('unknown fields and conflicting arguments are invalid_input', async (t) => {
  const vault = new Vault(tempDir(t))
  const error = await rejectsWith(vault.secrets.create({ name: 'N', value: CANARY, scpoe: 'global' }), 'invalid_input')
  assert.match(error.message, /unknown field `scpoe`/)
  await rejectsWith(vault.invoke({ capability: 'a/b', body: 'x', json: {} }), 'invalid_input')
  await rejectsWith(vault.invoke({ capability: 'a/b', timeout: 5 }), 'invalid_input')
})
