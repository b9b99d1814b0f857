import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags, UsageError } from '../src/cli/flags.js';

const specs = {
  solver: { type: 'string' as const, help: 's' },
  iterations: { type: 'int' as const, default: 50, help: 'i' },
  shuffle: { type: 'bool' as const, default: false, help: 'b' },
};

test('gflags forms: -f v, --f=v, -f=v, bool forms', () => {
  assert.deepEqual(parseFlags(['-solver', 'a.prototxt', 'pos'], specs), {
    flags: { solver: 'a.prototxt', iterations: 50, shuffle: false },
    positional: ['pos'],
  });
  assert.equal(parseFlags(['--solver=b'], specs).flags.solver, 'b');
  assert.equal(parseFlags(['-iterations=7'], specs).flags.iterations, 7);
  assert.equal(parseFlags(['--shuffle'], specs).flags.shuffle, true);
  assert.equal(parseFlags(['--shuffle=false'], specs).flags.shuffle, false);
  assert.equal(parseFlags(['-shuffle', '--noshuffle'], specs).flags.shuffle, false);
});

test('unknown flags and bad values are usage errors', () => {
  assert.throws(() => parseFlags(['-nope'], specs), UsageError);
  assert.throws(() => parseFlags(['-iterations', 'x'], specs), /integer/);
  assert.throws(() => parseFlags(['-solver'], specs), /needs a value/);
});

test('repeated flags collect every value in order', () => {
  const rs = { param: { type: 'string' as const, repeated: true, help: 'p' } };
  assert.deepEqual(parseFlags(['--param', 'a=1', '-param=b=2', 'pos'], rs), { flags: { param: ['a=1', 'b=2'] }, positional: ['pos'] });
  assert.deepEqual(parseFlags([], rs).flags.param, []);
});
