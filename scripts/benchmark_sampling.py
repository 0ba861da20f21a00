"""Benchmark the samplers: images/s and seconds per network evaluation (NFE) on this device.

Times one batch of maps through each sampler (after a warm-up), with a checkpoint's network or a
freshly initialised SPADE UNet of the given size (the speed does not depend on the weights), and
prints a table (optionally JSON). A benchmark, not a test: run it on the machine you care about.
The network options default to a tiny network (seconds on a CPU); the published network is the
training program's default (python -m semantic_diffusion_model.train --help).

    python scripts/benchmark_sampling.py --image-size 32 --model-channels 16 --batch-size 4
    python scripts/benchmark_sampling.py --checkpoint runs/sdm_2ch/checkpoint_0050000.pt \\
        --batch-size 16 --steps 50 --precision bf16
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from echo_from_noise.cli import program, with_defaults
from echo_from_noise.device import PRECISIONS, autocast_dtype
from echo_from_noise.timing import median_seconds, print_table, write_results
from semantic_diffusion_model.training.checkpoint import load_model
from semantic_diffusion_model.config import DiffusionConfig, ModelConfig, sub_config
from semantic_diffusion_model.samplers.guidance import LabelConditionedDenoiser
from semantic_diffusion_model.formulations import formulation_of
from semantic_diffusion_model.samplers import SAMPLER_NAMES, PerSampleNoise, Sampler
from semantic_diffusion_model.network.unet import SPADEUNet


TinyModelConfig = with_defaults(
    ModelConfig, image_size=32, model_channels=16, channel_mult=(1, 2), num_res_blocks=1,
    attention_resolutions=(16,), num_head_channels=8, norm_groups=8, spade_hidden=8)
COLUMNS = [("sampler", "<14", "sampler"), ("steps", ">6", "steps"), ("NFE", ">6", "nfe"),
           ("s/batch", ">10.3f", "seconds_per_batch"), ("images/s", ">10.2f", "images_per_second"),
           ("s/NFE", ">10.4f", "seconds_per_nfe"),
           ("net s/eval", ">12.4f", "network_seconds_per_evaluation")]


@dataclass
class SamplingBenchmarkConfig(TinyModelConfig):
    checkpoint: str = field(default="", metadata={"help": "time this checkpoint's network (else a new one built from the network options)"})
    batch_size: int = field(default=4, metadata={"help": "maps per batch"})
    samplers: tuple[str, ...] = field(default=SAMPLER_NAMES, metadata={"help": "samplers to time", "choices": SAMPLER_NAMES})
    steps: int = field(default=10, metadata={"help": "steps of every sampler (heun: 2 steps - 1 NFE); samplers that do not fit the checkpoint's formulation are skipped"})
    guidance_scale: float = field(default=1.0, metadata={"help": "classifier-free guidance scale (!= 1 doubles the batch of each evaluation)"})
    precision: str = field(default="auto", metadata={"help": "network precision", "choices": PRECISIONS})
    repeats: int = field(default=2, metadata={"help": "timed batches per sampler (the median is reported)"})
    json_out: str = field(default="", metadata={"help": "also write the results to this JSON file"})


def build_model(config: SamplingBenchmarkConfig, device: torch.device):
    if config.checkpoint:
        return load_model(config.checkpoint, device)
    model_config = sub_config(ModelConfig, config)
    return SPADEUNet(model_config).to(device).eval(), DiffusionConfig(), model_config


def benchmark(config: SamplingBenchmarkConfig) -> list[dict]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, diffusion_config, model_config = build_model(config, device)
    process = formulation_of(diffusion_config, model_config.learn_sigma).process()
    size, channels = model_config.image_size, model_config.in_channels
    amp = autocast_dtype(config.precision, device)
    y = torch.zeros(config.batch_size, model_config.num_classes, size, size, device=device)
    y[:, 2] = 1.0  # a map of tissue only: the content does not change the speed
    names = [f"map{i}" for i in range(config.batch_size)]
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
          f"{params:.2f} M parameters, {size} px, batch {config.batch_size}, precision "
          f"{str(amp or torch.float32).removeprefix('torch.')}, guidance {config.guidance_scale:g}")
    results = []
    with torch.inference_mode():
        denoiser = LabelConditionedDenoiser(model, y, config.guidance_scale, amp)
        x = torch.randn(config.batch_size, channels, size, size, device=device)
        t = torch.full((config.batch_size,), process.middle_level, device=device)
        denoiser(x, t)  # warm-up
        forward = median_seconds(lambda _: denoiser(x, t), max(3, config.repeats), device)
        for name in config.samplers:
            if name not in process.samplers:
                print(f"{name}: does not fit {process.formulation} checkpoints, skipped")
                continue
            sampler = Sampler(name, process, steps=config.steps)
            sampler(denoiser, PerSampleNoise.for_names(0, names, (channels, size, size), device))
            noises = [PerSampleNoise.for_names(r, names, (channels, size, size), device)
                      for r in range(config.repeats)]
            seconds = median_seconds(lambda r: sampler(denoiser, noises[r]), config.repeats, device)
            results.append({"sampler": name, "steps": sampler.steps, "nfe": sampler.nfe,
                            "batch": config.batch_size, "seconds_per_batch": seconds,
                            "images_per_second": config.batch_size / seconds,
                            "seconds_per_nfe": seconds / sampler.nfe,
                            "network_seconds_per_evaluation": forward,
                            "device": str(device), "image_size": size, "parameters_m": params})
    return results


def run(config: SamplingBenchmarkConfig) -> None:
    results = benchmark(config)
    print_table(COLUMNS, results)
    write_results(config.json_out, results)


main = program(SamplingBenchmarkConfig, run, __doc__)


if __name__ == "__main__":
    main()
