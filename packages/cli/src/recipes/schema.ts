/**
 * A small validator for JSON documents written by people (recipes): each schema turns an unknown
 * value into a typed one or records what is wrong with it at its path (`steps[1].prune.sparsity`).
 * Every problem is collected, not only the first, so one run shows the user all their mistakes;
 * an unknown key is answered with the nearest known one. No dependency: the recipe format is small,
 * and the messages are the point.
 */

/** Where problems are collected while one document is checked. */
export class Problems {
  readonly list: string[] = [];

  add(path: string, message: string): void {
    this.list.push(path === '' ? message : `${path}: ${message}`);
  }
}

/** Turns a value into T, or records problems and returns undefined. */
export interface Schema<T> {
  /** What the value must be, for messages ('a number in [0, 1)'). */
  readonly expects: string;
  check(value: unknown, path: string, problems: Problems): T | undefined;
}

const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
};

function typeMismatch(expects: string, value: unknown, path: string, problems: Problems): undefined {
  problems.add(path, `expected ${expects}, got ${show(value)}`);
  return undefined;
}

export interface NumberRules {
  readonly min?: number;
  readonly max?: number;
  /** Bounds that the value must not equal. */
  readonly exclusiveMin?: boolean;
  readonly exclusiveMax?: boolean;
  readonly integer?: boolean;
}

export function number(rules: NumberRules = {}): Schema<number> {
  const { min, max, exclusiveMin = false, exclusiveMax = false, integer = false } = rules;
  const kind = integer ? 'an integer' : 'a number';
  let expects = kind;
  if (min !== undefined && max !== undefined) expects = `${kind} in ${exclusiveMin ? '(' : '['}${min}, ${max}${exclusiveMax ? ')' : ']'}`;
  else if (min !== undefined) expects = `${kind} ${exclusiveMin ? '>' : '>='} ${min}`;
  else if (max !== undefined) expects = `${kind} ${exclusiveMax ? '<' : '<='} ${max}`;
  return {
    expects,
    check(value, path, problems) {
      const ok = typeof value === 'number' && Number.isFinite(value) && (!integer || Number.isInteger(value))
        && (min === undefined || (exclusiveMin ? value > min : value >= min))
        && (max === undefined || (exclusiveMax ? value < max : value <= max));
      return ok ? (value as number) : typeMismatch(expects, value, path, problems);
    },
  };
}

export function boolean(): Schema<boolean> {
  return {
    expects: 'true or false',
    check: (value, path, problems) => (typeof value === 'boolean' ? value : typeMismatch('true or false', value, path, problems)),
  };
}

/** A non-empty string. */
export function string(): Schema<string> {
  return {
    expects: 'a non-empty string',
    check: (value, path, problems) => (typeof value === 'string' && value !== '' ? value : typeMismatch('a non-empty string', value, path, problems)),
  };
}

/** One of the given strings; a near miss is named ('did you mean ...'). */
export function oneOf<T extends string>(values: readonly T[]): Schema<T> {
  const expects = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return {
    expects,
    check(value, path, problems) {
      if (typeof value === 'string' && (values as readonly string[]).includes(value)) return value as T;
      const near = typeof value === 'string' ? nearest(value, values) : undefined;
      problems.add(path, `expected ${expects}, got ${show(value)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}`);
      return undefined;
    },
  };
}

export function array<T>(item: Schema<T>, rules: { readonly minItems?: number } = {}): Schema<T[]> {
  const expects = `an array of ${item.expects}${rules.minItems ? ` (at least ${rules.minItems})` : ''}`;
  return {
    expects,
    check(value, path, problems) {
      if (!Array.isArray(value)) return typeMismatch(expects, value, path, problems);
      if (rules.minItems !== undefined && value.length < rules.minItems) {
        problems.add(path, `needs at least ${rules.minItems} item${rules.minItems === 1 ? '' : 's'}, got ${value.length}`);
        return undefined;
      }
      const before = problems.list.length;
      const out = value.map((v, i) => item.check(v, `${path}[${i}]`, problems));
      return problems.list.length === before ? (out as T[]) : undefined;
    },
  };
}

/** The first schema (in order) whose test accepts the value's type decides; e.g. a block size or a granularity name. */
export function either<A, B>(a: Schema<A>, isA: (value: unknown) => boolean, b: Schema<B>): Schema<A | B> {
  const expects = `${a.expects}, or ${b.expects}`;
  return {
    expects,
    check: (value, path, problems) => (isA(value) ? a.check(value, path, problems) : b.check(value, path, problems)),
  };
}

