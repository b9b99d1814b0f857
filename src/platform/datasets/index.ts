// Datasets: the built-in market, the metadata repository, and the import service.
export {
  listMarket,
  getMarketDataset,
  idxFilesOf,
  findIdxFiles,
  DEBIAN_FASHION_MNIST_DIR,
  type MarketDataset,
  type MarketFile,
  type MarketOptions,
  type IdxRole,
} from './market.js';
export {
  MemoryDatasetRepository,
  JsonFileDatasetRepository,
  type DatasetRepository,
  type Dataset,
  type DatasetVersion,
  type DatasetFile,
  type DatasetFormat,
  type DatasetStats,
  type VersionStatus,
  type NewDataset,
  type NewVersion,
  type VersionPatch,
} from './repository.js';
export {
  DatasetService,
  DATASET_FORMATS,
  type ImportRequest,
  type ImportProgress,
  type DatasetServiceOptions,
  type DatasetWithVersions,
} from './service.js';
