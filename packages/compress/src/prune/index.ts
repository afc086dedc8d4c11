// Pruning (prune/): importance criteria and exact mask selection, masks held through training,
// sparsity schedules, unstructured pruning of nn modules and ONNX graphs, structured pruning with
// physical removal (structured/), and sparse storage and execution (sparse/).
export {
  DEFAULT_NM, checkNM, checkSparsity, globalMasks, keepLargest, layerwiseMasks, magnitudeScores, nmMask, parameterScores, parseNM, prunedCount,
  randomScores, taylorScores, type Criterion, type NMPattern, type ScoreTable,
} from './criteria.js';
export {
  DEFAULT_PRUNED_TYPES, PruningMasks, prunableParameters, type LayerSelection, type LayerSparsity, type ModuleClass, type SparsityReport,
  type SparsityTotals,
} from './masks.js';
export { computeMasks, pruneModule, type PruneModuleOptions } from './prune-module.js';
export {
  iterative, oneShot, polynomialDecay, type IterativeOptions, type PolynomialDecayOptions, type SparsitySchedule,
} from './schedule.js';
export { maskedTraining, pruneGradually, type GradualPruningOptions, type GradualPruningResult, type PruningEvent } from './masked-training.js';
export { PRUNABLE_OPS, pruneOnnx, type OnnxCriterion, type PruneOnnxOptions, type PruneOnnxResult, type PrunedOnnxLayer } from './prune-onnx.js';
export { deepCompression, type DeepCompressionOptions, type DeepCompressionResult, type DeepCompressionStage } from './deep-compression.js';
export * from './structured/index.js';
export * from './sparse/index.js';
