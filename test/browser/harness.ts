import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { BROWSER_BUILD, bundle } from '../../packages/web/scripts/bundle.mjs';
import { type PageResult, RESULT_GLOBAL } from './protocol.js';

/**
 * Runs a page of ours in Debian's Chromium, headless, against the shipped bundle: builds
 * packages/web/dist/minnow.js, bundles the page with '@minnow/web' (and '@minnow/core') left as an
 * import that the page's import map points at that bundle, serves both on 127.0.0.1, and waits for
 * the page to publish its result on window.__minnowResult. Shared by test/browser/chromium.test.ts
 * and bench/browser-gemm.ts.
 */

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** The machine's network is closed: without the background-networking flags Chromium stalls on refused connections. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
] as const;

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const WEB_BUNDLE = join(REPO, 'packages/web/dist/minnow.js');

const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Throws, saying how to install it, when Debian's Chromium is missing: a browser test must not pass by skipping. */
export function requireChromium(): string {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}: the browser tests need Debian's Chromium. ` +
        'Install it with `apt-get install chromium` (.ci/run does this in CI).',
    );
  }
  return CHROMIUM_PATH;
}

/** Builds packages/web/dist/minnow.js from the sources (a fraction of a second), so the page tests what `npm run bundle` ships. */
export async function buildWebBundle(): Promise<{ bytes: number; gzipped: number }> {
  const { bytes, gzipped } = await bundle({ quiet: true });
  return { bytes, gzipped };
}

/** Every '@minnow/*' import of the page, the parity suite's '@minnow/core' included, is the one '@minnow/web' module. */
const oneMinnow: Plugin = {
  name: 'one-minnow',
  setup(b) {
    b.onResolve({ filter: /^@minnow\// }, (args) => {
      if (args.path === '@minnow/web' || args.path === '@minnow/core') return { path: '@minnow/web', external: true };
      return { errors: [{ text: `"${args.path}": a browser page imports minnow only as '@minnow/web' (one copy of core: the shipped bundle)` }] };
    });
  },
};

/** Bundles a page entry (TypeScript) into one browser ESM file that imports '@minnow/web' and nothing else. */
export async function bundlePage(entry: string, outfile: string): Promise<void> {
  await build({
    absWorkingDir: REPO,
    entryPoints: [entry],
    outfile,
    ...BROWSER_BUILD,
    plugins: [oneMinnow],
  });
}

function pageHtml(): string {
  const importMap = JSON.stringify({ imports: { '@minnow/web': '/minnow.js' } });
  return [
    '<!doctype html>',
    '<html><head><meta charset="utf-8"><title>minnow</title><link rel="icon" href="data:,">',
    `<script type="importmap">${importMap}</script>`,
    '<script type="module" src="/page.js"></script>',
    '</head><body><pre id="status">loading</pre></body></html>',
  ].join('\n');
}

