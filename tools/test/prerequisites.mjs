// Run by `npm test` before the suite: the programs the tests drive besides Node, installed where missing and
// possible (root with apt-get, as on a fresh project machine or CI), otherwise named with the command to install them.
import { spawnSync } from 'node:child_process'

const needs = [
  {
    program: 'redis-server',
    debianPackage: 'redis-server',
    why: 'the Redis token store is tested against a real server',
  },
  { program: 'psql', debianPackage: 'postgresql-client', why: 'psql (libpq) is tested through the emulator' },
  {
    program: 'pgbouncer',
    debianPackage: 'pgbouncer',
    why: "the emulator's PgBouncer port runs a real PgBouncer",
    // Debian installs it in /usr/sbin, which is not on every user's PATH
    paths: ['/usr/sbin/pgbouncer'],
  },
]

const present = (program) => spawnSync(program, ['--version'], { stdio: 'ignore' }).status === 0
const missing = needs.filter((n) => ![n.program, ...(n.paths ?? [])].some(present))
if (missing.length === 0) process.exit(0)

const canInstall = process.getuid?.() === 0 && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0
const packages = missing.map((n) => n.debianPackage)
if (canInstall) {
  console.error(`installing ${packages.join(', ')} (${missing.map((n) => n.why).join('; ')})`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env })
  const install = spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env })
  if (
    update.status === 0 &&
    install.status === 0 &&
    missing.every((n) => [n.program, ...(n.paths ?? [])].some(present))
  )
    process.exit(0)
}
for (const n of missing) console.error(`missing: ${n.program} (${n.why})`)
console.error(`install it first, e.g.: sudo apt-get install -y ${packages.join(' ')}`)
process.exit(1)
