import type { OperatorTable } from '../operator.js';

export const quantizationOperators: OperatorTable = {};
