import type { Spectrum } from './lowRank';
import { mulberry32 } from './random';
import { symmetricEigen } from './symmetricEigen';

type Tf = typeof import('@tensorflow/tfjs');
type Tensor2D = import('@tensorflow/tfjs').Tensor2D;

/**
 * The matrix products behind a spectrum, on TF.js (XNNPACK matMul in wasm runs
 * 10–20× faster than scalar loops here). The matrix is uploaded once, in the
 * orientation it is stored in; a product with the other orientation is taken
 * as the transpose of a plain product with the (thin) operand transposed, so
 * the big matrix is never transposed (a 16M-value transpose costs ~1 s in wasm,
 * a transposed matMul operand is ~9× slower).
 */
class Operands {
  constructor(
    private readonly tf: Tf,
    /** A (m×n) when `isA`, else Aᵀ (n×m). */
    private readonly stored: Tensor2D,
    private readonly isA: boolean,
  ) {}

  /** A·X for X n×l (m×l). */
  a(x: Tensor2D): Tensor2D {
    return this.isA ? this.tf.matMul(this.stored, x) : this.viaTranspose(x);
  }

  /** Aᵀ·Y for Y m×l (n×l). */
  at(y: Tensor2D): Tensor2D {
    return this.isA ? this.viaTranspose(y) : this.tf.matMul(this.stored, y);
  }

  /** S·X = (Xᵀ·Sᵀ)ᵀ with the stored matrix as Sᵀ: only thin matrices are transposed. */
  private viaTranspose(x: Tensor2D): Tensor2D {
    const tf = this.tf;
    return tf.tidy(() => tf.transpose(tf.matMul(tf.transpose(x) as Tensor2D, this.stored)) as Tensor2D);
  }

  dispose(): void {
    this.stored.dispose();
  }
}

/** A first, small sketch; most large layers are settled by it. */
const FIRST_SKETCH = 64;
const OVERSAMPLE = 8;

/**
 * The top squared singular values of a row-major m×n matrix (at most
 * `sketch` of them), from a randomized range finder with one power iteration
 * (Halko, Martinsson & Tropp, 2011, algorithms 4.3–4.4) on TF.js. Each
 * captured value is at most the true one, so a rank read off them keeps at
 * least the energy it claims. The matrix comes as `rows` (m×n, row-major)
 * or `transposed` (n×m: what TF/Keras kernels are, [fanIn, units]); only
 * one is uploaded, the other orientation is made inside TF.js.
 *
 * With `keep` (the share of energy a rank must keep) a small sketch goes
 * first: when it already reaches `keep`, or when even `sketch` singular values
 * each as large as (twice) its smallest reliable one could not, the full
 * sketch would not change the answer and is skipped.
 */
export function sketchSpectrum(
  tf: Tf,
  matrix: { rows: Float32Array } | { transposed: Float32Array },
  m: number,
  n: number,
  options: { sketch: number; keep?: number; seed?: number },
): Spectrum {
  const values = 'rows' in matrix ? matrix.rows : matrix.transposed;
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i]! * values[i]!;
  const ops = new Operands(tf, tf.tensor2d(values, 'rows' in matrix ? [m, n] : [n, m]), 'rows' in matrix);
  try {
    const l = Math.min(options.sketch, m, n);
    const seed = options.seed ?? 1;
    // Worth a first look only where the full sketch is much larger (wide layers, whose flat spectra it refutes).
    if (options.keep !== undefined && 3 * (FIRST_SKETCH + OVERSAMPLE) < l && Math.min(m, n) > 1024) {
      const first = sketchEnergies(tf, ops, n, FIRST_SKETCH + OVERSAMPLE, seed);
      let captured = 0;
      for (const e of first) captured += e;
      const smallest = first[FIRST_SKETCH - 1] ?? 0;
      // Later singular values are no larger than the FIRST_SKETCH-th; the sketch may underestimate it, hence 2×.
      const reachable = captured + 2 * smallest * (l - FIRST_SKETCH);
      if (captured >= options.keep * total || reachable < options.keep * total) return { energies: first, total, exact: false };
    }
    return { energies: sketchEnergies(tf, ops, n, l, seed), total, exact: false };
  } finally {
    ops.dispose();
  }
}

