import type { OperatorTable } from '../operator.js';
import { Conv, ConvTranspose } from './nn/conv.js';
import { Dropout } from './nn/dropout.js';
import { Einsum } from './nn/einsum.js';
import { labelled } from './nn/labelled.js';
import { Gemm, MatMul } from './nn/matmul.js';
import {
  BatchNormalization, GroupNormalization, InstanceNormalization, LayerNormalization, LpNormalization, LRN, MeanVarianceNormalization,
} from './nn/normalization.js';
import { AveragePool, GlobalAveragePool, GlobalMaxPool, LpPool, MaxPool } from './nn/pool.js';

/** Neural-network ops: products, convolutions, pools, normalisations, Dropout and Einsum (implementations under nn/). */
export const nnOperators: OperatorTable = labelled({
  MatMul,
  Gemm,
  Conv,
  ConvTranspose,
  BatchNormalization,
  InstanceNormalization,
  LayerNormalization,
  GroupNormalization,
  LpNormalization,
  MeanVarianceNormalization,
  LRN,
  MaxPool,
  AveragePool,
  LpPool,
  GlobalAveragePool,
  GlobalMaxPool,
  Dropout,
  Einsum,
});
