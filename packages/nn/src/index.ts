// @minnow/nn: data sets and loaders, modules and layers, initialisers, losses, optimisers and
// schedules, all composed from @minnow/core's ops so they run and train on every backend.
// Node-only loaders that read files are in '@minnow/nn/node'.
export {
  TensorDataset, permutation, split, subset, trainTestSplit, type Dataset, type Example, type TensorDatasetOptions,
  type TrainTestSplitOptions,
} from './data/dataset.js';
export { DataLoader, type Batch, type DataLoaderOptions } from './data/loader.js';
export { encodeIdx, parseIdx, type IdxArray, type IdxData, type IdxDType } from './data/idx.js';
export * from './modules.js';
export * from './optim/index.js';
