// Numbers printed as C++ iostreams print them by default (precision 6, %g), so tscaffe's log lines read like Caffe's.

/** `std::cout << x` for a float/double with the default precision (6 significant digits, %g). */
export function fmtG(x: number, precision = 6): string {
  if (Number.isNaN(x)) return x < 0 ? '-nan' : 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const exp = Math.floor(Math.log10(Math.abs(x)));
  // toExponential gives the correctly rounded mantissa; its exponent may differ from `exp` after rounding.
  const [mant, e] = x.toExponential(precision - 1).split('e') as [string, string];
  const E = parseInt(e, 10);
  void exp;
  if (E < -4 || E >= precision) {
    const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    const sign = E < 0 ? '-' : '+';
    return `${m}e${sign}${String(Math.abs(E)).padStart(2, '0')}`;
  }
  const fixed = x.toFixed(Math.max(0, precision - 1 - E));
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}
