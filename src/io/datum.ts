// caffe.Datum, the value type of Caffe's LMDB/LevelDB databases:
//   message Datum { optional int32 channels = 1; optional int32 height = 2; optional int32 width = 3;
//                   optional bytes data = 4; optional int32 label = 5; repeated float float_data = 6;
//                   optional bool encoded = 7 [default = false]; }
// A small hand-written wire codec (the data layer decodes one Datum per image, so this is on the hot path). It writes
// exactly what C++ protobuf's SerializeToString writes: set fields in field-number order, int32 as varint (negative
// values as 10-byte varints), float_data unpacked (proto2 default); the decoder also accepts packed float_data and
// skips unknown fields. A MNIST image encodes to Caffe's 795 bytes: 08 01 10 1c 18 1c 22 90 06 <784 pixels> 28 <label>.

export interface Datum {
  channels: number;
  height: number;
  width: number;
  /** uint8 pixel data, channel-major (C x H x W); empty when unset. A view into the decoded bytes (no copy). */
  data: Uint8Array;
  label: number;
  /** float pixel data, used when `data` is empty. */
  floatData: Float32Array;
  /** true when `data` holds a compressed image (JPEG/PNG), which tscaffe does not decode. */
  encoded: boolean;
}

/** Fields to encode; a field is written when it is not undefined (C++'s has_xxx()), float_data when non-empty. */
export interface DatumInit {
  channels?: number;
  height?: number;
  width?: number;
  data?: Uint8Array;
  label?: number;
  floatData?: ArrayLike<number>;
  encoded?: boolean;
}

function varintSize(v: number): number {
  if (v < 0) return 10; // int32 negatives are sign-extended to 64 bits
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  if (v < 0) {
    const lo = v >>> 0;
    for (let i = 0; i < 4; i++) buf[pos++] = ((lo >>> (7 * i)) & 0x7f) | 0x80;
    buf[pos++] = ((lo >>> 28) & 0x0f) | 0x70 | 0x80;
    for (let i = 0; i < 4; i++) buf[pos++] = 0xff;
    buf[pos++] = 0x01;
    return pos;
  }
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

function int32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new Error(`Datum.${name}: ${v} is not an int32`);
  return v;
}

/** Serialize a Datum exactly as C++ protobuf does. */
export function encodeDatum(d: DatumInit): Buffer {
  const ints: [number, number][] = [];
  if (d.channels !== undefined) ints.push([1, int32('channels', d.channels)]);
  if (d.height !== undefined) ints.push([2, int32('height', d.height)]);
  if (d.width !== undefined) ints.push([3, int32('width', d.width)]);
  let size = 0;
  for (const [, v] of ints) size += 1 + varintSize(v);
  if (d.data !== undefined) size += 1 + varintSize(d.data.length) + d.data.length;
  if (d.label !== undefined) size += 1 + varintSize(int32('label', d.label));
  const nf = d.floatData ? d.floatData.length : 0;
  size += 5 * nf;
  if (d.encoded !== undefined) size += 2;

  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const [field, v] of ints) {
    buf[pos++] = field << 3;
    pos = writeVarint(buf, pos, v);
  }
  if (d.data !== undefined) {
    buf[pos++] = (4 << 3) | 2;
    pos = writeVarint(buf, pos, d.data.length);
    buf.set(d.data, pos);
    pos += d.data.length;
  }
  if (d.label !== undefined) {
    buf[pos++] = 5 << 3;
    pos = writeVarint(buf, pos, d.label);
  }
  for (let i = 0; i < nf; i++) {
    buf[pos++] = (6 << 3) | 5;
    buf.writeFloatLE(d.floatData![i]!, pos);
    pos += 4;
  }
  if (d.encoded !== undefined) {
    buf[pos++] = 7 << 3;
    buf[pos++] = d.encoded ? 1 : 0;
  }
  return buf;
}

/** The Datum convert_mnist_data writes for one image: channels 1, rows x cols uint8 pixels, label as a signed char. */
export function encodeMnistDatum(pixels: Uint8Array, rows: number, cols: number, labelByte: number): Buffer {
  return encodeDatum({ channels: 1, height: rows, width: cols, data: pixels, label: (labelByte << 24) >> 24 });
}

