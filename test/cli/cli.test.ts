import { describe, expect, it } from 'vitest';
import { EXIT, runCli } from '@minnow/cli';
import { collector } from '../helpers/cli-output.js';


describe('minnow CLI', () => {
  it('backends --json lists js, wasm and gpu with what each really runs as', async () => {
    const { out, output } = collector();
    expect(await runCli(['backends', '--json'], output)).toBe(EXIT.ok);
    const doc = out.documents[0] as { backends: { name: string; available: boolean; info: { mode: string } | null }[] };
    const byName = Object.fromEntries(doc.backends.map((b) => [b.name, b]));
    expect(byName.js.available).toBe(true);
    expect(byName.js.info?.mode).toBe('typescript');
    expect(byName.wasm.available).toBe(true);
    expect(['simd128', 'relaxed-simd']).toContain(byName.wasm.info?.mode);
    expect(byName.gpu.available).toBe(true);
    // headless-gl under an X display (CI runs the tests under xvfb-run), gpu.js's named fallback without one.
    expect(process.env.DISPLAY ? ['headlessgl'] : ['webasm', 'cpu']).toContain(byName.gpu.info?.mode);
  });

  it('an unknown command is bad input (exit 2), not a crash', async () => {
    const { output } = collector();
    expect(await runCli(['no-such-command'], output)).toBe(EXIT.badInput);
  });
});
