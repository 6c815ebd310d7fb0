// Node binding benchmark: `await vault.invoke(...)` against `fetch` sending the same request
// straight to the same loopback HTTP server, in the same run; prints the medians and their
// ratio (target: <= 1.3). Release build of the addon.
//
//   node scripts/bench_node.mjs [ROUNDS]
//
// Builds target/release/libaivault_node.so (`cargo build --release -p aivault-node`) and loads
// it through the generated loader's NAPI_RS_NATIVE_LIBRARY_PATH, unless AIVAULT_NODE_ADDON
// names an addon already built. The upstream runs in a child process, so the event loop of
// this one only drives the client side of both paths; calls alternate (invoke, fetch, fetch,
// invoke, ...) so drift hits both alike. Also timed, every 10th round: vault.fetch (route +
// invoke + Response), route alone and status alone (one pool hop and a database read each).
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..')

if (process.argv[2] === '--serve') {
  // The upstream: a small JSON answer, keep-alive.
  const body = JSON.stringify({ id: 'bench', object: 'thing', data: [1, 2, 3], text: 'x'.repeat(200) })
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
} else {
  await bench(Number(process.argv[2] ?? 2000))
}

function addon() {
  if (process.env.AIVAULT_NODE_ADDON) return process.env.AIVAULT_NODE_ADDON
  const build = spawnSync('cargo', ['build', '--release', '--locked', '-p', 'aivault-node'], { cwd: root, stdio: 'inherit' })
  if (build.status !== 0) process.exit(1)
  const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target')
  const node = join(target, 'release', 'aivault_node.node')
  copyFileSync(join(target, 'release', 'libaivault_node.so'), node)
  return node
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

async function bench(rounds) {
  process.env.NAPI_RS_NATIVE_LIBRARY_PATH = addon()
  const { Vault } = createRequire(import.meta.url)('../aivault-node/aivault.js')

  const server = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = Number(await new Promise((res) => server.stdout.once('data', (d) => res(String(d).trim()))))
  const dir = mkdtempSync(join(tmpdir(), 'aivault-bench-node-'))
  try {
    const key = 'sk-bench-0123456789abcdef'
    const vault = new Vault(join(dir, 'vault'))
    const meta = await vault.secrets.create({ name: 'BENCH_TOKEN', value: key })
    await vault.credentials.create({
      id: 'bench', provider: 'bench', secretRefs: [`vault:secret:${meta.secretId}`], auth: { kind: 'header' },
      hosts: [`127.0.0.1:${port}`], network: { allowPrivateNetwork: true, insecureHttp: true },
    })
    await vault.capabilities.create({ id: 'bench/api', credential: 'bench', methods: ['GET'], paths: ['/v1'] })
    const url = `http://127.0.0.1:${port}/v1/things`

    const viaVault = async () => (await vault.invoke({ capability: 'bench/api', path: '/v1/things' })).body.length
    const direct = async () => (await (await fetch(url, { headers: { authorization: `Bearer ${key}` } })).arrayBuffer()).byteLength
    const route = async () => vault.capabilities.route(`127.0.0.1:${port}`, 'GET', '/v1/things')
    const status = async () => vault.status()
    const dropIn = async () => (await (await vault.fetch(url)).arrayBuffer()).byteLength

    const same = [await viaVault(), await direct()]
    if (same[0] !== same[1]) throw new Error(`bodies differ: ${same}`)
    const warmup = Math.min(300, rounds)
    for (let i = 0; i < warmup; i++) { await viaVault(); await direct() }

    const times = { invoke: [], fetch: [], vaultFetch: [], route: [], status: [] }
    const time = async (name, f) => { const t0 = process.hrtime.bigint(); await f(); times[name].push(Number(process.hrtime.bigint() - t0) / 1000) }
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) { await time('invoke', viaVault); await time('fetch', direct) } else { await time('fetch', direct); await time('invoke', viaVault) }
      if (i % 10 === 0) { await time('route', route); await time('status', status); await time('vaultFetch', dropIn) }
    }

    const report = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, { medianUs: Math.round(median(v)), p90Us: Math.round(percentile(v, 0.9)), n: v.length }]))
    const ratio = median(times.invoke) / median(times.fetch)
    console.log(JSON.stringify({ rounds, report, ratio: Number(ratio.toFixed(3)), target: 1.3, met: ratio <= 1.3 }, null, 1))
  } finally {
    server.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}
