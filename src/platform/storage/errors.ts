// Errors of the object stores: one class with a code, so callers (CLI, copy helpers, the job service) can tell a
// missing object from a bad URL from a transient network failure without knowing which store produced it.
export type StorageErrorCode =
  | 'InvalidUrl'
  | 'InvalidBucket'
  | 'InvalidKey'
  | 'NoSuchBucket'
  | 'NoSuchKey'
  | 'Forbidden'
  | 'Conflict'
  | 'Transient'
  | 'Aborted'
  | 'Failed';

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options: { cause?: unknown; transient?: boolean } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.transient = options.transient ?? code === 'Transient';
  }
  /** Worth retrying (network hiccup, throttling, 5xx). */
  readonly transient: boolean;
}

const TRANSIENT_NODE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTCONN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

const TRANSIENT_S3_NAMES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'TimeoutError',
  'RequestTimeTooSkewed',
]);

/** Whether an error (ours, Node's, or the AWS SDK's) is worth retrying. */
export function isTransientError(e: unknown): boolean {
  if (e instanceof StorageError) return e.transient;
  if (!e || typeof e !== 'object') return false;
  const err = e as { code?: unknown; name?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  if (typeof err.code === 'string' && TRANSIENT_NODE_CODES.has(err.code)) return true;
  if (typeof err.name === 'string' && TRANSIENT_S3_NAMES.has(err.name)) return true;
  if (err.$retryable) return true;
  const status = err.$metadata?.httpStatusCode;
  if (typeof status === 'number' && (status >= 500 || status === 429 || status === 408)) return true;
  if (err.cause && err.cause !== e) return isTransientError(err.cause);
  return false;
}

/** The short message of any thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
