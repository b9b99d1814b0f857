import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import {
  parseTextProto,
  printTextProto,
  formatFloat,
  formatDouble,
  formatG,
  cEscape,
  TextFormatError,
} from '../src/proto/textformat.js';
import { has, messageType } from '../src/proto/caffe.js';

const schema = `
syntax = "proto2";
package t;
message Inner {
  optional int32 a = 1;
  repeated string s = 2;
}
message M {
  optional Inner inner = 13;
  optional int32 i32 = 1;
  optional uint32 u32 = 2;
  optional int64 i64 = 3;
  optional uint64 u64 = 4;
  optional float f = 5;
  optional double d = 6;
  optional bool b = 7;
  optional string str = 8;
  optional bytes by = 9;
  enum Color { RED = 0; GREEN = 1; BLUE = 5; }
  optional Color color = 10 [default = GREEN];
  repeated int32 ri = 11;
  repeated float rf = 12;
  repeated Inner rin = 14;
  repeated Color rc = 15;
  optional float fdef = 16 [default = 0.5];
}
`;
const root = protobuf.parse(schema, { keepCase: true }).root;
const M = root.lookupType('t.M');
type Any = Record<string, any>;
const parse = (text: string, file?: string) => parseTextProto<Any>(text, M, file);
const plain = (m: object, t = M) => t.toObject(m as protobuf.Message, { longs: Number });

function throwsAt(text: string, line: number, col: number, re: RegExp, file = '<text>'): void {
  assert.throws(
    () => parse(text, file),
    (e: unknown) => {
      assert.ok(e instanceof TextFormatError, `not a TextFormatError: ${e}`);
      assert.equal(e.file, file);
      assert.equal(e.line, line, e.message);
      assert.equal(e.column, col, e.message);
      assert.ok(e.message.startsWith(`${file}:${line}:${col}: `), e.message);
      assert.match(e.message, re);
      return true;
    },
  );
}

test('scalars, comments, separators and defaults through the prototype', () => {
  const m = parse(`# leading comment
i32: -12  # trailing comment
u32: 4294967295;
i64: -9007199254740991,
u64: 0x1F
f: 1.5e-3 d: 2.25
b: t
str: "x"
`);
  assert.equal(m.i32, -12);
  assert.equal(m.u32, 4294967295);
  assert.equal(m.i64, -9007199254740991);
  assert.equal(m.u64, 31);
  assert.equal(m.f, Math.fround(1.5e-3));
  assert.equal(m.d, 2.25);
  assert.equal(m.b, true);
  assert.equal(m.str, 'x');
  // unset fields read their defaults and are not "set"
  assert.equal(m.color, 1);
  assert.equal(m.fdef, 0.5);
  assert.equal(has(m, 'color'), false);
  assert.equal(has(m, 'i32'), true);
  assert.ok(m instanceof M.ctor);
});

test('integers: hex, octal, negative, ranges', () => {
  assert.equal(parse('i32: 0x7fffffff').i32, 2147483647);
  assert.equal(parse('i32: -0x80000000').i32, -2147483648);
  assert.equal(parse('i32: 017').i32, 15);
  assert.equal(parse('i32: 0').i32, 0);
  assert.equal(parse('i32: - 5').i32, -5);
  throwsAt('i32: 2147483648', 1, 6, /out of range for field 'i32'/);
  throwsAt('\n  u32: -1', 2, 8, /out of range/);
  throwsAt('i32: 1.5', 1, 6, /expected an integer for field 'i32' \(int32\), found '1.5'/);
  throwsAt('i32: 09', 1, 6, /octal/);
  throwsAt('i32: 12abc', 1, 8, /need space between number and identifier/);
  throwsAt('i32: "7"', 1, 6, /expected an integer.*found "7"/);
});

test('floats: exponents, f suffix, inf/nan in any case, integers', () => {
  assert.equal(parse('d: 1e5').d, 1e5);
  assert.equal(parse('d: 1E-5').d, 1e-5);
  assert.equal(parse('d: 2.5e+2').d, 250);
  assert.equal(parse('d: .5').d, 0.5);
  assert.equal(parse('d: 1.').d, 1);
  assert.equal(parse('d: 1.0f').d, 1);
  assert.equal(parse('d: 3F').d, 3);
  assert.equal(parse('d: 7').d, 7);
  assert.equal(parse('d: -2').d, -2);
  assert.equal(parse('d: inf').d, Infinity);
  assert.equal(parse('d: -inf').d, -Infinity);
  assert.equal(parse('d: Infinity').d, Infinity);
  assert.equal(parse('d: -INF').d, -Infinity);
  assert.ok(Number.isNaN(parse('d: nan').d));
  assert.ok(Number.isNaN(parse('f: NaN').f));
  assert.equal(parse('f: 0.1').f, Math.fround(0.1));
  throwsAt('d: abc', 1, 4, /expected a number for field 'd' \(double\), found 'abc'/);
  throwsAt('d: 1e', 1, 6, /exponent/);
  throwsAt('d: 1.2.3', 1, 7, /already saw decimal point/);
});

