/**
 * Eigen-decomposition of a real symmetric matrix (Householder tridiagonalisation
 * followed by the implicit QL algorithm, as in EISPACK's tred2/tql2). Used on
 * Gram matrices: the eigenvalues of AᵀA are the squared singular values of A.
 */
export interface SymmetricEigen {
  /** Eigenvalues in descending order. */
  values: Float64Array;
  /** Column-major eigenvectors (n×n), column j belongs to values[j]; only when requested. */
  vectors?: Float64Array;
}

/** `a` is n×n row-major and is not modified. */
export function symmetricEigen(a: Float64Array, n: number, withVectors = false): SymmetricEigen {
  // V holds the matrix (row-major, V[i*n+j]) and becomes the eigenvectors.
  const V = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (withVectors) tred2(V, d, e, n, true);
  else tred2Values(V, d, e, n);
  tql2(V, d, e, n, withVectors);
  // Sort descending.
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y]! - d[x]!);
  const values = Float64Array.from(order, (i) => d[i]!);
  if (!withVectors) return { values };
  const vectors = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const src = order[c]!;
    for (let r = 0; r < n; r++) vectors[c * n + r] = V[r * n + src]!;
  }
  return { values, vectors };
}

function tred2(V: Float64Array, d: Float64Array, e: Float64Array, n: number, withVectors: boolean): void {
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        V[j * n + i] = f;
        g = e[j]! + V[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j]! * d[k]!;
          e[k] = e[k]! + V[k * n + j]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) V[k * n + j] = V[k * n + j]! - (f * e[k]! + g * d[k]!);
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  if (withVectors) {
    for (let i = 0; i < n - 1; i++) {
      V[(n - 1) * n + i] = V[i * n + i]!;
      V[i * n + i] = 1;
      const h = d[i + 1]!;
      if (h !== 0) {
        for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1]! / h;
        for (let j = 0; j <= i; j++) {
          let g = 0;
          for (let k = 0; k <= i; k++) g += V[k * n + i + 1]! * V[k * n + j]!;
          for (let k = 0; k <= i; k++) V[k * n + j] = V[k * n + j]! - g * d[k]!;
        }
      }
      for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
    }
    for (let j = 0; j < n; j++) {
      d[j] = V[(n - 1) * n + j]!;
      V[(n - 1) * n + j] = 0;
    }
    V[(n - 1) * n + n - 1] = 1;
  } else {
    // Without accumulating the transformations, the tridiagonal's diagonal is
    // what the reduction left on V's diagonal.
    for (let j = 0; j < n; j++) d[j] = V[j * n + j]!;
  }
  e[0] = 0;
}

/**
 * tred2 without the eigenvector accumulation, reading the working matrix by
 * rows. tred2 walks the lower triangle down columns (V[k][j], k ≥ j), which for
 * n = 1024 is a cache miss per element; the matrix is symmetric, so its upper
 * triangle holds the same numbers and W[j][k] = V[k][j] is read along rows
 * instead. The arithmetic, and its order, is tred2's exactly; the stores tred2
 * makes only for the eigenvectors (Householder vectors, zeroed rows) are left out.
 */
