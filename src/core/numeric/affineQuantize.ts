/**
 * Integer quantization of a float tensor with one scale per tensor or per
 * output unit: symmetric int8 (zero point 0, range ±127) or asymmetric
 * uint8/uint16 whose range always includes 0 and whose zero point is rounded so
 * 0.0 stays exactly 0. Writes the dequantized values (what a runtime computes
 * with) and returns the scales and zero points.
 *
 * Speed: two passes over the values in memory order with per-unit min/max held
 * in typed arrays (no per-unit index lists); for a Keras [fanIn, units] kernel
 * the inner loop runs along a row. Results are the same as quantizing each unit
 * separately in index order, for any layout that maps each element to at most
 * one unit.
 */
export type AffineDtype = 'int8' | 'uint8' | 'uint16';

export interface UnitLayout {
  units: number;
  fanIn: number;
  index: (unit: number, position: number) => number;
}

export interface AffineQuantized {
  scale: Float32Array;
  zeroPoint: Int32Array;
}

/**
 * Math.round (ties toward +∞, −0 for values in [−0.5, −0]) through Math.floor:
 * V8 inlines floor but calls out for round, ~20× slower in these loops.
 * y − floor(y) is exact for every double except those in (−0.5, 0), where the
 * answer is −0 either way.
 */
export function roundHalfUp(y: number): number {
  const r = Math.floor(y);
  const q = y - r >= 0.5 ? r + 1 : r;
  return q === 0 && y < 0 ? -0 : q;
}

/**
 * Math.round for |y| < 2⁵²: floor(y + 0.5) is exact there except for results 0
 * and 1 (the sign of zero for y in [−0.5, −0], and y = 0.5 − 2⁻⁵⁴, where y + 0.5
 * rounds up to 1), which take the exact path. Branch-free for all other values,
 * where the exact version mispredicts half the time on random data.
 */
export function roundBounded(y: number): number {
  const q = Math.floor(y + 0.5);
  return q === 0 || q === 1 ? roundHalfUp(y) : q;
}

/**
 * Math.round(clamp(y, −127, 127)) for the int8 loops, written out so that it
 * stays a double in registers: floor(y + 0.5), except that 0 takes the sign of
 * y (Math.round gives −0 for y in [−0.5, −0]) and y = 0.5 − 2⁻⁵⁴ rounds to 0
 * (y + 0.5 rounds up to 1). NaN stays NaN. The same value as
 * roundBounded(Math.max(−127, Math.min(127, y))), bit for bit (tested).
 */
export function roundInt8(y: number): number {
  const c = y > 127 ? 127 : y < -127 ? -127 : y;
  const q = Math.floor(c + 0.5);
  if (q === 0) return c * 0;
  return q === 1 && c < 0.5 ? 0 : q;
}

