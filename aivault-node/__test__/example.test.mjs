// examples/node/quickstart.mjs runs clean: every step behaves, and the value it was given
// appears nowhere in its output.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CANARY, tempDir } from './helpers.mjs'

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..')

test('examples/node/quickstart.mjs', (t) => {
  const result = spawnSync(process.execPath, ['examples/node/quickstart.mjs', join(tempDir(t), 'vault')], {
    cwd: root,
    env: { ...process.env, ACME_TOKEN: CANARY },
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.equal(result.status, 0, result.stdout + result.stderr)
  assert.match(result.stdout, /status: 200/)
  assert.match(result.stdout, /"authorized":true/)
  assert.match(result.stdout, /fetch: 200/)
  assert.match(result.stdout, /unknown capability: capability_not_found/)
  assert.match(result.stdout, /wrong type: TypeError invalid_input/)
  assert.ok(!result.stdout.includes(CANARY) && !result.stderr.includes(CANARY))
})
