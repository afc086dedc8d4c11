import type { OperatorTable } from '../operator.js';
import { runGru } from './rnn/gru.js';
import { runLstm } from './rnn/lstm.js';
import { runSimpleRnn } from './rnn/simple.js';

/**
 * Recurrent ops (opsets 1 to 21): each direction runs step by step on the session's backend, the
 * input projection X W^T computed for all steps at once. Layout 1 (batch first) from opset 14.
 */
export const rnnOperators: OperatorTable = {
  LSTM: { run: runLstm },
  GRU: { run: runGru },
  RNN: { run: runSimpleRnn },
};
