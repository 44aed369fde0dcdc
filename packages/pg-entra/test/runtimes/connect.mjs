// Run by runtimes.test.ts under Bun and Deno: pg-entra/pg and pg-entra/postgres from the built package, the identity
// and the server from the environment that `pg-entra-emulator start --profile service-principal` prints.
import { createPool } from 'pg-entra/pg'
import { createPostgres } from 'pg-entra/postgres'

const result = {
  runtime: globalThis.Bun
    ? `bun ${globalThis.Bun.version}`
    : globalThis.Deno
      ? `deno ${globalThis.Deno.version.deno}`
      : 'node',
}
const pool = createPool({ entra: {} })
try {
  result.pg = (await pool.query('select current_user')).rows[0].current_user
} catch (error) {
  result.pgError = `${error.code ?? error.name}: ${error.message}`
} finally {
  await pool.end()
}
try {
  const sql = await createPostgres({ entra: {} })
  try {
    result.postgres = (await sql`select current_user`)[0].current_user
  } finally {
    await sql.end({ timeout: 5 })
  }
} catch (error) {
  result.postgresError = `${error.code ?? error.name}: ${error.message}`
}
console.log(JSON.stringify(result))
