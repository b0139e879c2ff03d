"""PyTorch side of `npm run bench:train`: trains the network of a mien ModelSpec (JSON) on random batches and prints
{"imagesPerSecond": ...} as one JSON line. Building from the same spec as the mien run keeps the two from drifting.

usage: /usr/bin/python3 bench/train_pytorch.py SPEC_JSON --batches N --warmup N --batch-size N --threads N
"""
import argparse
import json
import time

import torch
from torch import nn


class Residual(nn.Module):
    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + (self.shortcut(x) if self.shortcut is not None else x)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, hidden):
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x):
        scale = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * scale.view(x.size(0), x.size(1), 1, 1)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))


def conv_padding(layer):
    padding = layer.get("padding", "valid")
    if padding == "same":
        return layer["kernel"] // 2
    return 0 if padding == "valid" else padding


def build_layer(layer, probe):
    """One spec layer as a torch module; `probe` (a 1-sample input) supplies the input shape, as in the addon."""
    kind = layer["type"]
    if kind == "conv":
        return nn.Conv2d(probe.size(1), layer["out"], layer["kernel"], stride=layer.get("stride", 1),
                         padding=conv_padding(layer), bias=layer.get("bias", True))
    if kind == "batchnorm":
        norm = nn.BatchNorm2d if probe.dim() == 4 else nn.BatchNorm1d
        return norm(probe.size(1), eps=layer.get("eps", 1e-5))
    if kind == "relu":
        return nn.ReLU()
    if kind == "maxpool":
        return nn.MaxPool2d(layer["kernel"], stride=layer.get("stride", layer["kernel"]))
    if kind == "dropout":
        return nn.Dropout(layer["p"])
    if kind == "flatten":
        return nn.Flatten()
    if kind == "globalavgpool":
        return GlobalAvgPool()
    if kind == "dense":
        return nn.Linear(probe.size(1), layer["out"], bias=layer.get("bias", True))
    if kind == "residual":
        shortcut = build_sequence(layer["shortcut"], probe) if "shortcut" in layer else None
        return Residual(build_sequence(layer["body"], probe), shortcut)
    if kind == "se":
        channels = probe.size(1)
        return SqueezeExcitation(channels, max(1, channels // layer["reduction"]))
    raise ValueError(f"unknown layer type {kind!r}")


def build_sequence(layers, probe):
    modules = []
    for layer in layers:
        module = build_layer(layer, probe).eval()
        probe = module(probe)
        modules.append(module)
    return nn.Sequential(*modules)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("--batches", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.spec) as f:
        spec = json.load(f)
    with torch.no_grad():
        model = build_sequence(spec["layers"], torch.zeros(1, *spec["input"])).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.rand(args.batch_size, *spec["input"])
    labels = torch.randint(0, spec["classes"], (args.batch_size,))

    def step():
        """What one mien trainStep does, down to reading back the loss and the count of correct predictions."""
        logits = model(images)
        loss = nn.functional.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item(), (logits.argmax(1) == labels).sum().item()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.batches):
        step()
    seconds = time.perf_counter() - start
    print(json.dumps({"imagesPerSecond": args.batches * args.batch_size / seconds, "torchVersion": torch.__version__}))


if __name__ == "__main__":
    main()
