"""numpy peer for `npm run bench` (weight kernels).

Runs the same operations as Parsimony's TypeScript kernels on the same data
(raw float32 / uint8 files written by the bench) and prints one JSON object:
per-operation run times in seconds (after warm-up), plus which numpy/BLAS this is.

    python3 numpy_kernels.py <dir> <runs> <warmup> [op,op,...]

<dir> holds weights.f32 (10M float32), indices.u8 (10M symbols < 256),
kernel.f32 (1024x1024 float32) and meta.json ({"rows", "cols", "units", "fanIn"}).
"""
import heapq
import json
import os
import sys
import time

import numpy as np


def blas_info():
    """Which BLAS numpy is linked against, from the libraries mapped into this process."""
    np.dot(np.ones((64, 64)), np.ones((64, 64)))  # make sure BLAS is loaded
    libs = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ''
                base = os.path.basename(path)
                if any(k in base for k in ('blas', 'lapack', 'mkl', 'blis', 'atlas')):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    info = {'libraries': sorted(libs)}
    try:
        import threadpoolctl  # noqa: F401
        from threadpoolctl import threadpool_info
        info['threadpoolctl'] = threadpool_info()
    except ImportError:
        info['threadpoolctl'] = None
    corename = None
    for lib in libs:
        if 'openblas' in lib:
            try:
                import ctypes
                h = ctypes.CDLL(lib)
                h.openblas_get_corename.restype = ctypes.c_char_p
                corename = h.openblas_get_corename().decode()
            except Exception:  # pragma: no cover - best effort
                pass
    info['openblasCore'] = corename
    info['env'] = {k: os.environ.get(k) for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', 'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS')}
    return info


def quantize_int8_per_channel(w, fan_in, units):
    # Keras [fanIn, units] layout: one scale per output unit (column).
    m = w.reshape(fan_in, units)
    scale = np.abs(m).max(axis=0) / 127
    scale[scale == 0] = 1
    q = np.clip(np.round(m / scale), -127, 127)
    return (q * scale).astype(np.float32)


def magnitude_quantile(w, fraction):
    k = min(w.size - 1, max(0, int(fraction * w.size)))
    return np.partition(np.abs(w), k)[k]


def kmeans16(w, k=16, iterations=50):
    # The same algorithm as src/core/numeric/kmeans1d.ts: sort, prefix sums, Lloyd with linear init.
    s = np.sort(w).astype(np.float64)
    prefix = np.concatenate(([0.0], np.cumsum(s)))
    prefix_sq = np.concatenate(([0.0], np.cumsum(s * s)))
    c = np.linspace(s[0], s[-1], k)
    for _ in range(iterations):
        bounds = np.concatenate(([0], np.searchsorted(s, (c[:-1] + c[1:]) / 2), [s.size]))
        counts = np.diff(bounds)
        sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
        nxt = np.where(counts > 0, sums / np.maximum(counts, 1), c)
        nxt.sort()
        moved = np.abs(nxt - c).max()
        c = nxt
        if moved == 0:
            break
    bounds = np.concatenate(([0], np.searchsorted(s, (c[:-1] + c[1:]) / 2), [s.size]))
    counts = np.diff(bounds)
    sse = (prefix_sq[bounds[1:]] - prefix_sq[bounds[:-1]]) - 2 * c * (prefix[bounds[1:]] - prefix[bounds[:-1]]) + counts * c * c
    return c, counts, max(0.0, float(sse.sum()))


def huffman_bits(indices, symbols=256):
    counts = np.bincount(indices, minlength=symbols)
    heap = [(int(c), i, None) for i, c in enumerate(counts) if c > 0]
    heapq.heapify(heap)
    parent = {}
    nxt = symbols
    while len(heap) > 1:
        a = heapq.heappop(heap)
        b = heapq.heappop(heap)
        parent[a[1]] = nxt
        parent[b[1]] = nxt
        heapq.heappush(heap, (a[0] + b[0], nxt, None))
        nxt += 1
    lengths = np.zeros(symbols, dtype=np.int64)
    for i in range(symbols):
        if counts[i] == 0:
            continue
        d, x = 0, i
        while x in parent:
            x = parent[x]
            d += 1
        lengths[i] = max(d, 1)
    return int((counts * lengths).sum())


def rank99(kernel, keep=0.99):
    s = np.linalg.svd(kernel, compute_uv=False).astype(np.float64)
    e = s * s
    c = np.cumsum(e)
    return int(np.searchsorted(c, keep * c[-1]) + 1)


def main():
    folder, runs, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    only = set(sys.argv[4].split(',')) if len(sys.argv) > 4 and sys.argv[4] else None
    meta = json.load(open(os.path.join(folder, 'meta.json')))
    w = np.fromfile(os.path.join(folder, 'weights.f32'), dtype=np.float32)
    idx = np.fromfile(os.path.join(folder, 'indices.u8'), dtype=np.uint8)
    kern = np.fromfile(os.path.join(folder, 'kernel.f32'), dtype=np.float32).reshape(meta['rows'], meta['cols'])
    ops = {
        'quantize': lambda: quantize_int8_per_channel(w, meta['fanIn'], meta['units']),
        'prune': lambda: magnitude_quantile(w, 0.9),
        'kmeans': lambda: kmeans16(w),
        'huffman': lambda: huffman_bits(idx),
        'lowrank': lambda: rank99(kern),
    }
    out = {'numpy': np.__version__, 'blas': blas_info(), 'times': {}, 'results': {}}
    for name, fn in ops.items():
        if only and name not in only:
            continue
        result = None
        for _ in range(warmup):
            result = fn()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t)
        out['times'][name] = times
        if name == 'prune':
            out['results'][name] = float(result)
        elif name == 'kmeans':
            out['results'][name] = {'sse': result[2]}
        elif name in ('huffman', 'lowrank'):
            out['results'][name] = result
    print(json.dumps(out))


if __name__ == '__main__':
    main()
