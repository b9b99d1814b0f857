// Worker threads of the 'wasm' backend and the main thread's side of the protocol in protocol.ts: start workers, hand
// a job to the idle ones (copy its arguments into their mailboxes, bump SEQ, notify), take chunks alongside them, wait
// until every chunk has finished. No message passing per call: a post is a few stores and an Atomics.notify, a wait
// is a short spin then Atomics.wait. Workers are unref()'d, so they never keep the process alive; shutdown() stops
// them explicitly.
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type { WasmHeap } from './heap.js';
import type { WasmModule } from './wasm_api.js';
import { ARGS, BLOCK, DONE, FAILED, FINISHED, G_CHUNKS, G_COUNT, G_GEN, MAX_CHUNKS, MAX_WORKERS, NEXT, OP, OP_GEMM,
  OP_QUIT, READY, SEQ, VARIANT, runGemmChunks, type KernelExports, type WorkerInit } from './protocol.js';

interface Slot {
  worker: Worker;
  work: number;
  seq: number;
  ready: Promise<void>;
  dead?: string;
}

/** How long a GEMM call waits for a worker still finishing the previous job before going without it. */
const IDLE_WAIT_MS = 0.02;
/** How long the main thread waits for a job's last chunks before giving up (only a dead worker is that slow). */
const WAIT_LIMIT_MS = 120_000;

export class WorkerPool {
  readonly ctrl: Int32Array;
  readonly ctrlF: Float32Array;
  /** slots[id - 1] is worker id (id 0 is the main thread). */
  private readonly slots: Slot[] = [];
  private readonly errors: string[] = [];
  private gen = 0;
  /** Of the last runGemm: milliseconds this thread spent posting and computing, then waiting for the workers. */
  readonly lastTiming = { busyMs: 0, waitMs: 0 };

  constructor(private readonly heap: WasmHeap, private readonly modules: WasmModule[], private readonly workFloats: number,
    private readonly workerSpinMicros: number, private readonly mainSpinMicros: number) {
    const sab = new SharedArrayBuffer((MAX_WORKERS + 1) * BLOCK * 4);
    this.ctrl = new Int32Array(sab);
    this.ctrlF = new Float32Array(sab);
  }

  /** Workers started so far. */
  get size(): number {
    return this.slots.length;
  }

  /** Start workers until there are n (at most MAX_WORKERS). */
  grow(n: number): void {
    n = Math.min(n, MAX_WORKERS);
    while (this.slots.length < n) {
      const id = this.slots.length + 1;
      const work = this.heap.alloc(this.workFloats * 4);
      const init: WorkerInit = {
        id, memory: this.heap.memory, modules: this.modules, ctrl: this.ctrl.buffer as SharedArrayBuffer, work,
        spinMicros: this.workerSpinMicros,
      };
      const b = id * BLOCK;
      Atomics.store(this.ctrl, b + READY, 0);
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
      let resolveReady!: () => void;
      const slot: Slot = { worker, work, seq: Atomics.load(this.ctrl, b + SEQ), ready: new Promise((r) => (resolveReady = r)) };
      worker.on('message', (m: unknown) => {
        if (m === 'ready') resolveReady();
        else if (m && typeof m === 'object' && 'error' in m) this.errors.push(String((m as { error: unknown }).error));
      });
      worker.on('error', (e) => { slot.dead = String(e); resolveReady(); });
      worker.on('exit', () => { slot.dead ??= 'exited'; resolveReady(); });
      worker.unref();
      this.slots.push(slot);
    }
  }

  /** Resolves when workers 1..n have started (or failed to). */
  async whenReady(n: number): Promise<void> {
    const slots = this.slots.slice(0, n);
    // Hold the event loop open meanwhile (the workers are unref()'d, so their messages alone would not).
    for (const s of slots) s.worker.ref();
    try {
      await Promise.all(slots.map((s) => s.ready));
    } finally {
      for (const s of slots) s.worker.unref();
    }
  }

