// The `storage` and `datasets` commands through a service started on loopback: `storage cp -r` of a local folder up and
// back down, `storage ls`, `storage rm -r`, `datasets market`, `datasets import mnist` (waits until normal) and
// `datasets list`, with the token passed as --token; without it the service refuses.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, type Platform } from '../src/platform/jobs/server.js';
import { setQuiet } from '../src/util/log.js';
import { tempDir } from './jobs_helpers.js';
import { runCli } from './cli_capture.js';

setQuiet(true);

const cli = runCli;

const tmp = tempDir('tscaffe-platform-cli-');
let p: Platform | undefined;
after(async () => {
  await p?.close();
  tmp.cleanup();
});

test('storage and datasets commands go through the service', async () => {
  p = await startServer({ dataDir: path.join(tmp.dir, 'data'), port: 0 });
  const s = ['--server', p.url, '--token', p.token!];

  const codes = path.join(tmp.dir, 'codes');
  mkdirSync(path.join(codes, 'sub'), { recursive: true });
  writeFileSync(path.join(codes, 'a.prototxt'), 'net: "x"\n');
  writeFileSync(path.join(codes, 'sub', 'b.txt'), 'bee\n');

  const denied = await cli(['storage', 'ls', 's3://work/', '--server', p.url, '--token', 'wrong']);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /401: missing or invalid API token/);

  const up = await cli(['storage', 'cp', '-r', codes, 's3://work/codes/', ...s]);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /copied 2 files \(13 bytes\)/);
  const ls = await cli(['storage', 'ls', 's3://work/codes/', ...s]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /DIR  s3:\/\/work\/codes\/sub\/$/m);
  assert.match(ls.stdout, /\s9  s3:\/\/work\/codes\/a\.prototxt$/m);
  const lsr = await cli(['storage', 'ls', '-r', 's3://work/codes', ...s]);
  assert.match(lsr.stdout, /s3:\/\/work\/codes\/sub\/b\.txt$/m);
  const buckets = await cli(['storage', 'ls', ...s]);
  assert.match(buckets.stdout, /BUCKET  \/work\//);

  const back = path.join(tmp.dir, 'back');
  const down = await cli(['storage', 'cp', '-r', 's3://work/codes/', back, ...s]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(readFileSync(path.join(back, 'sub', 'b.txt'), 'utf8'), 'bee\n');
  const one = await cli(['storage', 'cp', 's3://work/codes/a.prototxt', path.join(tmp.dir, 'one.prototxt'), ...s]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(readFileSync(path.join(tmp.dir, 'one.prototxt'), 'utf8'), 'net: "x"\n');
  const copied = await cli(['storage', 'cp', '-r', 's3://work/codes/', 's3://work/copy/', ...s]);
  assert.match(copied.stdout, /copied 2 files/);
  const rm = await cli(['storage', 'rm', '-r', 's3://work/copy/', ...s]);
  assert.match(rm.stdout, /deleted 2 objects/);
  const gone = await cli(['storage', 'ls', 's3://work/copy/', ...s]);
  assert.equal(gone.code, 1);

  const m = await cli(['datasets', 'market', ...s]);
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stdout, /^mnist\s+4\s+55\.0 MB\s+available/m);
  const imp = await cli(['datasets', 'import', 'mnist', '--path', 's3://work/mnist/', '--format', 'idx', ...s]);
  assert.equal(imp.code, 0, imp.stderr);
  assert.match(imp.stdout, /^mnist v1 normal \(4 files/);
  const list = await cli(['datasets', 'list', ...s]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^mnist\s+v1\s+normal\s+idx\s+4 .*s3:\/\/work\/mnist\//m);
  const files = await cli(['storage', 'ls', 's3://work/mnist/', ...s]);
  assert.match(files.stdout, /train-images-idx3-ubyte/);
  const shown = await cli(['datasets', 'show', 'mnist', ...s]);
  assert.equal(shown.code, 0, shown.stderr);
  const missing = await cli(['datasets', 'show', 'nope', ...s]);
  assert.equal(missing.code, 1);
});
