/// <reference types="@webgpu/types" />
// Dispatcher: how GpuKernels' dispatches reach the GPU. record() checks a dispatch's operands and queues it; submit()
// encodes everything queued into one command encoder and one compute pass (WebGPU orders dispatches and makes each
// one's writes visible to the next) with one uniform-buffer write for all their parameters. A training iteration
// repeats the same dispatches over the same buffers, so pipelines and bind groups are made once and reused: creating a
// bind group costs the host about as much as encoding the dispatch itself (bench/webgpu_host.ts).
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
  /** The device limits record() checks on every dispatch (read once: each read of device.limits crosses into Dawn). */
  private readonly limits: { offsetAlign: number; binding: number };

  constructor(private readonly device: GPUDevice) {
    const l = device.limits;
    this.limits = { offsetAlign: l.minStorageBufferOffsetAlignment, binding: l.maxStorageBufferBindingSize };
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
    const ops = this.pending;
    if (ops.length === 0) return;
    this.pending = [];
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
    this.device.queue.writeBuffer(this.params, 0, all);
    if (this.bindGroups.size > MAX_BIND_GROUPS) this.bindGroups.clear();
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    ops.forEach((op, j) => {
      // Dispatch j reads its parameters from slot j: the same slot, kernel and bindings make the same bind group.
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
    });
    pass.end();
    this.device.queue.submit([enc.finish()]);
    this.counts.dispatches += ops.length;
  }
}
