"""Backbone registry, weight loading order and the random-initialisation warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torchvision

from sonomics.deep.backbones import (
    BACKBONES,
    BackboneError,
    BackboneNet,
    RandomInitWarning,
    build_backbone,
    get_spec,
    torchvision_cache_file,
)


def test_registry_holds_the_papers_three_backbones_and_a_small_one():
    assert {"densenet121", "vgg19", "resnet50", "resnet18"} <= set(BACKBONES)
    assert get_spec("DenseNet121").feature_dim == 1024
    assert torchvision_cache_file(get_spec("densenet121")).name.startswith("densenet121")


def test_unknown_backbone_names_the_config_key():
    with pytest.raises(BackboneError, match="deep.backbones.*'alexnet'"):
        get_spec("alexnet")


def test_missing_weights_warn_and_mark_random_init(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # empty cache
    with pytest.warns(RandomInitWarning, match="RANDOM initialisation"):
        net = build_backbone("resnet18")
    assert net.weights_source == "random" and not net.pretrained


def test_pretrained_false_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomInitWarning)
        net = build_backbone("resnet18", pretrained=False)
    assert net.weights_source == "random"


def test_local_torchvision_weight_file_is_loaded(tmp_path):
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    net = build_backbone("resnet18", weights_path=path)
    assert net.weights_source == f"file:{path}" and net.pretrained
    assert torch.equal(net.trunk[0].weight, reference.conv1.weight)
    assert torch.equal(net.trunk[7][1].conv2.weight, reference.layer4[1].conv2.weight)


def test_own_checkpoint_and_safetensors_are_accepted(tmp_path):
    from safetensors.torch import save_file

    source = build_backbone("resnet18", pretrained=False)
    path = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    net = build_backbone("resnet18", weights_path=path)
    assert torch.equal(net.trunk[0].weight, source.trunk[0].weight)


def test_wrong_weight_file_is_refused_with_the_key(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(BackboneError, match="deep.weights.densenet121"):
        build_backbone("densenet121", weights_path=path)
    with pytest.raises(BackboneError, match="not found"):
        build_backbone("resnet18", weights_path=tmp_path / "absent.pth")


def test_binary_head_gap_features_and_feature_map_shapes():
    net = build_backbone("densenet121", pretrained=False).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert net(x).shape == (2,)
        assert net.embed(x).shape == (2, 1024)
        assert net.feature_map(x).shape == (2, 1024, 2, 2)
    assert isinstance(net, BackboneNet)
    assert not net.cam_layer.inplace  # Grad-CAM target must not be overwritten in place


def test_torchvision_cache_is_used_when_present(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    cached = torchvision_cache_file(get_spec("resnet18"))
    cached.parent.mkdir(parents=True)
    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), cached)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomInitWarning)
        net = build_backbone("resnet18")
    assert net.weights_source == "torchvision-cache"
    assert torch.equal(net.trunk[0].weight, reference.conv1.weight)


@pytest.mark.parametrize(("name", "dim"), [("resnet34", 512), ("efficientnet_b0", 1280),
                                           ("mobilenet_v3_small", 576)])
def test_cpu_sized_backbones_take_torchvision_weight_files_and_grad_cam(tmp_path, name, dim):
    from sonomics.deep.gradcam import gradcam_heatmaps
    from sonomics.deep.preprocess import Normaliser

    reference = getattr(torchvision.models, name)(weights=None)
    torch.save(reference.state_dict(), tmp_path / f"{name}.pth")  # ImageNet file layout
    net = build_backbone(name, weights_path=tmp_path / f"{name}.pth").eval()
    first_conv = next(m for m in reference.modules() if isinstance(m, torch.nn.Conv2d))
    assert torch.equal(next(m for m in net.trunk.modules()
                            if isinstance(m, torch.nn.Conv2d)).weight, first_conv.weight)
    with torch.no_grad():
        assert net.embed(torch.randn(2, 3, 64, 64)).shape == (2, dim)
    crops = np.random.default_rng(0).normal(size=(2, 96, 96)).astype(np.float32)
    assert gradcam_heatmaps(net, crops, Normaliser()).shape == (2, 96, 96)
