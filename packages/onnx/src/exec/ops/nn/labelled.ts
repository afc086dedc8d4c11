import { MinnowError } from '@minnow/core';
import type { OperatorDefinition, OperatorTable } from '../../operator.js';

/**
 * The table with every op's errors naming its node: a MinnowError that core raises (a shape or
 * dtype check deep in a primitive) is re-raised with the same code, prefixed by the node's label.
 */
export function labelled(table: Readonly<Record<string, OperatorDefinition>>): OperatorTable {
  const out: Record<string, OperatorDefinition> = {};
  for (const [name, def] of Object.entries(table)) {
    out[name] = {
      ...def,
      run: (ctx) => {
        try {
          return def.run(ctx);
        } catch (error) {
          if (error instanceof MinnowError && !error.message.startsWith('onnx:')) throw ctx.error(error.code, error.message);
          throw error;
        }
      },
    };
  }
  return out;
}
