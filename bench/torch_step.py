#!/usr/bin/python3
"""PyTorch baseline for bench/step_bench: the same MLP step, timed the same way.

Times forward + backward (no optimizer update) of an MLP with ReLU between
layers and a mean softmax cross-entropy loss, on random inputs, with a fixed
number of intra-op threads. Prints one line of JSON so run_step_bench.sh can
put it beside the C++ figure. Run with Debian's /usr/bin/python3 and
python3-torch (1.13, CPU, OpenBLAS).
"""
import argparse
import json
import statistics
import time

import torch


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--layers", default="784,1024,1024,10",
                   help="layer sizes from input to classes")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    return p.parse_args()


def build_model(sizes, device):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).to(device)


def time_steps(model, x, y, warmup, steps, device):
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for i in range(warmup + steps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for p in model.parameters():
            p.grad = None
        loss = loss_fn(model(x), y)
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sizes = [int(s) for s in args.layers.split(",")]
    model = build_model(sizes, args.device)
    x = torch.randn(args.batch, sizes[0], device=args.device)
    y = torch.randint(0, sizes[-1], (args.batch,), device=args.device)
    times = time_steps(model, x, y, args.warmup, args.steps, args.device)
    print(json.dumps({
        "impl": "pytorch-" + torch.__version__,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "layers": sizes,
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
    }))


if __name__ == "__main__":
    main()
