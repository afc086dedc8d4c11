import type { OperatorTable } from '../operator.js';
import { normalizeOperators } from './reduce/normalize.js';
import { reductionOperators } from './reduce/reductions.js';
import { scanOperators } from './reduce/scan.js';

/** Reductions (Reduce*, ArgMax/ArgMin), normalisations along an axis (Softmax, LogSoftmax, Hardmax), CumSum and TopK. */
export const reduceOperators: OperatorTable = {
  ...reductionOperators,
  ...normalizeOperators,
  ...scanOperators,
};
