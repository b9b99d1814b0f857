// Caffe's random engine is a Mersenne Twister (mt19937) seeded from `random_seed`; the same seed gives the same run.
// Distributions are our own (Caffe's come from boost), so values differ from Caffe's while staying reproducible.

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

  /** Uniform in [0, 1). */
  uniform01(): number {
    return this.nextU32() / 4294967296;
  }

  uniform(a: number, b: number): number {
    return a + (b - a) * this.uniform01();
  }

  /** Standard normal (Box-Muller, both values used). */
  gaussian(mean = 0, std = 1): number {
    if (this.spareGaussian !== undefined) {
      const v = this.spareGaussian;
      this.spareGaussian = undefined;
      return mean + std * v;
    }
    let u = 0;
    while (u === 0) u = this.uniform01();
    const v = this.uniform01();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareGaussian = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  bernoulli(p: number): number {
    return this.uniform01() < p ? 1 : 0;
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.uniform01() * n);
  }
}

let globalRng = new Mt19937(Date.now() >>> 0);

/** Caffe::set_random_seed: reseeds the engine every layer and filler draws from. */
export function setRandomSeed(seed: number): void {
  globalRng = new Mt19937(seed >>> 0);
}

export function rng(): Mt19937 {
  return globalRng;
}
