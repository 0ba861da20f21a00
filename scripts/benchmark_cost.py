"""Cost of one generated image for pixel and latent diffusion models: parameters, GFLOP per network
evaluation (NFE), decoder GFLOP, GFLOP per image and measured seconds per image.

The models (randomly initialised: cost does not depend on the weights), at --image-size output:
    sdm        the published SDM network (ModelConfig defaults), 1000-step ancestral DDPM
    edm        the follow-up's pixel backbone (--model-preset edm-adm) at the image size
    edm-l128   the same backbone on the latent of a Gamma-VAE with channels 64 128 (side / 2)
    edm-l64    the same on the latent of a Gamma-VAE with channels 64 128 192 (side / 4)
FLOPs are counted by torch.utils.flop_counter (2 per multiply-add, convolutions, matmuls and
attention) for one image through the network (and the decoder), so they compare across machines.
Seconds are measured here for one image: a network evaluation (median of --repeats, after a
warm-up) times the NFE, plus the decode; the sampler's own arithmetic is negligible beside the
network. --no-measure skips the timing (a 256 px pixel model takes minutes per evaluation on a
CPU).

    python scripts/benchmark_cost.py                      # 256 px, the published sizes
    python scripts/benchmark_cost.py --image-size 64 --json-out cost.json
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a file: python scripts/benchmark_cost.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from echo_from_noise.cli import program
from echo_from_noise.timing import median_seconds, print_table, write_results
from semantic_diffusion_model.autoencoder.config import AutoencoderConfig
from semantic_diffusion_model.autoencoder.network import GammaVAE
from semantic_diffusion_model.config import MODEL_PRESETS, ModelConfig
from semantic_diffusion_model.flops import decoder_gflop, forward_gflop, network_inputs
from semantic_diffusion_model.network.unet import SPADEUNet

PUBLISHED_SDM_GFLOP_PER_NFE = 3421.0  # the follow-up paper's figure for the 1000-step SDM
LATENT_CHANNELS = {"edm-l128": (64, 128), "edm-l64": (64, 128, 192)}
COLUMNS = [("model", "<10", "model"), ("side", ">6", "diffused_side"),
           ("params M", ">10", "parameters_m"), ("GFLOP/NFE", ">11", "gflop_per_nfe"),
           ("NFE", ">6", "nfe"), ("dec GFLOP", ">11", "decoder_gflop"),
           ("GFLOP/img", ">11", "gflop_per_image"),
           ("vs SDM", ">9", lambda r: f"{r['cheaper_than_sdm']}x"),
           ("vs edm", ">8", lambda r: f"{r['cheaper_than_pixel_edm'] or 0:.2f}x"),
           ("s/img", ">9", lambda r: r.get("seconds_per_image", float("nan")))]


@dataclass
class CostConfig:
    image_size: int = field(default=256, metadata={"help": "side of the generated images (pixels)"})
    nfe: int = field(default=20, metadata={"help": "network evaluations per image of the EDM models (Heun)"})
    models: tuple[str, ...] = field(default=("sdm", "edm", "edm-l128", "edm-l64"), metadata={"help": "models to cost", "choices": ("sdm", "edm", "edm-l128", "edm-l64")})
    measure: bool = field(default=True, metadata={"help": "also time a network evaluation and the decode on this machine"})
    repeats: int = field(default=1, metadata={"help": "timed images per model (the median is reported)"})
    json_out: str = field(default="", metadata={"help": "also write the results to this JSON file"})


def network(row: str, size: int) -> tuple[SPADEUNet, GammaVAE | None]:
    """The diffusion network of a row (sdm, edm, L128, L64: a model of the table, at the side it
    diffuses) and its decoder's autoencoder."""
    if row == "sdm":
        return SPADEUNet(ModelConfig(image_size=size)).eval(), None
    preset = dict(MODEL_PRESETS["edm-adm"])
    if row == "edm":
        return SPADEUNet(ModelConfig(image_size=size, learn_sigma=False, **preset)).eval(), None
    autoencoder = GammaVAE(AutoencoderConfig(image_size=size, channels=LATENT_CHANNELS[row])).eval()
    side = autoencoder.config.latent_size
    preset["attention_resolutions"] = tuple(r for r in preset["attention_resolutions"] if r <= side)
    return SPADEUNet(ModelConfig(image_size=side, learn_sigma=False, **preset)).eval(), autoencoder


def cost(name: str, c: CostConfig) -> dict:
    net, autoencoder = network(name, c.image_size)
    side = net.config.image_size
    x, t, y = network_inputs(net.config)
    per_nfe = forward_gflop(net.config, net)
    decoder = decoder_gflop(autoencoder) if autoencoder else 0.0
    nfe = 1000 if name == "sdm" else c.nfe
    row = {"model": name, "image_size": c.image_size, "diffused_side": side,
           "parameters_m": round(sum(p.numel() for p in net.parameters()) / 1e6, 2),
           "decoder_parameters_m": round(sum(p.numel() for p in autoencoder.decoder.parameters()) / 1e6, 2) if autoencoder else 0.0,
           "gflop_per_nfe": round(per_nfe, 2), "nfe": nfe, "decoder_gflop": round(decoder, 2),
           "gflop_per_image": round(per_nfe * nfe + decoder, 1)}
    if c.measure:
        with torch.no_grad():
            net(x, t, y)  # warm-up
            forward = median_seconds(lambda _: net(x, t, y), c.repeats, torch.device("cpu"))
            decode = (median_seconds(lambda _: autoencoder.decode(torch.rand(1, 1, side, side)),
                                     c.repeats, torch.device("cpu")) if autoencoder else 0.0)
        row |= {"seconds_per_nfe": round(forward, 3), "decoder_seconds": round(decode, 3),
                "seconds_per_image": round(forward * nfe + decode, 1),
                "threads": torch.get_num_threads()}
    return row


def run(c: CostConfig) -> None:
    rows = [cost(name, c) for name in c.models]
    ours = next((r["gflop_per_image"] for r in rows if r["model"] == "sdm"), None)
    sdm = ours or PUBLISHED_SDM_GFLOP_PER_NFE * 1000  # our SDM row: 3419 GFLOP per NFE at 256 px
    pixel = next((r["gflop_per_image"] for r in rows if r["model"] == "edm"), None)
    for r in rows:
        r["cheaper_than_sdm"] = round(sdm / r["gflop_per_image"], 1)
        r["cheaper_than_pixel_edm"] = round(pixel / r["gflop_per_image"], 2) if pixel else None
    print_table(COLUMNS, rows)
    print(f"(vs SDM: {'the sdm row' if ours else 'the published SDM'}, 1000 NFE per image; the "
          f"follow-up paper gives {PUBLISHED_SDM_GFLOP_PER_NFE:.0f} GFLOP per NFE at 256 px; seconds: "
          f"one evaluation x NFE + decode on {torch.get_num_threads()} CPU thread(s))")
    write_results(c.json_out, rows)


main = program(CostConfig, run, __doc__)


if __name__ == "__main__":
    main()
