// HDF5Output: Caffe's HDF5OutputLayer. Writes its two bottoms to hdf5_output_param.file_name as the float datasets
// "data" and "label", each with Caffe's legacy 4-axis shape (num, channels, height, width). Caffe creates the file at
// setup and fails on a second forward (the datasets exist); here each forward rewrites the file (atomically) with the
// latest batch, and setup leaves an empty file as Caffe does. No gradient flows back.
import type { HDF5OutputParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { loadHdf5, writeFloatDataset, writeHdf5Atomic } from '../io/hdf5.js';
import { logger } from '../util/log.js';
import { Layer, registerLayer } from './layer.js';

export class HDF5OutputLayer extends Layer {
  private file = '';

  override exactNumBottomBlobs(): number { return 2; }
  override exactNumTopBlobs(): number { return 0; }

  override async init(): Promise<void> {
    const p = paramOf<HDF5OutputParameter>('HDF5OutputParameter', this.param.hdf5_output_param);
    this.file = p.file_name ?? '';
    if (!this.file) throw new Error(`Layer ${this.name}: hdf5_output_param.file_name is required`);
    await loadHdf5();
  }

  override layerSetUp(): void {
    writeHdf5Atomic(this.file, () => undefined);
  }

  reshape(): void {}

  forward(bottom: Blob[]): void {
    const [data, label] = [bottom[0]!, bottom[1]!];
    if (data.legacyDim(0) !== label.legacyDim(0)) {
      throw new Error(`Layer ${this.name}: data and label must have the same num (${data.legacyDim(0)} vs ${label.legacyDim(0)})`);
    }
    const legacy = (b: Blob) => [0, 1, 2, 3].map((i) => b.legacyDim(i));
    writeHdf5Atomic(this.file, (f) => {
      writeFloatDataset(f, 'data', legacy(data), data.data);
      writeFloatDataset(f, 'label', legacy(label), label.data);
    });
    logger('hdf5_output_layer.cpp:60').info(`Successfully saved ${data.legacyDim(0)} rows`);
  }

  backward(): void {}
}

registerLayer('HDF5Output', HDF5OutputLayer);
