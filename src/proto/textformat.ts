// Protobuf text format for Caffe's prototxt files, over protobufjs reflection. The parser accepts what protobuf's
// C++ TextFormat::Parser accepts (comments, `name { }` / `name: { }` / `< >`, list syntax, C escapes, hex/octal
// ints, `1.0f`, inf/nan, ...) and reports every problem as `FILE:LINE:COL: message` (1-based). The printer writes
// exactly what TextFormat::Printer (Caffe's WriteProtoToTextFile) writes, floats included.
import protobuf from 'protobufjs';
import { caffeRoot } from './caffe.js';
import { cEscape, formatDouble, formatFloat } from './textformat_numbers.js';

export { cEscape, formatDouble, formatFloat, formatG } from './textformat_numbers.js';

export class TextFormatError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly detail: string;
  constructor(file: string, line: number, column: number, detail: string) {
    super(`${file}:${line}:${column}: ${detail}`);
    this.name = 'TextFormatError';
    this.file = file;
    this.line = line;
    this.column = column;
    this.detail = detail;
  }
}

type Msg = Record<string, any>;

/** A message type given as a protobufjs Type, 'NetParameter' (package caffe) or a full name 'caffe.NetParameter'. */
export function resolveMessageType(type: protobuf.Type | string): protobuf.Type {
  if (typeof type !== 'string') return type;
  const name = type.replace(/^\./, '');
  return caffeRoot.lookupType(name.includes('.') ? name : 'caffe.' + name);
}

const typeName = (t: protobuf.ReflectionObject) => t.fullName.replace(/^\./, '');

// ---------------------------------------------------------------------------------------------------- tokenizer

type Kind = 'ident' | 'int' | 'float' | 'string' | 'symbol' | 'eof';

interface Token {
  kind: Kind;
  text: string;
  line: number;
  col: number;
  bytes?: number[];
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isHex = (c: string | undefined) => c !== undefined && /^[0-9a-fA-F]$/.test(c);
const isOctal = (c: string | undefined) => c !== undefined && c >= '0' && c <= '7';
const isLetter = (c: string | undefined) => c !== undefined && /^[A-Za-z_]$/.test(c);

const SIMPLE_ESCAPES: Record<string, number> = {
  a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '?': 63, "'": 39, '"': 34,
};

function pushUtf8(out: number[], cp: number): void {
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
}

function tokenize(src: string, file: string): Token[] {
  const toks: Token[] = [];
  const n = src.length;
  let i = src.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let lineStart = 0;
  const fail = (at: number, msg: string): never => {
    throw new TextFormatError(file, line, at - lineStart + 1, msg);
  };
  for (;;) {
    // Whitespace and comments.
    while (i < n) {
      const c = src[i]!;
      if (c === '\n') {
        i++;
        line++;
        lineStart = i;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\v' || c === '\f') i++;
      else if (c === '#') while (i < n && src[i] !== '\n') i++;
      else break;
    }
    const start = i;
    const tok = (kind: Kind, extra?: Partial<Token>): Token => ({
      kind, text: src.slice(start, i), line, col: start - lineStart + 1, ...extra,
    });
    if (i >= n) {
      toks.push(tok('eof'));
      return toks;
    }
    const c = src[i]!;
    if (isLetter(c)) {
      while (i < n && (isLetter(src[i]) || isDigit(src[i]))) i++;
      toks.push(tok('ident'));
    } else if (isDigit(c) || (c === '.' && isDigit(src[i + 1]))) {
      let isFloat = false;
      if (c === '0' && (src[i + 1] === 'x' || src[i + 1] === 'X')) {
        i += 2;
        if (!isHex(src[i])) fail(i, '"0x" must be followed by hex digits');
        while (isHex(src[i])) i++;
      } else if (c === '0' && isDigit(src[i + 1])) {
        i++;
        while (isOctal(src[i])) i++;
        if (isDigit(src[i])) fail(start, 'numbers starting with a leading zero must be in octal');
      } else {
        if (c === '.') {
          isFloat = true;
          i++;
          while (isDigit(src[i])) i++;
        } else {
          while (isDigit(src[i])) i++;
          if (src[i] === '.') {
            isFloat = true;
            i++;
            while (isDigit(src[i])) i++;
          }
        }
        if (src[i] === 'e' || src[i] === 'E') {
          isFloat = true;
          i++;
          if (src[i] === '-' || src[i] === '+') i++;
          if (!isDigit(src[i])) fail(i, '"e" must be followed by an exponent');
          while (isDigit(src[i])) i++;
        }
        if (src[i] === 'f' || src[i] === 'F') {
          isFloat = true;
          i++;
        }
      }
      if (isLetter(src[i]) || isDigit(src[i])) fail(i, 'need space between number and identifier');
      if (src[i] === '.') {
        fail(i, isFloat ? "already saw decimal point or exponent; can't have another one" : 'hex and octal numbers must be integers');
      }
      toks.push(tok(isFloat ? 'float' : 'int'));
    } else if (c === '"' || c === "'") {
      const bytes: number[] = [];
      i++;
      for (;;) {
        if (i >= n) fail(start, 'unexpected end of string literal (missing closing quote)');
        const d = src[i]!;
        if (d === '\n') fail(start, 'string literals cannot cross line boundaries');
        if (d === c) {
          i++;
          break;
        }
        if (d !== '\\') {
          const cp = src.codePointAt(i)!;
          pushUtf8(bytes, cp);
          i += cp > 0xffff ? 2 : 1;
          continue;
        }
        const e = src[i + 1];
        if (e === undefined) fail(start, 'unexpected end of string literal (missing closing quote)');
        if (SIMPLE_ESCAPES[e!] !== undefined) {
          bytes.push(SIMPLE_ESCAPES[e!]!);
          i += 2;
        } else if (isOctal(e)) {
          let j = i + 1;
          let v = 0;
          while (j < i + 4 && isOctal(src[j])) v = v * 8 + Number(src[j++]);
          bytes.push(v & 0xff);
          i = j;
        } else if (e === 'x' || e === 'X') {
          let j = i + 2;
          if (!isHex(src[j])) fail(i, 'expected hex digits after \\x in escape sequence');
          let v = 0;
          while (j < i + 4 && isHex(src[j])) v = v * 16 + parseInt(src[j++]!, 16);
          bytes.push(v);
          i = j;
        } else if (e === 'u' || e === 'U') {
          const len = e === 'u' ? 4 : 8;
          const hex = src.slice(i + 2, i + 2 + len);
          if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex) || parseInt(hex, 16) > 0x10ffff) {
            fail(i, `expected ${len} hex digits after \\${e} in escape sequence`);
          }
          pushUtf8(bytes, parseInt(hex, 16));
          i += 2 + len;
        } else {
          fail(i, `invalid escape sequence '\\${e}' in string literal`);
        }
      }
      toks.push(tok('string', { bytes }));
    } else if (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) {
      fail(i, `invalid control character 0x${c.charCodeAt(0).toString(16).padStart(2, '0')} in text`);
    } else {
      const cp = src.codePointAt(i)!;
      i += cp > 0xffff ? 2 : 1;
      toks.push(tok('symbol'));
    }
  }
}

