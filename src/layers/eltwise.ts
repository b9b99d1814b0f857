// Eltwise: elementwise PROD, SUM (with one coeff per bottom) or MAX (argmax mask for backward) of bottoms of equal
// shape. PROD's gradient is the product of the other inputs (stable_prod_grad) or top / bottom.
import type { EltwiseParameter } from '../proto/types.generated.js';
import { EltwiseParameter_EltwiseOp as Op } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { copyOnDevice, routingOf, scaledCopyOnDevice } from './device_util.js';

export class EltwiseLayer extends Layer {
  private op: Op = Op.SUM;
  private coeffs: number[] = [];
  private stableProdGrad = true;
  private maxIdx = new Int32Array(0);
  /** The device path's argmax index per element (as floats). */
  private maxMask = new Blob();

  override minBottomBlobs(): number { return 2; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(bottom: Blob[]): void {
    const p = paramOf<EltwiseParameter>('EltwiseParameter', this.param.eltwise_param);
    this.op = p.operation ?? Op.SUM;
    const coeff = p.coeff ?? [];
    check(this, coeff.length === 0 || coeff.length === bottom.length, 'Eltwise Layer takes one coefficient per bottom blob.');
    check(this, !(this.op === Op.PROD && coeff.length > 0), 'Eltwise layer only takes coefficients for summation.');
    this.coeffs = bottom.map((_, i) => (coeff.length ? coeff[i]! : 1));
    this.stableProdGrad = p.stable_prod_grad ?? true;
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    for (let i = 1; i < bottom.length; i++) {
      check(this, bottom[i]!.sameShape(bottom[0]!.shape),
        `bottom[0]: ${bottom[0]!.shapeString()}, bottom[${i}]: ${bottom[i]!.shapeString()}`);
    }
    top[0]!.reshapeLike(bottom[0]!);
    if (this.op === Op.MAX && this.maxIdx.length !== bottom[0]!.count()) this.maxIdx = new Int32Array(bottom[0]!.count());
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const y = top[0]!.data, n = y.length;
    switch (this.op) {
      case Op.PROD: {
        const a = bottom[0]!.data, b = bottom[1]!.data;
        for (let i = 0; i < n; i++) y[i] = a[i]! * b[i]!;
        for (let k = 2; k < bottom.length; k++) {
          const x = bottom[k]!.data;
          for (let i = 0; i < n; i++) y[i]! *= x[i]!;
        }
        break;
      }
      case Op.SUM: {
        // Accumulate in double precision per element, then store.
        const acc = new Float64Array(n);
        bottom.forEach((b, k) => {
          const x = b.data, c = this.coeffs[k]!;
          for (let i = 0; i < n; i++) acc[i]! += c * x[i]!;
        });
        y.set(acc);
        break;
      }
      case Op.MAX: {
        const a = bottom[0]!.data, b = bottom[1]!.data, m = this.maxIdx;
        for (let i = 0; i < n; i++) {
          if (a[i]! > b[i]!) { y[i] = a[i]!; m[i] = 0; } else { y[i] = b[i]!; m[i] = 1; }
        }
        for (let k = 2; k < bottom.length; k++) {
          const x = bottom[k]!.data;
          for (let i = 0; i < n; i++) if (x[i]! > y[i]!) { y[i] = x[i]!; m[i] = k; }
        }
        break;
      }
      default:
        throw new Error(`Layer ${this.name} (type ${this.type}): Unknown elementwise operation.`);
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const y = top[0]!.data, dy = top[0]!.diff, n = y.length;
    bottom.forEach((b, k) => {
      if (!propagateDown[k]) return;
      const dx = b.diff;
      switch (this.op) {
        case Op.PROD:
          if (this.stableProdGrad) {
            let init = false;
            bottom.forEach((o, j) => {
              if (j === k) return;
              if (!init) { dx.set(o.data); init = true; } else {
                const x = o.data;
                for (let i = 0; i < n; i++) dx[i]! *= x[i]!;
              }
            });
          } else {
            const x = b.data;
            for (let i = 0; i < n; i++) dx[i] = y[i]! / x[i]!;
          }
          for (let i = 0; i < n; i++) dx[i]! *= dy[i]!;
          break;
        case Op.SUM: {
          const c = this.coeffs[k]!;
          if (c === 1) dx.set(dy);
          else for (let i = 0; i < n; i++) dx[i] = c * dy[i]!;
          break;
        }
        case Op.MAX: {
          const m = this.maxIdx;
          for (let i = 0; i < n; i++) dx[i] = m[i] === k ? dy[i]! : 0;
          break;
        }
      }
    });
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const n = top[0]!.count(), k = routingOf(gpu), x = bottom.map((b) => b.deviceData(gpu)), y = top[0]!.deviceData(gpu, true);
    switch (this.op) {
      case Op.PROD:
        gpu.kernels.run1d(k.mul, n, [x[0]!, x[1]!, y], [n, n, n], []);
        for (let j = 2; j < x.length; j++) gpu.kernels.run1d(k.mul, n, [x[j]!, y, y], [n, n, n], []);
        break;
      case Op.SUM:
        scaledCopyOnDevice(gpu, n, this.coeffs[0]!, x[0]!, y);
        for (let j = 1; j < x.length; j++) gpu.kernels.axpy(n, this.coeffs[j]!, x[j]!, y);
        break;
      case Op.MAX: {
        this.maxMask.reshape([n]);
        const m = this.maxMask.deviceData(gpu, true);
        gpu.kernels.run1d(k.maxFirst, n, [x[0]!, x[1]!, y, m], [n, n, n, n], []);
        for (let j = 2; j < x.length; j++) gpu.kernels.run1d(k.maxNext, n, [x[j]!, y, m], [n, n, n], [j]);
        break;
      }
      default:
        throw new Error(`Layer ${this.name} (type ${this.type}): Unknown elementwise operation.`);
    }
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    const n = top[0]!.count(), k = routingOf(gpu), y = top[0]!.deviceData(gpu), dy = top[0]!.deviceDiff(gpu);
    bottom.forEach((b, j) => {
      if (!propagateDown[j]) return;
      const dx = b.deviceDiff(gpu, true);
      switch (this.op) {
        case Op.PROD:
          if (this.stableProdGrad) {
            const others = bottom.filter((_, i) => i !== j).map((o) => o.deviceData(gpu));
            copyOnDevice(gpu, n, others[0]!, dx);
            for (let i = 1; i < others.length; i++) gpu.kernels.run1d(k.mul, n, [others[i]!, dx, dx], [n, n, n], []);
            gpu.kernels.run1d(k.mul, n, [dx, dy, dx], [n, n, n], []);
          } else {
            gpu.kernels.run1d(k.divMul, n, [y, b.deviceData(gpu), dy, dx], [n, n, n, n], []);
          }
          break;
        case Op.SUM:
          scaledCopyOnDevice(gpu, n, this.coeffs[j]!, dy, dx);
          break;
        case Op.MAX:
          gpu.kernels.run1d(k.maxBackward, n, [this.maxMask.deviceData(gpu), dy, dx], [n, n, n], [j]);
          break;
      }
    });
  }
}

registerLayer('Eltwise', EltwiseLayer);
