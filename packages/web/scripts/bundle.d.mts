/** Bundles @minnow/web into packages/web/dist/minnow.js; throws if Node-only code gets in. */
export function bundle(options?: { quiet?: boolean }): Promise<{ outfile: string; bytes: number; gzipped: number }>;