// ---------------------------------------------------------------------------------------------------- parser

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n], sint32: [-(2n ** 31n), 2n ** 31n - 1n], sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n], fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n], sint64: [-(2n ** 63n), 2n ** 63n - 1n], sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n], fixed64: [0n, 2n ** 64n - 1n],
};

function intTokenValue(text: string): bigint {
  if (/^0[xX]/.test(text)) return BigInt(text);
  if (text.length > 1 && text[0] === '0') return BigInt('0o' + text.slice(1));
  return BigInt(text);
}

function describe(t: Token): string {
  if (t.kind === 'eof') return 'end of input';
  const s = t.text.length > 40 ? t.text.slice(0, 37) + '...' : t.text;
  return t.kind === 'string' ? s : `'${s}'`;
}

const utf8 = new TextDecoder('utf-8');

class Parser {
  private pos = 0;
  constructor(
    private readonly toks: Token[],
    private readonly file: string,
  ) {}

  private peek(): Token {
    return this.toks[this.pos]!;
  }
  private next(): Token {
    const t = this.toks[this.pos]!;
    if (t.kind !== 'eof') this.pos++;
    return t;
  }
  private at(sym: string): boolean {
    const t = this.peek();
    return t.kind === 'symbol' && t.text === sym;
  }
  private tryConsume(sym: string): boolean {
    if (!this.at(sym)) return false;
    this.pos++;
    return true;
  }
  private fail(t: Token, msg: string): never {
    throw new TextFormatError(this.file, t.line, t.col, msg);
  }

