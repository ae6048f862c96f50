"""The segmenter registry: one entry per architecture, built by segmentation-models-pytorch.

Encoders start from random weights (no download happens here); a local weight file for
the encoder (``segment.weights``, e.g. torchvision's ImageNet ResNet18 ``.pth``) is loaded
when given. Adding an architecture is one line in :data:`SEGMENTERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from sonomics.torch_io import WeightFileError, read_state_dict

#: name -> (smp class name, encoder name)
SEGMENTERS: dict[str, tuple[str, str]] = {
    "unet-resnet18": ("Unet", "resnet18"),
    "unet-resnet34": ("Unet", "resnet34"),
    "unet-mobilenet_v2": ("Unet", "mobilenet_v2"),
    "fpn-resnet18": ("FPN", "resnet18"),
}


def _factory(name: str) -> Callable[..., torch.nn.Module]:
    import segmentation_models_pytorch as smp

    if name not in SEGMENTERS:
        raise ValueError(f"segment.architecture: unknown {name!r}; known: "
                         f"{', '.join(sorted(SEGMENTERS))}")
    cls_name, encoder = SEGMENTERS[name]
    cls = getattr(smp, cls_name)
    return lambda: cls(encoder_name=encoder, encoder_weights=None, in_channels=1, classes=1)


def load_encoder_weights(net: torch.nn.Module, path: str | Path) -> int:
    """Encoder weights from a local file (safetensors or a torch state dict); returns how
    many tensors were loaded. The classifier head of an ImageNet file is ignored; a
    3-channel first convolution is summed to the segmenter's one grey channel."""
    path = Path(path)
    state = read_state_dict(path, "segment.weights")
    own = net.encoder.state_dict()
    usable = {}
    for key, value in state.items():
        key = key.removeprefix("encoder.")
        if key not in own:
            continue
        if value.ndim == 4 and value.shape[1] == 3 and own[key].shape[1] == 1:
            value = value.sum(dim=1, keepdim=True)
        if value.shape == own[key].shape:
            usable[key] = value
    if not usable:
        raise WeightFileError(f"config key 'segment.weights': no tensor of {path.name} "
                              "fits the encoder")
    net.encoder.load_state_dict(usable, strict=False)
    return len(usable)


def build_segmenter(name: str, weights: str | Path | None = None) -> torch.nn.Module:
    """A segmenter by registry name: one grey input channel, one logit map out."""
    net = _factory(name)()
    if weights is not None:
        load_encoder_weights(net, weights)
    return net
