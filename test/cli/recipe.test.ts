import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MinnowError } from '@minnow/core';
import { BUILT_IN_RECIPES, BUILT_IN_RECIPE_NAMES, builtInRecipe, loadRecipe } from '../../packages/cli/src/recipes/builtin.js';
import { describeStep, parseRecipe } from '../../packages/cli/src/recipes/recipe.js';
import { editDistance, nearest } from '../../packages/cli/src/recipes/schema.js';

/** The recipe format: the schema's answers to good and bad documents, property-tested, and the built-in recipes. */

function problemsOf(document: unknown): string {
  try {
    parseRecipe(document, 'test.json', 'test');
  } catch (error) {
    expect(error).toBeInstanceOf(MinnowError);
    expect((error as MinnowError).code).toBe('INVALID_ARGUMENT');
    return (error as Error).message;
  }
  throw new Error('the recipe was accepted');
}

describe('recipe schema', () => {
  it('fills the defaults and keeps what was given', () => {
    const recipe = parseRecipe({ steps: [{ prune: { sparsity: 0.5, fineTune: { epochs: 1 } } }, { quantize: { weights: 'int4', granularity: 64 } }, { convert: {} }] }, 'r.json', 'r');
    expect(recipe.name).toBe('r');
    expect(recipe.steps).toEqual([
      { kind: 'prune', options: { sparsity: 0.5, scope: 'layer', criterion: 'magnitude', fineTune: { epochs: 1, lr: 5e-4, batchSize: 64, seed: 0, distill: true, temperature: 4, alpha: 0.5 } } },
      { kind: 'quantize', options: { weights: 'int4', granularity: 64, activations: 'static', activationType: 'uint8', method: 'minmax', format: 'qdq', calibrationSamples: 256, exclude: [] } },
      { kind: 'convert', options: { sparse: true, minSparsity: 0.7, minElements: 64 } },
    ]);
    expect(recipe.steps.map(describeStep)).toEqual([
      'prune 50% by magnitude (layer), fine-tuned 1 epochs with labels',
      'quantize int4 weights blocks of 64, static activations',
      'convert: sparse initialisers from 70% zeros',
    ]);
  });

  it('names every bad key and value with its path, and suggests the nearest known name', () => {
    const message = problemsOf({
      name: 'x',
      steps: [
        { quantise: {} },
        { prune: { sparsty: 0.9 } },
        { quantize: { weights: 'int3', granularity: 'per-chanel', budget: { maxRelativeError: 0.1, minSqnrDb: 30 } } },
        { distill: { student: 'mlp:8', alpha: 1.5, epochs: 2.5 } },
        { prune: { sparsity: 1 }, quantize: {} },
      ],
      extra: true,
    });
    const expected = [
      'recipe test.json: extra: unknown key (known: name, description, steps)',
      'steps[0].quantise: unknown step (did you mean quantize?); steps are distill, prune, quantize, convert',
      'steps[1].prune.sparsty: unknown key (did you mean sparsity?)',
      'steps[1].prune.sparsity: missing (fraction of the weights set to zero, in [0, 1))',
      'steps[2].quantize.weights: expected one of "int8", "int4", got "int3"',
      'steps[2].quantize.granularity: expected one of "per-channel", "per-tensor", got "per-chanel" (did you mean "per-channel"?)',
      'steps[2].quantize.budget: give exactly one of maxRelativeError, maxAccuracyDrop, minSqnrDb (got maxRelativeError, minSqnrDb)',
      'steps[3].distill.epochs: expected an integer >= 1, got 2.5',
      'steps[3].distill.alpha: expected a number in [0, 1], got 1.5',
      'steps[4]: expected an object with one key, distill, prune, quantize, convert; got keys prune, quantize',
    ];
    for (const part of expected) expect(message).toContain(part);
  });

  it('refuses what is not a recipe at all', () => {
    expect(problemsOf([])).toBe('recipe test.json: expected an object, got an array');
    expect(problemsOf({ steps: [] })).toBe('recipe test.json: steps: needs at least 1 item, got 0');
    expect(problemsOf({})).toContain('steps: missing (the compression steps, in order)');
    expect(problemsOf({ steps: [{ quantize: { weights: 'int8', high: 'int8', budget: { minSqnrDb: 30 } } }] })).toContain("steps[0].quantize.high: must be above the weights' precision");
    expect(problemsOf({ steps: [{ quantize: { high: 'float' } }] })).toContain('steps[0].quantize.high: only means something with a budget');
  });

  it('property: a valid recipe parses to its own options, and one unknown key anywhere is named at its path', () => {
    const sparsity = fc.double({ min: 0, max: 0.99, noNaN: true });
    const prune = fc.record({ sparsity, scope: fc.constantFrom('layer', 'global'), criterion: fc.constantFrom('magnitude', 'random') }, { requiredKeys: ['sparsity'] });
    const quantize = fc.record({
      weights: fc.constantFrom('int8', 'int4'),
      granularity: fc.oneof(fc.constantFrom('per-channel', 'per-tensor'), fc.integer({ min: 1, max: 256 })),
      activations: fc.constantFrom('static', 'dynamic', 'none'),
      method: fc.constantFrom('minmax', 'moving-average', 'percentile', 'entropy', 'mse'),
      exclude: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 3 }),
    }, { requiredKeys: [] });
    const distill = fc.record({ student: fc.constantFrom('mlp:8', 'mlp:16,8', 'small.onnx'), epochs: fc.integer({ min: 1, max: 9 }), temperature: fc.double({ min: 0.5, max: 20, noNaN: true }) }, { requiredKeys: ['student'] });
    const convert = fc.record({ sparse: fc.boolean(), minSparsity: fc.double({ min: 0, max: 1, noNaN: true }) }, { requiredKeys: [] });
    const step = fc.oneof(prune.map((o) => ({ prune: o })), quantize.map((o) => ({ quantize: o })), distill.map((o) => ({ distill: o })), convert.map((o) => ({ convert: o })));
    const junk = fc.constantFrom('sparsty', 'wieghts', 'x', 'fineTunning', 'steps2');
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 5 }), fc.nat(), junk, (steps, pick, key) => {
      const recipe = parseRecipe({ steps }, 'p.json', 'p');
      recipe.steps.forEach((parsed, i) => {
        const [kind, options] = Object.entries(steps[i])[0];
        expect(parsed.kind).toBe(kind);
        expect(parsed.options).toMatchObject(options as object);
      });
      const at = pick % steps.length;
      const [kind, options] = Object.entries(steps[at])[0];
      const broken = steps.map((s, i) => (i === at ? { [kind]: { ...(options as object), [key]: 1 } } : s));
      expect(problemsOf({ steps: broken })).toContain(`steps[${at}].${kind}.${key}: unknown key`);
    }), { seed: 42, numRuns: 200 });
  });

  it('property: edit distance is a metric, and a one-letter typo of a known name is answered with a name that close', () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'd'), maxLength: 8 });
    fc.assert(fc.property(word, word, word, (a, b, c) => {
      expect(editDistance(a, a)).toBe(0);
      expect(editDistance(a, b)).toBe(editDistance(b, a));
      expect(editDistance(a, c)).toBeLessThanOrEqual(editDistance(a, b) + editDistance(b, c));
    }), { seed: 7, numRuns: 300 });
    const known = ['sparsity', 'scope', 'criterion', 'fineTune', 'weights', 'granularity', 'activations', 'calibrationSamples'];
    fc.assert(fc.property(fc.constantFrom(...known), fc.nat(), fc.constantFrom('x', 'q', 'z'), (name, at, letter) => {
      const i = at % name.length;
      const typo = name.slice(0, i) + letter + name.slice(i + 1);
      const suggestion = nearest(typo, known);
      expect(suggestion).toBeDefined();
      expect(editDistance(typo.toLowerCase(), suggestion!.toLowerCase())).toBeLessThanOrEqual(1);
    }), { seed: 11, numRuns: 200 });
    expect(nearest('x', known)).toBeUndefined();
  });
});