test('bools: true/false/t/f/True/False/1/0', () => {
  for (const [s, v] of [['true', true], ['True', true], ['t', true], ['1', true], ['false', false], ['False', false], ['f', false], ['0', false]] as const) {
    assert.equal(parse(`b: ${s}`).b, v, s);
  }
  throwsAt('b: 2', 1, 4, /expected 'true' or 'false' for bool field 'b', found '2'/);
  throwsAt('b: yes', 1, 4, /expected 'true' or 'false'/);
});

test('strings: quotes, concatenation, C escapes, UTF-8, bytes', () => {
  assert.equal(parse(`str: 'single "q"'`).str, 'single "q"');
  assert.equal(parse(`str: "a" 'b'\n  "c"`).str, 'abc');
  assert.equal(parse(String.raw`str: "\n\t\r\\\'\"\?\a\b\f\v"`).str, '\n\t\r\\\'"?\x07\b\f\v');
  assert.equal(parse(String.raw`str: "\101\60\0x"`).str, 'A0\0x');
  assert.equal(parse(String.raw`str: "\x41\x4a\x7"`).str, 'AJ\x07');
  assert.equal(parse(String.raw`str: "\u00e9\U0001F600"`).str, 'é😀');
  assert.equal(parse(String.raw`str: "\303\251 é"`).str, 'é é');
  assert.deepEqual([...parse(String.raw`by: "\377\000a" "\x80"`).by], [255, 0, 97, 128]);
  throwsAt('str: "abc', 1, 6, /missing closing quote/);
  throwsAt('str: "ab\nc"', 1, 6, /cannot cross line boundaries/);
  throwsAt(String.raw`str: "a\qb"`, 1, 8, /invalid escape sequence '\\q'/);
  throwsAt(String.raw`str: "\xZZ"`, 1, 7, /hex digits/);
  throwsAt('str: 12', 1, 6, /expected a quoted string for field 'str', found '12'/);
});

test('enums by name and number', () => {
  assert.equal(parse('color: BLUE').color, 5);
  assert.equal(parse('color: 0').color, 0);
  assert.equal(has(parse('color: RED'), 'color'), true);
  assert.deepEqual(parse('rc: [RED, 5] rc: GREEN').rc, [0, 5, 1]);
  throwsAt('color: PURPLE', 1, 8, /unknown value 'PURPLE' for enum field 'color' \(t\.M\.Color: RED, GREEN, BLUE\)/);
  throwsAt('color: 3', 1, 8, /unknown value 3 for enum field 'color'/);
  throwsAt('color: "RED"', 1, 8, /expected an enum value/);
});

test('nested messages: { }, : { }, < >, repeated, list syntax', () => {
  const m = parse(`inner { a: 1 s: "x" s: "y" }
rin: { a: 2 }
rin < a: 3 >
rin [ { a: 4 }, < a: 5 > ]
ri: [1, 2, 3] ri: 4
rf: []
`);
  assert.equal(m.inner.a, 1);
  assert.deepEqual(m.inner.s, ['x', 'y']);
  assert.deepEqual(m.rin.map((r: Any) => r.a), [2, 3, 4, 5]);
  assert.deepEqual(m.ri, [1, 2, 3, 4]);
  assert.deepEqual(m.rf, []);
  assert.ok(m.inner instanceof root.lookupType('t.Inner').ctor);
  assert.equal(has(m.inner, 's'), true);
});

test('structural errors carry line and column', () => {
  throwsAt('i32: 1\n  bogus: 2', 2, 3, /unknown field 'bogus' in t\.M/, 'net.prototxt');
  throwsAt('inner {\n  a: 1\n  zz: 1 }', 3, 3, /unknown field 'zz' in t\.Inner/);
  throwsAt('i32: 1\ni32: 2', 2, 1, /non-repeated field 'i32' of t\.M is specified more than once/);
  throwsAt('inner { a: 1 }\ninner { a: 2 }', 2, 1, /non-repeated field 'inner'/);
  throwsAt('i32 3', 1, 5, /expected ':' after field name 'i32', found '3'/);
  throwsAt('i32 { }', 1, 5, /expected ':'/);
  throwsAt('inner: 3', 1, 8, /expected '\{' to start message field 'inner' \(t\.Inner\), found '3'/);
  throwsAt('inner {\n a: 1\n', 3, 1, /expected '\}' to close t\.Inner, found end of input/);
  throwsAt('inner { a: 1 >', 1, 14, /expected a field name of t\.Inner or '\}', found '>'/);
  throwsAt('}', 1, 1, /expected a field name of t\.M, found '\}'/);
  throwsAt('i32: [1, 2]', 1, 6, /field 'i32' is not repeated; list syntax/);
  throwsAt('ri: [1 2]', 1, 8, /expected ',' or '\]'/);
  throwsAt('i32: 1 = 2', 1, 8, /found '='/);
  throwsAt('i32:\n', 2, 1, /expected an integer.*found end of input/);
  const e = (() => {
    try {
      parse('x: 1', 'a.prototxt');
    } catch (err) {
      return err as TextFormatError;
    }
  })();
  assert.equal(e?.message, "a.prototxt:1:1: unknown field 'x' in t.M");
});

