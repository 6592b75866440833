// @ts-check
// `npm start` builds first when the compiled output is missing or older than any source file, so
// that a fresh clone runs with `npm install && npm start` and later starts are immediate.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const output = join(root, 'dist', 'src', 'server.js')

/**
 * The newest modification time of any file under dir.
 * @param {string} dir
 * @returns {number}
 */
function newest (dir) {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

if (!existsSync(join(root, 'src', 'store', 'generated', 'sqlite', 'client.ts'))) {
  execFileSync(process.execPath, [join(root, 'scripts', 'prisma-generate.mjs')], { stdio: 'inherit' })
}
const sources = Math.max(
  newest(join(root, 'src')),
  statSync(join(root, 'tsconfig.json')).mtimeMs,
  statSync(join(root, 'tsconfig.build.json')).mtimeMs
)
if (!existsSync(output) || statSync(output).mtimeMs < sources) {
  process.stdout.write('building (tsc)...\n')
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')],
    { stdio: 'inherit', cwd: root }
  )
}