describe('built-in recipes and loading', () => {
  it('every built-in recipe passes the schema, and says what it does', () => {
    expect(BUILT_IN_RECIPE_NAMES).toEqual(['int8', 'int4-mixed', 'prune-90-int8']);
    for (const name of BUILT_IN_RECIPE_NAMES) {
      const recipe = builtInRecipe(name);
      expect(recipe.name).toBe(name);
      expect(recipe.description).toBe(BUILT_IN_RECIPES[name].description);
    }
    expect(builtInRecipe('prune-90-int8').steps.map(describeStep)).toEqual([
      'prune 90% by magnitude (global), fine-tuned 2 epochs with labels',
      'quantize int8 weights per-channel, static activations',
    ]);
    expect(builtInRecipe('int4-mixed').steps.map(describeStep)).toEqual(['quantize int4 weights blocks of 32, float activations, budget maxRelativeError 0.02']);
  });

  it('loads a name or a file, and names what is wrong with either', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'minnow-recipe-'));
    const file = join(dir, 'mine.json');
    writeFileSync(file, JSON.stringify({ description: 'int4 everywhere', steps: [{ quantize: { weights: 'int4' } }] }));
    const recipe = await loadRecipe(file);
    expect(recipe).toMatchObject({ name: 'mine', description: 'int4 everywhere', source: file });
    await expect(loadRecipe('int4')).rejects.toThrow("no built-in recipe named 'int4' (did you mean int8?)");
    await expect(loadRecipe('fastest')).rejects.toThrow("no built-in recipe named 'fastest'; built in: int8, int4-mixed, prune-90-int8, or give the path of a .json recipe");
    await expect(loadRecipe(join(dir, 'none.json'))).rejects.toThrow('no such file');
    await expect(loadRecipe(dir + '/')).rejects.toThrow('it is a folder');
  });
});
