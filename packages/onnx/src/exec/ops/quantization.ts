import type { OperatorTable } from '../operator.js';
import { ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul } from './nn/integer-ops.js';
import { labelled } from './nn/labelled.js';
import { QGemm } from './nn/qgemm.js';
import { DequantizeLinear, DynamicQuantizeLinear, QuantizeLinear } from './nn/quantize-linear.js';

/** Quantization ops: linear (de)quantization and the integer products (implementations under nn/). */
export const quantizationOperators: OperatorTable = labelled({
  QuantizeLinear,
  DequantizeLinear,
  DynamicQuantizeLinear,
  MatMulInteger,
  QLinearMatMul,
  ConvInteger,
  QLinearConv,
});

/** onnxruntime's quantization ops (domain com.microsoft) that fuseQuantized writes. */
export const microsoftQuantizationOperators: OperatorTable = labelled({ QGemm });
