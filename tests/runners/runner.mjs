// The Node conformance runner (protocol: tests/README.md):
//   node tests/runners/runner.mjs SCENARIOS_FILE VAULT_ROOT
// Runs every scenario's steps through the Node binding (aivault-node, built in place) against
// a fresh vault at VAULT_ROOT/<i> and prints one result line per step. It never judges.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const { Vault, ERROR_CODES } = require('../../aivault-node/aivault.js')

/** Each operation in the Node idiom: `(vault, args) => Promise<value>`. */
const OPERATIONS = {
  status: (v) => v.status(),
  'secrets.create': (v, a) => v.secrets.create(a),
  'secrets.list': (v, a) => v.secrets.list(a),
  'secrets.update': (v, { id, ...changes }) => v.secrets.update(id, changes),
  'secrets.rotate': (v, { id, value }) => v.secrets.rotate(id, value),
  'secrets.delete': (v, { id }) => v.secrets.delete(id),
  'secrets.attachGroup': (v, { id, ...group }) => v.secrets.attachGroup(id, group),
  'secrets.detachGroup': (v, { id, ...group }) => v.secrets.detachGroup(id, group),
  'secrets.import': (v, { entries, ...scope }) => v.secrets.import(entries, scope),
  'credentials.create': (v, a) => v.credentials.create(a),
  'credentials.list': (v) => v.credentials.list(),
  'credentials.delete': (v, { id }) => v.credentials.delete(id),
  'capabilities.list': (v) => v.capabilities.list(),
  'capabilities.describe': (v, { id }) => v.capabilities.describe(id),
  'capabilities.create': (v, a) => v.capabilities.create(a),
  'capabilities.delete': (v, { id }) => v.capabilities.delete(id),
  'capabilities.setPolicy': (v, { id, policy }) => v.capabilities.setPolicy(id, policy),
  'capabilities.bind': (v, a) => v.capabilities.bind(a),
  'capabilities.unbind': (v, a) => v.capabilities.unbind(a),
  'capabilities.bindings': (v, a) => v.capabilities.bindings(a),
  'capabilities.route': (v, { host, method, path }) => v.capabilities.route(host, method, path),
  invoke: async (v, a) => {
    const response = await v.invoke(a)
    return { status: response.status, headers: response.headers, body: response.text() }
  },
  'audit.query': (v, a) => v.audit.query(a),
  'audit.verify': (v) => v.audit.verify(),
}

/** `value` with every `${name}` in its strings replaced by a saved value. */
function substitute(value, saved) {
  if (typeof value === 'string') {
    return value.replace(/\$\{([^}]+)\}/g, (whole, name) => (name in saved ? String(saved[name]) : whole))
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, saved))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, saved)]))
  }
  return value
}

async function main() {
  const [scenariosFile, vaultRoot] = process.argv.slice(2)
  if (!scenariosFile || !vaultRoot) {
    process.stderr.write('usage: node runner.mjs SCENARIOS_FILE VAULT_ROOT\n')
    process.exit(2)
  }
  const scenarios = JSON.parse(readFileSync(scenariosFile, 'utf8'))
  for (const [index, scenario] of scenarios.entries()) {
    const vault = new Vault(join(vaultRoot, String(index)))
    const saved = {}
    for (const [step, { op, args, save }] of scenario.steps.entries()) {
      const operation = OPERATIONS[op]
      if (!operation) throw new Error(`unknown op '${op}' in scenario '${scenario.name}'`)
      let result
      try {
        const ok = await operation(vault, substitute(args ?? {}, saved))
        result = { ok: ok === undefined ? null : ok }
        for (const [name, field] of Object.entries(save ?? {})) saved[name] = ok?.[field]
      } catch (error) {
        if (!ERROR_CODES.includes(error?.code)) throw error
        result = { error: error.code }
      }
      process.stdout.write(`${JSON.stringify({ scenario: scenario.name, step, result })}\n`)
    }
  }
}

main().catch((error) => {
  process.stderr.write(`runner broke: ${error?.stack ?? error}\n`)
  process.exit(1)
})
