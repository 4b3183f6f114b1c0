import { mulberry32 } from './random';
import { symmetricEigen } from './symmetricEigen';

/**
 * Singular values and truncated factorizations of a row-major rows×cols matrix,
 * through the eigen-decomposition of the smaller Gram matrix (exact, fast for
 * the layer sizes we meet) or a randomized range finder for very wide layers.
 */
export const EXACT_LIMIT = 1536;

/**
 * G = AᵀA (cols×cols) when cols ≤ rows, else AAᵀ (rows×rows); float64.
 * Each entry is one dot product summed in row (column) order, so it is the
 * same number whichever loop computes it. The dots run 4×4 at a time over
 * contiguous vectors (A's columns are copied out, transposed, once): every
 * value loaded feeds four products, instead of one rank-1 update of all of G
 * per row of A.
 */
export function gram(a: ArrayLike<number>, rows: number, cols: number): { g: Float64Array; n: number; side: 'cols' | 'rows' } {
  if (cols <= rows) {
    const n = cols;
    if (!allFinite(a, rows * cols)) return { g: gramColumnsByRows(a, rows, cols), n, side: 'cols' };
    // Columns as contiguous vectors; float32 input stays float32 (exact), anything else float64.
    const t = a instanceof Float32Array ? new Float32Array(rows * cols) : new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let c = 0; c < cols; c++) t[c * rows + r] = a[base + c]!;
    }
    return { g: dotsOf(t, n, rows), n, side: 'cols' };
  }
  const n = rows;
  const v = a instanceof Float32Array || a instanceof Float64Array ? a : Float64Array.from(a);
  return { g: dotsOf(v, n, cols), n, side: 'rows' };
}

function allFinite(a: ArrayLike<number>, length: number): boolean {
  for (let i = 0; i < length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

/**
 * AᵀA by rank-1 updates, skipping zero entries of each row: the reference
 * arithmetic, kept for inputs with ±Infinity or NaN, where skipping 0·∞ matters.
 */
function gramColumnsByRows(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const n = cols;
  const g = new Float64Array(n * n);
  const row = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let i = 0; i < n; i++) row[i] = a[base + i]!;
    for (let i = 0; i < n; i++) {
      const ai = row[i]!;
      if (ai === 0) continue;
      const gi = i * n;
      for (let j = i; j < n; j++) g[gi + j] = g[gi + j]! + ai * row[j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[i * n + j] = g[j * n + i]!;
  return g;
}

/** G[i][j] = Σ_k v_i[k]·v_j[k] for the m vectors of length len stored back to back in `t`. */
function dotsOf(t: Float32Array | Float64Array, m: number, len: number): Float64Array {
  const g = new Float64Array(m * m);
  const full = m - (m % 4);
  for (let i = 0; i < full; i += 4) {
    const i0 = i * len;
    const i1 = i0 + len;
    const i2 = i1 + len;
    const i3 = i2 + len;
    for (let j = i; j < full; j += 4) {
      const j0 = j * len;
      const j1 = j0 + len;
      const j2 = j1 + len;
      const j3 = j2 + len;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let k = 0; k < len; k++) {
        const x0 = t[j0 + k]!;
        const x1 = t[j1 + k]!;
        const x2 = t[j2 + k]!;
        const x3 = t[j3 + k]!;
        let y = t[i0 + k]!;
        s00 += y * x0; s01 += y * x1; s02 += y * x2; s03 += y * x3;
        y = t[i1 + k]!;
        s10 += y * x0; s11 += y * x1; s12 += y * x2; s13 += y * x3;
        y = t[i2 + k]!;
        s20 += y * x0; s21 += y * x1; s22 += y * x2; s23 += y * x3;
        y = t[i3 + k]!;
        s30 += y * x0; s31 += y * x1; s32 += y * x2; s33 += y * x3;
      }
      let o = i * m + j;
      g[o] = s00; g[o + 1] = s01; g[o + 2] = s02; g[o + 3] = s03;
      o += m;
      g[o] = s10; g[o + 1] = s11; g[o + 2] = s12; g[o + 3] = s13;
      o += m;
      g[o] = s20; g[o + 1] = s21; g[o + 2] = s22; g[o + 3] = s23;
      o += m;
      g[o] = s30; g[o + 1] = s31; g[o + 2] = s32; g[o + 3] = s33;
    }
  }
  // Pairs that involve one of the last m mod 4 vectors.
  for (let i = 0; i < m; i++) {
    for (let j = Math.max(i, full); j < m; j++) {
      const oi = i * len;
      const oj = j * len;
      let s = 0;
      for (let k = 0; k < len; k++) s += t[oi + k]! * t[oj + k]!;
      g[i * m + j] = s;
    }
  }
  for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) g[i * m + j] = g[j * m + i]!;
  return g;
}

export interface Spectrum {
  /** Squared singular values, descending (as many as could be computed). */
  energies: Float64Array;
  /** ‖A‖²_F. */
  total: number;
  /** True when every singular value was computed. */
  exact: boolean;
}

export function spectrum(a: ArrayLike<number>, rows: number, cols: number, seed = 1): Spectrum {
  let total = 0;
  for (let i = 0; i < rows * cols; i++) total += a[i]! * a[i]!;
  if (Math.min(rows, cols) <= EXACT_LIMIT) {
    const { g, n } = gram(a, rows, cols);
    const { values } = symmetricEigen(g, n, false);
    for (let i = 0; i < values.length; i++) values[i] = Math.max(0, values[i]!);
    return { energies: values, total, exact: true };
  }
  const sketch = randomizedRange(a, rows, cols, Math.min(512, Math.min(rows, cols)), seed);
  const { values } = symmetricEigen(sketch.bGram, sketch.l, false);
  for (let i = 0; i < values.length; i++) values[i] = Math.max(0, values[i]!);
  return { energies: values, total, exact: false };
}

/** Smallest rank keeping at least `keep` (e.g. 1−ε²) of the energy; null if the computed part can't tell. */
export function rankForEnergy(s: Spectrum, keep: number): number | null {
  if (s.total === 0) return 0;
  let acc = 0;
  for (let k = 0; k < s.energies.length; k++) {
    acc += s.energies[k]!;
    if (acc >= keep * s.total) return k + 1;
  }
  return s.exact ? s.energies.length : null;
}

/** Relative Frobenius error ‖A − A_K‖/‖A‖ of the best rank-K approximation. */
export function truncationError(s: Spectrum, k: number): number {
  if (s.total === 0) return 0;
  let kept = 0;
  for (let i = 0; i < Math.min(k, s.energies.length); i++) kept += s.energies[i]!;
  return Math.sqrt(Math.max(0, s.total - kept) / s.total);
}

export interface Factorization {
  /** rows×k, row-major. */
  left: Float32Array;
  /** k×cols, row-major. */
  right: Float32Array;
  rank: number;
}

/** Best rank-k factorization A ≈ left·right. */
export function factorize(a: ArrayLike<number>, rows: number, cols: number, k: number): Factorization {
  const rank = Math.max(1, Math.min(k, rows, cols));
  const { g, n, side } = gram(a, rows, cols);
  const { vectors } = symmetricEigen(g, n, true);
  const v = vectors!; // column j = eigenvector j (length n), stored v[j*n + i]
  const left = new Float32Array(rows * rank);
  const right = new Float32Array(rank * cols);
  if (side === 'cols') {
    // A ≈ (A V_k) V_kᵀ
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < rank; j++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += a[r * cols + c]! * v[j * n + c]!;
        left[r * rank + j] = s;
      }
    }
    for (let j = 0; j < rank; j++) for (let c = 0; c < cols; c++) right[j * cols + c] = v[j * n + c]!;
  } else {
    // A ≈ U_k (U_kᵀ A)
    for (let r = 0; r < rows; r++) for (let j = 0; j < rank; j++) left[r * rank + j] = v[j * n + r]!;
    for (let j = 0; j < rank; j++) {
      for (let c = 0; c < cols; c++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += v[j * n + r]! * a[r * cols + c]!;
        right[j * cols + c] = s;
      }
    }
  }
  return { left, right, rank };
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/**
 * Randomized range finder with two power iterations: Q spans A's dominant column
 * space; the eigenvalues of (QᵀA)(QᵀA)ᵀ approximate the top squared singular values.
 */
