#!/usr/bin/python3
"""PyTorch reference for tscaffe's LeNet benchmark: Caffe's examples/mnist LeNet with Caffe's data order (sequential
through the training set, wrapping around), solver (SGD, lr 0.01 inv(1e-4, 0.75), momentum 0.9, weight decay 5e-4,
bias lr_mult 2) and xavier init. Run with Debian's python3-torch and OpenBLAS at its best:
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pytorch_lenet.py step 64 | step 1024 | full
Prints one line: 'ms_per_iter X' for step, or 'wall_s X accuracy Y' for the full 10000-iteration run."""
import os, sys, time, struct
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get('TORCH_THREADS', os.cpu_count() or 1)))
torch.manual_seed(1701)

def idx(path, images):
    with open(path, 'rb') as f:
        data = f.read()
    if images:
        n, r, c = struct.unpack('>III', data[4:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, r, c)
    n, = struct.unpack('>I', data[4:8])
    return np.frombuffer(data, np.uint8, offset=8)

mnist = os.environ['MNIST_DIR']
train_x = torch.from_numpy(idx(f'{mnist}/train-images-idx3-ubyte', True).astype(np.float32) * 0.00390625)
train_y = torch.from_numpy(idx(f'{mnist}/train-labels-idx1-ubyte', False).astype(np.int64))
test_x = torch.from_numpy(idx(f'{mnist}/t10k-images-idx3-ubyte', True).astype(np.float32) * 0.00390625)
test_y = torch.from_numpy(idx(f'{mnist}/t10k-labels-idx1-ubyte', False).astype(np.int64))

class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.ip1 = nn.Linear(800, 500)
        self.ip2 = nn.Linear(500, 10)
        for m in (self.conv1, self.conv2, self.ip1, self.ip2):
            fan_in = m.weight[0].numel()
            s = (3.0 / fan_in) ** 0.5  # Caffe's xavier: uniform(-sqrt(3/fan_in), +)
            nn.init.uniform_(m.weight, -s, s)
            nn.init.zeros_(m.bias)
    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2, 2)
        x = F.max_pool2d(self.conv2(x), 2, 2)
        return self.ip2(F.relu(self.ip1(x.flatten(1))))

def batches(x, y, bs):
    pos = 0
    n = x.shape[0]
    while True:
        idxs = torch.arange(pos, pos + bs) % n
        pos = (pos + bs) % n
        yield x.index_select(0, idxs), y.index_select(0, idxs)

def make(bs):
    net = LeNet()
    weights = [p for n_, p in net.named_parameters() if n_.endswith('weight')]
    biases = [p for n_, p in net.named_parameters() if n_.endswith('bias')]
    opt = torch.optim.SGD([{'params': weights, 'lr': 0.01}, {'params': biases, 'lr': 0.02}],
                          lr=0.01, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (1 + 1e-4 * it) ** -0.75)
    return net, opt, sched, batches(train_x, train_y, bs)

def step(net, opt, sched, data):
    x, y = next(data)
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    sched.step()
    return loss

def test(net, tdata):
    correct = 0
    with torch.no_grad():
        for _ in range(100):
            x, y = next(tdata)
            correct += (net(x).argmax(1) == y).sum().item()
    return correct / 10000

mode = sys.argv[1]
if mode == 'infer':
    # Inference throughput (images/s) at a batch size: eval mode, no_grad, softmax output; median of rounds of ~3000 images.
    bs = int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 9
    net = LeNet().eval()
    x = test_x[:bs].reshape(bs, 1, 28, 28)
    reps = max(1, round(3000 / bs))
    rates = []
    with torch.no_grad():
        for _ in range(max(2, reps)):
            F.softmax(net(x), 1)
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(reps):
                F.softmax(net(x), 1)
            rates.append(bs * reps / (time.perf_counter() - t))
    print(f'images_per_s {sorted(rates)[len(rates) // 2]:.0f}')
elif mode == 'step':
    bs = int(sys.argv[2])
    net, opt, sched, data = make(bs)
    for _ in range(5):
        step(net, opt, sched, data)
    n = int(os.environ.get('ITERS', '50' if bs <= 64 else '10'))
    t = time.perf_counter()
    for _ in range(n):
        step(net, opt, sched, data)
    print(f'ms_per_iter {(time.perf_counter() - t) * 1000 / n:.2f}')
else:
    t = time.perf_counter()
    net, opt, sched, data = make(64)
    tdata = batches(test_x, test_y, 100)
    acc = 0.0
    for it in range(10001):
        if it % 500 == 0:
            net.eval(); acc = test(net, tdata); net.train()
        if it == 10000:
            break
        step(net, opt, sched, data)
    print(f'wall_s {time.perf_counter() - t:.1f} accuracy {acc:.4f}')
