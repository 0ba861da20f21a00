"""Benchmark one training step of the semantic diffusion model on the current device.

Runs the real training step (the same Trainer as `python -m semantic_diffusion_model.train`:
autocast, micro-batches, gradient norm, non-finite guard, EMA) on random label maps and images,
and prints images per second, seconds per step and peak memory. One process; multiply by the
number of GPUs for a data-parallel estimate. Examples:

  python scripts/benchmark_training.py --image-size 256 --batch-size 12            # published
  python scripts/benchmark_training.py --image-size 128 --batch-size 12 --compile --channels-last
  python scripts/benchmark_training.py --image-size 32 --batch-size 4 --model-channels 64 --steps 3
"""
from __future__ import annotations

import dataclasses
import resource
import time
from dataclasses import dataclass, field

import torch

from echo_from_noise.cli import program
from echo_from_noise.timing import synchronize, write_results
from semantic_diffusion_model.config import DiffusionConfig, ModelConfig, StepConfig, TrainConfig
from semantic_diffusion_model.training.data import PairData
from semantic_diffusion_model.training.distributed import DistContext
from semantic_diffusion_model.training.logger import ProgressLog
from semantic_diffusion_model.space.pixel import PixelSpace
from semantic_diffusion_model.training.trainer import Trainer


@dataclass
class TrainingBenchmarkConfig(StepConfig, DiffusionConfig, ModelConfig):
    warmup: int = field(default=3, metadata={"help": "untimed steps first (compilation, cuDNN autotuning)"})
    steps: int = field(default=10, metadata={"help": "timed steps"})
    json_out: str = field(default="", metadata={"help": "also write the numbers to this JSON file"})


def benchmark(config: TrainingBenchmarkConfig) -> dict:
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    train_config = TrainConfig(**{k: v for k, v in dataclasses.asdict(config).items() if k in names},
                               data_dir="random", out_dir="unused", random_flip=True)
    size, n = config.image_size, max(config.batch_size, 16)
    generator = torch.Generator().manual_seed(0)
    data = PairData(torch.randint(0, config.num_classes, (n, size, size), dtype=torch.uint8, generator=generator),
                    torch.randint(0, 256, (n, size, size), dtype=torch.uint8, generator=generator),
                    [f"random_{i}" for i in range(n)])
    trainer = Trainer(train_config, DistContext(device=device), data, None, PixelSpace(size))
    log = ProgressLog("", False, 0, device, tensorboard=False)
    for step in range(config.warmup):
        trainer.step(step, log)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for step in range(config.warmup, config.warmup + config.steps):
        trainer.step(step, log)
    synchronize(device)
    seconds = (time.perf_counter() - start) / config.steps
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # CPU: process peak RSS
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "threads": torch.get_num_threads(), "image_size": size, "batch_size": config.batch_size,
              "parameters_M": round(sum(p.numel() for p in trainer.model.parameters()) / 1e6, 2),
              "precision": str(trainer.resumable.amp_dtype or torch.float32).removeprefix("torch."),
              "compile": config.compile, "channels_last": config.channels_last,
              "grad_checkpoint": config.grad_checkpoint, "seconds_per_step": round(seconds, 4),
              "images_per_s": round(config.batch_size / seconds, 2),
              "peak_memory_GiB": round(peak / 2 ** 30, 3),
              "peak_memory_kind": "GPU allocated" if device.type == "cuda" else "process RSS"}
    return result


def run(config: TrainingBenchmarkConfig) -> None:
    result = benchmark(config)
    for key, value in result.items():
        print(f"{key:18s} {value}")
    write_results(config.json_out, result)


main = program(TrainingBenchmarkConfig, run, __doc__)


if __name__ == "__main__":
    main()
