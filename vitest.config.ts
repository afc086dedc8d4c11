import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string): string => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources, not dist/, so no build is needed between edit and test.
    alias: {
      '@minnow/core': src('core'),
      '@minnow/backend-js': src('backend-js'),
      '@minnow/onnx': src('onnx'),
      '@minnow/cli': src('cli'),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
