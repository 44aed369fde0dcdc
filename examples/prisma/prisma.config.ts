// The Prisma CLI (`prisma migrate`, `prisma db push`, `prisma studio`) takes a static URL: pg-entra puts a token fetched
// now into it. `prisma generate` never connects, so it gets no URL and fetches nothing.
import { prismaDatasource } from 'pg-entra/prisma'
import { defineConfig } from 'prisma/config'

export default async () =>
  defineConfig({
    schema: 'schema.prisma',
    datasource: await prismaDatasource({ entra: {} }),
  })
