import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MinnowError } from '@minnow/core';
import {
  DataType, MAX_NESTING, ProtoWriter, decodeMessage, diffMessage, diffModels, encodeMessage, forEachTensor, readModel, readTensor,
  schema, tensorValues, writeModel, type ModelProto,
} from '@minnow/onnx';
import { expectMinnowError, runs } from '../helpers/reference.js';
import { messageOf } from './arbitraries.js';
import { f32, sampleModel } from './sample.js';

describe('ONNX IR codec', () => {
  const specs = [schema.MODEL, schema.GRAPH, schema.TENSOR, schema.SPARSE_TENSOR, schema.TYPE, schema.SEQUENCE, schema.MAP, schema.OPTIONAL, schema.FUNCTION];
  for (const spec of specs) {
    it(`random ${spec.name} messages round-trip in meaning, unknown fields kept`, () => {
      fc.assert(fc.property(messageOf(spec, 3), (message) => {
        const back = decodeMessage<Record<string, unknown>>(encodeMessage(spec, message), spec);
        const difference = diffMessage(spec, message, back);
        expect(difference).toBeUndefined();
      }), runs(6200 + specs.indexOf(spec), 60));
    });
  }

  it('a hand-built model with subgraphs, every attribute kind and a function: write, read, same meaning', () => {
    const model = sampleModel();
    const bytes = writeModel(model).model;
    const back = readModel(bytes);
    expect(diffModels(model, back)).toBeUndefined();
    expect(back.graph!.node[0].attribute.map((a) => a.i ?? a.ints)).toEqual([[], -1n, [], [0n, 2n ** 63n - 1n, -(2n ** 63n)], [], []]);
    expect(Object.is(back.graph!.node[0].attribute[4].floats[1], -0)).toBe(true);
    expect(back.graph!.node[1].attribute[1].g!.node[0].attribute[0].t!.rawData).toEqual(f32([1]));
    // Initialisers are views on the bytes read, not copies.
    const raw = back.graph!.initializer[0].rawData!;
    expect(raw.buffer).toBe(bytes.buffer);
    const values = tensorValues(back.graph!.initializer[0]);
    expect(Array.from(values as Float32Array)).toEqual([1, -2, 3.5, Number.NaN]);
    // Meaning-equality sees a changed value.
    raw[3] ^= 0x40;
    expect(diffModels(model, back)).toMatch(/initializer\[0\]: values differ at element 0/);
  });

  it('a singular message field that appears twice is merged, as protobuf says', () => {
    const w = new ProtoWriter().int(1, 9);
    w.message(7, (g) => g.string(2, 'first').message(1, (n) => n.string(4, 'Relu')));
    w.message(7, (g) => g.message(1, (n) => n.string(4, 'Abs')));
    const model = readModel(w.finish());
    expect(model.graph!.name).toBe('first');
    expect(model.graph!.node.map((n) => n.opType)).toEqual(['Relu', 'Abs']);
  });

  it('typed tensor fields read packed, unpacked, or both mixed', () => {
    const w = new ProtoWriter().int(2, DataType.INT64).int(1, 4);
    w.int(7, 1n).packedInts(7, [2n, -3n]).int(7, 4n);
    const t = readTensor(w.finish());
    expect(t.int64Data).toEqual(new BigInt64Array([1n, 2n, -3n, 4n]));
    expect(tensorValues(t)).toEqual(new BigInt64Array([1n, 2n, -3n, 4n]));
  });

  it('names the byte offset and the field path of a malformed field', () => {
    const w = new ProtoWriter().int(1, 8);
    w.message(7, (g) => g.message(1, (n) => n.string(4, 'Relu')).message(1, (n) => n.string(1, 'x').int(4, 5)));
    const error = expectMinnowError(() => readModel(w.finish()), 'CORRUPT_FILE', 'wire type 0 where a string (wire type 2) belongs', '(field model.graph.node[1].opType)');
    expect(error.message).toMatch(/at byte \d+/);
    const bad = new ProtoWriter().int(1, 8).message(7, (g) => g.message(5, (t) => t.int(1, 2).tag(9, 2).varint(2 ** 40))).finish();
    expectMinnowError(() => readModel(bad), 'CORRUPT_FILE', 'length 1099511627776 exceeds', '(field model.graph.initializer[0].rawData)');
  });

  it('refuses nesting deeper than MAX_NESTING, and files that are not models', () => {
    let inner = new ProtoWriter().string(2, 'leaf').finish();
    for (let i = 0; i < MAX_NESTING; i++) {
      const attribute = new ProtoWriter().string(1, 'body').blob(6, inner).finish();
      const nodeBytes = new ProtoWriter().string(4, 'Loop').blob(5, attribute).finish();
      inner = new ProtoWriter().blob(1, nodeBytes).finish();
    }
    const model = new ProtoWriter().int(1, 8).blob(7, inner).finish();
    expectMinnowError(() => readModel(model), 'CORRUPT_FILE', `nested more than ${MAX_NESTING} deep`);
    expectMinnowError(() => readModel(new Uint8Array(0)), 'CORRUPT_FILE', 'empty file');
    expectMinnowError(() => readModel(new ProtoWriter().string(2, 'a producer, no ir_version').finish()), 'CORRUPT_FILE', 'not an ONNX model: no ir_version');
    expectMinnowError(() => readModel(new TextEncoder().encode('\n\x04text')), 'CORRUPT_FILE', 'wire type 2 where an int64 (wire type 0) belongs at byte 0 (field model.irVersion)');
  });

  it('truncating or corrupting a model gives a model or CORRUPT_FILE; whatever reads, writes and reads back the same', () => {
    const bytes = writeModel(sampleModel()).model;
    const check = (input: Uint8Array): void => {
      let model: ModelProto;
      try {
        model = readModel(input);
      } catch (error) {
        if (error instanceof MinnowError && error.code === 'CORRUPT_FILE') return;
        throw error;
      }
      forEachTensor(model, (t) => {
        try {
          tensorValues(t);
        } catch (error) {
          if (!(error instanceof MinnowError)) throw error;
        }
      });
      expect(diffModels(model, readModel(writeModel(model).model))).toBeUndefined();
    };
    for (let cut = 0; cut < bytes.length; cut++) check(bytes.subarray(0, cut));
    const edits = fc.array(fc.record({ at: fc.nat(bytes.length - 1), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 3 });
    fc.assert(fc.property(edits, (list) => {
      const copy = bytes.slice();
      for (const { at, value } of list) copy[at] = value;
      check(copy);
    }), runs(6210, 500));
  });
});
