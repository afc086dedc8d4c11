// Every Keras layer class the converter knows, by class_name.
import type { LayerConverter } from '../context.js';
import { ACTIVATION_LAYERS } from './activations.js';
import { CONV_LAYERS } from './conv.js';
import { CORE_LAYERS } from './core.js';
import { MERGE_LAYERS } from './merge.js';
import { NORMALIZATION_LAYERS } from './normalization.js';
import { POOLING_LAYERS } from './pooling.js';
import { SPATIAL_LAYERS } from './spatial.js';

export const LAYER_CONVERTERS: Readonly<Record<string, LayerConverter>> = {
  ...ACTIVATION_LAYERS, ...CONV_LAYERS, ...CORE_LAYERS, ...MERGE_LAYERS, ...NORMALIZATION_LAYERS, ...POOLING_LAYERS, ...SPATIAL_LAYERS,
};

/** The class names converted (InputLayer too), for documentation and error messages. */
export const SUPPORTED_LAYERS: readonly string[] = ['InputLayer', ...Object.keys(LAYER_CONVERTERS)].sort();
