/** Bundles @minnow/web into packages/web/dist/minnow.js; throws if Node-only code gets in. */
export function bundle(options?: { quiet?: boolean }): Promise<{ outfile: string; bytes: number; gzipped: number }>;

/** The esbuild settings every browser build of minnow uses. */
export const BROWSER_BUILD: {
  readonly bundle: true;
  readonly format: 'esm';
  readonly platform: 'browser';
  readonly target: string;
  readonly conditions: string[];
  readonly sourcemap: boolean;
  readonly logLevel: 'warning';
};