function randomizedRange(a: ArrayLike<number>, rows: number, cols: number, l: number, seed: number): { bGram: Float64Array; l: number } {
  const rand = mulberry32(seed);
  // Y = A Ω  (rows×l), stored column-major for orthonormalisation.
  const omega = new Float64Array(cols * l);
  for (let i = 0; i < omega.length; i++) omega[i] = gaussian(rand);
  let Y = multiplyAB(a, rows, cols, omega, l);
  for (let q = 0; q < 2; q++) {
    orthonormalizeColumns(Y, rows, l);
    const Z = multiplyAtB(a, rows, cols, Y, l); // cols×l
    orthonormalizeColumns(Z, cols, l);
    Y = multiplyAB(a, rows, cols, Z, l);
  }
  orthonormalizeColumns(Y, rows, l);
  const B = multiplyAtB(a, rows, cols, Y, l); // cols×l = (QᵀA)ᵀ, column-major
  const bGram = new Float64Array(l * l);
  for (let i = 0; i < l; i++) {
    for (let j = i; j < l; j++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += B[i * cols + c]! * B[j * cols + c]!;
      bGram[i * l + j] = s;
      bGram[j * l + i] = s;
    }
  }
  return { bGram, l };
}

/** A (rows×cols, row-major) times X (cols×l, column-major) → rows×l column-major. */
function multiplyAB(a: ArrayLike<number>, rows: number, cols: number, x: Float64Array, l: number): Float64Array {
  const out = new Float64Array(rows * l);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < l; j++) {
      let s = 0;
      const xj = j * cols;
      for (let c = 0; c < cols; c++) s += a[r * cols + c]! * x[xj + c]!;
      out[j * rows + r] = s;
    }
  }
  return out;
}

/** Aᵀ (cols×rows) times Y (rows×l, column-major) → cols×l column-major. */
function multiplyAtB(a: ArrayLike<number>, rows: number, cols: number, y: Float64Array, l: number): Float64Array {
  const out = new Float64Array(cols * l);
  for (let j = 0; j < l; j++) {
    const yj = j * rows;
    const oj = j * cols;
    for (let r = 0; r < rows; r++) {
      const w = y[yj + r]!;
      if (w === 0) continue;
      const base = r * cols;
      for (let c = 0; c < cols; c++) out[oj + c] = out[oj + c]! + a[base + c]! * w;
    }
  }
  return out;
}

/** Modified Gram–Schmidt on the l columns (column-major, length m each). */
function orthonormalizeColumns(x: Float64Array, m: number, l: number): void {
  for (let j = 0; j < l; j++) {
    const cj = j * m;
    for (let p = 0; p < j; p++) {
      const cp = p * m;
      let dot = 0;
      for (let i = 0; i < m; i++) dot += x[cj + i]! * x[cp + i]!;
      for (let i = 0; i < m; i++) x[cj + i] = x[cj + i]! - dot * x[cp + i]!;
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += x[cj + i]! * x[cj + i]!;
    norm = Math.sqrt(norm);
    if (norm > 1e-300) for (let i = 0; i < m; i++) x[cj + i] = x[cj + i]! / norm;
  }
}