export function quantizeAffine(values: Float32Array, out: Float32Array, dtype: AffineDtype, layout: UnitLayout | null): AffineQuantized {
  if (!layout) {
    let min = 0;
    let max = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const mins = Float64Array.of(min);
    const maxs = Float64Array.of(max);
    const { scales, zeroPoints, result } = scalesFor(mins, maxs, dtype);
    const s = scales[0]!;
    if (dtype === 'int8') {
      for (let i = 0; i < values.length; i++) out[i] = roundInt8(values[i]! / s) * s;
    } else {
      const qmax = dtype === 'uint8' ? 255 : 65535;
      const zp = zeroPoints[0]!;
      for (let i = 0; i < values.length; i++) out[i] = (Math.max(0, Math.min(qmax, roundBounded(values[i]! / s) + zp)) - zp) * s;
    }
    return result;
  }

  const { units, fanIn } = layout;
  const { base, su, sp } = stridesOf(layout);
  // Walk in the order that touches memory sequentially: positions outer when units are adjacent in memory.
  const unitsInner = units > 1 && fanIn > 1 ? Math.abs(su) <= Math.abs(sp) : fanIn > 1;
  // Element (u, p) is at base + u·su + p·sp; the loops step through it rather than call layout.index per
  // element (a call V8 only inlines after several runs: the first runs over 10M weights were 2.5× slower).
  if (dtype === 'int8') {
    // Symmetric: the scale needs only max |v| (min and max from 0, as below, give the same), one array instead of two.
    const absMax = new Float64Array(units);
    if (unitsInner) {
      for (let p = 0, row = base; p < fanIn; p++, row += sp) {
        for (let u = 0, i = row; u < units; u++, i += su) absMax[u] = Math.max(absMax[u]!, Math.abs(values[i]!));
      }
    } else {
      for (let u = 0, col = base; u < units; u++, col += su) {
        let m = 0;
        for (let p = 0, i = col; p < fanIn; p++, i += sp) m = Math.max(m, Math.abs(values[i]!));
        absMax[u] = m;
      }
    }
    const { scales, result } = scalesFor(new Float64Array(units), absMax, dtype);
    if (unitsInner) {
      for (let p = 0, row = base; p < fanIn; p++, row += sp) {
        for (let u = 0, i = row; u < units; u++, i += su) {
          const s = scales[u]!;
          out[i] = roundInt8(values[i]! / s) * s;
        }
      }
    } else {
      for (let u = 0, col = base; u < units; u++, col += su) {
        const s = scales[u]!;
        for (let p = 0, i = col; p < fanIn; p++, i += sp) out[i] = roundInt8(values[i]! / s) * s;
      }
    }
    return result;
  }
  const mins = new Float64Array(units);
  const maxs = new Float64Array(units);
  if (unitsInner) {
    for (let p = 0, row = base; p < fanIn; p++, row += sp) {
      for (let u = 0, i = row; u < units; u++, i += su) {
        const v = values[i]!;
        mins[u] = Math.min(mins[u]!, v);
        maxs[u] = Math.max(maxs[u]!, v);
      }
    }
  } else {
    for (let u = 0, col = base; u < units; u++, col += su) {
      let min = 0;
      let max = 0;
      for (let p = 0, i = col; p < fanIn; p++, i += sp) {
        const v = values[i]!;
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      mins[u] = min;
      maxs[u] = max;
    }
  }
  const { scales, zeroPoints, result } = scalesFor(mins, maxs, dtype);
  const qmax = dtype === 'uint8' ? 255 : 65535;
  if (unitsInner) {
    for (let p = 0, row = base; p < fanIn; p++, row += sp) {
      for (let u = 0, i = row; u < units; u++, i += su) {
        const s = scales[u]!;
        const zp = zeroPoints[u]!;
        out[i] = (Math.max(0, Math.min(qmax, roundBounded(values[i]! / s) + zp)) - zp) * s;
      }
    }
  } else {
    for (let u = 0, col = base; u < units; u++, col += su) {
      const s = scales[u]!;
      const zp = zeroPoints[u]!;
      for (let p = 0, i = col; p < fanIn; p++, i += sp) out[i] = (Math.max(0, Math.min(qmax, roundBounded(values[i]! / s) + zp)) - zp) * s;
    }
  }
  return result;
}

/**
 * The layout as strides: element (u, p) at base + u·su + p·sp. Every layout
 * Parsimony makes is such a map (src/core/analysis/weightLayout.ts: units first
 * or units last); one that is not is a bug, caught here rather than quantizing
 * the wrong elements.
 */
function stridesOf(layout: UnitLayout): { base: number; su: number; sp: number } {
  const { units, fanIn, index } = layout;
  // An empty tensor has no elements to place (and its layout need not answer for any).
  if (units === 0 || fanIn === 0) return { base: 0, su: 0, sp: 0 };
  const base = index(0, 0);
  const su = units > 1 ? index(1, 0) - base : 0;
  const sp = fanIn > 1 ? index(0, 1) - base : 0;
  const at = (u: number, p: number) => base + u * su + p * sp;
  for (const [u, p] of [[units - 1, fanIn - 1], [units - 1, 0], [0, fanIn - 1], [units >> 1, fanIn >> 1]] as const) {
    if (index(u, p) !== at(u, p)) throw new Error(`quantizeAffine: the unit layout is not a strided one (unit ${u}, position ${p})`);
  }
  return { base, su, sp };
}

/** Scale (kept in float64 for the arithmetic, float32 in the result) and zero point of each group's range. */
function scalesFor(mins: Float64Array, maxs: Float64Array, dtype: AffineDtype): { scales: Float64Array; zeroPoints: Int32Array; result: AffineQuantized } {
  const count = mins.length;
  const scales = new Float64Array(count);
  const zeroPoints = new Int32Array(count);
  const scale = new Float32Array(count);
  for (let g = 0; g < count; g++) {
    const min = mins[g]!;
    const max = maxs[g]!;
    if (dtype === 'int8') {
      const s = Math.max(Math.abs(min), Math.abs(max)) / 127 || 1;
      scales[g] = s;
    } else {
      const qmax = dtype === 'uint8' ? 255 : 65535;
      const s = (max - min) / qmax || 1;
      scales[g] = s;
      zeroPoints[g] = Math.round(-min / s);
    }
    scale[g] = scales[g]!;
  }
  return { scales, zeroPoints, result: { scale, zeroPoint: Int32Array.from(zeroPoints) } };
}
