"""PyTorch reference for `pnpm bench` (scripts/bench.ts): the same training steps on CPU.

  python3 scripts/bench_torch.py --model resnet18 --threads 2 --steps 10 --warmup 2

Prints one JSON line: {"backend": "pytorch", "model", "threads", "msPerStep" (median), "bestMs", "cpuMs" (median CPU time), "imgPerSec", "torch"}.

Models: resnet18 and quickstart (see scripts/bench.ts), and bingo and teacher, the PyTorch twins of
packages/trainer/scripts/benchModels.ts (what each part maps to is commented in bingo_step).
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


class BasicBlock(nn.Module):
    """torchvision's BasicBlock (stride on the first 3x3 conv, 1x1 conv + BN shortcut), as packages/backbones/src/resnet.ts."""

    def __init__(self, cin, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width))
                           if stride != 1 or cin != width else None)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def resnet18_cifar(width_multiplier):
    """bingo's resnet18 with the CIFAR stem (3x3/1 conv, no max pool) at a width multiplier, globally pooled."""
    widths = [max(1, round(w * width_multiplier)) for w in (64, 128, 256, 512)]
    layers = [nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
    cin = widths[0]
    for stage, width in enumerate(widths):
        for b in range(2):
            layers.append(BasicBlock(cin, width, 2 if b == 0 and stage > 0 else 1))
            cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), cin


def bingo_networks():
    """Teacher ResNet-18 (head 512-2048-128) and student ResNet-18 x0.5 (head 256-256-128), as benchModels.ts."""
    tb, tdim = resnet18_cifar(1)
    sb, sdim = resnet18_cifar(0.5)
    return encoder(tb, tdim, 2048, 128), encoder(sb, sdim, 256, 128)


def contrastive_ce(s, t, queue, temperature):
    """packages/losses/src/contrastiveCrossEntropy.ts: softplus(lse(s queue^T / T) - s.t / T), one value per row."""
    positive = (s * t).sum(1)
    return F.softplus(torch.logsumexp(s @ queue.t() / temperature, 1) - positive / temperature)


def embedding_health(z):
    """packages/training/src/TrainingHealth.ts embeddingHealth: spread, mean std, dead fraction."""
    var = z.var(0, unbiased=False)
    std = var.clamp(min=0).sqrt()
    return torch.stack([var.sum().sqrt(), std.mean(), ((std * z.shape[1] ** 0.5) < 0.01).float().mean()])


def bingo_step_fn(batch=32, queue_size=4096, dim=128, temperature=0.2):
    """One code-form BINGO step, as Trainer.distil runs it (packages/trainer/scripts/benchModels.ts)."""
    teacher, student = bingo_networks()
    teacher.eval()  # Teacher.fromEncoder, bnMode "eval": batch norm on running statistics
    for q in teacher.parameters():
        q.requires_grad_(False)
    student.train()
    # the views (identity augmentations of random images; normalised NCHW here, NHWC there)
    q_view, k_view, pq_view, pk_view = (torch.rand(batch, 3, 32, 32) * 2 - 1 for _ in range(4))
    # EmbeddingQueue.random: queue_size random unit vectors
    queue = F.normalize(torch.randn(queue_size, dim), dim=1)
    state = {"ptr": 0}
    opt = torch.optim.SGD(student.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)  # packages/optim Sgd
    gen = torch.Generator().manual_seed(0)

    def step():
        # prepareViews: CutMix(q, pq) (packages/data/src/augment/cutMix.ts: one box, area ~ Beta(2, 2))
        area = torch.distributions.Beta(2.0, 2.0).sample().item()
        side = max(1, min(32, round(32 * area ** 0.5)))
        y0, x0 = (int(torch.randint(0, 32 - side + 1, (1,), generator=gen)) for _ in range(2))
        mixed = q_view.clone()
        mixed[:, :, y0:y0 + side, x0:x0 + side] = pq_view[:, :, y0:y0 + side, x0:x0 + side]
        lam = 1 - side * side / (32 * 32)
        # prepareViews: Teacher.embedKeys(k), Teacher.embedKeys(pk), read back (keys.data())
        with torch.no_grad():
            t_a = F.normalize(teacher(k_view), dim=1)
            t_p = F.normalize(teacher(pk_view), dim=1)
        # makeViews.loss: embed(student, q | pq | mix, "train"), three separate passes
        opt.zero_grad(set_to_none=True)
        s_a = F.normalize(student(q_view), dim=1)
        s_p = F.normalize(student(pq_view), dim=1)
        s_m = F.normalize(student(mixed), dim=1)
        # bingoLossTerms, code form past its warm-up: w_s = w_c = 0.5, every term computed and logged
        ce = lambda s, t: contrastive_ce(s, t, queue, temperature).mean()  # noqa: E731
        terms = [ce(s_a, t_a), ce(s_a, t_p), ce(s_p, t_p), ce(s_p, t_a), ce(s_m, t_a), ce(s_m, t_p)]
        weights = [0.5, 0.5, 0.5, 0.5, lam, 1 - lam]
        loss = sum(w * t for w, t in zip(weights, terms)) / 3
        loss.backward()
        # TrainingLoop.trainStep: loss, gradient norm, terms and embedding health in one read-back
        with torch.no_grad():
            grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in student.parameters() if p.grad is not None))
            numbers = torch.cat([loss.detach().reshape(1), grad_norm.reshape(1), torch.stack(terms).detach(),
                                 embedding_health(s_a.detach()), embedding_health(t_a)]).tolist()
        opt.step()
        # afterUpdate: EmbeddingQueue.enqueue(t_a) (FIFO ring)
        ptr = state["ptr"]
        queue[ptr:ptr + batch] = t_a
        state["ptr"] = (ptr + batch) % queue_size
        return numbers[0]

    return batch, step


def teacher_pass_fn(batch=256):
    """Teacher.embedKeys on a batch of 256 (eval mode), read back."""
    teacher, _ = bingo_networks()
    teacher.eval()
    x = torch.rand(batch, 3, 32, 32) * 2 - 1

    def step():
        with torch.no_grad():
            keys = F.normalize(teacher(x), dim=1).numpy()
        return float(keys[0, 0])

    return batch, step


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["resnet18", "quickstart", "bingo", "teacher"], required=True)
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
    elif a.model == "bingo":
        batch, step = bingo_step_fn()
    elif a.model == "teacher":
        batch, step = teacher_pass_fn()
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
