// Caffe's random engine is a Mersenne Twister (boost::mt19937) seeded from `random_seed`, with Boost's distributions
// computed as Boost computes them in float (uniform_real, bernoulli_distribution, uniform_int): the same seed gives
// Caffe's own draws, so Caffe's fillers give bit-identical weights (test/caffe_compat.test.ts: LeNet's seed-1701 start).
// Gaussians are Box-Muller, not Boost's ziggurat: reproducible, but not Caffe's values.

const f = Math.fround;

/** The next float32 above x (C's nextafterf(x, +inf)), as caffe_nextafter gives uniform_real its open upper end. */
function nextFloatUp(x: number): number {
  const b = new Float32Array([x]), u = new Uint32Array(b.buffer);
  if (x === 0) u[0] = 1;
  else u[0]! += x > 0 ? 1 : -1;
  return b[0]!;
}

export class Mt19937 {
  private mt = new Uint32Array(624);
  private idx = 625;
  private spareGaussian: number | undefined;

  constructor(seed = 5489) {
    this.seed(seed);
  }

  seed(seed: number): void {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1]! ^ (this.mt[i - 1]! >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.idx = 624;
    this.spareGaussian = undefined;
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    if (this.idx >= 624) {
      const mt = this.mt;
      for (let i = 0; i < 624; i++) {
        const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % 624]! & 0x7fffffff);
        mt[i] = mt[(i + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.idx = 0;
    }
    let y = this.mt[this.idx++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** boost::uniform_real<float>(min, max): [min, max), each step rounded to float as Boost's code does. */
  uniformReal(min: number, max: number): number {
    const lo = f(min), hi = f(max), range = f(hi - lo);
    for (;;) {
      const v = f(f((f(this.nextU32()) / 4294967296) * range) + lo);
      if (v < hi) return v;
    }
  }

  /** Caffe's caffe_rng_uniform: [a, b], i.e. uniform_real(a, nextafter(b)). */
  uniform(a: number, b: number): number {
    return this.uniformReal(a, nextFloatUp(f(b)));
  }

  /** boost::uniform_int<int>(min, max) over 32-bit draws: an integer in [min, max], by Boost's bucketing. */
  uniformInt(min: number, max: number): number {
    const range = max - min;
    if (range === 0) return min;
    if (range === 0xffffffff) return min + this.nextU32();
    let bucket = Math.floor(0xffffffff / (range + 1));
    if (0xffffffff % (range + 1) === range) bucket++;
    for (;;) {
      const r = Math.floor(this.nextU32() / bucket);
      if (r <= range) return min + r;
    }
  }

  /** Standard normal (Box-Muller, both values used). */
  gaussian(mean = 0, std = 1): number {
    if (this.spareGaussian !== undefined) {
      const v = this.spareGaussian;
      this.spareGaussian = undefined;
      return mean + std * v;
    }
    let u = 0;
    while (u === 0) u = this.nextU32() / 4294967296;
    const v = this.nextU32() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareGaussian = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** boost::bernoulli_distribution<float>(p), 1 or 0: a draw, rounded to float, <= p * 2^32 (never for p = 0). */
  bernoulli(p: number): number {
    const pf = f(p);
    return pf !== 0 && f(this.nextU32()) <= pf * 4294967296 ? 1 : 0;
  }
}

let globalRng = new Mt19937(Date.now() >>> 0);

/** Caffe::set_random_seed: reseeds the engine every layer and filler draws from (caffe_rng()). */
export function setRandomSeed(seed: number): void {
  globalRng = new Mt19937(seed >>> 0);
}

export function rng(): Mt19937 {
  return globalRng;
}
