import { MinnowError } from '@minnow/core';
import type { AnyModule } from '@minnow/nn';
import type { Dim, ExportValue, ModuleGraphBuilder } from './graph.js';

/**
 * The contract between the exporter's walk over a module tree and the converter of each layer
 * class: a converter gets the layer, the value flowing into it and this context, adds the nodes
 * that compute the layer's eval-mode forward, and returns the value flowing out.
 */
export interface ConvertContext {
  readonly graph: ModuleGraphBuilder;
  /** The layer's dotted path in the module tree ('' for the root module). */
  readonly path: string;
  /** A name hint for this layer's values and nodes: '<path>/<what>' (the class name stands in for the root's empty path). */
  hint(what: string): string;
  /** The state dict name of this layer's own parameter or buffer `local` ('weight' -> '3.1.weight'). */
  stateName(local: string): string;
  /** Converts a child of this layer, registered under `name`, on `input` (what containers call). */
  convertChild(child: AnyModule, name: string, input: ExportValue): ExportValue;
  /** A SHAPE_MISMATCH error that names the layer, its path and the input shape. */
  shapeError(input: ExportValue, expected: string): MinnowError;
}

export type LayerConverter<M extends AnyModule> = (layer: M, input: ExportValue, context: ConvertContext) => ExportValue;

/** A module class as the table keys it (abstract classes included, whatever their constructor takes). */
export type ModuleClass<M extends AnyModule = AnyModule> = abstract new (...args: never[]) => M;

/** One table entry, typed by its class so the converter sees the layer's own fields. */
export function converterFor<M extends AnyModule>(moduleClass: ModuleClass<M>, convert: LayerConverter<M>): [ModuleClass, LayerConverter<AnyModule>] {
  return [moduleClass, convert as LayerConverter<AnyModule>];
}

/** A shape as error messages show it, with symbolic dims by name and unknown ones as '?'. */
export function formatDims(shape: readonly Dim[]): string {
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

/** Where a module sits, for messages: "Linear at '0.2'", or "Linear (the root module)". */
export function describeLayer(module: AnyModule, path: string): string {
  return path === '' ? `${module.constructor.name} (the root module)` : `${module.constructor.name} at '${path}'`;
}

/** The product of dims, or null when one of them is not known at export time. */
export function dimProduct(dims: readonly Dim[]): number | null {
  let product = 1;
  for (const d of dims) {
    if (typeof d !== 'number') return null;
    product *= d;
  }
  return product;
}

/** True when `d` is known and differs from `expected` (an unknown dim is checked by the runtime instead). */
export function knownAndNot(d: Dim | undefined, expected: number): boolean {
  return typeof d === 'number' && d !== expected;
}

/** [first, second] from a number or a pair, as layers take sizes. */
export function pairOf(value: number | readonly number[] | undefined, fallback: readonly [number, number]): [number, number] {
  if (value === undefined) return [fallback[0], fallback[1]];
  return typeof value === 'number' ? [value, value] : [value[0], value[1]];
}

/** UNSUPPORTED_OP for a form of a layer the exporter cannot express (the message says what and where). */
export function unsupportedForm(context: ConvertContext, layer: AnyModule, what: string): MinnowError {
  return new MinnowError('UNSUPPORTED_OP', `exportModule: ${describeLayer(layer, context.path)}: ${what}`);
}
