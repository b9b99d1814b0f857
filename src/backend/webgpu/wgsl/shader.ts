// Assembles a WGSL compute shader from a kernel's parts. Operands are named; a kernel's body reads and writes element
// e of operand x as `$x[e]`. Operands that the caller placed in the same GPUBuffer share one binding (WebGPU forbids
// binding one buffer twice when either binding is writable and the ranges overlap), so the shader text depends on
// which operands share buffers: `aliases` maps each operand to its binding number.

export type FieldType = 'u32' | 'i32' | 'f32';

export interface KernelDef {
  /** Unique name: pipelines are cached by name, workgroup size and aliasing. */
  name: string;
  operands: readonly string[];
  /** Uniform parameters beyond the operands' offsets, in order. */
  fields: readonly (readonly [string, FieldType])[];
  workgroup: readonly [number, number, number];
  /** Module-scope declarations (workgroup arrays, helper functions; these may use `$x[e]` too). */
  prelude?: string;
  /**
   * The entry point's body. In scope: gid, lid, wid, nwg (the usual builtins), p (the uniforms: p.o_x is operand x's
   * element offset inside its binding) and `i`, the linear invocation index of a 1-D dispatch that was split over
   * workgroups in x and y (see GpuKernels), which is meaningful for kernels whose workgroup is (n, 1, 1).
   */
  body: string;
}

/** The WGSL of kernel `k` with operand j bound at binding 1 + aliases[j] (binding 0 holds the uniforms). */
export function shaderSource(k: KernelDef, aliases: readonly number[]): string {
  const fields = [...k.operands.map((o) => `o_${o}: u32`), ...k.fields.map(([n, t]) => `${n}: ${t}`)];
  const bindings = [...new Set(aliases)].sort((a, b) => a - b)
    .map((b) => `@group(0) @binding(${b + 1}) var<storage, read_write> b${b}: array<f32>;`);
  const operands = (text: string) => text.replace(/\$(\w+)\[/g, (_, name: string) => {
    const j = k.operands.indexOf(name);
    if (j < 0) throw new Error(`kernel ${k.name}: unknown operand $${name}`);
    return `b${aliases[j]}[p.o_${name} + `;
  });
  const [x, y, z] = k.workgroup;
  return `struct Params { ${fields.join(', ')} }
@group(0) @binding(0) var<uniform> p: Params;
${bindings.join('\n')}
${operands(k.prelude ?? '')}
@compute @workgroup_size(${x}, ${y}, ${z})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * ${x}u + lid.x;
${operands(k.body)}
}
`;
}

/** A kernel set's builder, memoized by workgroup size (layers ask for their kernels on every pass). */
export function perWorkgroupSize<T>(make: (wg: number) => T): (wg: number) => T {
  const made = new Map<number, T>();
  return (wg) => {
    let k = made.get(wg);
    if (!k) made.set(wg, (k = make(wg)));
    return k;
  };
}

/** A 1-D elementwise kernel over p.n elements (GpuKernels.run1d supplies n first); `i` is the element. */
export function ew(name: string, operands: string[], fields: KernelDef['fields'], body: string, wg: number, prelude?: string): KernelDef {
  return { name, operands, fields: [['n', 'u32'], ...fields], workgroup: [wg, 1, 1], prelude, body: `  if (i >= p.n) { return; }\n${body}` };
}
