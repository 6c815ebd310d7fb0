// The remote form against a real `aivault serve` (the CLI built from this workspace): the
// vault, its loopback credential and a caller token are made by the CLI; the calls use only
// the socket and the token (`connect`), never the vault directory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import net from 'node:net'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import OpenAI from 'openai'
import { connect, RemoteVault } from '../aivault.js'
import { CANARY, assertNoCanary, rejection, tempDir, upstream } from './helpers.mjs'

const root = resolve(fileURLToPath(import.meta.url), '../../..')
const cli = join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'aivault')
const FORGED = 'avt_' + 'A'.repeat(43)

/** Whether something answers on `socket`. */
function answers(socket) {
  return new Promise((resolvePromise) => {
    const probe = net.connect(socket)
    probe.on('connect', () => { probe.destroy(); resolvePromise(true) })
    probe.on('error', () => resolvePromise(false))
  })
}

/**
 * A vault (made by the CLI) with a secret holding the canary, a credential towards the
 * upstream, capabilities `acme/api` (GET, POST /v1) and `acme/other` (GET /v2), a token for
 * `acme/api` only, and `aivault serve` on a socket in a temp dir.
 */
async function served(t, respond) {
  assert.ok(existsSync(cli), `build ${cli} first (cargo build -p aivault-cli)`)
  const server = await upstream(t, respond)
  // Removed only once the server has stopped: a server whose socket file is gone cannot be
  // woken to stop.
  const dir = mkdtempSync(join(tmpdir(), 'aivault-node-remote-'))
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    AIVAULT_DIR: join(dir, 'vault'),
    AIVAULT_RUNTIME_DIR: join(dir, 'runtime'),
    NO_COLOR: '1',
  }
  const run = (...args) => execFileSync(cli, args, { env, encoding: 'utf8' })
  const valueFile = join(dir, 'value')
  writeFileSync(valueFile, CANARY)
  const { secretId } = JSON.parse(run('secrets', 'create', '--name', 'ACME', '--value-file', valueFile))
  unlinkSync(valueFile)
  const host = `127.0.0.1:${server.port}`
  run('credential', 'create', 'acme', '--provider', 'acme', '--secret-ref', `vault:secret:${secretId}`,
    '--auth', 'header', '--host', host, '--allow-private-network', '--insecure-http')
  run('capability', 'create', 'acme/api', '--credential', 'acme', '--method', 'GET', '--method', 'POST', '--path', '/v1')
  run('capability', 'create', 'acme/other', '--credential', 'acme', '--method', 'GET', '--path', '/v2')
  const token = run('token', 'create', '--name', 'node-agent', '--capability', 'acme/api').trim()
  const socket = join(dir, 'sock', 'broker.sock')
  const child = spawn(cli, ['serve', '--socket', socket], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise((done) => {
        child.on('close', done)
        child.kill('SIGTERM')
      })
    }
    rmSync(dir, { recursive: true, force: true })
  })
  const deadline = Date.now() + 20_000
  while (!(await answers(socket))) {
    assert.ok(child.exitCode === null, `aivault serve exited: ${stderr}`)
    assert.ok(Date.now() < deadline, 'the server never listened')
    await new Promise((r) => setTimeout(r, 20))
  }
  return { server, socket, token, host }
}

test('round trip through the server: status, headers, body and plan; the upstream got the key', async (t) => {
  const { server, socket, token } = await served(t)
  const remote = connect({ socket, token })
  assert.ok(remote instanceof RemoteVault)
  assert.equal(remote.socket, socket)
  const response = await remote.invoke({ capability: 'acme/api', path: '/v1/items?x=1', headers: { 'x-trace': 't1' } })
  assert.equal(response.status, 200)
  assert.deepEqual(response.json(), { ok: true, path: '/v1/items?x=1' })
  assert.equal(response.headers['x-upstream'], 'yes')
  assert.equal(response.planned.capability, 'acme/api')
  const got = server.received.at(-1)
  assert.equal(got.headers.authorization, `Bearer ${CANARY}`)
  assert.equal(got.headers['x-trace'], 't1')

  const posted = await remote.invoke({ capability: 'acme/api', method: 'POST', path: '/v1/echo', json: { a: [1, 2] } })
  assert.equal(posted.status, 200)
  assert.equal(server.received.at(-1).body.toString(), '{"a":[1,2]}')
  assert.equal(server.received.at(-1).headers['content-type'], 'application/json')
  const bytes = await remote.invoke({ capability: 'acme/api', method: 'POST', path: '/v1/raw', body: Buffer.from([0, 255, 1]) })
  assert.equal(bytes.status, 200)
  assert.deepEqual([...server.received.at(-1).body], [0, 255, 1])
  assertNoCanary(remote, response, posted, bytes, response.text())
})

