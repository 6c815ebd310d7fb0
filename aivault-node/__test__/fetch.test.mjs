// vault.fetch as a drop-in: the real `openai` package sends its requests through the broker;
// the upstream receives the vault's key, never the SDK's placeholder, and the JS side never
// holds the key.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import OpenAI from 'openai'
import { CANARY, Vault, assertNoCanary, rejection, setup, tempDir, upstream } from './helpers.mjs'

const COMPLETION = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-test',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hello from upstream' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 },
}

/** An upstream that answers chat completions, and a vault allowing POST /v1/chat/completions. */
async function openaiSetup(t) {
  const server = await upstream(t, (record, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req-1' })
    res.end(JSON.stringify({ ...COMPLETION, model: JSON.parse(record.body.toString()).model }))
  })
  const vault = new Vault(tempDir(t))
  await setup(vault, server.port, { methods: ['POST'], paths: ['/v1/chat/completions'] })
  return { server, vault }
}

test('the openai SDK with fetch: vault.fetch reaches the upstream with the vault key', async (t) => {
  const { server, vault } = await openaiSetup(t)
  const client = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${server.port}/v1`, fetch: vault.fetch, maxRetries: 0 })
  const { data: completion, response } = await client.chat.completions
    .create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] })
    .withResponse()

  assert.equal(completion.choices[0].message.content, 'hello from upstream')
  assert.equal(completion.model, 'gpt-test')
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('x-request-id'), 'req-1')

  assert.equal(server.received.length, 1)
  const got = server.received[0]
  assert.equal(got.method, 'POST')
  assert.equal(got.url, '/v1/chat/completions')
  assert.equal(got.headers.authorization, `Bearer ${CANARY}`)
  for (const [name, value] of Object.entries(got.headers)) {
    assert.ok(!String(value).includes('unused'), `placeholder key reached the upstream in ${name}`)
  }
  assert.deepEqual(JSON.parse(got.body.toString()).messages, [{ role: 'user', content: 'hi' }])
  assertNoCanary(completion, [...response.headers], vault)
})

test('vault.fetch takes a string, a URL or a Request and returns a real Response', async (t) => {
  const server = await upstream(t)
  const vault = new Vault(tempDir(t))
  await setup(vault, server.port)
  const base = `http://127.0.0.1:${server.port}`

  const a = await vault.fetch(`${base}/v1/a?q=1`, { headers: { authorization: 'Bearer placeholder', 'x-api-key': 'placeholder', 'x-keep': 'k' } })
  assert.ok(a instanceof Response)
  assert.equal(a.status, 200)
  assert.equal(a.headers.get('content-type'), 'application/json')
  assert.deepEqual(await a.json(), { ok: true, path: '/v1/a?q=1' })

  const b = await vault.fetch(new URL(`${base}/v1/b`), { method: 'POST', body: 'text body' })
  assert.deepEqual(await b.json(), { ok: true, path: '/v1/b' })

  const c = await vault.fetch(new Request(`${base}/v1/c`, { method: 'POST', body: JSON.stringify({ n: 1 }), headers: { 'content-type': 'application/json' } }))
  assert.equal(c.status, 200)

  const [ra, rb, rc] = server.received
  assert.equal(ra.headers.authorization, `Bearer ${CANARY}`)
  assert.equal(ra.headers['x-api-key'], undefined)
  assert.equal(ra.headers['x-keep'], 'k')
  assert.equal(rb.body.toString(), 'text body')
  assert.equal(rc.method, 'POST')
  assert.deepEqual(JSON.parse(rc.body.toString()), { n: 1 })
  assertNoCanary([...a.headers], [...b.headers], [...c.headers])
})

test('a request no capability allows rejects with code capability_not_found', async (t) => {
  const { server, vault } = await openaiSetup(t)
  const error = await rejection(vault.fetch(`http://127.0.0.1:${server.port}/v1/models`))
  assert.equal(error.code, 'capability_not_found')
  const other = await rejection(vault.fetch('http://elsewhere.example/v1/chat/completions', { method: 'POST' }))
  assert.equal(other.code, 'capability_not_found')

  const client = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${server.port}/v1`, fetch: vault.fetch, maxRetries: 0 })
  const sdkError = await rejection(client.models.list())
  assert.ok(sdkError instanceof OpenAI.APIConnectionError)
  assert.equal(sdkError.cause?.code, 'capability_not_found')
  assert.equal(server.received.length, 0)
})

test('an aborted signal rejects vault.fetch', async (t) => {
  const server = await upstream(t)
  const vault = new Vault(tempDir(t))
  await setup(vault, server.port)
  const controller = new AbortController()
  controller.abort()
  const error = await rejection(vault.fetch(`http://127.0.0.1:${server.port}/v1/x`, { signal: controller.signal }))
  assert.equal(error.name, 'AbortError')
})
