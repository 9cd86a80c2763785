/**
 * Log-gamma, digamma and trigamma for positive real arguments, written by hand because no
 * maintained zero-dependency library provides all three (DESIGN.md: beta fitting is ours).
 *
 * Method, for all three: shift the argument up with the recurrence until x >= 12, then use the
 * asymptotic (Stirling-type) series with Bernoulli-number coefficients. References are
 * Abramowitz & Stegun, Handbook of Mathematical Functions (1964): 6.1.41 (log-gamma),
 * 6.3.5 / 6.3.18 (digamma), 6.4.6 / 6.4.12 (trigamma). At x >= 12 the first omitted term is
 * below 3e-15 absolute, so results match double precision to a few ulps
 * (test/special/gamma.test.ts checks known values).
 */

const SHIFT = 12;
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * ln Γ(x) for x > 0 (A&S 6.1.41 after the shift lnΓ(x) = lnΓ(x+1) - ln x). NaN for x <= 0.
 */
export function logGamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  let shift = 0;
  let product = 1;
  while (x < SHIFT) {
    product *= x;
    x += 1;
    // Keep the running product in range; fold it into the sum before it overflows.
    if (product > 1e300) {
      shift += Math.log(product);
      product = 1;
    }
  }
  shift += Math.log(product);
  const inv = 1 / x;
  const inv2 = inv * inv;
  // Σ B_2k / (2k(2k-1) x^(2k-1)): 1/12, -1/360, 1/1260, -1/1680, 1/1188
  const series = inv * (1 / 12 + inv2 * (-1 / 360 + inv2 * (1 / 1260 + inv2 * (-1 / 1680 + inv2 / 1188))));
  return (x - 0.5) * Math.log(x) - x + HALF_LOG_2PI + series - shift;
}

/**
 * ψ(x) = d/dx ln Γ(x) for x > 0. Recurrence ψ(x) = ψ(x+1) - 1/x (A&S 6.3.5), then
 * ψ(x) ~ ln x - 1/(2x) - Σ B_2k / (2k x^2k) (A&S 6.3.18). NaN for x <= 0.
 */
export function digamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  let acc = 0;
  while (x < SHIFT) {
    acc -= 1 / x;
    x += 1;
  }
  const inv2 = 1 / (x * x);
  // B_2k/(2k): 1/12, -1/120, 1/252, -1/240, 1/132
  const series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))));
  return acc + Math.log(x) - 0.5 / x - series;
}

/**
 * ψ'(x), the trigamma function, for x > 0. Recurrence ψ'(x) = ψ'(x+1) + 1/x² (A&S 6.4.6),
 * then ψ'(x) ~ 1/x + 1/(2x²) + Σ B_2k / x^(2k+1) (A&S 6.4.12). NaN for x <= 0.
 */
export function trigamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  let acc = 0;
  while (x < SHIFT) {
    acc += 1 / (x * x);
    x += 1;
  }
  const inv = 1 / x;
  const inv2 = inv * inv;
  // B_2k: 1/6, -1/30, 1/42, -1/30, 5/66
  const series = inv * inv2 * (1 / 6 - inv2 * (1 / 30 - inv2 * (1 / 42 - inv2 * (1 / 30 - (inv2 * 5) / 66))));
  return acc + inv + 0.5 * inv2 + series;
}
