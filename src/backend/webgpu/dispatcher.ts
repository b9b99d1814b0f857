/// <reference types="@webgpu/types" />
// Dispatcher: how GpuKernels' dispatches reach the GPU. record() checks a dispatch's operands and queues it; submit()
// encodes everything queued into one command encoder and one compute pass (WebGPU orders dispatches and makes each
// one's writes visible to the next) with one uniform-buffer write for all their parameters. A training iteration
// repeats the same dispatches over the same buffers, so pipelines and bind groups are made once and reused: creating a
// bind group costs the host about as much as encoding the dispatch itself (bench/webgpu_host.ts). Where the device has
// timestamp queries, timeSpan() puts the dispatches that follow in a compute pass of their own whose GPU time is
// recorded (`tscaffe time -gpu` times each layer so, without waiting for the GPU after each).
import { type FieldType, type KernelDef, shaderSource } from './wgsl/shader.js';

/** A kernel operand: floats from `offset` (default 0) of a STORAGE buffer. */
export interface GpuOperand {
  buffer: GPUBuffer;
  offset?: number;
}

export type Operand = GPUBuffer | GpuOperand;

interface Pipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  id: number;
}

interface Recorded {
  pipeline: Pipeline;
  entries: GPUBindGroupEntry[];
  /** The storage bindings (buffers, offsets, sizes) as a cache key. */
  bindingKey: string;
  params: ArrayBuffer;
  groups: [number, number, number];
}

const PARAM_SLOT = 256; // bytes per dispatch in the uniform buffer: WebGPU's largest minUniformBufferOffsetAlignment
/** Bind groups kept, at most: more than a large net's iteration uses; the cache starts over beyond it. */
const MAX_BIND_GROUPS = 8192;
/** Timed spans in one submission, at most (two timestamps each; WebGPU's largest query set holds 4096). */
const MAX_SPANS = 2048;
/** Bytes of resolved timestamps kept until spanTimes() reads them (each submission's at a 256-byte aligned offset). */
const RESOLVED_BYTES = 1 << 20;

interface Span {
  label: string;
  /** Index in the pending dispatches of the span's first one. */
  start: number;
  /** Open when the last submission was made: it goes on in this one (and counts only if it has dispatches here). */
  carried?: boolean;
}

function operand(o: Operand): { buffer: GPUBuffer; offset: number } {
  return 'buffer' in o ? { buffer: o.buffer, offset: o.offset ?? 0 } : { buffer: o, offset: 0 };
}

export class Dispatcher {
  private readonly pipelines = new Map<string, Pipeline>();
  private pending: Recorded[] = [];
  private params: GPUBuffer | undefined;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  /** Whether bind groups are reused across submits (false: one per dispatch, the reference bench/webgpu_host.ts times). */
  reuseBindGroups = true;
  /** Dispatches encoded and bind groups created, since the start (bench/webgpu_host.ts reports them). */
  readonly counts = { dispatches: 0, bindGroupsCreated: 0 };
  /** Whether timeSpan() can be used (the device was created with the timestamp-query feature). */
  readonly canTime: boolean;
  private spans: Span[] = [];
  /** The spans submitted since the last spanTimes(): label and byte offset of their timestamps in `resolved`. */
  private submittedSpans: Array<{ label: string; at: number }> = [];
  private resolvedBytes = 0;
  private timing: { queries: GPUQuerySet; resolved: GPUBuffer } | undefined;
  /** The device limits record() checks on every dispatch (read once: each read of device.limits crosses into Dawn). */
  private readonly limits: { offsetAlign: number; binding: number };

  constructor(private readonly device: GPUDevice) {
    const l = device.limits;
    this.limits = { offsetAlign: l.minStorageBufferOffsetAlignment, binding: l.maxStorageBufferBindingSize };
    this.canTime = device.features.has('timestamp-query');
  }

