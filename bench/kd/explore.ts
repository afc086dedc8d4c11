import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { init, fromArray, Random, type Tensor } from '@minnow/core';
import { jsBackend } from '@minnow/backend-js';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { Adam, CosineAnnealingLR, DataLoader, subset, type Dataset, type Example } from '@minnow/nn';
import { loadFashionMnist } from '@minnow/nn/node';
import { distill, evaluate, train, type AnyOptimizer, type EpochRecord } from '@minnow/compress';
import { minnowMlp } from './throughput.js';

/**
 * The runs behind the kd bench's choices (its method text quotes them): one teacher, trained once
 * and kept in /tmp/kd, then any number of students alone or distilled, on the validation split
 * (train on the first 50,000 training images, count errors on the last 10,000) or on the test set.
 * Same optimiser, schedule, batch and order as the bench.
 *
 *   npx tsx --conditions=source bench/kd/explore.ts '{"split":"val","epochs":30,
 *     "teacher":{"hidden":[512,512],"drop":[0.1,0.3],"shift":0,"flip":false,"seed":11},
 *     "runs":[{"hidden":[256],"seed":22,"mode":"distill","T":1.5,"alpha":0.7,"shift":0,"flip":false}]}'
 *
 * shift / flip jitter the training images (up to `shift` pixels, zero-filled; mirrored at random),
 * drawn afresh every time the loader asks for an image; a distilled student then gets the teacher's
 * outputs on the same jittered image (no cache).
 */

interface Jitter { readonly shift: number; readonly flip: boolean }
interface Config {
  readonly split: 'val' | 'test';
  readonly epochs: number;
  readonly lr?: number;
  readonly teacher: Jitter & { readonly hidden: number[]; readonly drop: [number, number]; readonly seed: number };
  readonly runs: readonly (Jitter & { readonly hidden: number[]; readonly seed: number; readonly mode: 'alone' | 'distill'; readonly T?: number; readonly alpha?: number; readonly loss?: 'kl' | 'mse' })[];
}

/** Fashion-MNIST images shifted by up to `shift` pixels and mirrored at random, from one seeded stream. */
class Jittered implements Dataset {
  readonly length: number;
  readonly featureShape: readonly number[];
  private readonly rng: Random;

  constructor(private readonly base: Dataset, private readonly jitter: Jitter, seed: number) {
    this.length = base.length;
    this.featureShape = base.featureShape;
    this.rng = new Random(seed);
  }

  get(i: number): Example {
    const { features, label } = this.base.get(i);
    const s = this.jitter.shift;
    const dx = s ? (this.rng.nextUint32() % (2 * s + 1)) - s : 0;
    const dy = s ? (this.rng.nextUint32() % (2 * s + 1)) - s : 0;
    const mirror = this.jitter.flip && (this.rng.nextUint32() & 1) === 1;
    const out = new Float32Array(784);
    for (let y = 0; y < 28; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= 28) continue;
      for (let x = 0; x < 28; x++) {
        const sx = mirror ? 27 - (x - dx) : x - dx;
        if (sx >= 0 && sx < 28) out[y * 28 + x] = features[sy * 28 + sx];
      }
    }
    return { features: out, label };
  }
}

enableRelaxedSimd();
await init(jsBackend);
await init(wasmBackend);
const config = JSON.parse(process.argv[2] ?? '') as Config;
const full = await loadFashionMnist({ split: 'train' });
const range = (from: number, n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => from + i);
const trainSet = config.split === 'val' ? subset(full, range(0, 50000)) : full;
const evalSet = config.split === 'val' ? subset(full, range(50000, 10000)) : await loadFashionMnist({ split: 'test' });
const test = new DataLoader(evalSet, { batchSize: 1000, backend: 'wasm' });
const lr = config.lr ?? 1e-3;
const optimizer = (params: Tensor[]): AnyOptimizer => new Adam(params, { lr });
const jittered = (j: Jitter): boolean => j.shift > 0 || j.flip;
const loader = (j: Jitter): DataLoader => new DataLoader(jittered(j) ? new Jittered(trainSet, j, 99) : trainSet, { batchSize: 128, shuffle: true, seed: 1, backend: 'wasm' });
const common = (j: Jitter) => ({
  data: loader(j), optimizer, epochs: config.epochs, evaluate: { data: test, every: config.epochs },
  schedule: (o: AnyOptimizer) => new CosineAnnealingLR(o, { tMax: config.epochs }),
});
const errorsOf = (history: EpochRecord[]): number => history[history.length - 1].testErrors!;

const t = config.teacher;
mkdirSync('/tmp/kd', { recursive: true });
const cached = `/tmp/kd/teacher-${config.split}-${t.hidden.join('x')}-d${t.drop.join('_')}-s${t.shift}${t.flip ? 'f' : ''}-e${config.epochs}-seed${t.seed}-lr${lr}.json`;
const teacher = minnowMlp({ hidden: t.hidden, seed: t.seed, dropout: { input: t.drop[0], hidden: t.drop[1] } }, 'wasm');
if (existsSync(cached)) {
  const saved = JSON.parse(readFileSync(cached, 'utf8')) as Record<string, number[]>;
  const shapes = teacher.stateDict();
  teacher.loadStateDict(new Map(Object.entries(saved).map(([k, v]) => [k, fromArray(Float32Array.from(v), shapes.get(k)!.shape, { backend: 'wasm' })])));
} else {
  train({ model: teacher, ...common(t) });
  writeFileSync(cached, JSON.stringify(Object.fromEntries([...teacher.stateDict()].map(([k, v]) => [k, Array.from(v.dataSync())]))));
}
console.log('teacher', cached, 'errors', evaluate(teacher, test).errors);
for (const run of config.runs) {
  const t0 = performance.now();
  const student = minnowMlp({ hidden: run.hidden, seed: run.seed }, 'wasm');
  const history = run.mode === 'alone'
    ? train({ model: student, ...common(run) })
    : distill({ teacher, student, ...common(run), temperature: run.T, alpha: run.alpha, loss: run.loss, cacheTeacher: !jittered(run) });
  const last = history[history.length - 1];
  console.log(JSON.stringify(run), 'errors', errorsOf(history), 'train accuracy', last.trainAccuracy.toFixed(4), `${((performance.now() - t0) / 1000).toFixed(0)} s`);
  student.dispose();
}
