// DummyData, as Caffe's DummyDataLayer: tops of given shapes (shape, or the legacy num/channels/height/width), filled
// by data_filler (none: constant 0; one for all tops; or one per top). Constant-filled tops are filled once at setup;
// the others are refilled on every forward pass.
import type { DummyDataParameter, FillerParameter } from '../proto/types.generated.js';
import { createMessage, paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { fillBlob } from '../util/filler.js';
import { Layer, registerLayer } from './layer.js';

export class DummyDataLayer extends Layer {
  private fillers: FillerParameter[] = [];
  private refill: boolean[] = [];

  override exactNumBottomBlobs(): number { return 0; }
  override minTopBlobs(): number { return 1; }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    const p = paramOf<DummyDataParameter>('DummyDataParameter', this.param.dummy_data_param);
    const err = (m: string) => new Error(`Layer ${this.name} (DummyData): ${m}`);
    const nTop = top.length;
    const fillers = p.data_filler ?? [];
    if (fillers.length !== 0 && fillers.length !== 1 && fillers.length !== nTop) {
      throw err(`Number of data fillers must be 0, 1 or equal to the number of tops: ${nTop}; you specified ${fillers.length} data fillers.`);
    }
    const legacy = { num: p.num ?? [], channels: p.channels ?? [], height: p.height ?? [], width: p.width ?? [] };
    const legacyGiven = Object.values(legacy).some((l) => l.length > 0);
    const shapes = p.shape ?? [];
    if (legacyGiven) {
      if (shapes.length) throw err('Both shape and legacy fields were specified');
      for (const [k, l] of Object.entries(legacy)) {
        if (l.length !== 1 && l.length !== nTop) throw err(`Must specify '${k}' once, or once per top blob (${nTop}); specified ${l.length}.`);
      }
    } else if (shapes.length !== 1 && shapes.length !== nTop) {
      throw err(`Must specify 'shape' once, or once per top blob (${nTop}); specified ${shapes.length}.`);
    }
    this.fillers = fillers.length === 0
      ? [createMessage<FillerParameter>('FillerParameter', { type: 'constant', value: 0 })]
      : fillers.map((f) => paramOf<FillerParameter>('FillerParameter', f));
    // Constant tops are filled now and never again; the others on every forward.
    this.refill = this.fillers.map((f) => (f.type ?? 'constant') !== 'constant');
    const at = (l: number[], i: number) => (l.length === 1 ? l[0]! : l[i]!);
    top.forEach((t, i) => {
      if (legacyGiven) t.reshape([at(legacy.num, i), at(legacy.channels, i), at(legacy.height, i), at(legacy.width, i)]);
      else t.reshape((shapes.length === 1 ? shapes[0]! : shapes[i]!).dim?.map(Number) ?? []);
    });
    this.fill(top, false);
  }

  private fill(top: Blob[], refill: boolean): void {
    top.forEach((t, i) => {
      const id = this.fillers.length > 1 ? i : 0;
      if (this.refill[id] === refill) fillBlob(t, this.fillers[id]);
    });
  }

  reshape(): void {}

  forward(_bottom: Blob[], top: Blob[]): void {
    this.fill(top, true);
  }

  backward(): void {}
}

registerLayer('DummyData', DummyDataLayer);