  /**
   * The dispatches recorded from here to the next span are timed on the GPU as `label` (a submission in between, e.g.
   * for an upload, splits the span in two, both with this label), until spanTimes().
   */
  timeSpan(label: string): void {
    if (!this.canTime) throw new Error('timeSpan: this WebGPU device has no timestamp queries');
    if (this.spans.length >= MAX_SPANS) throw new RangeError(`timeSpan: over ${MAX_SPANS} spans in one submission`);
    this.spans.push({ label, start: this.pending.length });
  }

  /** The GPU time in ms of each span submitted since the last call, in order, once the GPU has run them. */
  async spanTimes(): Promise<Array<[string, number]>> {
    this.submit();
    this.spans = []; // the open span ends here
    const spans = this.submittedSpans, size = this.resolvedBytes;
    if (spans.length === 0) return [];
    this.submittedSpans = [];
    this.resolvedBytes = 0;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.timing!.resolved, 0, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const t = new BigInt64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    // Timestamps are nanoseconds; a GPU may reset or reorder its counter, which reads as a negative span: 0 then.
    return spans.map(({ label, at }) => [label, Math.max(0, Number(t[at / 8 + 1]! - t[at / 8]!)) / 1e6]);
  }

  private bufferId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }

  private pipelineFor(k: KernelDef, aliases: number[]): Pipeline {
    const key = `${k.name}/${k.workgroup.join('x')}/${aliases.join(',')}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: shaderSource(k, aliases) });
      const pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      p = { pipeline, layout: pipeline.getBindGroupLayout(0), id: this.pipelines.size };
      this.pipelines.set(key, p);
    }
    return p;
  }

  /**
   * Queues one dispatch of kernel k. ops[j] is operand j, of which the kernel touches lens[j] floats; values are the
   * kernel's fields in order. Operands in the same buffer share a binding over the union of their ranges.
   */
  record(k: KernelDef, ops: Operand[], lens: number[], values: number[], groups: [number, number, number]): void {
    const aliases: number[] = [];
    const bindings: { buffer: GPUBuffer; start: number; end: number }[] = [];
    const opnds = ops.map(operand);
    opnds.forEach((o, j) => {
      const end = o.offset + lens[j]!;
      if (o.offset < 0 || !Number.isInteger(o.offset) || end * 4 > o.buffer.size) {
        throw new RangeError(`${k.name}: operand ${k.operands[j]} [${o.offset}, ${end}) floats is outside its buffer of ${o.buffer.size / 4} floats`);
      }
      let b = bindings.findIndex((x) => x.buffer === o.buffer);
      if (b < 0) b = bindings.push({ buffer: o.buffer, start: o.offset, end }) - 1;
      else {
        bindings[b]!.start = Math.min(bindings[b]!.start, o.offset);
        bindings[b]!.end = Math.max(bindings[b]!.end, end);
      }
      aliases.push(b);
    });
    const align = this.limits.offsetAlign / 4;
    let bindingKey = '';
    const entries: GPUBindGroupEntry[] = bindings.map((b, j) => {
      b.start = Math.floor(b.start / align) * align;
      const size = Math.max(b.end - b.start, 1) * 4;
      if (size > this.limits.binding) {
        throw new RangeError(`${k.name}: operand range of ${size} bytes exceeds the adapter's maxStorageBufferBindingSize (${this.limits.binding})`);
      }
      bindingKey += `${this.bufferId(b.buffer)}:${b.start}:${size};`;
      return { binding: j + 1, resource: { buffer: b.buffer, offset: b.start * 4, size } };
    });
    const types: FieldType[] = [...opnds.map(() => 'u32' as const), ...k.fields.map(([, t]) => t)];
    const vals = [...opnds.map((o, j) => o.offset - bindings[aliases[j]!]!.start), ...values];
    if (vals.length !== types.length) throw new Error(`${k.name}: ${values.length} values for ${k.fields.length} fields`);
    const params = new ArrayBuffer(Math.ceil((types.length * 4) / 16) * 16);
    const u = new Uint32Array(params), s = new Int32Array(params), f = new Float32Array(params);
    types.forEach((t, j) => { (t === 'u32' ? u : t === 'i32' ? s : f)[j] = vals[j]!; });
    this.pending.push({ pipeline: this.pipelineFor(k, aliases), entries, bindingKey, params, groups });
  }

  /** Encodes every queued dispatch, in order, into one command buffer and submits it. */
  submit(): void {
    const ops = this.pending, spans = this.spans;
    if (ops.length === 0 && spans.length === 0) return;
    // This submission's timestamps go after the earlier ones' (at resolveQuerySet's 256-byte alignment).
    const at = Math.ceil(this.resolvedBytes / 256) * 256;
    if (at + spans.length * 16 > RESOLVED_BYTES) throw new RangeError('timed spans: too many since the last spanTimes()');
    this.pending = [];
    this.spans = [];
    const bytes = ops.length * PARAM_SLOT;
    if (!this.params || this.params.size < bytes) {
      // The old one may still be read by submitted work: destroy it once that is done. Its bind groups go with it.
      const old = this.params;
      if (old) void this.device.queue.onSubmittedWorkDone().then(() => old.destroy());
      this.params = this.device.createBuffer({ size: Math.max(bytes, 64 * PARAM_SLOT), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.bindGroups.clear();
    }
    const all = new Uint8Array(bytes);
    ops.forEach((op, j) => all.set(new Uint8Array(op.params), j * PARAM_SLOT));
    if (bytes) this.device.queue.writeBuffer(this.params, 0, all);
    if (this.bindGroups.size > MAX_BIND_GROUPS) this.bindGroups.clear();
    const enc = this.device.createCommandEncoder();
    // One pass for the dispatches before the first span, then one per span, with its timestamps (queries 2k, 2k + 1).
    const starts = [0, ...spans.map((sp) => sp.start), ops.length];
    const timed: Span[] = [];
    for (let k = 0; k < starts.length - 1; k++) {
      const span = spans[k - 1], empty = starts[k] === starts[k + 1];
      if (empty && (!span || span.carried)) continue;
      const pass = enc.beginComputePass(span ? { timestampWrites: this.timestampWrites(timed.push(span) - 1) } : undefined);
      this.encode(pass, ops, starts[k]!, starts[k + 1]!);
      pass.end();
    }
    if (timed.length) {
      const t = this.timing!;
      enc.resolveQuerySet(t.queries, 0, timed.length * 2, t.resolved, at);
      timed.forEach((sp, k) => this.submittedSpans.push({ label: sp.label, at: at + 16 * k }));
      this.resolvedBytes = at + 16 * timed.length;
    }
    const open = spans.at(-1);
    if (open) this.spans = [{ label: open.label, start: 0, carried: true }];
    this.device.queue.submit([enc.finish()]);
    this.counts.dispatches += ops.length;
  }

  private timestampWrites(k: number): GPUComputePassTimestampWrites {
    this.timing ??= {
      queries: this.device.createQuerySet({ type: 'timestamp', count: MAX_SPANS * 2 }),
      resolved: this.device.createBuffer({ size: RESOLVED_BYTES, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
    };
    return { querySet: this.timing.queries, beginningOfPassWriteIndex: 2 * k, endOfPassWriteIndex: 2 * k + 1 };
  }

  /** Dispatches ops[from, to) into the pass; dispatch j reads its parameters from slot j of the uniform buffer. */
  private encode(pass: GPUComputePassEncoder, ops: Recorded[], from: number, to: number): void {
    for (let j = from; j < to; j++) {
      const op = ops[j]!;
      // The same slot, kernel and bindings make the same bind group.
      const key = `${op.pipeline.id}@${j}|${op.params.byteLength}|${op.bindingKey}`;
      let bindGroup = this.reuseBindGroups ? this.bindGroups.get(key) : undefined;
      if (!bindGroup) {
        bindGroup = this.device.createBindGroup({
          layout: op.pipeline.layout,
          entries: [{ binding: 0, resource: { buffer: this.params!, offset: j * PARAM_SLOT, size: op.params.byteLength } }, ...op.entries],
        });
        if (this.reuseBindGroups) this.bindGroups.set(key, bindGroup);
        this.counts.bindGroupsCreated++;
      }
      pass.setPipeline(op.pipeline.pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(...op.groups);
    }
  }
}
