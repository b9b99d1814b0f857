// HDF5Data: Caffe's HDF5DataLayer. hdf5_data_param.source is a text file listing .h5 files (whitespace-separated);
// each top blob is read from the dataset of the same name (float or integer, 1+ axes, first axis = items; every
// top's dataset must have the same item count). One file is held in memory at a time; batches run across file
// boundaries, and after the last file wrap around to the first. shuffle reorders the files at start and at every
// wrap, and the rows of each file when it is loaded and at each pass over it.
import { readFileSync } from 'node:fs';
import type { HDF5DataParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { loadHdf5, openHdf5, readFloatDataset } from '../io/hdf5.js';
import { rng } from '../util/rng.js';
import { logger } from '../util/log.js';
import { Layer, registerLayer } from './layer.js';

interface Loaded { shape: number[]; data: Float32Array }

export class HDF5DataLayer extends Layer {
  private p!: HDF5DataParameter;
  private files: string[] = [];
  private filePerm: number[] = [];
  private currentFile = 0;
  private rows: Loaded[] = [];
  private rowPerm: number[] = [];
  private currentRow = 0;

  override exactNumBottomBlobs(): number { return 0; }
  override minTopBlobs(): number { return 1; }

  private err(m: string): Error {
    return new Error(`Layer ${this.name}: ${m}`);
  }

  override async init(): Promise<void> {
    const p = (this.p = paramOf<HDF5DataParameter>('HDF5DataParameter', this.param.hdf5_data_param));
    const source = p.source ?? '';
    if (!source) throw this.err('hdf5_data_param.source is required');
    if (!((p.batch_size ?? 0) > 0)) throw this.err('hdf5_data_param.batch_size must be > 0');
    if (!(this.param.top ?? []).length) throw this.err('HDF5Data needs at least one top (each names a dataset)');
    await loadHdf5();
    logger('hdf5_data_layer.cpp:85').info(`Loading list of HDF5 filenames from: ${source}`);
    let text: string;
    try {
      text = readFileSync(source, 'utf8');
    } catch (e) {
      throw this.err(`Failed to open source file: ${source} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    this.files = text.split(/\s+/).filter(Boolean);
    logger('hdf5_data_layer.cpp:95').info(`Number of HDF5 files: ${this.files.length}`);
    if (!this.files.length) throw this.err(`Must have at least 1 HDF5 filename listed in ${source}`);
    this.filePerm = this.files.map((_, i) => i);
    if (p.shuffle) shuffle(this.filePerm);
    this.loadFile(this.files[this.filePerm[0]!]!);
  }

  /** Read every top's dataset of one file (Caffe's LoadHDF5FileData). */
  private loadFile(file: string): void {
    const f = openHdf5(file);
    try {
      this.rows = (this.param.top ?? []).map((name) => {
        let d: Loaded;
        try {
          d = readFloatDataset(f, name, file);
        } catch (e) {
          throw this.err(`${(e as Error).message} (each top of an HDF5Data layer is read from the dataset of its name)`);
        }
        if (d.shape.length < 1) throw this.err(`${file}: dataset '${name}' must have at least 1 axis`);
        return d;
      });
    } finally {
      f.close();
    }
    const num = this.rows[0]!.shape[0]!;
    this.rows.forEach((r, i) => {
      if (r.shape[0] !== num) throw this.err(`${file}: dataset '${this.param.top![i]}' has ${r.shape[0]} items, '${this.param.top![0]}' has ${num}`);
    });
    if (!num) throw this.err(`${file}: the datasets hold no items`);
    this.rowPerm = Array.from({ length: num }, (_, i) => i);
    if (this.p.shuffle) shuffle(this.rowPerm);
  }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    const bs = this.p.batch_size!;
    top.forEach((t, i) => t.reshape([bs, ...this.rows[i]!.shape.slice(1)]));
  }

  reshape(): void {}

  /** Advance one row: at the end of a file, on to the next (wrapping around after the last), reshuffling as set. */
  private next(): void {
    if (++this.currentRow < this.rows[0]!.shape[0]!) return;
    if (this.files.length > 1) {
      if (++this.currentFile === this.files.length) {
        this.currentFile = 0;
        if (this.p.shuffle) shuffle(this.filePerm);
      }
      this.loadFile(this.files[this.filePerm[this.currentFile]!]!);
    }
    this.currentRow = 0;
    if (this.p.shuffle) shuffle(this.rowPerm);
  }

  forward(_bottom: Blob[], top: Blob[]): void {
    const bs = this.p.batch_size!;
    for (let i = 0; i < bs; i++) {
      top.forEach((t, j) => {
        const dim = t.count(1);
        const src = this.rows[j]!;
        if (src.data.length !== src.shape[0]! * dim) {
          throw this.err(`dataset '${this.param.top![j]}' has items of shape ${src.shape.slice(1).join('x') || 'scalar'}, the top was set up for ${t.shape.slice(1).join('x') || 'scalar'} (every file must match the first)`);
        }
        const r = this.rowPerm[this.currentRow]!;
        t.data.set(src.data.subarray(r * dim, (r + 1) * dim), i * dim);
      });
      this.next();
    }
  }

  backward(): void {}
}

/** Fisher-Yates on Caffe's random engine (Caffe uses std::random_shuffle here). */
function shuffle(a: number[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng().uniformInt(0, i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}

registerLayer('HDF5Data', HDF5DataLayer);