  parseMessage(type: protobuf.Type, msg: Msg, close: string | null): void {
    const seen = new Set<string>();
    for (;;) {
      const t = this.peek();
      if (close === null ? t.kind === 'eof' : t.kind === 'symbol' && t.text === close) {
        this.next();
        return;
      }
      if (t.kind === 'eof') this.fail(t, `expected '${close}' to close ${typeName(type)}, found end of input`);
      if (t.kind !== 'ident') {
        this.fail(t, `expected a field name of ${typeName(type)}${close ? ` or '${close}'` : ''}, found ${describe(t)}`);
      }
      this.next();
      const field = type.fields[t.text];
      if (!field) this.fail(t, `unknown field '${t.text}' in ${typeName(type)}`);
      field.resolve();
      if (field.map) this.fail(t, `map field '${t.text}' is not supported in text format here`);
      if (!field.repeated) {
        if (seen.has(field.name)) this.fail(t, `non-repeated field '${field.name}' of ${typeName(type)} is specified more than once`);
        seen.add(field.name);
      }
      const isMessage = field.resolvedType instanceof protobuf.Type;
      if (isMessage) this.tryConsume(':');
      else if (!this.tryConsume(':')) this.fail(this.peek(), `expected ':' after field name '${field.name}', found ${describe(this.peek())}`);
      const one = () => (isMessage ? this.parseSubMessage(field, msg) : this.parseScalar(field, msg));
      if (this.at('[')) {
        const open = this.next();
        if (!field.repeated) this.fail(open, `field '${field.name}' is not repeated; list syntax [...] is not allowed`);
        if (!this.tryConsume(']')) {
          for (;;) {
            one();
            if (this.tryConsume(']')) break;
            if (!this.tryConsume(',')) this.fail(this.peek(), `expected ',' or ']' in list for field '${field.name}', found ${describe(this.peek())}`);
          }
        }
      } else one();
      if (!this.tryConsume(';')) this.tryConsume(',');
    }
  }

  private store(field: protobuf.Field, msg: Msg, v: unknown): void {
    if (field.repeated) {
      if (!Object.prototype.hasOwnProperty.call(msg, field.name) || !Array.isArray(msg[field.name])) msg[field.name] = [];
      (msg[field.name] as unknown[]).push(v);
    } else msg[field.name] = v;
  }

  private parseSubMessage(field: protobuf.Field, msg: Msg): void {
    const t = this.next();
    const close = t.kind === 'symbol' && t.text === '{' ? '}' : t.kind === 'symbol' && t.text === '<' ? '>' : null;
    const sub = field.resolvedType as protobuf.Type;
    if (!close) this.fail(t, `expected '{' to start message field '${field.name}' (${typeName(sub)}), found ${describe(t)}`);
    const m = sub.create() as Msg;
    this.parseMessage(sub, m, close);
    this.store(field, msg, m);
  }

  private parseScalar(field: protobuf.Field, msg: Msg): void {
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Enum) return this.store(field, msg, this.enumValue(field, rt));
    switch (field.type) {
      case 'float':
        return this.store(field, msg, Math.fround(this.floatValue(field)));
      case 'double':
        return this.store(field, msg, this.floatValue(field));
      case 'bool':
        return this.store(field, msg, this.boolValue(field));
      case 'string':
        return this.store(field, msg, utf8.decode(new Uint8Array(this.stringBytes(field))));
      case 'bytes':
        return this.store(field, msg, Buffer.from(this.stringBytes(field)));
      default: {
        const range = INT_RANGES[field.type];
        if (!range) this.fail(this.peek(), `field '${field.name}' has unsupported type ${field.type}`);
        return this.store(field, msg, this.intValue(field, range));
      }
    }
  }

  private intValue(field: protobuf.Field, [min, max]: [bigint, bigint]): number {
    const first = this.peek();
    const neg = this.tryConsume('-');
    const t = this.next();
    if (t.kind !== 'int') this.fail(t, `expected an integer for field '${field.name}' (${field.type}), found ${describe(t)}`);
    const v = neg ? -intTokenValue(t.text) : intTokenValue(t.text);
    if (v < min || v > max) this.fail(first, `integer ${v} is out of range for field '${field.name}' (${field.type})`);
    return Number(v);
  }

  private floatValue(field: protobuf.Field): number {
    const neg = this.tryConsume('-');
    const t = this.next();
    let v: number;
    if (t.kind === 'float') v = Number(t.text.replace(/[fF]$/, ''));
    else if (t.kind === 'int') v = Number(intTokenValue(t.text));
    else if (t.kind === 'ident' && /^(inf|infinity)$/i.test(t.text)) v = Infinity;
    else if (t.kind === 'ident' && /^nan$/i.test(t.text)) v = NaN;
    else this.fail(t, `expected a number for field '${field.name}' (${field.type}), found ${describe(t)}`);
    return neg ? -v : v;
  }

  private boolValue(field: protobuf.Field): boolean {
    const t = this.next();
    if (t.kind === 'ident' && /^(true|t)$/i.test(t.text)) return true;
    if (t.kind === 'ident' && /^(false|f)$/i.test(t.text)) return false;
    if (t.kind === 'int' && (t.text === '0' || t.text === '1')) return t.text === '1';
    this.fail(t, `expected 'true' or 'false' for bool field '${field.name}', found ${describe(t)}`);
  }

  private stringBytes(field: protobuf.Field): number[] {
    const t = this.peek();
    if (t.kind !== 'string') this.fail(t, `expected a quoted string for field '${field.name}', found ${describe(t)}`);
    const bytes: number[] = [];
    while (this.peek().kind === 'string') bytes.push(...this.next().bytes!);
    return bytes;
  }

  private enumValue(field: protobuf.Field, e: protobuf.Enum): number {
    const first = this.peek();
    const neg = this.tryConsume('-');
    const t = this.next();
    if (t.kind === 'ident' && !neg) {
      const v = e.values[t.text];
      if (v === undefined) {
        const names = Object.keys(e.values).join(', ');
        this.fail(t, `unknown value '${t.text}' for enum field '${field.name}' (${typeName(e)}: ${names})`);
      }
      return v;
    }
    if (t.kind === 'int') {
      const v = Number(neg ? -intTokenValue(t.text) : intTokenValue(t.text));
      if (e.valuesById[v] === undefined) this.fail(first, `unknown value ${v} for enum field '${field.name}' (${typeName(e)})`);
      return v;
    }
    this.fail(t, `expected an enum value for field '${field.name}' (${typeName(e)}), found ${describe(t)}`);
  }
}

