// Merge layers: elementwise Add / Subtract / Multiply / Average / Maximum / Minimum, and Concatenate.
import { attr } from '@minnow/onnx';
import { unsupported, type ConversionContext, type Dim, type LayerCall, type LayerConverter, type Value } from '../context.js';
import { invalid } from '../model-json.js';

/** The inputs in one layout: channels-first if any rank-4 input already is (it saves Transposes), else channels-last. */
function aligned(call: LayerCall, minInputs: number): Value[] {
  const { inputs, layer, ctx } = call;
  if (inputs.length < minInputs) throw invalid(`layer '${layer.name}' (${layer.className}) needs at least ${minInputs} inputs, it was given ${inputs.length}`);
  const rank = inputs[0].shape.length;
  if (inputs.some((v) => v.shape.length !== rank)) throw unsupported(layer, `inputs of different ranks (${inputs.map((v) => v.shape.length).join(', ')})`);
  const channelsFirst = rank === 4 && inputs.some((v) => v.channelsFirst);
  return inputs.map((v) => (channelsFirst ? ctx.channelsFirst(v) : ctx.channelsLast(v)));
}

/** The broadcast of the inputs' Keras shapes, dim by dim (null where only run time knows). */
function broadcastShape(inputs: readonly Value[]): Dim[] {
  return inputs[0].shape.map((_, i) => {
    const dims = inputs.map((v) => v.shape[i]);
    const known = dims.find((d) => d !== null && d !== 1);
    if (known !== undefined) return known;
    return dims.includes(null) ? null : 1;
  });
}

/** Folds the inputs pairwise with a binary op (Add, Mul), or hands them all to a variadic one (Mean, Max, Min). */
function elementwise(op: string, variadic: boolean): LayerConverter {
  return (call) => {
    const inputs = aligned(call, 2);
    const b = call.ctx.builder;
    let name: string;
    if (variadic) name = b.node(op, inputs.map((v) => v.name), call.layer.name);
    else {
      name = inputs[0].name;
      for (let i = 1; i < inputs.length; i++) name = b.node(op, [name, inputs[i].name], i === inputs.length - 1 ? call.layer.name : `${call.layer.name}_${i}`);
    }
    return { name, shape: broadcastShape(inputs), channelsFirst: inputs[0].channelsFirst };
  };
}

const subtract: LayerConverter = (call) => {
  if (call.inputs.length !== 2) throw invalid(`layer '${call.layer.name}' (Subtract) takes exactly 2 inputs, it was given ${call.inputs.length}`);
  return elementwise('Sub', false)(call);
};

function concatShape(ctx: ConversionContext, inputs: readonly Value[], axis: number): Dim[] {
  const k = ctx.onnxAxis({ ...inputs[0], channelsFirst: false }, axis);
  return inputs[0].shape.map((_, i) => {
    const dims = inputs.map((v) => v.shape[i]);
    if (i !== k) return dims.find((d) => d !== null) ?? null;
    return dims.includes(null) ? null : (dims as number[]).reduce((a, d) => a + d, 0);
  });
}

const concatenate: LayerConverter = (call) => {
  const { ctx, layer, config } = call;
  const inputs = aligned(call, 1);
  const axis = config.axis('axis', -1);
  const name = ctx.builder.node('Concat', inputs.map((v) => v.name), layer.name, [attr.int('axis', ctx.onnxAxis(inputs[0], axis))]);
  return { name, shape: concatShape(ctx, inputs, axis), channelsFirst: inputs[0].channelsFirst };
};

export const MERGE_LAYERS: Record<string, LayerConverter> = {
  Add: elementwise('Add', false),
  Multiply: elementwise('Mul', false),
  Subtract: subtract,
  Average: elementwise('Mean', true),
  Maximum: elementwise('Max', true),
  Minimum: elementwise('Min', true),
  Concatenate: concatenate,
};
