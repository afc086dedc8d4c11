import type { BackendInfo } from '@minnow/web';

/**
 * What a page run in Chromium publishes on `window.__minnowResult` for the Node side to read.
 * Types only: the pages (bundled for the browser) and the Node harness both import this file.
 */

export const RESULT_GLOBAL = '__minnowResult';

/** One parity case on one backend. */
export interface CaseResult {
  readonly name: string;
  readonly backend: string;
  readonly passed: boolean;
  /** The failure's message (its first lines), when it failed. */
  readonly error?: string;
  readonly ms: number;
}

/** A backend's `init()` outcome: its info(), or why it failed to start. */
export type InitResult = { readonly ok: true; readonly info: BackendInfo } | { readonly ok: false; readonly error: string };

/** test/browser/page.ts's result. */
export interface ParityPageResult {
  readonly kind: 'parity';
  readonly userAgent: string;
  readonly init: Readonly<Record<'js' | 'wasm' | 'gpu', InitResult>>;
  readonly cases: readonly CaseResult[];
  /** `await tensor.data()` on gpu (the non-blocking WebGL2 read), checked against js. */
  readonly asyncData: { readonly passed: boolean; readonly error?: string; readonly ms: number };
  readonly totalMs: number;
}

/** One timed configuration of bench/browser-gemm-page.ts. */
export interface GemmRow {
  readonly backend: 'gpu' | 'wasm';
  readonly mode: string;
  readonly n: number;
  /** Median milliseconds of matmul + dataSync(). */
  readonly ms: number;
  /** Timed runs (after warm-up). */
  readonly runs: number;
}

export interface GemmPageResult {
  readonly kind: 'gemm';
  readonly userAgent: string;
  /** Whether the page had the fine (5 us) clock. */
  readonly crossOriginIsolated: boolean;
  /** WebGL2's renderer string (UNMASKED_RENDERER_WEBGL where allowed). */
  readonly webglRenderer: string;
  readonly rows: readonly GemmRow[];
  /** Why a backend or size could not be measured. */
  readonly errors: readonly string[];
}

/** Anything a page could not even start doing (an import or init that threw outside a case). */
export interface FatalPageResult {
  readonly kind: 'fatal';
  readonly error: string;
}

export type PageResult = ParityPageResult | GemmPageResult | FatalPageResult;

/** A failure's message, cut to something an assertion can list (fast-check's reports run long). */
export function describeError(error: unknown, maxLines = 12): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const lines = text.split('\n');
  return lines.length > maxLines ? [...lines.slice(0, maxLines), `... (${lines.length - maxLines} more lines)`].join('\n') : text;
}