  /**
   * Ids of up to n workers that are started and not still busy with an earlier job. A worker that woke late for the
   * previous job (after its chunks were all taken) needs a moment to say so: wait up to IDLE_WAIT_MS for it.
   */
  private idle(n: number): number[] {
    const ids: number[] = [];
    for (let i = 0; i < this.slots.length && ids.length < n; i++) {
      const s = this.slots[i]!, b = (i + 1) * BLOCK;
      if (s.dead || Atomics.load(this.ctrl, b + READY) !== 1) continue;
      if (Atomics.load(this.ctrl, b + DONE) !== s.seq) {
        const until = performance.now() + IDLE_WAIT_MS;
        while (Atomics.load(this.ctrl, b + DONE) !== s.seq && performance.now() < until) { /* spin */ }
      }
      if (Atomics.load(this.ctrl, b + DONE) === s.seq) ids.push(i + 1);
    }
    return ids;
  }

  /** How many workers (of the first n) could join a job now. */
  available(n: number): number {
    return this.idle(n).length;
  }

  /**
   * Run a GEMM whose arguments (all but G_CHUNKS and G_GEN) the caller wrote at ctrl[ARGS...] of block 0, cut into
   * `chunks` chunks, on this thread plus up to `helpers` idle workers. Throws if a chunk failed. Returns how many
   * chunks the workers ran; lastTiming says how long this thread computed and then waited.
   */
  runGemm(kernels: KernelExports, variant: number, work: number, chunks: number, helpers: number): number {
    const ctrl = this.ctrl;
    const t0 = performance.now();
    chunks = Math.min(chunks, MAX_CHUNKS);
    this.gen = (this.gen + 1) & 0x7fff;
    ctrl[ARGS + G_CHUNKS] = chunks;
    ctrl[ARGS + G_GEN] = this.gen;
    Atomics.store(ctrl, FINISHED, 0);
    Atomics.store(ctrl, FAILED, 0);
    Atomics.store(ctrl, NEXT, this.gen << 16);
    for (const id of this.idle(helpers)) {
      const b = id * BLOCK;
      for (let i = 0; i < G_COUNT; i++) ctrl[b + ARGS + i] = ctrl[ARGS + i]!;
      ctrl[b + OP] = OP_GEMM;
      ctrl[b + VARIANT] = variant;
      this.post(id);
    }
    const { claimed, error } = runGemmChunks(ctrl, this.ctrlF, ARGS, kernels, work);
    const t1 = performance.now();
    this.waitFinished(chunks);
    this.lastTiming.busyMs = t1 - t0;
    this.lastTiming.waitMs = performance.now() - t1;
    if (error) throw error;
    if (Atomics.load(ctrl, FAILED) !== 0) {
      throw new Error(`wasm backend: a worker's GEMM failed${this.errors.length ? `: ${this.errors.shift()}` : ''}`);
    }
    return chunks - claimed;
  }

  private post(id: number): void {
    const slot = this.slots[id - 1]!, b = id * BLOCK;
    slot.seq = (slot.seq + 1) | 0;
    Atomics.store(this.ctrl, b + SEQ, slot.seq);
    Atomics.notify(this.ctrl, b + SEQ, 1);
  }

  private waitFinished(chunks: number): void {
    const ctrl = this.ctrl;
    let done = Atomics.load(ctrl, FINISHED);
    if (done === chunks) return;
    const start = performance.now();
    const spinUntil = start + this.mainSpinMicros / 1000;
    for (let i = 1; done !== chunks; i++) {
      if ((i & 127) === 0 && performance.now() > spinUntil) {
        Atomics.wait(ctrl, FINISHED, done, 1000);
        if (performance.now() - start > WAIT_LIMIT_MS) {
          throw new Error(`wasm backend: ${chunks - done} GEMM chunk(s) never finished (a worker thread died?)`);
        }
      }
      done = Atomics.load(ctrl, FINISHED);
    }
  }

  /** Stop all workers; the pool is empty afterwards (and grows again on demand). */
  async shutdown(): Promise<void> {
    const slots = this.slots.splice(0);
    slots.forEach((s, i) => {
      const b = (i + 1) * BLOCK;
      this.ctrl[b + OP] = OP_QUIT;
      s.seq = (s.seq + 1) | 0;
      Atomics.store(this.ctrl, b + SEQ, s.seq);
      Atomics.notify(this.ctrl, b + SEQ, 1);
    });
    await Promise.all(slots.map((s) => s.worker.terminate()));
    for (const s of slots) this.heap.release(s.work);
  }
}
