/**
 * A small seeded pseudo-random generator, so simulations and the trace generator are
 * reproducible from a seed with no global state. sfc32 (Chris Doty-Humphrey's "small fast
 * counting" generator, PractRand-tested) seeded through splitmix32; not for cryptography.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal (Marsaglia polar method). */
  normal(): number;
  /** Gamma(shape, 1) (Marsaglia & Tsang 2000; shape < 1 by the u^(1/shape) boost). */
  gamma(shape: number): number;
  /** Beta(a, b) as X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b). */
  beta(a: number, b: number): number;
}

/** A generator seeded by a 32-bit integer. */
export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  let spare: number | undefined;
  const normal = (): number => {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    let u: number;
    let v: number;
    let q: number;
    do {
      u = 2 * next() - 1;
      v = 2 * next() - 1;
      q = u * u + v * v;
    } while (q >= 1 || q === 0);
    const f = Math.sqrt((-2 * Math.log(q)) / q);
    spare = v * f;
    return u * f;
  };
  const gamma = (shape: number): number => {
    if (shape < 1) return gamma(shape + 1) * (1 - next()) ** (1 / shape);
    const d3 = shape - 1 / 3;
    const c3 = 1 / Math.sqrt(9 * d3);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c3 * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - next();
      if (Math.log(u) < 0.5 * x * x + d3 - d3 * v + d3 * Math.log(v)) return d3 * v;
    }
  };
  const beta = (a2: number, b2: number): number => {
    const x = gamma(a2);
    return x / (x + gamma(b2));
  };
  return { next, normal, gamma, beta };
}
