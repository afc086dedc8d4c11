import type { OperatorTable } from '../operator.js';

export const nnOperators: OperatorTable = {};
