import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string): string => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources, not dist/, so no build is needed between edit and test
    // (the WASM builds under packages/backend-wasm/src/generated/ come from `npm run build`).
    alias: {
      '@minnow/core': src('core'),
      '@minnow/backend-js': src('backend-js'),
      '@minnow/backend-wasm/node': fileURLToPath(new URL('./packages/backend-wasm/src/node.ts', import.meta.url)),
      '@minnow/backend-wasm': src('backend-wasm'),
      '@minnow/backend-gpu': src('backend-gpu'),
      '@minnow/nn/node': fileURLToPath(new URL('./packages/nn/src/node.ts', import.meta.url)),
      '@minnow/nn': src('nn'),
      '@minnow/compress/node': fileURLToPath(new URL('./packages/compress/src/node.ts', import.meta.url)),
      '@minnow/compress': src('compress'),
      '@minnow/onnx/node': fileURLToPath(new URL('./packages/onnx/src/node.ts', import.meta.url)),
      '@minnow/onnx': src('onnx'),
      '@minnow/formats/node': fileURLToPath(new URL('./packages/formats/src/node.ts', import.meta.url)),
      '@minnow/formats': src('formats'),
      '@minnow/cli': src('cli'),
      '@minnow/web': src('web'),
    },
  },
  test: {
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/backend-wasm/**', 'test/backend-gpu/**', 'test/browser/**'] } },
      // The GPU suites need an X display for headless-gl (`xvfb-run -a npm test`); without one they
      // check the honest fallback instead.
      { extends: true, test: { name: 'gpu', include: ['test/backend-gpu/**/*.test.ts'] } },
      // V8 11.3's baseline tier (Liftoff) and optimising tier (TurboFan) compile WASM separately and
      // have disagreed on relaxed SIMD, so the WASM suites run under each tier on its own.
      { extends: true, test: { name: 'wasm-liftoff', include: ['test/backend-wasm/**/*.test.ts'], execArgv: ['--liftoff', '--no-wasm-tier-up'] } },
      { extends: true, test: { name: 'wasm-turbofan', include: ['test/backend-wasm/**/*.test.ts'], execArgv: ['--no-liftoff'] } },
      // The @minnow/web bundle in Debian's headless Chromium (/usr/bin/chromium, driven by
      // playwright-core): the parity suite on wasm and gpu (gpu.js on WebGL2, software-rendered).
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'] } },
    ],
  },
});
