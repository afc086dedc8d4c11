// Structured pruning (channels of Conv, neurons of Linear) with physical removal, on nn modules and ONNX graphs.
export { pruneChannels } from './prune-channels.js';
export { pruneChannelsOnnx } from './prune-channels-onnx.js';
export type {
  ChannelGroupReport, ChannelNorm, ChannelPruneOptions, CountChange, ModuleChannelPruneOptions, ModuleChannelPruneResult, OnnxChannelPruneOptions,
  OnnxChannelPruneResult, StructuredLayerReport,
} from './types.js';
