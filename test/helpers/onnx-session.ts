import { OnnxSession, type ModelProto, type TensorProto } from '@minnow/onnx';

/**
 * Runs `model` once on minnow's executor (default backend) and returns every output as float32
 * values on the host; the session and the output tensors are freed.
 */
export function runMinnow(model: ModelProto, feeds: Readonly<Record<string, TensorProto>>): Record<string, Float32Array> {
  const session = OnnxSession.create(model);
  try {
    return Object.fromEntries(Object.entries(session.run(feeds)).map(([k, t]) => {
      const data = Float32Array.from(t.dataSync() as Float32Array);
      t.dispose();
      return [k, data];
    }));
  } finally {
    session.dispose();
  }
}
