/// <reference types="@webgpu/types" />
// WebGPU adapters and devices, in Node (npm's `webgpu` package: Google's Dawn) and in browsers (navigator.gpu).
// The Node package is imported dynamically, under a computed name, so that browser bundles of this module never pull it.

/** The adapter limits tscaffe's kernels depend on; requestGpuDevice raises each to what the adapter offers. */
export const KEY_LIMITS = [
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
] as const;
export type KeyLimit = (typeof KEY_LIMITS)[number];

export interface GpuAdapterDescription {
  index: number;
  name: string;
  vendor: string;
  architecture: string;
  /** The native API under WebGPU (vulkan, opengl, metal, d3d12), or 'browser' where the browser does not say. */
  backend: string;
  /** 'compatibility' for adapters that only offer WebGPU's compatibility mode (e.g. Dawn on OpenGL). */
  featureLevel: 'core' | 'compatibility';
  limits: Record<KeyLimit, number>;
}

export interface FoundAdapter {
  adapter: GPUAdapter;
  description: GpuAdapterDescription;
}

interface DawnModule {
  create(options: string[]): GPU;
  globals: object;
}

let dawn: Promise<DawnModule | null> | undefined;
// Dawn's GPU instances, kept reachable: when one is garbage-collected, its adapters' devices die with it (the process
// then aborts in the driver's threads).
const instances: GPU[] = [];

function dawnInstance(m: DawnModule, options: string[]): GPU {
  const gpu = m.create(options);
  instances.push(gpu);
  return gpu;
}

/** npm's `webgpu` package, with its GPU* globals (GPUBufferUsage, ...) installed; null where it cannot load. */
function loadDawn(): Promise<DawnModule | null> {
  const name = 'webgpu';
  dawn ??= (import(/* @vite-ignore */ name) as Promise<DawnModule>).then(
    (m) => {
      Object.assign(globalThis, m.globals);
      return m;
    },
    () => null,
  );
  return dawn;
}

function guessBackend(text: string, asked: string): string {
  if (asked !== 'default') return asked;
  for (const [re, name] of [[/vulkan/i, 'vulkan'], [/metal/i, 'metal'], [/d3d12|direct3d/i, 'd3d12'], [/opengl/i, 'opengl']] as const) {
    if (re.test(text)) return name;
  }
  return 'default';
}

function describe(adapter: GPUAdapter, index: number, backend: string, featureLevel: 'core' | 'compatibility'): GpuAdapterDescription {
  const info = adapter.info;
  const limits = {} as Record<KeyLimit, number>;
  for (const k of KEY_LIMITS) limits[k] = adapter.limits[k];
  // Browsers often leave description and device empty (privacy): vendor and architecture then name it.
  const name = [info.description, info.device].filter((s) => s).join(' / ')
    || [info.vendor, info.architecture].filter((s) => s).join(' ') || 'unnamed adapter';
  return {
    index,
    name,
    vendor: info.vendor || 'unknown',
    architecture: info.architecture || 'unknown',
    backend: guessBackend(`${info.description} ${info.device}`, backend),
    featureLevel,
    limits,
  };
}

/** Adapters by both power preferences, without duplicates (a machine with one GPU answers the same one twice). */
async function adaptersOf(gpu: GPU, opts: GPURequestAdapterOptions): Promise<GPUAdapter[]> {
  const out: GPUAdapter[] = [];
  const seen = new Set<string>();
  for (const powerPreference of ['high-performance', 'low-power'] as const) {
    const a = await gpu.requestAdapter({ ...opts, powerPreference }).catch(() => null);
    if (!a) continue;
    const key = `${a.info.vendor}|${a.info.device}|${a.info.description}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(a);
    }
  }
  return out;
}

/**
 * Every WebGPU adapter this runtime offers, numbered from 0 in the order `-gpu N` will use. In Node: Dawn's default
 * backend (Vulkan, Metal or D3D12); if that finds none, Dawn's OpenGL backend in compatibility mode (e.g. Mesa's
 * llvmpipe on a machine without a GPU; EGL_PLATFORM=surfaceless is set when unset so that no display is needed).
 * An empty list means no adapter (never an exception).
 */
export async function findGpuAdapters(): Promise<FoundAdapter[]> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu && typeof process === 'undefined') {
    const list = await adaptersOf(nav.gpu, {});
    return list.map((a, i) => ({ adapter: a, description: describe(a, i, 'browser', 'core') }));
  }
  const m = await loadDawn();
  if (!m) return [];
  type Level = GpuAdapterDescription['featureLevel'];
  let list = (await adaptersOf(dawnInstance(m, []), {})).map((a) => ({ a, backend: 'default', level: 'core' as Level }));
  if (list.length === 0) {
    if (process.env.EGL_PLATFORM === undefined) process.env.EGL_PLATFORM = 'surfaceless';
    const gl = await adaptersOf(dawnInstance(m, ['backend=opengl']), { featureLevel: 'compatibility' });
    list = gl.map((a) => ({ a, backend: 'opengl', level: 'compatibility' as Level }));
  }
  return list.map((x, i) => ({ adapter: x.a, description: describe(x.a, i, x.backend, x.level) }));
}

/** A device on the adapter, with the KEY_LIMITS raised to the adapter's own (WebGPU's defaults are far lower). */
export async function requestGpuDevice(found: FoundAdapter): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  // Also the workgroup's y and z sizes (the GEMM's workgroup is 16 x 16) and the dispatch size.
  for (const k of [...KEY_LIMITS, 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension'] as const) {
    requiredLimits[k] = found.adapter.limits[k];
  }
  try {
    return await found.adapter.requestDevice({ requiredLimits });
  } catch (e) {
    throw new Error(`WebGPU adapter ${found.description.index} (${found.description.name}): cannot create a device: ${(e as Error).message}`);
  }
}

export interface OpenedGpu {
  device: GPUDevice;
  description: GpuAdapterDescription;
}

/** A device on adapter `index`, or null when the runtime has no adapter at all; a bad index is an error. */
export async function openGpu(index = 0): Promise<OpenedGpu | null> {
  const all = await findGpuAdapters();
  if (all.length === 0) return null;
  const found = all[index];
  if (!found) throw new Error(`no WebGPU adapter ${index} (found ${all.length}: 0..${all.length - 1})`);
  return { device: await requestGpuDevice(found), description: found.description };
}

/** Adapters without a GPU behind them: Mesa's llvmpipe/lavapipe, SwiftShader. */
export function isSoftwareAdapter(d: GpuAdapterDescription): boolean {
  return /llvmpipe|lavapipe|swiftshader|software/i.test(`${d.name} ${d.architecture}`);
}

/** One line per adapter, for device_query and logs. */
export function formatAdapter(d: GpuAdapterDescription): string {
  const l = d.limits;
  return `Adapter ${d.index}: ${d.name}; vendor ${d.vendor}; architecture ${d.architecture}; backend ${d.backend}` +
    ` (${d.featureLevel}); maxComputeWorkgroupSizeX ${l.maxComputeWorkgroupSizeX}; maxComputeInvocationsPerWorkgroup ` +
    `${l.maxComputeInvocationsPerWorkgroup}; maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize}; maxBufferSize ` +
    `${l.maxBufferSize}; maxComputeWorkgroupStorageSize ${l.maxComputeWorkgroupStorageSize}`;
}
