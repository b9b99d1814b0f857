// A net's forward and backward passes on a device (Caffe's Forward_gpu/Backward_gpu path): layers with device paths
// record kernels; a layer without one runs on the host after its blobs are brought there (and its outputs go back up
// when the next device layer reads them). Loss tops are summed on the device, weighted by the loss weight their diff
// holds (Caffe's Layer::Forward on the GPU: dot(data, diff)), so a pass reads back one float.
import type { Blob } from '../blob/blob.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import type { Layer } from '../layers/layer.js';

async function syncAll(blobs: Iterable<Blob>): Promise<void> {
  await Promise.all([...new Set(blobs)].map((b) => b.syncToHost()));
}

/** Whether the layer runs on the device in both directions (else: on the host, with its blobs synced). */
export function hasDevicePath(layer: Layer): boolean {
  return layer.forwardGpu !== undefined;
}

/**
 * One layer's forward on the device (reshape included). Returns the weighted loss computed on the host, if the layer ran
 * there; a device layer's loss is added into `loss[0]` on the device (`accumulate`: add to what is there).
 */
export async function forwardLayerOnDevice(layer: Layer, bottom: Blob[], top: Blob[], gpu: WebGpuDevice,
  loss: GPUBuffer, accumulate: boolean): Promise<{ hostLoss: number; deviceLoss: boolean }> {
  if (layer.forwardGpu) {
    layer.reshape(bottom, top);
    layer.forwardGpu(bottom, top, gpu);
    let used = false;
    top.forEach((t, i) => {
      if ((layer.lossWeights[i] ?? 0) === 0) return;
      gpu.kernels.dot(t.count(), t.deviceData(gpu), t.deviceDiff(gpu), loss, accumulate || used);
      used = true;
    });
    return { hostLoss: 0, deviceLoss: used };
  }
  await syncAll([...bottom, ...top, ...layer.blobs]);
  return { hostLoss: layer.forwardWithLoss(bottom, top), deviceLoss: false };
}

export async function backwardLayerOnDevice(layer: Layer, top: Blob[], propagateDown: boolean[], bottom: Blob[],
  gpu: WebGpuDevice): Promise<void> {
  if (layer.backwardGpu) return layer.backwardGpu(top, propagateDown, bottom, gpu);
  await syncAll([...bottom, ...top, ...layer.blobs]);
  layer.backward(top, propagateDown, bottom);
}

export { syncAll as syncBlobsToHost };
