/**
 * The dense symmetric linear algebra GPTQ needs, in float64 on the host: a Cholesky factor and
 * the upper Cholesky factor of the inverse. Matrices are row-major n x n Float64Arrays.
 */

/** Lower-triangular L with A = L L^T; undefined when A is not positive definite. */
export function cholesky(a: Float64Array, n: number): Float64Array | undefined {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(s > 0)) return undefined;
        l[i * n + i] = Math.sqrt(s);
      } else {
        l[i * n + j] = s / l[j * n + j];
      }
    }
  }
  return l;
}

/**
 * The upper-triangular U with A^-1 = U^T U (the Cholesky factor of A's inverse, written upper),
 * as GPTQ takes it: row i of U says how the error made rounding column i spreads over the columns
 * after it. Undefined when A is not positive definite.
 */
export function upperCholeskyOfInverse(a: Float64Array, n: number): Float64Array | undefined {
  const l = cholesky(a, n);
  if (l === undefined) return undefined;
  // L^-1 (lower), then A^-1 = L^-T L^-1, then its Cholesky factor.
  const li = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    for (let i = c; i < n; i++) {
      let s = i === c ? 1 : 0;
      for (let k = c; k < i; k++) s -= l[i * n + k] * li[k * n + c];
      li[i * n + c] = s / l[i * n + i];
    }
  }
  const inverse = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = j; k < n; k++) s += li[k * n + i] * li[k * n + j];
      inverse[i * n + j] = s;
      inverse[j * n + i] = s;
    }
  }
  const lower = cholesky(inverse, n);
  if (lower === undefined) return undefined;
  const upper = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) upper[i * n + j] = lower[j * n + i];
  return upper;
}