class Reader {
  pos = 0;
  constructor(
    readonly b: Uint8Array,
    readonly what: string,
  ) {}
  fail(msg: string): never {
    throw new Error(`${this.what}: not a valid caffe.Datum (${msg} at byte ${this.pos})`);
  }
  /** A varint's low 32 bits as a signed int32 (int32/bool fields). */
  varint32(): number {
    const b = this.b;
    let result = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= b.length) this.fail('truncated varint');
      const byte = b[this.pos++]!;
      if (i < 5) result |= (byte & 0x7f) << (7 * i);
      if ((byte & 0x80) === 0) return result | 0;
    }
    this.fail('varint longer than 10 bytes');
  }
  /** A length or other non-negative varint (up to 2^53). */
  uvarint(): number {
    const b = this.b;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= b.length) this.fail('truncated varint');
      const byte = b[this.pos++]!;
      result += (byte & 0x7f) * mul;
      mul *= 128;
      if ((byte & 0x80) === 0) return result;
    }
    this.fail('varint longer than 10 bytes');
  }
  bytes(): Uint8Array {
    const n = this.uvarint();
    if (this.pos + n > this.b.length) this.fail(`length ${n} runs past the end`);
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.uvarint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.bytes();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        this.fail(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.b.length) this.fail('truncated field');
  }
}

const EMPTY_U8 = new Uint8Array(0);
const EMPTY_F32 = new Float32Array(0);

/** Parse serialized Datum bytes (e.g. an LMDB value). `what` names the record in errors. */
export function decodeDatum(bytes: Uint8Array, what = 'Datum'): Datum {
  const r = new Reader(bytes, what);
  const d: Datum = { channels: 0, height: 0, width: 0, data: EMPTY_U8, label: 0, floatData: EMPTY_F32, encoded: false };
  let floats: number[] | undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  while (r.pos < bytes.length) {
    const tag = r.uvarint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) r.fail('field number 0');
    if (field === 4 && wire === 2) d.data = r.bytes();
    else if (field === 6 && wire === 5) {
      if (r.pos + 4 > bytes.length) r.fail('truncated float');
      (floats ??= []).push(dv.getFloat32(r.pos, true));
      r.pos += 4;
    } else if (field === 6 && wire === 2) {
      const p = r.bytes();
      if (p.length % 4 !== 0) r.fail('packed float_data length not a multiple of 4');
      floats ??= [];
      for (let o = 0; o < p.length; o += 4) floats.push(dv.getFloat32(p.byteOffset - bytes.byteOffset + o, true));
    } else if (wire === 0 && field >= 1 && field <= 7 && field !== 4 && field !== 6) {
      const v = r.varint32();
      if (field === 1) d.channels = v;
      else if (field === 2) d.height = v;
      else if (field === 3) d.width = v;
      else if (field === 5) d.label = v;
      else d.encoded = v !== 0;
    } else r.skip(wire);
  }
  if (floats) d.floatData = Float32Array.from(floats);
  return d;
}

/** Number of values a Datum carries: max(data.size(), float_data_size()), as Caffe computes it. */
export function datumValueCount(d: Datum): number {
  return Math.max(d.data.length, d.floatData.length);
}

/**
 * The Datum's pixel values as float32 (uint8 `data` when present, else `float_data`, as Caffe's DataTransformer
 * chooses), written into `out` at `offset` (a new array when `out` is omitted). Throws on encoded Datums.
 */
export function datumToFloat32(d: Datum, out?: Float32Array, offset = 0, what = 'Datum'): Float32Array {
  if (d.encoded) throw new Error(`${what}: encoded (compressed image) Datums are not supported by tscaffe`);
  const n = datumValueCount(d);
  const dst = out ?? new Float32Array(n);
  if (offset + n > dst.length) throw new Error(`${what}: ${n} values do not fit at offset ${offset} of ${dst.length}`);
  if (d.data.length > 0) dst.set(d.data, offset);
  else dst.set(d.floatData, offset);
  return dst;
}

export interface DatumBatch {
  channels: number;
  height: number;
  width: number;
  /** n x C x H x W pixel values (raw, not scaled). */
  data: Float32Array;
  /** n labels. */
  labels: Float32Array;
}

/**
 * Decode serialized Datums (e.g. from DatumBatchReader.readBatch) into one float batch. All Datums must have the
 * first one's shape (Caffe's data layer CHECKs the same).
 */
export function decodeDatumBatch(values: Uint8Array[], what = 'Datum'): DatumBatch {
  if (values.length === 0) throw new Error('decodeDatumBatch: empty batch');
  const first = decodeDatum(values[0]!, what);
  const { channels, height, width } = first;
  const size = channels * height * width;
  const data = new Float32Array(values.length * size);
  const labels = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const d = i === 0 ? first : decodeDatum(values[i]!, what);
    if (d.channels !== channels || d.height !== height || d.width !== width || datumValueCount(d) !== size) {
      throw new Error(
        `${what}: record ${i} of the batch has shape ${d.channels}x${d.height}x${d.width} (${datumValueCount(d)} values), expected ${channels}x${height}x${width}`,
      );
    }
    datumToFloat32(d, data, i * size, what);
    labels[i] = d.label;
  }
  return { channels, height, width, data, labels };
}
