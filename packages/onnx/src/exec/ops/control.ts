import type { OperatorTable } from '../operator.js';

export const controlOperators: OperatorTable = {};
