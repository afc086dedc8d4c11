/** Scalar numeric rules shared by every backend's reference semantics. */

/** Round half to even (banker's rounding), as ONNX Round, QuantizeLinear and numpy.round define it. */
export function roundHalfToEven(x: number): number {
  // Rounding the magnitude keeps the sign of zero: round(-0.3) and round(-0.5) are -0, as in numpy.
  if (x < 0) return -roundHalfToEven(-x);
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The integer range a quantized type saturates to. */
export function quantizedRange(type: 'int8' | 'uint8' | 'int4' | 'uint4'): { min: number; max: number } {
  switch (type) {
    case 'int8':
      return { min: -128, max: 127 };
    case 'uint8':
      return { min: 0, max: 255 };
    case 'int4':
      return { min: -8, max: 7 };
    case 'uint4':
      return { min: 0, max: 15 };
  }
}
