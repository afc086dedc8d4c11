import type { OperatorDefinition, OperatorTable } from './operator.js';
import { controlOperators } from './ops/control.js';
import { elementwiseOperators } from './ops/elementwise.js';
import { lossesOperators } from './ops/losses.js';
import { nnOperators } from './ops/nn.js';
import { microsoftQuantizationOperators, quantizationOperators } from './ops/quantization.js';
import { reduceOperators } from './ops/reduce.js';
import { rnnOperators } from './ops/rnn.js';
import { shapeOperators } from './ops/shape.js';

/** The default ONNX domain ('ai.onnx' is its long name). */
export const ONNX_DOMAIN = '';
export const MICROSOFT_DOMAIN = 'com.microsoft';

const normalizeDomain = (domain: string | undefined): string => (domain === undefined || domain === 'ai.onnx' ? ONNX_DOMAIN : domain);

const TABLES: Readonly<Record<string, readonly OperatorTable[]>> = {
  [ONNX_DOMAIN]: [
    elementwiseOperators, shapeOperators, reduceOperators, nnOperators, rnnOperators, controlOperators, quantizationOperators, lossesOperators,
  ],
  /** onnxruntime's contrib domain: the ops minnow's own graph rewrites produce. */
  [MICROSOFT_DOMAIN]: [microsoftQuantizationOperators],
};

const OPERATORS = new Map<string, OperatorDefinition>();
for (const [domain, tables] of Object.entries(TABLES)) {
  for (const table of tables) {
    for (const [opType, def] of Object.entries(table)) {
      const key = `${domain}:${opType}`;
      if (OPERATORS.has(key)) throw new Error(`minnow: operator ${opType} registered twice`);
      OPERATORS.set(key, def);
    }
  }
}

export { normalizeDomain };

/** The implementation of `opType` in `domain`, if minnow has one. */
export function findOperator(domain: string | undefined, opType: string): OperatorDefinition | undefined {
  return OPERATORS.get(`${normalizeDomain(domain)}:${opType}`);
}

/** Every supported op as [domain, opType], sorted. */
export function supportedOperators(): [string, string][] {
  return [...OPERATORS.keys()].map((k) => k.split(':') as [string, string]).sort((a, b) => (a[0] + a[1]).localeCompare(b[0] + b[1]));
}
