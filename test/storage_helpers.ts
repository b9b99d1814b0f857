// Shared by the storage tests: build a folder of assorted files, read a folder back.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Every regular file under dir: relative path -> bytes. */
export function readTree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const visit = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) visit(path.join(d, e.name), r);
      else out.set(r, readFileSync(path.join(d, e.name)));
    }
  };
  visit(dir, '');
  return out;
}

/** A folder of files of assorted sizes (one bigger than a stream chunk), nested. */
export function makeTree(dir: string, oddName = 'd e+f=ü.txt'): Map<string, Buffer> {
  const files: Record<string, Buffer> = {
    'a.txt': Buffer.from('hello\n'),
    'empty.bin': Buffer.alloc(0),
    'sub/b.bin': randomBytes(100_000),
    'sub/deeper/c.bin': randomBytes(3 * 1024 * 1024 + 17),
    [`sub/deeper/${oddName}`]: Buffer.from('odd name'),
  };
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), data);
  }
  return new Map(Object.entries(files));
}

