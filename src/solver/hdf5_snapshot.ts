// HDF5 solver states (snapshot_format: HDF5): Caffe's SGDSolver::SnapshotSolverStateToHDF5 and
// RestoreSolverStateFromHDF5. The file holds /iter and /current_step (int32 {1}), /learned_net (a scalar string: the
// .caffemodel.h5 written beside it) and /history/<i> (the update history blobs). Needs loadHdf5() resolved.
import type { Blob } from '../blob/blob.js';
import { groupKeys, hasDataset, openHdf5, readFloatDataset, readInt, readString, writeFloatDataset, writeHdf5Atomic, writeInt, writeString } from '../io/hdf5.js';

export interface Hdf5SolverState {
  iter: number;
  /** The weights file to load, when the state names one. */
  learnedNet?: string;
  currentStep: number;
  history: { shape: number[]; data: Float32Array }[];
}

/** Write a .solverstate.h5 atomically. */
export function writeSolverStateHDF5(file: string, iter: number, learnedNet: string, currentStep: number, history: Blob[]): void {
  writeHdf5Atomic(file, (f) => {
    writeInt(f, 'iter', iter);
    writeString(f, 'learned_net', learnedNet);
    writeInt(f, 'current_step', currentStep);
    const g = f.create_group('history');
    history.forEach((h, i) => writeFloatDataset(g, String(i), h.shape, h.data));
  });
}

/** Read a .solverstate.h5 (errors name the file and the missing or malformed dataset). */
export function readSolverStateHDF5(file: string): Hdf5SolverState {
  const f = openHdf5(file);
  try {
    const iter = readInt(f, 'iter', file);
    const learnedNet = hasDataset(f, 'learned_net') ? readString(f, 'learned_net', file) : undefined;
    const currentStep = readInt(f, 'current_step', file);
    const n = groupKeys(f, 'history', file).length;
    const history = Array.from({ length: n }, (_, i) => readFloatDataset(f, `history/${i}`, file));
    return { iter, learnedNet, currentStep, history };
  } finally {
    f.close();
  }
}
