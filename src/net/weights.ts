// Weight files: Caffe's Net::CopyTrainedLayersFrom(filename), which picks the format by the name (".h5": HDF5, else
// a binary NetParameter), and Net::ToHDF5. Kept out of net.ts so the browser engine (which imports Net) never pulls
// in file or HDF5 code.
import type { NetParameter } from '../proto/types.generated.js';
import { readProtoBinary } from '../proto/io.js';
import { logger } from '../util/log.js';
import { groupKeys, hasDataset, loadHdf5, openHdf5, readFloatDataset, writeFloatDataset, writeHdf5Atomic } from '../io/hdf5.js';
import type { Net } from './net.js';

export const isHdf5File = (file: string): boolean => file.endsWith('.h5');

/** Load trained weights from a .caffemodel or .caffemodel.h5 file into `net` (layers matched by name). */
export async function copyTrainedLayersFromFile(net: Net, file: string): Promise<void> {
  if (isHdf5File(file)) {
    await loadHdf5();
    copyTrainedLayersFromHDF5(net, file);
  } else net.copyTrainedLayersFrom(readProtoBinary<NetParameter>(file, 'NetParameter'), file);
}

/**
 * Caffe's CopyTrainedLayersFromHDF5: /data/<layer>/<j> float datasets. Layers absent from the net are skipped; a
 * layer with more datasets than the net's blobs, or a missing dataset for a blob that is not shared, is an error; a
 * dataset must have the blob's shape exactly. Needs loadHdf5() resolved.
 */
export function copyTrainedLayersFromHDF5(net: Net, file: string): void {
  const logc = logger('net.cpp:850');
  const f = openHdf5(file);
  try {
    for (const name of groupKeys(f, 'data', file)) {
      const lid = net.layerNames.indexOf(name);
      if (lid < 0) {
        if (net.verbose) logc.info(`Ignoring source layer ${name}`);
        continue;
      }
      const target = net.layers[lid]!.blobs;
      const nSource = groupKeys(f, `data/${name}`, file).length;
      if (nSource > target.length) {
        throw new Error(`${file}: Incompatible number of blobs for layer ${name} (the file has ${nSource}, the net has ${target.length})`);
      }
      target.forEach((tb, j) => {
        const ds = `data/${name}/${j}`;
        if (!hasDataset(f, ds)) {
          // A blob shared with an earlier layer is saved only under its owner.
          if (net.paramOwners[net.paramIds[lid]![j]!] !== -1) return;
          throw new Error(`${file}: Incompatible number of blobs for layer ${name} (no dataset '${ds}')`);
        }
        const { shape, data } = readFloatDataset(f, ds, file);
        if (!tb.sameShape(shape)) {
          throw new Error(`${file}: Cannot load blob ${j} of layer '${name}' from hdf5; dataset shape ${shape.join(' ')} and blob shape ${tb.shape.join(' ')}`);
        }
        tb.data.set(data);
      });
    }
  } finally {
    f.close();
  }
}

/**
 * Caffe's Net::ToHDF5: a group /data/<layer> for every layer (parameterless ones too) holding its own (not shared)
 * params as datasets 0, 1, ...; with writeDiff, /diff/<layer> holds every param's gradient, shared ones included.
 * Written atomically; needs loadHdf5() resolved.
 */
export function netToHDF5(net: Net, file: string, writeDiff = false): void {
  writeHdf5Atomic(file, (f) => {
    const data = f.create_group('data');
    const diff = writeDiff ? f.create_group('diff') : undefined;
    net.layers.forEach((layer, lid) => {
      const name = net.layerNames[lid]!;
      const ld = data.create_group(name);
      const lg = diff?.create_group(name);
      layer.blobs.forEach((b, j) => {
        const pid = net.paramIds[lid]![j]!;
        if (net.paramOwners[pid] === -1) writeFloatDataset(ld, String(j), b.shape, b.data);
        if (lg) writeFloatDataset(lg, String(j), b.shape, b.diff);
      });
    });
  });
}
