// tscaffe's library API.
export * from './proto/caffe.js';