test('list, describe and route show only the token\'s capabilities', async (t) => {
  const { socket, token, host } = await served(t)
  const { capabilities } = connect({ socket, token })
  const listing = await capabilities.list()
  assert.ok(JSON.stringify(listing).includes('acme/api'))
  assert.ok(!JSON.stringify(listing).includes('acme/other'))
  const described = await capabilities.describe('acme/api')
  assert.ok(JSON.stringify(described).includes('acme/api'))
  assert.deepEqual(await capabilities.route(host, 'GET', '/v1/a?b=1'), { capability: 'acme/api', path: '/v1/a?b=1' })
  assert.equal((await rejection(capabilities.route(host, 'GET', '/v2/a'))).code, 'capability_not_found')
  assert.equal((await rejection(capabilities.describe('acme/other'))).code, 'unauthorized')
  assertNoCanary(listing, described)
})

test('calls outside the token and forged tokens are unauthorized and never reach the upstream', async (t) => {
  const { server, socket, token } = await served(t)
  const remote = connect({ socket, token })
  const outside = await rejection(remote.invoke({ capability: 'acme/other', path: '/v2/a' }))
  assert.equal(outside.code, 'unauthorized')
  assert.ok(outside instanceof Error)
  const context = await rejection(remote.invoke({ capability: 'acme/api', path: '/v1/a', workspaceId: 'elsewhere' }))
  assert.equal(context.code, 'unauthorized')
  const forged = connect({ socket, token: FORGED })
  const refused = await rejection(forged.invoke({ capability: 'acme/api', path: '/v1/a' }))
  assert.equal(refused.code, 'unauthorized')
  assert.equal((await rejection(forged.capabilities.list())).code, 'unauthorized')
  assert.equal(server.received.length, 0)
  assertNoCanary(outside, context, refused, outside.message, refused.message)
})

test('connect takes AIVAULT_SOCKET and AIVAULT_TOKEN by default, and says what is missing', async (t) => {
  const { socket, token } = await served(t)
  const saved = { socket: process.env.AIVAULT_SOCKET, token: process.env.AIVAULT_TOKEN }
  t.after(() => {
    for (const [name, value] of [['AIVAULT_SOCKET', saved.socket], ['AIVAULT_TOKEN', saved.token]]) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  process.env.AIVAULT_SOCKET = socket
  process.env.AIVAULT_TOKEN = token
  assert.equal((await connect().invoke({ capability: 'acme/api', path: '/v1/env' })).status, 200)
  delete process.env.AIVAULT_TOKEN
  assert.throws(() => connect({ socket }), (e) => e.code === 'unauthorized' && /AIVAULT_TOKEN/.test(e.message))
  delete process.env.AIVAULT_SOCKET
  assert.throws(() => connect({ token }), (e) => e.code === 'invalid_input' && /AIVAULT_SOCKET/.test(e.message))
  assert.throws(() => connect({ socket: 42, token }), (e) => e.code === 'invalid_input')
  const dead = connect({ socket: join(tempDir(t), 'none.sock'), token })
  assert.equal((await rejection(dead.invoke({ capability: 'acme/api' }))).code, 'io')
})

test('8 parallel invokes run at once, off the event loop', async (t) => {
  const { socket, token } = await served(t, (record, res) => {
    setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(record.url) }, 300)
  })
  const remote = connect({ socket, token })
  let ticks = 0
  const timer = setInterval(() => { ticks += 1 }, 10)
  const start = Date.now()
  const responses = await Promise.all(Array.from({ length: 8 }, (_, i) => remote.invoke({ capability: 'acme/api', path: `/v1/p${i}` })))
  clearInterval(timer)
  assert.deepEqual(responses.map((r) => r.text()), Array.from({ length: 8 }, (_, i) => `/v1/p${i}`))
  assert.ok(Date.now() - start < 1600, `took ${Date.now() - start} ms`)
  assert.ok(ticks >= 10, `the event loop ran only ${ticks} ticks`)
})

test('the openai SDK with remote.fetch: only the socket and the token', async (t) => {
  const { server, socket, token } = await served(t, (record, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req-remote' })
    res.end(JSON.stringify({
      id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: JSON.parse(record.body.toString()).model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'pong' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    }))
  })
  const remote = connect({ socket, token })
  const client = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${server.port}/v1`, fetch: remote.fetch, maxRetries: 0 })
  const { data, response } = await client.chat.completions
    .create({ model: 'remote-model', messages: [{ role: 'user', content: 'ping' }] })
    .withResponse()
  assert.equal(data.choices[0].message.content, 'pong')
  assert.equal(data.model, 'remote-model')
  assert.equal(response.headers.get('x-request-id'), 'req-remote')
  const got = server.received.at(-1)
  assert.equal(got.url, '/v1/chat/completions')
  assert.equal(got.headers.authorization, `Bearer ${CANARY}`)
  assert.ok(!JSON.stringify(got.headers).includes('unused'))
  const outside = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${server.port}/v2`, fetch: remote.fetch, maxRetries: 0 })
  const refused = await rejection(outside.models.list())  // /v2 is outside the token
  assert.ok(refused instanceof OpenAI.APIConnectionError)
  assert.equal(refused.cause?.code, 'capability_not_found')
  const forged = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${server.port}/v1`, fetch: connect({ socket, token: FORGED }).fetch, maxRetries: 0 })
  assert.equal((await rejection(forged.models.list())).cause?.code, 'unauthorized')
  assert.equal(server.received.length, 1)
  assertNoCanary(data, [...response.headers], remote)
})
