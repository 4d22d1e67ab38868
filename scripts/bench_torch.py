"""PyTorch reference for `pnpm bench` (scripts/bench.ts): the same training steps on CPU.

  python3 scripts/bench_torch.py --model resnet18 --threads 2 --steps 10 --warmup 2

Prints one JSON line: {"backend": "pytorch", "model", "threads", "msPerStep" (median), "bestMs", "cpuMs" (median CPU time), "imgPerSec", "torch"}.
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def convnet(channels, widths):
    layers = []
    for i, w in enumerate(widths):
        layers += [nn.Conv2d(channels if i == 0 else widths[i - 1], w, 3, 1 if i == 0 else 2, 1, bias=False),
                   nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


def encoder(backbone, dim, hidden, out):
    return nn.Sequential(backbone, nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["resnet18", "quickstart"], required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.model == "resnet18":
        import torchvision

        batch = 32
        net = torchvision.models.resnet18(num_classes=128)
        net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)  # CIFAR stem
        net.maxpool = nn.Identity()
        net.train()
        x = torch.randn(batch, 3, 32, 32)
        target = torch.randn(batch, 128)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(net(x), target)
            loss.backward()
            opt.step()
            return loss.item()
    else:
        batch = 128
        teacher = encoder(convnet(1, [16, 32, 64, 128]), 128, 256, 64).eval()
        student = encoder(convnet(1, [8, 16, 32]), 32, 128, 64).train()
        for q in teacher.parameters():
            q.requires_grad_(False)
        x = torch.randn(batch, 1, 16, 16)
        opt = torch.optim.SGD(student.parameters(), lr=0.06, momentum=0.9)

        def step():
            with torch.no_grad():
                t = F.normalize(teacher(x), dim=1)
            opt.zero_grad(set_to_none=True)
            s = F.normalize(student(x), dim=1)
            loss = ((s - t) ** 2).sum(1).mean()
            loss.backward()
            opt.step()
            return loss.item()

    for _ in range(a.warmup):
        step()
    times, cpu = [], []
    for _ in range(a.steps):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    times.sort()
    ms = times[len(times) // 2] * 1000  # median
    print(json.dumps({"backend": "pytorch", "model": a.model, "threads": a.threads, "msPerStep": ms,
                      "bestMs": times[0] * 1000, "cpuMs": sorted(cpu)[len(cpu) // 2] * 1000,
                      "imgPerSec": batch / (ms / 1000), "torch": torch.__version__,
                      "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
