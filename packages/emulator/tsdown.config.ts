import { defineConfig } from 'tsdown'

export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli/main.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  platform: 'node',
  target: 'node20',
  clean: true,
  // Maps without the sources embedded: stack traces still name src/ files and lines, at a fraction of the size.
  sourcemap: true,
  outputOptions: { sourcemapExcludeSources: true },
})
