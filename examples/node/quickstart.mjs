// aivault from Node: create a secret, list its metadata, let a credential inject it into a call
// to a local HTTP service, use vault.fetch as a drop-in fetch, and handle errors.
//
//   ACME_TOKEN=... node examples/node/quickstart.mjs [VAULT_DIR]
//
// The secret's value comes from the environment (never from the command line). The "service"
// is a small HTTP server this script starts on 127.0.0.1 (plain HTTP, a local service: the
// credential opts in with allowPrivateNetwork and insecureHttp); it reports whether it
// received the key. Exits 0 when every step behaved.
import http from 'node:http'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// In your project: import { Vault } from 'aivault'
import { Vault } from '../../aivault-node/aivault.js'

const value = process.env.ACME_TOKEN ?? 'demo-token-1234'
const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'aivault-quickstart-'))

// A local service that answers whether the request carried the expected key.
const service = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ path: req.url, authorized: req.headers.authorization === `Bearer ${value}` }))
})
await new Promise((resolve) => service.listen(0, '127.0.0.1', resolve))
const port = service.address().port

const vault = new Vault(dir)

// 1. A secret: the value goes in; only metadata comes back.
const meta = await vault.secrets.create({ name: 'ACME_TOKEN', value, aliases: ['acme'] })
console.log('secrets:', JSON.stringify(await vault.secrets.list()))

// 2. A credential that injects it as a bearer token towards the local service, and a
//    capability that allows GET and POST under /v1 there.
await vault.credentials.create({
  id: 'acme',
  provider: 'acme',
  secretRefs: [`vault:secret:${meta.secretId}`],
  auth: { kind: 'header' },
  hosts: [`127.0.0.1:${port}`],
  network: { allowPrivateNetwork: true, insecureHttp: true },
})
await vault.capabilities.create({ id: 'acme/api', credential: 'acme', methods: ['GET', 'POST'], paths: ['/v1'] })

// 3. The call: the broker injects the key; this process never holds it again.
const response = await vault.invoke({ capability: 'acme/api', path: '/v1/ping' })
console.log('status:', response.status)
console.log('planned:', JSON.stringify(response.planned))
console.log('body:', response.text())

// 4. Drop-in fetch: the URL picks the capability; any placeholder key is dropped.
const viaFetch = await vault.fetch(`http://127.0.0.1:${port}/v1/items?limit=2`, {
  method: 'POST',
  headers: { authorization: 'Bearer placeholder', 'content-type': 'application/json' },
  body: JSON.stringify({ q: 'hi' }),
})
const fetched = await viaFetch.json()
console.log('fetch:', viaFetch.status, JSON.stringify(fetched))

// 5. Errors: a JS Error whose `code` is the stable kind.
try {
  await vault.invoke({ capability: 'acme/nope' })
} catch (error) {
  console.log('unknown capability:', error.code)
}
try {
  await vault.secrets.create({ name: 'ACME_TOKEN', value: 42 })
} catch (error) {
  console.log('wrong type:', error.name, error.code, error.message)
}

service.close()
process.exit(response.json().authorized && fetched.authorized ? 0 : 1)
