"""Checkpoints load whether or not the network was torch.compile'd, and only our own kind."""
from __future__ import annotations

import pytest
import torch

from data_preparation.cli import UserError, config_to_dict
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
