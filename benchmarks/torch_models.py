"""gpu_tune's model names and compact text form, built as PyTorch modules, so that the
comparison scripts train exactly the models the engine trains.

  presets: mlp_small, mlp_medium, mlp_large, cnn_small, cnn_medium, cnn_large
  text:    layers joined by '-': cN[kK][v] convolution (N channels, kernel K, default 3,
           'v' for valid padding, else same), p 2x2 max-pool, f flatten (optional),
           dN or N dense; the 10-class output layer is added.
Every model reads 1x28x28 images (PyTorch's NCHW; the engine keeps NHWC, the same maths).
"""
import re

import torch

PRESETS = {
    "mlp_small": "128",
    "mlp_medium": "256-128",
    "mlp_large": "512-512-256",
    "cnn_small": "c32-p-c64-p-d128",
    "cnn_medium": "c32-c32-p-c64-c64-p-d256",
    "cnn_large": "c64-c64-p-c128-c128-p-d512",
}
HEIGHT = WIDTH = 28
CLASSES = 10

_CONV = re.compile(r"^c(\d+)(?:k(\d+))?(v?)$")
_DENSE = re.compile(r"^d?(\d+)$")


def parse(text):
    """A list of ('conv', channels, kernel, padding) | ('pool',) | ('dense', units)."""
    layers = []
    for part in PRESETS.get(text, text).split("-"):
        conv, dense = _CONV.match(part), _DENSE.match(part)
        if part == "f":
            continue
        if part == "p":
            layers.append(("pool",))
        elif conv:
            kernel = int(conv.group(2) or 3)
            if kernel % 2 == 0:
                raise ValueError(f"model '{text}': kernel {kernel} is not odd")
            layers.append(("conv", int(conv.group(1)), kernel, 0 if conv.group(3) else kernel // 2))
        elif dense:
            layers.append(("dense", int(dense.group(1))))
        else:
            raise ValueError(f"model '{text}': '{part}' is not a layer (cN[kK][v], p, f, dN or N)")
    return layers


def is_spatial(text):
    return any(layer[0] != "dense" for layer in parse(text))


class ToChannelsLast(torch.nn.Module):
    """Puts images in channels-last (NHWC) memory order, which oneDNN's CPU convolutions
    can run faster than NCHW; the values and shapes stay PyTorch's NCHW view."""

    def forward(self, x):
        return x.contiguous(memory_format=torch.channels_last)


def build(text, activation=torch.nn.ReLU, dropout=0.0, channels_last=False):
    """The model as a torch.nn.Sequential taking (N, 1, 28, 28) or (N, 784) inputs: the
    activation after every convolution and hidden dense layer, dropout (when above 0) after
    every hidden dense layer, as the engine places them. PyTorch's default initialisation.
    channels_last: convolutions run on channels-last images and weights (no effect on an
    MLP), a faster configuration of PyTorch's CPU convolution on some machines."""
    modules, channels, height, width, flat = [], 1, HEIGHT, WIDTH, None
    spatial = is_spatial(text)
    if spatial:
        modules.append(torch.nn.Unflatten(1, (1, HEIGHT, WIDTH)))
        if channels_last:
            modules.append(ToChannelsLast())
    for layer in parse(text):
        if layer[0] == "conv":
            _, out, kernel, padding = layer
            modules += [torch.nn.Conv2d(channels, out, kernel, padding=padding), activation()]
            channels, height, width = out, height + 2 * padding - kernel + 1, width + 2 * padding - kernel + 1
        elif layer[0] == "pool":
            modules.append(torch.nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        else:
            if flat is None:
                flat = channels * height * width
                if spatial:
                    modules.append(torch.nn.Flatten())
            modules += [torch.nn.Linear(flat, layer[1]), activation()]
            if dropout > 0:
                modules.append(torch.nn.Dropout(dropout))
            flat = layer[1]
    if flat is None:
        flat = channels * height * width
        modules.append(torch.nn.Flatten())
    modules.append(torch.nn.Linear(flat, CLASSES))
    model = torch.nn.Sequential(*modules)
    return model.to(memory_format=torch.channels_last) if spatial and channels_last else model
