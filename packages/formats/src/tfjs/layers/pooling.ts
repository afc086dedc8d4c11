// 2-D pooling: windowed Max/Average, and the global forms, over NCHW.
import { attr } from '@minnow/onnx';
import { singleInput, type LayerCall, type LayerConverter, type Value } from '../context.js';
import { readPadding, windowAttributes, windowOutput, type Window } from './window.js';

function pool(op: 'MaxPool' | 'AveragePool'): LayerConverter {
  return (call: LayerCall) => {
    const x = singleInput(call, [4]);
    const { config, ctx, layer } = call;
    config.channelsLastOnly();
    const kernel = config.pair('pool_size', [2, 2]);
    const window: Window = { kernel, strides: config.pair('strides', kernel), dilations: [1, 1], padding: readPadding(call) };
    const attributes = windowAttributes(window, x.shape[1], x.shape[2]);
    // TensorFlow averages over the pixels inside the image only: padding is not counted.
    if (op === 'AveragePool') attributes.push(attr.int('count_include_pad', 0));
    const name = ctx.builder.node(op, [ctx.channelsFirst(x).name], layer.name, attributes);
    const [height, width] = windowOutput(window, x.shape[1], x.shape[2]);
    return { name, shape: [x.shape[0], height, width, x.shape[3]], channelsFirst: true };
  };
}

/** Global pooling to [N, C] (or [N, 1, 1, C] with Keras's keepdims). */
function globalPool(op: 'GlobalMaxPool' | 'GlobalAveragePool'): LayerConverter {
  return (call: LayerCall) => {
    const x = singleInput(call, [4]);
    const { config, ctx, layer } = call;
    config.channelsLastOnly();
    const keep = config.boolean('keepdims', false);
    const pooled = ctx.builder.node(op, [ctx.channelsFirst(x).name], keep ? layer.name : `${layer.name}_pooled`);
    if (keep) return { name: pooled, shape: [x.shape[0], 1, 1, x.shape[3]], channelsFirst: true };
    // [N, C, 1, 1] flattens to [N, C], which is the same in either layout.
    const name = ctx.builder.node('Flatten', [pooled], layer.name, [attr.int('axis', 1)]);
    const value: Value = { name, shape: [x.shape[0], x.shape[3]], channelsFirst: false };
    return value;
  };
}

export const POOLING_LAYERS: Record<string, LayerConverter> = {
  MaxPooling2D: pool('MaxPool'),
  MaxPool2D: pool('MaxPool'),
  AveragePooling2D: pool('AveragePool'),
  AvgPool2D: pool('AveragePool'),
  GlobalMaxPooling2D: globalPool('GlobalMaxPool'),
  GlobalMaxPool2D: globalPool('GlobalMaxPool'),
  GlobalAveragePooling2D: globalPool('GlobalAveragePool'),
  GlobalAvgPool2D: globalPool('GlobalAveragePool'),
};
