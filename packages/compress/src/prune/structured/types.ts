import type { Tensor } from '@minnow/core';
import type { Module } from '@minnow/nn';
import type { ModelProto } from '@minnow/onnx';

/** How a channel's importance is measured: the L1 or L2 norm of its weights. */
export type ChannelNorm = 'l1' | 'l2';

export interface ChannelPruneOptions {
  /**
   * The fraction of each channel group removed, in [0, 1): 0.5 keeps the more important half
   * (rounded; at least one channel always stays).
   */
  readonly sparsity: number;
  /**
   * Importance of a channel: the norm of its weights in each layer that produces it (a Conv
   * filter, a Linear row), summed over the producers of its group. Default 'l1'.
   */
  readonly norm?: ChannelNorm;
  /** Prune only groups whose producers are all named here (module paths or class names; ONNX node names or op types). */
  readonly include?: readonly string[];
  /** Never prune a group one of whose producers is named here. */
  readonly exclude?: readonly string[];
}

export interface ModuleChannelPruneOptions extends ChannelPruneOptions {
  /**
   * The shape of one model input, batch included ([1, 3, 32, 32]): the model is run once on zeros
   * of this shape (eval mode) to learn each layer's input shape, which says which axis a layer acts
   * on and how many Flatten features each channel feeds.
   */
  readonly inputShape: readonly number[];
}

export interface OnnxChannelPruneOptions extends ChannelPruneOptions {
  /** Dims to pin for shape inference, by graph input name; symbolic dims otherwise stay symbolic. */
  readonly inputShapes?: Readonly<Record<string, readonly number[]>>;
}

/** A count before and after pruning. */
export interface CountChange {
  readonly before: number;
  readonly after: number;
}

/** One set of channels that must be pruned together, and what happened to it. */
export interface ChannelGroupReport {
  /** Numbered in the order the groups' first producers appear in the model. */
  readonly id: number;
  /** Layers (module paths, ONNX node names) whose output channels these are. */
  readonly producers: readonly string[];
  /** Other layers that index these channels: BatchNorm entries, biases, the next layers' inputs. */
  readonly followers: readonly string[];
  readonly channels: number;
  /** The channel indices that stay, ascending (all of them when the group is not pruned). */
  readonly kept: readonly number[];
  readonly pruned: boolean;
  /** Why the group keeps every channel: what could not be traced, an exclusion. Empty when pruned. */
  readonly reasons: readonly string[];
}

/** One layer with weights: how its channels and parameters changed. */
export interface StructuredLayerReport {
  /** Module path (nn) or node name (ONNX). */
  readonly layer: string;
  /** Class name (nn) or op type (ONNX). */
  readonly op: string;
  readonly inChannels: CountChange;
  readonly outChannels: CountChange;
  readonly params: CountChange;
}

interface ChannelPruneReport {
  readonly layers: StructuredLayerReport[];
  readonly groups: ChannelGroupReport[];
  /** Parameters of the whole model (nn: trainable parameters; ONNX: initialiser elements). */
  readonly params: CountChange;
}

export interface ModuleChannelPruneResult extends ChannelPruneReport {
  /** A new model; the source is not changed and shares no tensor with it. */
  readonly module: Module<[Tensor], Tensor>;
}

export interface OnnxChannelPruneResult extends ChannelPruneReport {
  /** A new model; the source ModelProto is not changed. */
  readonly model: ModelProto;
}