/** A field of an object schema: required, optional (absent stays absent), or with a default used when absent. */
export interface Field<T, P extends Presence = Presence> {
  readonly schema: Schema<T>;
  readonly presence: P;
  readonly fallback?: T;
  /** What the field is, for the 'missing' message and the recipe documentation. */
  readonly doc: string;
}
export type Presence = 'required' | 'optional' | 'default';

export const required = <T>(schema: Schema<T>, doc: string): Field<T, 'required'> => ({ schema, presence: 'required', doc });
export const optional = <T>(schema: Schema<T>, doc: string): Field<T, 'optional'> => ({ schema, presence: 'optional', doc });
export const withDefault = <T>(schema: Schema<T>, fallback: T, doc: string): Field<T, 'default'> => ({ schema, presence: 'default', fallback, doc });

type Shape = Record<string, Field<unknown>>;
type FieldType<F> = F extends Field<infer T> ? T : never;
/** The object a shape describes: required and defaulted fields are present, optional ones may be absent. */
export type Parsed<S extends Shape> = {
  readonly [K in keyof S as S[K]['presence'] extends 'optional' ? never : K]: FieldType<S[K]>;
} & {
  readonly [K in keyof S as S[K]['presence'] extends 'optional' ? K : never]?: FieldType<S[K]>;
};

export interface ObjectSchema<S extends Shape> extends Schema<Parsed<S>> {
  readonly fields: S;
}

/**
 * An object with exactly these keys (others are errors naming the nearest known key). Fields
 * with a fallback get it when absent; `refine` checks rules between fields once each field passed.
 */
export function object<S extends Shape>(
  fields: S,
  refine?: (value: Parsed<S>, path: string, problems: Problems) => void,
): ObjectSchema<S> {
  const keys = Object.keys(fields);
  const expects = 'an object';
  return {
    expects,
    fields,
    check(value, path, problems) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return typeMismatch(expects, value, path, problems);
      const before = problems.list.length;
      const input = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(input)) {
        if (keys.includes(key)) continue;
        const near = nearest(key, keys);
        problems.add(join(path, key), `unknown key${near ? ` (did you mean ${near}?)` : ` (known: ${keys.join(', ')})`}`);
      }
      for (const key of keys) {
        const field = fields[key];
        if (!(key in input) || input[key] === undefined) {
          if (field.presence === 'required') problems.add(join(path, key), `missing (${field.doc})`);
          else if (field.presence === 'default') out[key] = field.fallback;
          continue;
        }
        const checked = field.schema.check(input[key], join(path, key), problems);
        if (checked !== undefined) out[key] = checked;
      }
      if (problems.list.length !== before) return undefined;
      refine?.(out as Parsed<S>, path, problems);
      return problems.list.length === before ? (out as Parsed<S>) : undefined;
    },
  };
}

/**
 * An object with exactly one key, chosen from `variants` (a tagged union written the way people
 * write JSON: `{ "prune": { ... } }`); the result is `{ kind, options }`.
 */
export function tagged<V extends Record<string, Schema<unknown>>>(
  variants: V,
): Schema<{ [K in keyof V & string]: { readonly kind: K; readonly options: V[K] extends Schema<infer T> ? T : never } }[keyof V & string]> {
  const kinds = Object.keys(variants);
  const expects = `an object with one key, ${kinds.join(', ')}`;
  return {
    expects,
    check(value, path, problems) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return typeMismatch(expects, value, path, problems);
      const keys = Object.keys(value);
      if (keys.length !== 1) {
        problems.add(path, `expected ${expects}; got ${keys.length === 0 ? 'an empty object' : `keys ${keys.join(', ')}`}`);
        return undefined;
      }
      const kind = keys[0];
      if (!kinds.includes(kind)) {
        const near = nearest(kind, kinds);
        problems.add(join(path, kind), `unknown step${near ? ` (did you mean ${near}?)` : ''}; steps are ${kinds.join(', ')}`);
        return undefined;
      }
      const options = variants[kind].check((value as Record<string, unknown>)[kind], join(path, kind), problems);
      return options === undefined ? undefined : ({ kind, options } as never);
    },
  };
}

const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

/** Levenshtein distance (insertions, deletions, substitutions), for the nearest-name suggestion. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The known name closest to `name`, when it is close enough to be a typo: at most a third of the
 * longer name's letters differ (case ignored), so 'sparsty' finds 'sparsity' but 'x' finds nothing.
 */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(Math.max(name.length, best.length) / 3)) ? best : undefined;
}
