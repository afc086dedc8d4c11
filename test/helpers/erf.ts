/**
 * A high-precision error function for tests (about 1e-15 absolute): the Maclaurin series below 2.5,
 * and the Laplace continued fraction for erfc above it. Independent of minnow's A&S approximation.
 */
export function erfReference(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return -erfReference(-x);
  if (x === Infinity) return 1;
  if (x < 2.5) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = x; // (-1)^n x^(2n+1) / n!
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (x > 6) return 1; // erfc(6) ~ 2e-17
  // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  let t = x;
  for (let n = 120; n >= 1; n--) t = x + n / 2 / t;
  return 1 - Math.exp(-x * x) / Math.sqrt(Math.PI) / t;
}
