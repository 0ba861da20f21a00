"""Checkpoints load whether or not the network was torch.compile'd, and only our own kind."""
from __future__ import annotations

import pytest
import torch

from echo_from_noise.cli import config_to_dict
from echo_from_noise.errors import UserError
from echo_segmentation.config import TrainConfig, resolve_preset
from echo_segmentation.model import (CHECKPOINT_KIND, build_network, load_model,
                                     save_checkpoint)

CONFIG = resolve_preset(TrainConfig(data_dir="d", out_dir="o", channels=(4, 8, 16), strides=(2, 2),
                                    num_res_units=1, image_size=32))
NORMALISATION = {"mean": 0.2, "std": 0.25}


def checkpoint_content(state_dict):
    return dict(config=config_to_dict(CONFIG), normalisation=NORMALISATION, model=state_dict,
                epoch=1, elapsed_s=1.0, best_dice=0.5, best_epoch=1, history=[], optimizer={})


@pytest.fixture(scope="module")
def networks():
    torch.manual_seed(0)
    network = build_network(CONFIG).eval()
    # a real torch.compile (the "eager" backend skips the C++ build inductor needs, ~1 min here);
    # the wrapper and its "_orig_mod." state-dict prefix are the same for every backend
    compiled = torch.compile(network, backend="eager")
    inputs = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = compiled(inputs)
    return network, compiled, inputs, expected


def test_compiled_and_plain_checkpoints_load_to_the_same_network(networks, tmp_path):
    network, compiled, inputs, expected = networks
    assert all(k.startswith("_orig_mod.") for k in compiled.state_dict())
    # through the program's own writer, and as a raw file holding the prefixed names
    save_checkpoint(tmp_path / "compiled.pt", **checkpoint_content(compiled.state_dict()))
    torch.save({**checkpoint_content(compiled.state_dict()), "kind": CHECKPOINT_KIND},
               tmp_path / "raw_compiled.pt")
    save_checkpoint(tmp_path / "plain.pt", **checkpoint_content(network.state_dict()))
    for name in ("compiled.pt", "raw_compiled.pt", "plain.pt"):
        model, config, checkpoint = load_model(tmp_path / name)
        assert config == CONFIG and checkpoint["normalisation"] == NORMALISATION
        with torch.no_grad():
            assert torch.allclose(model(inputs), expected, atol=1e-6), name


def test_other_files_are_refused(networks, tmp_path):
    torch.save({"state_dict": networks[0].state_dict()}, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    wrong = {**checkpoint_content(networks[0].state_dict()), "kind": CHECKPOINT_KIND}
    wrong["config"] = {**wrong["config"], "channels": [8, 16, 32]}
    torch.save(wrong, tmp_path / "wrong_shape.pt")
    for name, words in (("other.pt", "not an echo_segmentation checkpoint"),
                        ("text.pt", "not a readable checkpoint"),
                        ("wrong_shape.pt", "weights do not fit"), ("missing.pt", "not found")):
        with pytest.raises(UserError, match=words):
            load_model(tmp_path / name)


@pytest.mark.parametrize("preset, network", [("paper", "unet"), ("default", "unet"),
                                             ("default", "dynunet")])
def test_presets_build_networks_that_map_one_channel_to_four_classes(preset, network):
    config = resolve_preset(TrainConfig(data_dir="d", out_dir="o", preset=preset, network=network))
    size = config.image_size
    model = build_network(config).eval()
    with torch.no_grad():
        logits = model(torch.zeros(1, 1, size, size))
    assert logits.shape == (1, 4, size, size)
    if preset == "paper":  # the published harness: 8 levels of 2..256 channels, no residual units
        assert config.channels == (2, 4, 8, 16, 32, 64, 128, 256) and config.strides == (2,) * 7
        assert config.num_res_units == 0 and config.batch_size == 1 and config.loss == "ce"
        assert (config.lr, config.lr_min, config.epochs, size) == (1e-3, 1e-4, 300, 256)
        # at 128 px the deepest level would be 1 x 1, where instance norm fails mid-training
        with pytest.raises(UserError, match="1 x 1 features"):
            resolve_preset(TrainConfig(data_dir="d", out_dir="o", preset="paper", image_size=128))