function sketchEnergies(tf: Tf, ops: Operands, n: number, l: number, seed: number): Float64Array {
  const rand = mulberry32(seed);
  const omega = new Float32Array(n * l);
  for (let i = 0; i < omega.length; i++) omega[i] = Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  const om = tf.tensor2d(omega, [n, l]);
  let q = orthonormalColumns(tf, ops.a(om)); // range(A·Ω), m×k
  om.dispose();
  // One power iteration: Aᵀ·Q, then A·(that), each re-orthonormalized (the sketch sharpens towards the top).
  let z = orthonormalColumns(tf, ops.at(q));
  q.dispose();
  q = orthonormalColumns(tf, ops.a(z));
  z.dispose();
  // B = Aᵀ·Q (n×k); the captured singular values are those of Qᵀ·A, i.e. eig(Bᵀ·B).
  const b = ops.at(q);
  q.dispose();
  const k = b.shape[1]!;
  const bt = tf.transpose(b) as Tensor2D;
  const g = tf.matMul(bt, b);
  tf.dispose([b, bt]);
  const values = eigenvalues(g, k);
  g.dispose();
  return values;
}

/**
 * An orthonormal basis of a tall matrix's column space (consumes `y`):
 * shifted Cholesky QR, twice (Fukaya et al., 2020). YᵀY is l×l, so its
 * Cholesky factor costs next to nothing next to the products; the shift keeps
 * the factorization alive when Y is rank-deficient (an exactly low-rank A),
 * damping directions below ~1e-7 of the largest instead of dividing by zero,
 * and the second pass restores orthonormality to float32 precision.
 */
function orthonormalColumns(tf: Tf, y: Tensor2D): Tensor2D {
  let current = y;
  for (let pass = 0; pass < 2; pass++) {
    const l = current.shape[1];
    const yt = tf.transpose(current) as Tensor2D;
    const gram = tf.matMul(yt, current);
    yt.dispose();
    const g = Float64Array.from(gram.dataSync());
    gram.dispose();
    const rInverse = upperCholeskyInverse(g, l);
    const r = tf.tensor2d(rInverse, [l, l]);
    const next: Tensor2D = tf.matMul(current, r);
    r.dispose();
    current.dispose();
    current = next;
  }
  return current;
}

/**
 * R⁻¹ (float32, row-major) for G + sI = RᵀR, with s = 1e-7·trace(G)/l. A pivot
 * that still is not positive (rounding) drops its direction: that column of
 * R⁻¹ is zero, so Q simply has a zero column there.
 */
function upperCholeskyInverse(g: Float64Array, l: number): Float32Array {
  let trace = 0;
  for (let i = 0; i < l; i++) trace += g[i * l + i]!;
  const shift = (1e-7 * trace) / Math.max(1, l);
  // Lower factor L (G = L·Lᵀ, R = Lᵀ), row-major.
  const lo = new Float64Array(l * l);
  const dropped = new Uint8Array(l);
  for (let j = 0; j < l; j++) {
    let d = g[j * l + j]! + shift;
    for (let k = 0; k < j; k++) d -= lo[j * l + k]! * lo[j * l + k]!;
    if (!(d > shift * 1e-3)) {
      dropped[j] = 1;
      continue;
    }
    const pivot = Math.sqrt(d);
    lo[j * l + j] = pivot;
    for (let i = j + 1; i < l; i++) {
      let v = g[i * l + j]!;
      for (let k = 0; k < j; k++) v -= lo[i * l + k]! * lo[j * l + k]!;
      lo[i * l + j] = v / pivot;
    }
  }
  // R⁻¹ = (Lᵀ)⁻¹ = (L⁻¹)ᵀ: invert L by forward substitution, column by column.
  const inv = new Float64Array(l * l); // L⁻¹, row-major
  for (let c = 0; c < l; c++) {
    if (dropped[c]) continue;
    for (let i = c; i < l; i++) {
      if (dropped[i]) continue;
      let v = i === c ? 1 : 0;
      for (let k = c; k < i; k++) v -= lo[i * l + k]! * inv[k * l + c]!;
      inv[i * l + c] = v / lo[i * l + i]!;
    }
  }
  const out = new Float32Array(l * l);
  for (let i = 0; i < l; i++) for (let j = 0; j < l; j++) out[i * l + j] = inv[j * l + i]!;
  return out;
}

function eigenvalues(g: import('@tensorflow/tfjs').Tensor, n: number): Float64Array {
  const values = symmetricEigen(Float64Array.from(g.dataSync()), n, false).values;
  for (let i = 0; i < values.length; i++) values[i] = Math.max(0, values[i]!);
  return values;
}