export interface StaticServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves exactly the given files (URL path -> file path) on 127.0.0.1, on a free port. */
export async function serveFiles(files: Readonly<Record<string, string>>): Promise<StaticServer> {
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    const file = files[path];
    if (request.method !== 'GET' || file === undefined) {
      response.writeHead(file === undefined ? 404 : 405, { 'content-type': 'text/plain' }).end(`${request.method} ${path}: not served`);
      return;
    }
    readFile(file).then(
      (body) => {
        response
          .writeHead(200, {
            'content-type': MIME[extname(file)] ?? 'application/octet-stream',
            'cache-control': 'no-store',
            // Cross-origin isolation: the page gets the fine clock (performance.now() to 5 us, not 100 us).
            'cross-origin-opener-policy': 'same-origin',
            'cross-origin-embedder-policy': 'require-corp',
          })
          .end(body);
      },
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(error.message),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface PageRunOptions {
  /** How long the page may take to publish its result. */
  readonly timeoutMs: number;
  /** Query string for the page (without '?'), e.g. "sizes=256,512". */
  readonly search?: string;
  /** Where the page's console errors and warnings, and progress, go; default stderr. */
  readonly log?: (line: string) => void;
  /** Print the page's status line this often while waiting; default every 30 s. */
  readonly progressEveryMs?: number;
}

export interface PageRun<T> {
  readonly result: T;
  /** console.error and uncaught errors in the page. */
  readonly consoleErrors: readonly string[];
  readonly chromiumVersion: string;
  readonly bundleBytes: number;
  readonly wallMs: number;
}

/**
 * Builds the bundle, bundles and serves the page, opens it in a fresh headless Chromium (a new
 * user-data-dir each time) and returns what the page published. Fails fast on an uncaught page
 * error or a renderer crash.
 */
export async function runPageInChromium<T extends PageResult>(entry: string, options: PageRunOptions): Promise<PageRun<T>> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const executablePath = requireChromium();
  const { bytes } = await buildWebBundle();
  const workDir = await mkdtemp(join(tmpdir(), 'minnow-page-'));
  const userDataDir = await mkdtemp(join(tmpdir(), 'minnow-chromium-profile-'));
  let server: StaticServer | undefined;
  let context: BrowserContext | undefined;
  let progress: ReturnType<typeof setInterval> | undefined;
  try {
    await bundlePage(entry, join(workDir, 'page.js'));
    await writeFile(join(workDir, 'index.html'), pageHtml());
    server = await serveFiles({
      '/': join(workDir, 'index.html'),
      '/index.html': join(workDir, 'index.html'),
      '/page.js': join(workDir, 'page.js'),
      '/page.js.map': join(workDir, 'page.js.map'),
      '/minnow.js': WEB_BUNDLE,
      '/minnow.js.map': `${WEB_BUNDLE}.map`,
    });

    context = await chromium.launchPersistentContext(userDataDir, { executablePath, headless: true, args: [...CHROMIUM_FLAGS], timeout: 120_000 });
    const page = context.pages()[0] ?? (await context.newPage());
    // The user agent says only the major version (156.0.0.0); the browser itself says the build.
    const chromiumVersion = await browserVersion(context, page);
    const consoleErrors: string[] = [];
    let failFast: (error: Error) => void = () => {};
    const failed = new Promise<never>((_, reject) => {
      failFast = reject;
    });
    failed.catch(() => {});
    page.on('console', (message) => {
      const type = message.type();
      if (type !== 'error' && type !== 'warning') return;
      // Chromium's own WebGL performance notices ("GPU stall due to ReadPixels") say nothing about minnow.
      if (type === 'warning' && message.text().startsWith('[.WebGL-')) return;
      const line = `[chromium console.${type}] ${message.text()}`;
      if (type === 'error') consoleErrors.push(message.text());
      log(line);
    });
    page.on('pageerror', (error) => {
      consoleErrors.push(`uncaught: ${error.message}`);
      log(`[chromium uncaught] ${error.stack ?? error.message}`);
      failFast(new Error(`the page threw: ${error.message}`));
    });
    page.on('crash', () => failFast(new Error('the Chromium renderer crashed')));

    const url = `${server.url}/${options.search ? `?${options.search}` : ''}`;
    await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
    let lastStatus = '';
    progress = setInterval(() => {
      page.title().then((title) => {
        if (title !== lastStatus) log(`[chromium] ${((performance.now() - started) / 1000).toFixed(0)} s: ${(lastStatus = title)}`);
      }, () => {});
    }, options.progressEveryMs ?? 30_000);
    await Promise.race([
      page.waitForFunction((key) => (globalThis as unknown as Record<string, unknown>)[key] !== undefined, RESULT_GLOBAL, {
        timeout: options.timeoutMs,
        polling: 250,
      }),
      failed,
    ]);
    const result = (await page.evaluate((key) => (globalThis as unknown as Record<string, unknown>)[key], RESULT_GLOBAL)) as T;
    return { result, consoleErrors, chromiumVersion, bundleBytes: bytes, wallMs: performance.now() - started };
  } finally {
    if (progress !== undefined) clearInterval(progress);
    await context?.close().catch(() => {});
    await server?.close();
    await rm(workDir, { recursive: true, force: true });
    await rm(userDataDir, { recursive: true, force: true });
  }
}

async function browserVersion(context: BrowserContext, page: Page): Promise<string> {
  try {
    const cdp = await context.newCDPSession(page);
    const { product } = await cdp.send('Browser.getVersion');
    await cdp.detach();
    return product.replace(/^(Headless)?Chrome\//, '');
  } catch {
    return /Chrome\/([\d.]+)/.exec(await page.evaluate(() => navigator.userAgent))?.[1] ?? 'unknown';
  }
}
