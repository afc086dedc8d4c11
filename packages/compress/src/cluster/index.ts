// Weight clustering (k-means weight sharing, Deep Compression section 3), its fine-tuning hooks, and
// a Module's state to and from the compact container.
export { DEFAULT_MAX_ITERATIONS, kmeans1d, nearest, type CentroidInit, type KMeansOptions, type KMeansResult } from './kmeans.js';
export {
  WeightClustering, clusterWeights, type ClusterWeightsOptions, type ClusteredTensorReport, type LayerClusters,
} from './clustering.js';
export { compactTensorsOf, loadCompact } from './compact.js';
