import { MinnowError, type Tensor } from '@minnow/core';
import { Module, Sequential, type AnyModule } from '@minnow/nn';
import type { LayerReport } from '../types.js';

/**
 * Module quantization builds a new model next to the source one instead of editing it: nn's
 * modules cannot swap a child, and a float model that stays intact is what QAT distils from and
 * what accuracy is compared with. Sequential containers are rebuilt (recursively; not subclasses
 * of Sequential, whose forward may do more); the layers a transform replaces are new modules;
 * every other layer (activations, pooling, Flatten, ...) is the source's own object, shared.
 */

type Layer = Module<[Tensor], Tensor>;

/** Containers whose forward is exactly "run the children in order": a subclass may do more, so it is not rebuilt. */
const isPlainSequential = (m: AnyModule): m is Sequential => m.constructor === Sequential || m.constructor === RebuiltSequential;

/**
 * A Sequential rebuilt by quantizeModule, prepareQat or convertQat. `dispose()` frees only the
 * layers this rebuild created, never the layers it shares with the model it was built from.
 */
export class RebuiltSequential extends Sequential {
  private readonly created: ReadonlySet<AnyModule>;

  constructor(layers: readonly Layer[], created: ReadonlySet<AnyModule>) {
    super(...layers);
    this.created = created;
  }

  override dispose(): void {
    for (const layer of this.layers) if (this.created.has(layer as AnyModule) || layer instanceof RebuiltSequential) layer.dispose();
  }
}

/** What a transform sees: a layer of the source tree, its dotted path, and the layer after it in the same Sequential. */
export interface Visit {
  readonly module: AnyModule;
  readonly path: string;
  readonly next?: { readonly module: AnyModule; readonly path: string };
}

/** A transform's answer: the layer's replacement, and whether it also took the next layer in (a folded BatchNorm). */
export interface Replacement {
  readonly module: Layer;
  readonly consumedNext: boolean;
}

export interface RebuildResult {
  readonly module: Layer;
  /** Layers the transform wanted but could not reach: inside a container that is not a Sequential. */
  readonly unreachable: LayerReport[];
}

/**
 * Rebuilds `root` with `transform` applied to every layer it reaches (null keeps the layer).
 * `wanted` says which layers the transform acts on, so that those hidden inside containers other
 * than Sequential are reported instead of silently left float. If `root` itself is such a
 * container, nothing could be rebuilt: an UNSUPPORTED_OP error says so.
 */
export function rebuild(op: string, root: AnyModule, wanted: (m: AnyModule) => boolean, transform: (visit: Visit) => Replacement | null): RebuildResult {
  const unreachable: LayerReport[] = [];
  // Everything made so far, freed if a later layer fails: a failed rebuild leaves nothing behind.
  const made: AnyModule[] = [];
  const hidden = (module: AnyModule, path: string): void => {
    for (const [sub, m] of module.namedModules()) {
      if (sub === '' || !wanted(m)) continue;
      const where = path ? `${path}.${sub}` : sub;
      unreachable.push({
        layer: where, op: m.constructor.name, precision: 'float',
        reason: `inside ${module.constructor.name} at "${path}", which ${op} cannot rebuild (only Sequential containers are rebuilt); left float and shared with the source model`,
      });
    }
  };
  const visitSequential = (seq: Sequential, path: string): Layer => {
    const created = new Set<AnyModule>();
    const out: Layer[] = [];
    const children = seq.namedChildren();
    for (let i = 0; i < children.length; i++) {
      const [name, child] = children[i];
      const childPath = path ? `${path}.${name}` : name;
      const nextEntry = children[i + 1];
      const next = nextEntry ? { module: nextEntry[1], path: path ? `${path}.${nextEntry[0]}` : nextEntry[0] } : undefined;
      if (isPlainSequential(child)) {
        const inner = visitSequential(child, childPath);
        out.push(inner);
        created.add(inner as AnyModule);
        continue;
      }
      const replacement = wanted(child) ? transform({ module: child, path: childPath, next }) : null;
      if (replacement) {
        made.push(replacement.module as AnyModule);
        out.push(replacement.module);
        created.add(replacement.module as AnyModule);
        if (replacement.consumedNext) i++;
        continue;
      }
      hidden(child, childPath);
      out.push(child as Layer);
    }
    return new RebuiltSequential(out, created);
  };
  if (isPlainSequential(root)) {
    try {
      return { module: visitSequential(root, ''), unreachable };
    } catch (error) {
      for (const m of made) m.dispose();
      throw error;
    }
  }
  if (wanted(root)) {
    const replacement = transform({ module: root, path: '' });
    if (replacement) return { module: replacement.module, unreachable };
  }
  hidden(root, '');
  if (unreachable.length > 0) {
    throw new MinnowError('UNSUPPORTED_OP', `${op}: the model is a ${root.constructor.name}, which ${op} cannot rebuild: put its layers in a Sequential (layers found: ${unreachable.map((r) => `"${r.layer}"`).join(', ')})`);
  }
  throw new MinnowError('INVALID_ARGUMENT', `${op}: the model has no layer to quantize (Linear or Conv2d)`);
}