function tred2Values(W: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = W[j * n + n - 1]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) d[j] = W[j * n + i - 1]!;
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      // e = W·d (lower triangle by rows): four, then two rows at a time, so their running
      // sums overlap; each sum and each e[k] still takes its terms in tred2's order.
      let j = 0;
      for (; j + 3 < i; j += 4) {
        const r0 = j * n;
        const r1 = r0 + n;
        const r2 = r1 + n;
        const r3 = r2 + n;
        const f0 = d[j]!;
        let g0 = e[j]! + W[r0 + j]! * f0;
        for (let k = j + 1; k <= j + 3; k++) {
          g0 += W[r0 + k]! * d[k]!;
          e[k] = e[k]! + W[r0 + k]! * f0;
        }
        const f1 = d[j + 1]!;
        let g1 = e[j + 1]! + W[r1 + j + 1]! * f1;
        for (let k = j + 2; k <= j + 3; k++) {
          g1 += W[r1 + k]! * d[k]!;
          e[k] = e[k]! + W[r1 + k]! * f1;
        }
        const f2 = d[j + 2]!;
        let g2 = e[j + 2]! + W[r2 + j + 2]! * f2;
        g2 += W[r2 + j + 3]! * d[j + 3]!;
        e[j + 3] = e[j + 3]! + W[r2 + j + 3]! * f2;
        const f3 = d[j + 3]!;
        let g3 = e[j + 3]! + W[r3 + j + 3]! * f3;
        for (let k = j + 4; k <= i - 1; k++) {
          const w0 = W[r0 + k]!;
          const w1 = W[r1 + k]!;
          const w2 = W[r2 + k]!;
          const w3 = W[r3 + k]!;
          const dk = d[k]!;
          g0 += w0 * dk;
          g1 += w1 * dk;
          g2 += w2 * dk;
          g3 += w3 * dk;
          e[k] = e[k]! + w0 * f0 + w1 * f1 + w2 * f2 + w3 * f3;
        }
        e[j] = g0;
        e[j + 1] = g1;
        e[j + 2] = g2;
        e[j + 3] = g3;
      }
      for (; j + 1 < i; j += 2) {
        const f0 = d[j]!;
        const row0 = j * n;
        let g0 = e[j]! + W[row0 + j]! * f0;
        const w01 = W[row0 + j + 1]!;
        g0 += w01 * d[j + 1]!;
        e[j + 1] = e[j + 1]! + w01 * f0;
        const f1 = d[j + 1]!;
        const row1 = row0 + n;
        let g1 = e[j + 1]! + W[row1 + j + 1]! * f1;
        for (let k = j + 2; k <= i - 1; k++) {
          const w0 = W[row0 + k]!;
          const w1 = W[row1 + k]!;
          const dk = d[k]!;
          g0 += w0 * dk;
          g1 += w1 * dk;
          e[k] = e[k]! + w0 * f0 + w1 * f1;
        }
        e[j] = g0;
        e[j + 1] = g1;
      }
      for (; j < i; j++) {
        f = d[j]!;
        const row = j * n;
        g = e[j]! + W[row + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          const w = W[row + k]!;
          g += w * d[k]!;
          e[k] = e[k]! + w * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      // W −= d·eᵀ + e·dᵀ on the triangle, two rows at a time (they share the e[k], d[k] loads).
      let r = 0;
      for (; r + 1 < i; r += 2) {
        const f0 = d[r]!;
        const g0 = e[r]!;
        const f1 = d[r + 1]!;
        const g1 = e[r + 1]!;
        const row0 = r * n;
        const row1 = row0 + n;
        W[row0 + r] = W[row0 + r]! - (f0 * e[r]! + g0 * d[r]!);
        for (let k = r + 1; k <= i - 1; k++) {
          const ek = e[k]!;
          const dk = d[k]!;
          W[row0 + k] = W[row0 + k]! - (f0 * ek + g0 * dk);
          W[row1 + k] = W[row1 + k]! - (f1 * ek + g1 * dk);
        }
        d[r] = W[row0 + i - 1]!;
        d[r + 1] = W[row1 + i - 1]!;
      }
      for (; r < i; r++) {
        f = d[r]!;
        g = e[r]!;
        const row = r * n;
        for (let k = r; k <= i - 1; k++) W[row + k] = W[row + k]! - (f * e[k]! + g * d[k]!);
        d[r] = W[row + i - 1]!;
      }
    }
    d[i] = h;
  }
  for (let j = 0; j < n; j++) d[j] = W[j * n + j]!;
  e[0] = 0;
}

function tql2(V: Float64Array, d: Float64Array, e: Float64Array, n: number, withVectors: boolean): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        iter++;
        if (iter > 60) break;
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          if (withVectors) {
            for (let k = 0; k < n; k++) {
              h = V[k * n + i + 1]!;
              V[k * n + i + 1] = s * V[k * n + i]! + c * h;
              V[k * n + i] = c * V[k * n + i]! - s * h;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
}
