"""The SPADE UNet: published structure, conditioning where the specification puts it, shapes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semantic_diffusion_model.network.attention import AttentionBlock
from semantic_diffusion_model.config import ModelConfig
from semantic_diffusion_model.network.layers import timestep_embedding
from semantic_diffusion_model.network.resblock import ResBlock
from semantic_diffusion_model.network.spade import SPADEGroupNorm
from semantic_diffusion_model.network.unet import SPADEUNet

TINY = dict(image_size=32, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
            attention_resolutions=(16,), num_head_channels=16)


def meta_model(**kwargs) -> SPADEUNet:
    with torch.device("meta"):  # structure only: no memory, no initialisation cost
        return SPADEUNet(ModelConfig(**kwargs))


def randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Give the zero-initialised output convolutions weights, so every path matters."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    return model


def one_hot_map(n: int, size: int, seed: int) -> torch.Tensor:
    labels = torch.randint(0, 5, (n, size, size), generator=torch.Generator().manual_seed(seed))
    return F.one_hot(labels, 5).permute(0, 3, 1, 2).float()


def test_published_256_structure():
    model = meta_model(image_size=256)
    assert model.config.resolved_channel_mult() == (1, 1, 2, 2, 4, 4)
    params = sum(p.numel() for p in model.parameters())
    # guided-diffusion's 256-px UNet has ~550 M parameters; SPADE adds ~0.1 B in the decoder
    assert 5.5e8 < params < 8e8, params
    # encoder unconditional, middle block and every decoder residual block SPADE-normalised
    assert not any(isinstance(m, SPADEGroupNorm) for m in model.input_blocks.modules())
    for blocks in (model.middle_block, model.output_blocks):
        resblocks = [m for m in blocks.modules() if isinstance(m, ResBlock)]
        assert resblocks and all(isinstance(r.in_norm, SPADEGroupNorm)
                                 and isinstance(r.out_norm, SPADEGroupNorm) for r in resblocks)
    spades = [m for m in model.modules() if isinstance(m, SPADEGroupNorm)]
    assert len(spades) == 2 * (2 + 6 * 3 + 5)  # middle 2 + decoder 3 per level + 5 up blocks
    for spade in spades:
        assert not spade.norm.affine and spade.norm.num_groups == 32
        conv = spade.mlp_shared[0]
        assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (5, 128, (3, 3))
        assert spade.mlp_gamma.kernel_size == spade.mlp_beta.kernel_size == (3, 3)
    # attention at 32, 16 and 8 px (2 encoder + 3 decoder blocks per level, 1 middle), 64 ch/head
    attention = [m for m in model.modules() if isinstance(m, AttentionBlock)]
    assert len(attention) == 3 * (2 + 3) + 1
    assert {a.qkv.in_channels // a.num_heads for a in attention} == {64}
    # residual blocks do the resampling: 5 down in the encoder, 5 up in the decoder
    assert sum(isinstance(m, ResBlock) and not isinstance(m.x_upd, torch.nn.Identity)
               for m in model.modules()) == 10
    assert model.out[-1].out_channels == 2  # epsilon and variance interpolation, 1 grey channel


@pytest.mark.parametrize("size, mult", [(128, (1, 1, 2, 3, 4)), (64, (1, 2, 3, 4))])
def test_channel_multipliers_by_size(size, mult):
    model = meta_model(image_size=size)
    assert model.config.resolved_channel_mult() == mult
    assert model.input_blocks[-1][0].in_norm.num_channels == 256 * mult[-1]


def test_output_channels_and_any_size():
    x, y = torch.randn(2, 3, 48, 48), one_hot_map(2, 48, 0)
    model = SPADEUNet(ModelConfig(**{**TINY, "image_size": 48, "in_channels": 3}))
    assert model(x, torch.tensor([0.0, 999.0]), y).shape == (2, 6, 48, 48)
    model = SPADEUNet(ModelConfig(**{**TINY, "image_size": 48, "in_channels": 3,
                                     "learn_sigma": False}))
    assert model(x, torch.tensor([1, 2]), y).shape == (2, 3, 48, 48)


def test_encoder_ignores_the_map_and_decoder_uses_it():
    model = randomise(SPADEUNet(ModelConfig(**TINY))).eval()
    encoder_out = []
    model.input_blocks[-1].register_forward_hook(lambda m, i, o: encoder_out.append(o))
    x, t = torch.randn(2, 1, 32, 32), torch.tensor([10.0, 500.0])
    with torch.no_grad():
        out_a = model(x, t, one_hot_map(2, 32, 0))
        out_b = model(x, t, one_hot_map(2, 32, 1))
        out_null = model(x, t, torch.zeros(2, 5, 32, 32))
    assert torch.equal(encoder_out[0], encoder_out[1])
    assert (out_a - out_b).abs().max() > 1e-3 and (out_a - out_null).abs().max() > 1e-3


def test_spade_group_norm_formula():
    torch.manual_seed(0)
    spade = SPADEGroupNorm(64, 5, groups=32, hidden=16)
    x, y = torch.randn(2, 64, 8, 8), one_hot_map(2, 32, 3)
    small = y[:, :, ::4, ::4]  # nearest resizing 32 -> 8 picks every 4th pixel
    actv = torch.relu(spade.mlp_shared[0](small))
    expected = F.group_norm(x, 32) * (1 + spade.mlp_gamma(actv)) + spade.mlp_beta(actv)
    torch.testing.assert_close(spade(x, y), expected)


def test_attention_matches_softmax_reference():
    torch.manual_seed(0)
    block = AttentionBlock(64, head_channels=32, groups=32)
    torch.nn.init.normal_(block.proj_out.weight, std=0.1)
    x = torch.randn(2, 64, 4, 4)
    qkv = block.qkv(block.norm(x).reshape(2, 64, 16)).reshape(2, 3, 2, 32, 16)
    q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
    weights = torch.softmax(torch.einsum("nhcq,nhck->nhqk", q, k) / 32 ** 0.5, dim=-1)
    attended = torch.einsum("nhqk,nhck->nhcq", weights, v).reshape(2, 64, 16)
    expected = x + block.proj_out(attended).reshape(2, 64, 4, 4)
    torch.testing.assert_close(block(x), expected)


def test_gradient_checkpointing_changes_nothing():
    x, y, t = torch.randn(2, 1, 32, 32), one_hot_map(2, 32, 0), torch.tensor([3.0, 700.0])
    results = []
    for flag in (False, True):
        model = randomise(SPADEUNet(ModelConfig(**TINY, grad_checkpoint=flag)))
        out = model(x, t, y)
        out.square().mean().backward()
        results.append((out.detach(), [p.grad for p in model.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b)


def test_timestep_embedding_takes_fractional_steps():
    emb = timestep_embedding(torch.tensor([0.0, 2.5, 999.0]), 32)
    assert emb.shape == (3, 32)
    torch.testing.assert_close(emb[0], torch.cat([torch.ones(16), torch.zeros(16)]))
    assert not torch.equal(emb[1], timestep_embedding(torch.tensor([2.0]), 32)[0])
