// tscaffe's library API.
export * from './proto/caffe.js';
export * from './proto/types.generated.js';
export * from './proto/io.js';
