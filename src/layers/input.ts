// Input: tops of the shapes given in input_param (one shape for all tops, or one per top); filled by the caller.
import type { InputParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';

export class InputLayer extends Layer {
  override exactNumBottomBlobs(): number { return 0; }
  override minTopBlobs(): number { return 1; }
  override autoTopBlobs(): boolean { return true; }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    const ip = paramOf<InputParameter>('InputParameter', this.param.input_param);
    const shapes = ip.shape ?? [];
    if (shapes.length !== 0 && shapes.length !== 1 && shapes.length !== top.length) {
      throw new Error(`Layer ${this.name}: input_param must give 0, 1 or ${top.length} shapes (got ${shapes.length})`);
    }
    if (shapes.length) top.forEach((t, i) => t.reshape((shapes.length === 1 ? shapes[0]! : shapes[i]!).dim?.map(Number) ?? []));
  }

  reshape(): void {}
  forward(): void {}
  backward(): void {}
  // On a device too: the caller wrote the tops (on the host; they go up when a device layer reads them).
  override forwardGpu(): void {}
  override backwardGpu(): void {}
}

registerLayer('Input', InputLayer);
