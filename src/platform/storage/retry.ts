// Retry with exponential backoff and full jitter, for transient storage failures (throttling, resets, 5xx).
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError, isTransientError } from './errors.js';

export interface RetryOptions {
  /** Retries after the first attempt (default 3). */
  retries?: number;
  /** Backoff base in ms (default 200): attempt n waits random(0, min(maxDelayMs, base * 2^n)). */
  baseDelayMs?: number;
  /** Backoff cap in ms (default 5000). */
  maxDelayMs?: number;
  /** Which errors to retry (default: isTransientError). */
  retryable?: (e: unknown) => boolean;
  /** Told before each retry. */
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

/** Run `fn` (given the attempt number, from 0), retrying transient failures. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const retries = opts.retries ?? 3;
  const base = opts.baseDelayMs ?? 200;
  const cap = opts.maxDelayMs ?? 5000;
  const retryable = opts.retryable ?? isTransientError;
  for (let attempt = 0; ; attempt++) {
    if (opts.signal?.aborted) throw new StorageError('Aborted', 'aborted', { cause: opts.signal.reason });
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= retries || !retryable(e) || opts.signal?.aborted) throw e;
      const delay = Math.round(Math.random() * Math.min(cap, base * 2 ** attempt));
      opts.onRetry?.(e, attempt + 1, delay);
      await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : undefined).catch(() => undefined);
    }
  }
}
