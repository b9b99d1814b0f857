// Object storage for the platform: URLs, the ObjectStore interface, the local and S3 stores, parallel copies.
// The S3 store is exported as a type only; `openStore` loads the AWS SDK when an S3 store is actually opened.
export { StorageError, isTransientError, errorMessage, type StorageErrorCode } from './errors.js';
export {
  parseStorageUrl,
  formatStorageUrl,
  hasStorageScheme,
  validateBucketName,
  validateKey,
  isFolderKey,
  folderPrefix,
  joinKey,
  keyBasename,
  type StorageUrl,
  type StorageScheme,
  type ParseOptions,
} from './url.js';
export type { ObjectStore, ObjectInfo, ListOptions, ListResult, PutOptions, GetOptions } from './store.js';
export { LocalObjectStore } from './local_store.js';
export type { S3ObjectStore, S3StoreOptions } from './s3_store.js';
export { withRetry, type RetryOptions } from './retry.js';
export {
  copyParallel,
  copyDirToStore,
  copyStoreToDir,
  copyStoreToStore,
  copyObject,
  uploadFile,
  downloadFile,
  listLocalFiles,
  writeStreamAtomic,
  runPool,
  type Location,
  type CopyOptions,
  type CopyProgress,
  type CopyResult,
  type CopiedFile,
} from './copy.js';
export {
  openStore,
  parseStoreSpec,
  resolveUrl,
  defaultDataDir,
  defaultStoreSpec,
  StorageContext,
  type StoreOptions,
  type ResolvedUrl,
  type StorageContextOptions,
} from './open.js';
