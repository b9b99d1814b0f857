// The service's API token: generated on first start (32 random bytes, base64url), stored in <dataDir>/token with mode
// 0600, printed once by `tscaffe serve`. Requests send it as `Authorization: Bearer <token>`.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';

export const TOKEN_FILE = 'token';

export function tokenFile(dataDir: string): string {
  return path.join(dataDir, TOKEN_FILE);
}

/** Read the token, or create it when missing (`created` tells which). The file's mode is kept at 0600. */
export function loadOrCreateToken(dataDir: string): { token: string; created: boolean; file: string } {
  const file = tokenFile(dataDir);
  mkdirSync(dataDir, { recursive: true });
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token) {
      chmodSync(file, 0o600);
      return { token, created: false, file };
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file}: cannot read the API token (${(e as Error).message})`);
  }
  const token = randomBytes(32).toString('base64url');
  const fd = openSync(file, 'w', 0o600);
  try {
    writeSync(fd, token + '\n');
  } finally {
    closeSync(fd);
  }
  chmodSync(file, 0o600);
  return { token, created: true, file };
}

/** Constant-time check of an Authorization header against the token. */
export function checkBearer(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