test('the real schema: Caffe messages and a typo', () => {
  const net = parseTextProto<Any>('name: "n" layer { name: "c" type: "Convolution" convolution_param { kernel_size: 3 } }', 'NetParameter');
  assert.deepEqual(net.layer[0].convolution_param.kernel_size, [3]);
  assert.equal(net.layer[0].convolution_param.num_output, 0); // default via the prototype
  assert.throws(
    () => parseTextProto('layer {\n  convolution_param {\n    kernal_size: 5\n  }\n}\n', messageType('NetParameter'), 'lenet.prototxt'),
    { message: "lenet.prototxt:3:5: unknown field 'kernal_size' in caffe.ConvolutionParameter" },
  );
});

test('%g formatting matches C printf, rounding half to even', () => {
  assert.equal(formatG(0.0001, 6), '0.0001');
  assert.equal(formatG(0.00001, 6), '1e-05');
  assert.equal(formatG(123456, 6), '123456');
  assert.equal(formatG(1234567, 6), '1.23457e+06');
  assert.equal(formatG(1234565, 6), '1.23456e+06'); // exact tie -> even
  assert.equal(formatG(1234575, 6), '1.23458e+06');
  assert.equal(formatG(2.5, 1), '2');
  assert.equal(formatG(3.5, 1), '4');
  assert.equal(formatG(999999.5, 6), '1e+06');
  assert.equal(formatG(1e100, 6), '1e+100');
  assert.equal(formatG(-0.5, 6), '-0.5');
  assert.equal(formatG(5e-324, 17), '4.9406564584124654e-324');
});

test('float and double printing as SimpleFtoa / SimpleDtoa', () => {
  const cases: [number, string][] = [
    [0.0039215684, '0.00392156839'],
    [0.00390625, '0.00390625'],
    [1e-5, '1e-05'],
    [5e-5, '5e-05'],
    [0.1, '0.1'],
    [100000, '100000'],
    [1e6, '1e+06'],
    [0.5, '0.5'],
    [0, '0'],
    [-0, '-0'],
    [1 / 3, '0.333333343'],
    [1234565, '1234565'],
    [16777217, '16777216'],
    [-2.5, '-2.5'],
    [3.4028234663852886e38, '3.40282347e+38'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [NaN, 'nan'],
  ];
  for (const [v, s] of cases) assert.equal(formatFloat(v), s, String(v));
  assert.equal(formatDouble(0.1), '0.1');
  assert.equal(formatDouble(1 / 3), '0.33333333333333331');
  assert.equal(formatDouble(1e-5), '1e-05');
  assert.equal(formatDouble(0.1 + 0.2), '0.30000000000000004');
  assert.equal(formatDouble(0.5), '0.5');
  assert.equal(formatDouble(-Infinity), '-inf');
});

test('CEscape', () => {
  assert.equal(cEscape(new Uint8Array([10, 13, 9, 34, 39, 92, 0, 127, 200, 65, 32])), '\\n\\r\\t\\"\\\'\\\\\\000\\177\\310A ');
});

test('printer: field-number order, set fields only, nesting, escapes, repeated one per line', () => {
  const m = parse(`inner { s: "a" a: 7 } str: "é\\n\\"q\\"" f: 0.0039215684 color: BLUE b: false ri: [1, 2]
rin { } rc: GREEN by: "\\001" d: 1e-05 i64: -3 u32: 0`);
  assert.equal(
    printTextProto(m, M),
    `u32: 0
i64: -3
f: 0.00392156839
d: 1e-05
b: false
str: "\\303\\251\\n\\"q\\""
by: "\\001"
color: BLUE
ri: 1
ri: 2
inner {
  a: 7
  s: "a"
}
rin {
}
rc: GREEN
`,
  );
  assert.equal(printTextProto(parse(''), M), '');
  assert.equal(printTextProto(parse('color: RED'), M), 'color: RED\n');
  // enum values without a name print as numbers; a plain-object message prints too
  assert.equal(printTextProto({ color: 3, inner: { a: 1 } }, M), 'color: 3\ninner {\n  a: 1\n}\n');
});

test('print -> parse round trip gives an equal message', () => {
  const texts = [
    `i32: -2147483648 u32: 4294967295 i64: 9007199254740991 u64: 0 f: 3.14159 d: 2.718281828459045
     b: true str: "tab\\t nul\\0 hi\\xff é" by: "\\x00\\xff" color: BLUE ri: [-1, 0, 1] rf: [0.1, 1e-30, -inf, nan, 1e38]
     inner { a: 1 s: ["", "x"] } rin { } rin { a: 2 } rc: [RED, GREEN] fdef: 0.5`,
    'f: 0.0039215684 d: -0.0',
  ];
  for (const text of texts) {
    const a = parse(text);
    const printed = printTextProto(a, M);
    const b = parse(printed);
    assert.deepEqual(plain(b), plain(a));
    assert.equal(printTextProto(b, M), printed);
  }
});
