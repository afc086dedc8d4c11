import { readFile } from 'node:fs/promises';
import { MinnowError } from '@minnow/core';
import { parseRecipe, type Recipe } from './recipe.js';
import { nearest } from './schema.js';

/**
 * The recipes that ship with minnow, written in the same JSON a user would write (and checked by
 * the same schema), and the loader that takes a built-in name or a recipe file's path.
 */
export const BUILT_IN_RECIPES: Readonly<Record<string, { readonly description: string; readonly steps: readonly unknown[] }>> = {
  int8: {
    description: 'int8 weights per channel and int8 activations calibrated on the data (static, QDQ)',
    steps: [{ quantize: { weights: 'int8', granularity: 'per-channel', activations: 'static', method: 'minmax' } }],
  },
  'int4-mixed': {
    description: 'int4 weights in blocks of 32 (weight-only); the most sensitive layers stay int8 until the output error is within 2%',
    steps: [{ quantize: { weights: 'int4', granularity: 32, activations: 'none', budget: { maxRelativeError: 0.02 }, high: 'int8' } }],
  },
  'prune-90-int8': {
    description: '90% of the weights pruned by magnitude across layers (gradually while fine-tuning when the data has labels, else at once), then static int8',
    steps: [
      { prune: { sparsity: 0.9, scope: 'global', criterion: 'magnitude', fineTune: { epochs: 2, lr: 0.001 } } },
      { quantize: { weights: 'int8', granularity: 'per-channel', activations: 'static', method: 'minmax' } },
    ],
  },
};

export const BUILT_IN_RECIPE_NAMES: readonly string[] = Object.keys(BUILT_IN_RECIPES);

/** A built-in recipe by name. */
export function builtInRecipe(name: string): Recipe {
  const found = BUILT_IN_RECIPES[name];
  if (!found) throw new MinnowError('INVALID_ARGUMENT', `no built-in recipe named '${name}' (built in: ${BUILT_IN_RECIPE_NAMES.join(', ')})`);
  return parseRecipe({ name, description: found.description, steps: found.steps }, `'${name}' (built in)`, name);
}

/**
 * `--recipe <name|file>`: a built-in name, or the path of a JSON recipe file (anything with a
 * path separator or ending in .json is a file). An unknown name that is close to a built-in one
 * gets a suggestion.
 */
export async function loadRecipe(nameOrPath: string): Promise<Recipe> {
  if (nameOrPath in BUILT_IN_RECIPES) return builtInRecipe(nameOrPath);
  const looksLikeFile = /[\\/]/.test(nameOrPath) || nameOrPath.toLowerCase().endsWith('.json');
  if (!looksLikeFile) {
    const near = nearest(nameOrPath, BUILT_IN_RECIPE_NAMES);
    throw new MinnowError('INVALID_ARGUMENT', `no built-in recipe named '${nameOrPath}'${near ? ` (did you mean ${near}?)` : ''}; built in: ${BUILT_IN_RECIPE_NAMES.join(', ')}, or give the path of a .json recipe`);
  }
  let text: string;
  try {
    text = await readFile(nameOrPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (error as Error).message;
    throw new MinnowError('INVALID_ARGUMENT', `cannot read the recipe '${nameOrPath}': ${why}`, { cause: error });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new MinnowError('INVALID_ARGUMENT', `recipe ${nameOrPath}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const base = nameOrPath.replace(/^.*[\\/]/, '').replace(/\.json$/i, '');
  return parseRecipe(document, nameOrPath, base);
}