/** Parse protobuf text format into a message instance of `type`; errors are TextFormatError `FILE:LINE:COL: ...`. */
export function parseTextProto<T>(text: string, type: protobuf.Type | string, file = '<text>'): T {
  const t = resolveMessageType(type);
  const msg = t.create() as Msg;
  new Parser(tokenize(text, file), file).parseMessage(t, msg, null);
  return msg as T;
}

// ---------------------------------------------------------------------------------------------------- printer

const utf8enc = new TextEncoder();
const sortedFields = new WeakMap<protobuf.Type, protobuf.Field[]>();

function fieldsByNumber(type: protobuf.Type): protobuf.Field[] {
  let fs = sortedFields.get(type);
  if (!fs) {
    fs = [...type.fieldsArray].sort((a, b) => a.id - b.id);
    for (const f of fs) f.resolve();
    sortedFields.set(type, fs);
  }
  return fs;
}

function formatScalar(field: protobuf.Field, v: any): string {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) return rt.valuesById[v] ?? String(v);
  switch (field.type) {
    case 'float':
      return formatFloat(v);
    case 'double':
      return formatDouble(v);
    case 'bool':
      return v ? 'true' : 'false';
    case 'string':
      return `"${cEscape(utf8enc.encode(String(v)))}"`;
    case 'bytes': {
      let bytes: Uint8Array;
      if (typeof v === 'string') {
        bytes = new Uint8Array(protobuf.util.base64.length(v));
        protobuf.util.base64.decode(v, bytes, 0);
      } else bytes = v as Uint8Array;
      return `"${cEscape(bytes)}"`;
    }
    default:
      return String(v);
  }
}

function printMessage(type: protobuf.Type, msg: Msg, indent: string, out: string[]): void {
  for (const f of fieldsByNumber(type)) {
    const v = msg[f.name];
    let values: unknown[];
    if (f.repeated) {
      if (!Array.isArray(v) || v.length === 0) continue;
      values = v;
    } else {
      if (!Object.prototype.hasOwnProperty.call(msg, f.name) || v === undefined || v === null) continue;
      values = [v];
    }
    for (const e of values) {
      if (f.resolvedType instanceof protobuf.Type) {
        out.push(`${indent}${f.name} {\n`);
        printMessage(f.resolvedType, e as Msg, indent + '  ', out);
        out.push(`${indent}}\n`);
      } else out.push(`${indent}${f.name}: ${formatScalar(f, e)}\n`);
    }
  }
}

/** Print a message as protobuf's TextFormat::Printer does (Caffe's WriteProtoToTextFile). */
export function printTextProto(msg: object, type: protobuf.Type | string): string {
  const out: string[] = [];
  printMessage(resolveMessageType(type), msg as Msg, '', out);
  return out.join('');
}
