"""CNN backbones for transfer learning: a registry of torchvision models with a binary head.

The paper (Wang et al. 2024, section 2.5) fine-tunes DenseNet121, VGG19 and ResNet50
initialised with ImageNet weights. Every backbone here is wrapped in the same
:class:`BackboneNet`: the torchvision convolutional trunk, a final activation, global
average pooling (GAP, the "penultimate layer" whose output becomes the deep features)
and a single-logit linear head (malignant vs benign).

Weights, in order of preference:

1. a local file named in ``cfg.deep.weights[backbone]`` (a torchvision state dict, ours,
   or a ``.safetensors`` file);
2. torchvision's cache under ``torch.hub.get_dir()/checkpoints`` (never downloaded here:
   the machines this runs on may have no internet, and a silent download is not a
   reproducible input);
3. random initialisation, with a :class:`RandomInitWarning` and ``weights_source ==
   "random"`` so that reports can say the CNN was *not* transfer-learned.

Adding a backbone is one :data:`BACKBONES` entry.

Grad-CAM and in-place ReLU: torchvision's DenseNet applies ``F.relu(inplace=True)`` to the
output of its ``features`` block, which overwrites the tensor a backward hook was
registered on (pytorch-grad-cam issue #147). :class:`BackboneNet` never calls torchvision's
``forward``; it applies its own *out-of-place* ReLU module (``cam_layer``), which is the
Grad-CAM target layer, so the hooked activation is never modified.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from sonomics.torch_io import WeightFileError, read_state_dict

log = logging.getLogger(__name__)


class RandomInitWarning(UserWarning):
    """No ImageNet weights were found: the backbone starts from random initialisation."""


class BackboneError(ValueError):
    """A backbone name is unknown or its weight file cannot be used."""


class BackboneNet(nn.Module):
    """Convolutional trunk -> activation (Grad-CAM target) -> GAP -> dropout -> 1 logit.

    ``forward`` returns one logit per image (shape ``(batch,)``); ``embed`` returns the
    GAP features (the paper's deep features) and ``feature_map`` the last activation map
    (DenseNet121 at 224 px: 1024 x 7 x 7 = 50,176 values).
    """

    def __init__(self, trunk: nn.Module, feature_dim: int, *, final_relu: bool,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.trunk = trunk
        # out-of-place: the Grad-CAM hooks see an activation nothing overwrites
        self.cam_layer: nn.Module = nn.ReLU(inplace=False) if final_relu else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, 1)
        self.feature_dim = feature_dim
        #: where the trunk's weights came from: "file:<path>", "torchvision-cache", "random"
        self.weights_source = "random"

    @property
    def pretrained(self) -> bool:
        """True when the trunk was initialised from ImageNet weights."""
        return self.weights_source != "random"

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional activation map, ``(batch, channels, h, w)``."""
        return self.cam_layer(self.trunk(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled features, ``(batch, feature_dim)``."""
        return torch.flatten(self.pool(self.feature_map(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x))).squeeze(1)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone from torchvision.

    ``builder`` makes the torchvision model (``weights=None`` or an enum member);
    ``trunk`` takes that model and returns its convolutional part; ``weights`` is the
    name of the ImageNet weight enum member looked for in the torchvision cache.
    """

    name: str
    builder: Callable[..., nn.Module]
    trunk: Callable[[nn.Module], nn.Module]
    feature_dim: int
    weights: str
    final_relu: bool
    label: str

    def weight_enum(self):
        """The torchvision weights enum member (e.g. ``DenseNet121_Weights.IMAGENET1K_V1``)."""
        return torchvision.models.get_weight(self.weights)


def _densenet_trunk(model: nn.Module) -> nn.Module:
    return model.features  # ends with norm5; torchvision's forward then applies ReLU


def _vgg_trunk(model: nn.Module) -> nn.Module:
    # VGG's 4096-wide fully connected layers are replaced by GAP + linear head, as for
    # the other backbones, so that every backbone has a GAP feature layer (512 values).
    return model.features


def _features_trunk(model: nn.Module) -> nn.Module:
    return model.features  # MobileNetV3 / EfficientNet: ends with norm + activation


def _resnet_trunk(model: nn.Module) -> nn.Module:
    return nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool,
                         model.layer1, model.layer2, model.layer3, model.layer4)


#: backbone name -> how to build it. Adding a backbone is one entry.
BACKBONES: dict[str, BackboneSpec] = {
    "densenet121": BackboneSpec("densenet121", torchvision.models.densenet121, _densenet_trunk,
                                1024, "DenseNet121_Weights.IMAGENET1K_V1", True, "Densenet121"),
    "vgg19": BackboneSpec("vgg19", torchvision.models.vgg19, _vgg_trunk, 512,
                          "VGG19_Weights.IMAGENET1K_V1", False, "VGG19"),
    "resnet50": BackboneSpec("resnet50", torchvision.models.resnet50, _resnet_trunk, 2048,
                             "ResNet50_Weights.IMAGENET1K_V2", False, "Resnet50"),
    # CPU-sized (not among the paper's three): ResNet18/34 (11.7M / 21.8M parameters),
    # EfficientNet-B0 (4.0M in the trunk), MobileNetV3-Small (0.9M)
    "resnet18": BackboneSpec("resnet18", torchvision.models.resnet18, _resnet_trunk, 512,
                             "ResNet18_Weights.IMAGENET1K_V1", False, "Resnet18"),
    "resnet34": BackboneSpec("resnet34", torchvision.models.resnet34, _resnet_trunk, 512,
                             "ResNet34_Weights.IMAGENET1K_V1", False, "Resnet34"),
    "efficientnet_b0": BackboneSpec("efficientnet_b0", torchvision.models.efficientnet_b0,
                                    _features_trunk, 1280, "EfficientNet_B0_Weights.IMAGENET1K_V1",
                                    False, "EfficientNet-B0"),
    "mobilenet_v3_small": BackboneSpec("mobilenet_v3_small",
                                       torchvision.models.mobilenet_v3_small, _features_trunk,
                                       576, "MobileNet_V3_Small_Weights.IMAGENET1K_V1", False,
                                       "MobileNetV3-Small"),
}


def get_spec(name: str) -> BackboneSpec:
    """The registry entry for ``name`` (case-insensitive); a clear error when unknown."""
    key = name.lower()
    if key not in BACKBONES:
        raise BackboneError(f"config key 'deep.backbones': unknown backbone {name!r}; "
                            f"allowed: {sorted(BACKBONES)}")
    return BACKBONES[key]


def torchvision_cache_file(spec: BackboneSpec) -> Path:
    """Where torchvision keeps the ImageNet weights of ``spec`` once downloaded."""
    url = spec.weight_enum().url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _load_trunk_weights(net: BackboneNet, full_model: nn.Module, spec: BackboneSpec,
                        path: Path) -> None:
    """Load a torchvision-format or BackboneNet-format state dict into ``net``'s trunk."""
    try:
        state = read_state_dict(path, "deep.weights")
    except WeightFileError as exc:
        raise BackboneError(str(exc)) from None
    if any(k.startswith("trunk.") for k in state):  # one of our own checkpoints
        trunk_state = {k[len("trunk."):]: v for k, v in state.items() if k.startswith("trunk.")}
        missing, _ = net.trunk.load_state_dict(trunk_state, strict=False)
    else:
        state = {(_DENSENET_OLD_KEY.sub(r"\1\2", k)): v for k, v in state.items()}
        state = {k.removeprefix("module."): v for k, v in state.items()}
        # the trunk shares its parameters with full_model; the old head is not needed
        full_missing, _ = full_model.load_state_dict(state, strict=False)
        missing = [k for k in full_missing if not k.startswith(("classifier.", "fc."))]
    if missing:
        raise BackboneError(f"config key 'deep.weights.{spec.name}': {path} lacks "
                            f"{len(missing)} trunk weights (first: {missing[0]}); is it a "
                            f"{spec.name} state dict?")


def build_backbone(name: str, *, weights_path: str | Path | None = None,
                   pretrained: bool = True, dropout: float = 0.0) -> BackboneNet:
    """Build ``name`` with a binary head, loading ImageNet weights when they are available.

    Args:
        name: a :data:`BACKBONES` key.
        weights_path: local weight file (wins over the torchvision cache).
        pretrained: False skips weight loading on purpose (no warning).
        dropout: dropout before the linear head.

    Returns:
        A :class:`BackboneNet` whose ``weights_source`` says where its weights came from.
    """
    spec = get_spec(name)
    source = "random"
    if pretrained and weights_path is not None:
        full = spec.builder(weights=None)
        net = BackboneNet(spec.trunk(full), spec.feature_dim, final_relu=spec.final_relu,
                          dropout=dropout)
        _load_trunk_weights(net, full, spec, Path(weights_path))
        source = f"file:{weights_path}"
    elif pretrained and torchvision_cache_file(spec).is_file():
        full = spec.builder(weights=spec.weight_enum(), progress=False)
        net = BackboneNet(spec.trunk(full), spec.feature_dim, final_relu=spec.final_relu,
                          dropout=dropout)
        source = "torchvision-cache"
    else:
        full = spec.builder(weights=None)
        net = BackboneNet(spec.trunk(full), spec.feature_dim, final_relu=spec.final_relu,
                          dropout=dropout)
        if pretrained:
            message = (f"{spec.name}: no ImageNet weights (no file in deep.weights and none in "
                       f"{torchvision_cache_file(spec).parent}); training starts from RANDOM "
                       f"initialisation, not transfer learning as in the paper")
            log.warning(message)
            warnings.warn(message, RandomInitWarning, stacklevel=2)
    net.weights_source = source
    return net
