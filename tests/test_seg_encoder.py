"""echo_segmentation.encoder: the documented interface to a trained segmentation network's encoder
(the perceptual loss of semantic_diffusion_model and the evaluation's feature space use it)."""
from __future__ import annotations

import pytest
import torch
from monai.networks.layers import SkipConnection

from echo_from_noise.cli import config_to_dict
from echo_from_noise.errors import UserError
from echo_segmentation.config import TrainConfig, resolve_preset
from echo_segmentation.encoder import bottleneck_of, encoder_blocks, load_encoder
from echo_segmentation.model import build_network, save_checkpoint


def tiny_config(network: str = "unet", num_res_units: int = 0) -> TrainConfig:
    return resolve_preset(TrainConfig(data_dir="d", out_dir="o", network=network,
                                      channels=(4, 8, 16, 32), strides=(2, 2, 2),
                                      num_res_units=num_res_units, image_size=32))


def tiny_network(network: str, num_res_units: int = 0) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_network(tiny_config(network, num_res_units)).eval()


def bottleneck_output(network: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the whole network's forward pass computes at its bottleneck (a forward hook)."""
    kept = []
    handle = bottleneck_of(network).register_forward_hook(lambda m, i, out: kept.append(out))
    with torch.no_grad():
        network(x)
    handle.remove()
    return kept[0]


@pytest.mark.parametrize("network,num_res_units", [("unet", 0), ("unet", 2), ("dynunet", 0)])
def test_the_encoder_blocks_chained_compute_the_networks_bottleneck(network, num_res_units):
    net = tiny_network(network, num_res_units)
    blocks = encoder_blocks(net)
    assert len(blocks) == 4 and blocks[-1] is bottleneck_of(net)
    x = torch.rand(2, 1, 32, 32)
    chained = x
    with torch.no_grad():
        for block in blocks:
            chained = block(chained)
    assert chained.shape[-2:] == (4, 4)  # three stride-2 levels above the bottleneck
    assert torch.allclose(chained, bottleneck_output(net, x))


def test_the_unet_bottleneck_is_the_block_inside_the_innermost_skip_connection():
    net = tiny_network("unet")
    innermost = [m for m in net.modules() if isinstance(m, SkipConnection)][-1]
    assert bottleneck_of(net) is innermost.submodule
    dynunet = tiny_network("dynunet")
    assert bottleneck_of(dynunet) is dynunet.bottleneck


def test_another_network_is_refused():
    with pytest.raises(ValueError, match="not a MONAI UNet or DynUNet: Linear"):
        encoder_blocks(torch.nn.Linear(2, 2))


def test_load_encoder_gives_the_trained_blocks_and_their_normalisation(tmp_path):
    net = tiny_network("unet")
    save_checkpoint(tmp_path / "best.pt", config=config_to_dict(tiny_config()),
                    normalisation={"mean": 0.2, "std": 0.25}, model=net.state_dict())
    encoder = load_encoder(tmp_path / "best.pt")
    assert encoder.normalisation == {"mean": 0.2, "std": 0.25}
    assert not any(block.training for block in encoder.blocks)
    for loaded, trained in zip(encoder.blocks, encoder_blocks(net)):
        for a, b in zip(loaded.state_dict().values(), trained.state_dict().values()):
            assert torch.equal(a, b)
    torch.save({"kind": "semantic_diffusion_model", "model": {}}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not an echo_segmentation checkpoint"):
        load_encoder(tmp_path / "other.pt")
