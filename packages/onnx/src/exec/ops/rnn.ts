import type { OperatorTable } from '../operator.js';

export const rnnOperators: OperatorTable = {};
