import type { OperatorTable } from '../operator.js';

export const reduceOperators: OperatorTable = {};
