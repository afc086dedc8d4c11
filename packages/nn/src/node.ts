// Node-only parts of @minnow/nn: loaders that read data sets from disk (node:fs, node:zlib).
export {
  FASHION_MNIST_CLASSES, FASHION_MNIST_ROOT, IRIS_CLASSES, MNIST_CLASSES, loadFashionMnist, loadIris, loadMnist, loadMnistSplit,
  type FashionMnistOptions, type PackageDatasetOptions,
} from './data/sources.js';
