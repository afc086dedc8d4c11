import type { OperatorTable } from '../operator.js';

export const lossesOperators: OperatorTable = {};
