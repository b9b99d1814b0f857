// Number and string formatting of protobuf's C++ TextFormat printer: C's %g with glibc's exact rounding,
// SimpleFtoa/SimpleDtoa (shortest of 6/9 resp. 15/17 significant digits that reads back), and CEscape.

/**
 * C's printf("%.{prec}g", x) for finite x, with exact round-half-even on the binary value (as glibc prints).
 */
export function formatG(x: number, prec: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sign = x < 0 ? '-' : '';
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, Math.abs(x));
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let pow2: number;
  if (bexp === 0) pow2 = -1074;
  else {
    mant |= 1n << 52n;
    pow2 = bexp - 1075;
  }
  // value = D * 10^-k exactly
  let D: bigint;
  let k: number;
  if (pow2 >= 0) {
    D = mant << BigInt(pow2);
    k = 0;
  } else {
    D = mant * 5n ** BigInt(-pow2);
    k = -pow2;
  }
  let digits = D.toString();
  let X = digits.length - 1 - k; // decimal exponent of the leading digit
  if (digits.length > prec) {
    const rest = digits.slice(prec);
    let head = digits.slice(0, prec);
    let up = rest[0]! > '5' || (rest[0] === '5' && /[1-9]/.test(rest.slice(1)));
    if (rest[0] === '5' && !/[1-9]/.test(rest.slice(1))) up = Number(head[head.length - 1]) % 2 === 1;
    if (up) {
      head = (BigInt(head) + 1n).toString();
      if (head.length > prec) {
        head = head.slice(0, prec);
        X++;
      }
    }
    digits = head;
  } else digits = digits.padEnd(prec, '0');
  if (X < -4 || X >= prec) {
    const frac = digits.slice(1).replace(/0+$/, '');
    const e = Math.abs(X).toString().padStart(2, '0');
    return `${sign}${digits[0]}${frac ? '.' + frac : ''}e${X < 0 ? '-' : '+'}${e}`;
  }
  let int: string;
  let frac: string;
  if (X >= 0) {
    int = digits.slice(0, X + 1);
    frac = digits.slice(X + 1);
  } else {
    int = '0';
    frac = '0'.repeat(-X - 1) + digits;
  }
  frac = frac.replace(/0+$/, '');
  return sign + int + (frac ? '.' + frac : '');
}

/** protobuf's SimpleFtoa: %.6g when it reads back as the same float, else %.9g. */
export function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  const f = Math.fround(v);
  const s = formatG(f, 6);
  return Math.fround(Number(s)) === f ? s : formatG(f, 9);
}

/** protobuf's SimpleDtoa: %.15g when it reads back as the same double, else %.17g. */
export function formatDouble(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  const s = formatG(v, 15);
  return Number(s) === v ? s : formatG(v, 17);
}

/** protobuf's CEscape: \n \r \t \" \' \\ and 3-digit octal for every other byte outside 0x20..0x7e. */
export function cEscape(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    if (b === 10) out += '\\n';
    else if (b === 13) out += '\\r';
    else if (b === 9) out += '\\t';
    else if (b === 34) out += '\\"';
    else if (b === 39) out += "\\'";
    else if (b === 92) out += '\\\\';
    else if (b < 0x20 || b >= 0x7f) out += '\\' + b.toString(8).padStart(3, '0');
    else out += String.fromCharCode(b);
  }
  return out;
}
