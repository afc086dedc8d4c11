// @minnow/nn: for now its data part (datasets, loaders, the IDX format); modules, losses and
// optimisers come next. Node-only loaders that read files are in '@minnow/nn/node'.
export {
  TensorDataset, permutation, split, subset, trainTestSplit, type Dataset, type Example, type TensorDatasetOptions,
  type TrainTestSplitOptions,
} from './data/dataset.js';
export { DataLoader, type Batch, type DataLoaderOptions } from './data/loader.js';
export { encodeIdx, parseIdx, type IdxArray, type IdxData, type IdxDType } from './data/idx.js';
