"""PyTorch peer for `npm run bench` (training).

Trains the example network for whole epochs with the same data, batch size and
optimizer as the TF.js side (Adam, lr 1e-3, batch 64, shuffled each epoch) and
prints one JSON object with the seconds per epoch (after warm-up epochs).

    python3 torch_train.py <mlp|cnn> <data.f32> <labels.u8> <count> <epochs> <warmup> <threads>
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn


def network(kind):
    if kind == 'mlp':
        # Flatten -> Dense 256 relu -> Dense 128 relu -> Dense 10 (softmax in the loss)
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    # Conv 8 3x3 relu -> MaxPool 2 -> Conv 16 3x3 relu -> MaxPool 2 -> Flatten -> Dense 32 relu -> Dense 10
    return nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 32), nn.ReLU(), nn.Linear(32, 10))


def main():
    kind, data, labels, count, epochs, warmup, threads = sys.argv[1:8]
    count, epochs, warmup, threads = int(count), int(epochs), int(warmup), int(threads)
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x = torch.from_numpy(np.fromfile(data, dtype=np.float32)[: count * 784].reshape(count, 1, 28, 28).copy())
    y = torch.from_numpy(np.fromfile(labels, dtype=np.uint8)[:count].astype(np.int64))
    model = network(kind)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    batch = 64

    def epoch(samples=count):
        order = torch.randperm(samples)
        for i in range(0, samples, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        return float(loss)

    for _ in range(warmup):
        epoch(min(count, 1024))  # as the TF.js side: a warm-up pass over the first 1024 samples
    times = []
    last = 0.0
    for _ in range(epochs):
        t = time.perf_counter()
        last = epoch()
        times.append(time.perf_counter() - t)
    cfg = torch.__config__.show()
    blas = next((p.split('=')[1] for p in cfg.replace(',', ' ').split() if p.startswith('BLAS_INFO=')), 'unknown')
    print(json.dumps({
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'times': times, 'loss': last,
        'blas': blas, 'mkldnn': torch.backends.mkldnn.is_available(),
    }))


if __name__ == '__main__':
    main()
