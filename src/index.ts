// tscaffe's library API.
import './backend/all.js';
export * from './proto/caffe.js';
export * from './proto/types.generated.js';
export * from './proto/io.js';
export { parseTextProto, printTextProto, TextFormatError } from './proto/textformat.js';
export {
  readNetParamsFromTextFile, readSolverParamsFromTextFile, upgradeNetParameter, upgradeSolverParameter,
} from './proto/upgrade.js';
export { Blob } from './blob/blob.js';
export { Net, type NetOptions } from './net/net.js';
export { Solver, type SolverOptions, type SolverAction } from './solver/solver.js';
export { Layer, registerLayer, createLayer, layerTypes, TRAIN, TEST } from './layers/layer.js';
export { backend, setBackend, createBackend, registerBackend, availableBackends, type Backend } from './backend/backend.js';
export { WebGpuDevice } from './backend/webgpu/gpu_device.js';
export { findGpuAdapters, formatAdapter, type GpuAdapterDescription } from './backend/webgpu/device.js';
export { setRandomSeed } from './util/rng.js';
export { setLogSink, setQuiet } from './util/log.js';
export { openDb, DatumBatchReader, detectBackend } from './io/db.js';
export { encodeDatum, decodeDatum } from './io/datum.js';
export { readIdxImages, readIdxLabels } from './io/idx.js';
export { ensureMnistLmdb, mnistIdxFiles } from './tools/data_mnist.js';
export { Classifier, readLabelsFile, topK, type ClassifierOptions, type ClassifyInput, type Prediction, type TopEntry } from './inference/classifier.js';
export { deriveDeployNet, type DeployNet, type DeployOptions } from './inference/deploy.js';
export { decodeImage, readImageFile, imageToPlanar, type DecodedImage } from './inference/image.js';
export { Preprocessor, type PreprocessDescription } from './inference/preprocess.js';
export { exportOnnx, netToOnnx, type OnnxExport, type ExportOptions } from './tools/onnx/export.js';
export { parseCaffeLog, type CaffeLogSeries, type LogPoint } from './tools/parse_log.js';
