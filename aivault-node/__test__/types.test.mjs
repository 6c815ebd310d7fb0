// The hand-written aivault.d.ts and the generated index.d.ts compile under `tsc --strict`
// and describe the API as used (types.ts; its @ts-expect-error lines prove misuse is refused).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const pkg = resolve(fileURLToPath(new URL('.', import.meta.url)), '..')

test('aivault.d.ts and index.d.ts type-check (tsc --strict)', () => {
  const tsc = join(pkg, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext',
    '--moduleResolution', 'nodenext', '--types', 'node', '--skipLibCheck', 'false', join('__test__', 'types.ts')], { cwd: pkg, encoding: 'utf8' })
  assert.equal(result.status, 0, result.stdout + result.stderr)
})
