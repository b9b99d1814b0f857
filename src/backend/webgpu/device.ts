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
  /** The runtime marks it a fallback adapter (a software implementation, e.g. lavapipe or SwiftShader). */
  fallback: boolean;
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

/** Dawn's native backend on each platform: what `-gpu N` runs on where the machine has a GPU. */
const NATIVE_BACKENDS: Record<string, string> = { linux: 'vulkan', win32: 'd3d12', darwin: 'metal' };
/** Dawn backends that only offer WebGPU's compatibility mode. */
const COMPATIBILITY_BACKENDS = new Set(['opengl', 'opengles', 'd3d11']);
/** TSCAFFE_WEBGPU_BACKEND picks one of Dawn's backends by name (e.g. opengl where a Vulkan driver misbehaves). */
const BACKEND_ENV = 'TSCAFFE_WEBGPU_BACKEND';
const DAWN_BACKENDS = ['vulkan', 'metal', 'd3d12', 'd3d11', 'opengl', 'opengles'];

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
    backend,
    featureLevel,
    fallback: info.isFallbackAdapter === true,
    limits,
  };
}

/**
 * Adapters by both power preferences, without duplicates (a machine with one GPU answers the same one twice); `once`:
 * one request (an OpenGL context has one adapter, and each request makes Dawn print its limit warnings again).
 */
async function adaptersOf(gpu: GPU, opts: GPURequestAdapterOptions, once = false): Promise<GPUAdapter[]> {
  const out: GPUAdapter[] = [];
  const seen = new Set<string>();
  for (const powerPreference of once ? (['high-performance'] as const) : (['high-performance', 'low-power'] as const)) {
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
 * Whether the Vulkan loader has a driver manifest to load, by its own rules on Linux: the files that VK_DRIVER_FILES /
 * VK_ICD_FILENAMES / VK_ADD_DRIVER_FILES name, or a *.json in an icd.d folder under the XDG config and data folders
 * and the system's configuration folders (`systemRoots`).
 */
export async function vulkanDriverListed(env: NodeJS.ProcessEnv = process.env, systemRoots = ['/usr/local/etc', '/etc']): Promise<boolean> {
  if (env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES || env.VK_ADD_DRIVER_FILES) return true;
  const fsName = 'node:fs/promises'; // under a computed name, as Dawn's: browser bundles never pull it
  const { readdir } = await import(/* @vite-ignore */ fsName) as typeof import('node:fs/promises');
  const home = env.HOME ?? '';
  const roots = [
    env.XDG_CONFIG_HOME || `${home}/.config`, ...(env.XDG_CONFIG_DIRS || '/etc/xdg').split(':'), ...systemRoots,
    env.XDG_DATA_HOME || `${home}/.local/share`, ...(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':'),
  ];
  for (const root of roots.filter((r) => r)) {
    const files = await readdir(`${root}/vulkan/icd.d`).catch(() => [] as string[]);
    if (files.some((f) => f.endsWith('.json'))) return true;
  }
  return false;
}

/**
 * Every WebGPU adapter this runtime offers, numbered from 0 in the order `-gpu N` will use. In Node: Dawn's native
 * backend (Vulkan on Linux, Metal on macOS, D3D12 on Windows); if that finds none, Dawn's OpenGL backend in
 * compatibility mode (e.g. Mesa's llvmpipe on a machine without a GPU; EGL_PLATFORM=surfaceless is set when unset so
 * that no display is needed). TSCAFFE_WEBGPU_BACKEND=<name> asks that one backend alone. An empty list means no
 * adapter (never an exception); an unknown backend name is an error.
 */
export async function findGpuAdapters(): Promise<FoundAdapter[]> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu && typeof process === 'undefined') {
    const list = await adaptersOf(nav.gpu, {});
    return list.map((a, i) => ({ adapter: a, description: describe(a, i, 'browser', 'core') }));
  }
  const m = await loadDawn();
  if (!m) return [];
  const asked = process.env[BACKEND_ENV];
  if (asked && !DAWN_BACKENDS.includes(asked)) {
    throw new Error(`${BACKEND_ENV}=${asked}: not a WebGPU backend (one of ${DAWN_BACKENDS.join(', ')})`);
  }
  let native: string | undefined = NATIVE_BACKENDS[process.platform];
  // Without a Vulkan driver to load, Dawn would only print the loader's failure: go straight to OpenGL.
  if (native === 'vulkan' && !(await vulkanDriverListed())) native = undefined;
  const order = asked ? [asked] : native ? [native, 'opengl'] : ['opengl'];
  for (const backend of order) {
    const level = COMPATIBILITY_BACKENDS.has(backend) ? 'compatibility' : 'core';
    const gl = backend.startsWith('opengl');
    if (gl && process.env.EGL_PLATFORM === undefined) process.env.EGL_PLATFORM = 'surfaceless';
    // Dawn rounds timestamps to tens of microseconds by default (a browser's guard against timing attacks): not here.
    const options = [`backend=${backend}`, 'disable-dawn-features=timestamp_quantization'];
    const list = await adaptersOf(dawnInstance(m, options), { featureLevel: level }, gl);
    if (list.length) return list.map((a, i) => ({ adapter: a, description: describe(a, i, backend, level) }));
  }
  return [];
}

/** A device on the adapter, with the KEY_LIMITS raised to the adapter's own (WebGPU's defaults are far lower). */
export async function requestGpuDevice(found: FoundAdapter): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  // Also the workgroup's y and z sizes (the GEMM's workgroup is 16 x 16) and the dispatch size.
  for (const k of [...KEY_LIMITS, 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension'] as const) {
    requiredLimits[k] = found.adapter.limits[k];
  }
  try {
    // Timestamp queries where offered: `tscaffe time -gpu` reads each layer's GPU time from them.
    const requiredFeatures: GPUFeatureName[] = found.adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
    return await found.adapter.requestDevice({ requiredLimits, requiredFeatures });
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
  return d.fallback || /llvmpipe|lavapipe|swiftshader|software/i.test(`${d.name} ${d.architecture}`);
}

/** One line per adapter, for device_query and logs. */
export function formatAdapter(d: GpuAdapterDescription): string {
  const l = d.limits;
  return `Adapter ${d.index}: ${d.name}; vendor ${d.vendor}; architecture ${d.architecture}; backend ${d.backend}` +
    ` (${d.featureLevel}${d.fallback ? ', fallback adapter' : ''}); maxComputeWorkgroupSizeX ${l.maxComputeWorkgroupSizeX};` +
    ` maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}; maxStorageBufferBindingSize` +
    ` ${l.maxStorageBufferBindingSize}; maxBufferSize ${l.maxBufferSize}; maxComputeWorkgroupStorageSize` +
    ` ${l.maxComputeWorkgroupStorageSize}`;
}
