// The conformance runner (tests/runners/runner.mjs) on a small scenario file: one result line
// per step, saved values substituted, errors as their kind, a fresh vault per scenario, and
// the canary nowhere in its output.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CANARY, tempDir, upstream } from './helpers.mjs'

const here = fileURLToPath(new URL('.', import.meta.url))
const root = resolve(here, '../..')

test('runner.mjs prints one result line per step', async (t) => {
  const server = await upstream(t)
  const dir = tempDir(t)
  const scenarios = join(dir, 'scenarios.json')
  writeFileSync(scenarios, readFileSync(join(here, 'scenarios.small.json'), 'utf8')
    .replaceAll('${PORT}', String(server.port)).replaceAll('${CANARY}', CANARY))
  // Asynchronous: the upstream lives in this process.
  const child = spawn(process.execPath, ['tests/runners/runner.mjs', scenarios, join(dir, 'vaults')], { cwd: root })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const code = await new Promise((resolvePromise) => child.on('close', resolvePromise))
  assert.equal(code, 0, stderr)
  assert.ok(!stdout.includes(CANARY) && !stderr.includes(CANARY))

  const lines = stdout.trim().split('\n').map((line) => JSON.parse(line))
  assert.deepEqual(lines.map((l) => [l.scenario, l.step]), [
    ['small round trip', 0], ['small round trip', 1], ['small round trip', 2], ['small round trip', 3],
    ['small round trip', 4], ['small round trip', 5], ['second vault', 0], ['second vault', 1],
  ])
  const [created, , , invoked, rotated, missing, list, status] = lines.map((l) => l.result)
  assert.equal(created.ok.name, 'ACME_TOKEN')
  assert.equal(invoked.ok.status, 200)
  assert.equal(invoked.ok.headers['content-type'], 'application/json')
  assert.deepEqual(JSON.parse(invoked.ok.body), { ok: true, path: '/v1/items' })
  assert.equal(rotated.ok.secretId, created.ok.secretId)
  assert.deepEqual(missing, { error: 'capability_not_found' })
  assert.deepEqual(list, { ok: [] })
  assert.equal(status.ok.counts.secrets, 0)
  assert.equal(server.received[0].headers.authorization, `Bearer ${CANARY}`)
  assert.equal(server.received[0].headers['x-conformance-step'], 'node:0:3')
  assert.equal(server.received[0].body.toString(), '{"q":1}')
})

test('runner.mjs exits non-zero when it cannot run', () => {
  const result = spawnSync(process.execPath, ['tests/runners/runner.mjs'], { cwd: root, encoding: 'utf8' })
  assert.notEqual(result.status, 0)
  assert.match(result.stderr, /usage/)
})
