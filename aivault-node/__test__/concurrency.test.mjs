// One handle, 8 parallel invokes, while a real `aivault` CLI process writes secrets into the
// same vault: no error, no lost write. And the event loop keeps running during a slow call.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CANARY, Vault, assertNoCanary, setup, tempDir, upstream } from './helpers.mjs'

const root = resolve(fileURLToPath(import.meta.url), '../../..')
const cli = join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'aivault')

/** Runs the CLI against `dir`; resolves to its exit code and output. */
function aivault(dir, args) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cli, args, {
      env: { ...process.env, AIVAULT_DIR: dir, AIVAULT_KEY_FILE: join(dir, 'kek.key') },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({ code, out }))
  })
}

test('8 parallel invokes on one handle while the CLI writes secrets', async (t) => {
  assert.ok(existsSync(cli), `build ${cli} first (cargo build -p aivault-cli)`)
  const server = await upstream(t, (record, res) => {
    setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(record.url) }, 5)
  })
  const dir = tempDir(t)
  const vault = new Vault(dir)
  await setup(vault, server.port)

  const writes = 12
  let writing = true
  const writer = (async () => {
    for (let i = 0; i < writes; i++) {
      const result = await aivault(dir, ['secrets', 'create', '--name', `CLI_${i}`, '--value', `cli-${i}`])
      assert.equal(result.code, 0, result.out)
    }
  })().finally(() => { writing = false })
  // Rounds of 8 parallel invokes for as long as the CLI writes (at least 3).
  let rounds = 0
  const invokes = []
  for (let round = 0; round < 3 || writing; round++, rounds++) {
    const batch = Array.from({ length: 8 }, (_, i) => vault.invoke({ capability: 'acme/api', path: `/v1/r${round}-${i}` }))
    invokes.push(...(await Promise.all(batch)))
  }
  await writer

  assert.equal(invokes.length, 8 * rounds)
  for (const [n, response] of invokes.entries()) {
    assert.equal(response.status, 200)
    assert.equal(response.text(), `/v1/r${Math.floor(n / 8)}-${n % 8}`)
  }
  assert.equal(server.received.length, 8 * rounds)
  assert.ok(server.received.every((r) => r.headers.authorization === `Bearer ${CANARY}`))
  const names = (await vault.secrets.list()).map((s) => s.name)
  for (let i = 0; i < writes; i++) assert.ok(names.includes(`CLI_${i}`), `lost write CLI_${i}`)
  const listed = await aivault(dir, ['secrets', 'list'])
  assert.equal(listed.code, 0, listed.out)
  assert.equal((await vault.audit.verify()).ok, true)
  assertNoCanary(invokes)
})

test('invoke does not block the event loop', async (t) => {
  const server = await upstream(t, (_r, res) => { setTimeout(() => res.end('slow'), 400) })
  const vault = new Vault(tempDir(t))
  await setup(vault, server.port)
  let ticks = 0
  const timer = setInterval(() => { ticks++ }, 10)
  const started = Date.now()
  const response = await vault.invoke({ capability: 'acme/api', path: '/v1/slow' })
  clearInterval(timer)
  assert.equal(response.text(), 'slow')
  assert.ok(Date.now() - started >= 400)
  // A blocked loop would tick at most once; a free one about 40 times.
  assert.ok(ticks >= 20, `only ${ticks} timer ticks during a 400 ms call`)
})
