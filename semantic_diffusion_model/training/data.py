"""Reading the semantic diffusion model's data: step-2 pairs (sector map + real image) and maps.

Training pairs:  LABELS/<VIEW>/sector_annotations/<split>/<stem>.png  (values 0..num_classes-1)
                 LABELS/<VIEW>/images/<split>/<stem>.png              (uint8 grey)
Sampling maps:   any folder of map PNGs, e.g. LABELS/<VIEW>_augmented/sector_annotations/<split>/

Files of another size than the model's are resized (echo_from_noise.resize: pixel-centre nearest
for maps, area or linear for images); PNGs are decoded by echo_from_noise.files. The
training set (at most a few thousand frames) is decoded once and kept in memory; each step's batch
is a deterministic function of (seed, step, rank), so resuming needs no data-loader state.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from echo_from_noise import storage
from echo_from_noise.contract import IMAGES_FOLDER, PNG_SUFFIX, SECTOR_MAPS_FOLDER
from echo_from_noise.errors import UserError
from echo_from_noise.files import read_label_png, read_png
from echo_from_noise.resize import resize_image, resize_labels


def read_map(path: str, num_classes: int, size: int | None = None) -> np.ndarray:
    """A label map (H, W) uint8 with every value checked, resized (nearest) to size x size."""
    with storage.local_copy(path) as local:
        labels = read_label_png(local, num_classes)
    return resize_labels(labels, size) if size else labels


def read_image(path: str, size: int | None = None) -> np.ndarray:
    """A grey image (H, W) uint8, resized (area, or linear when enlarging) to size x size."""
    with storage.local_copy(path) as local:
        image = read_png(local)
    return resize_image(image, size) if size else image


def list_pairs(data_dir: str, views: tuple[str, ...], split: str) -> list[tuple[str, str]]:
    """(map, image) paths of the given views and split; UserError if none or one is unmatched."""
    pairs = []
    for view in views:
        # (the folders of contract.sector_map_folders, joined as text: --data-dir may be a URL)
        map_dir = storage.join(data_dir, view, SECTOR_MAPS_FOLDER, split)
        image_dir = storage.join(data_dir, view, IMAGES_FOLDER, split)
        images = set(storage.listdir(image_dir))
        for name in storage.listdir(map_dir):
            if not name.endswith(PNG_SUFFIX):
                continue
            if name not in images:
                raise UserError(f"{storage.join(map_dir, name)}: no matching image in {image_dir}")
            pairs.append((storage.join(map_dir, name), storage.join(image_dir, name)))
    if not pairs:
        raise UserError(f"{data_dir}: no map/image pairs for views {list(views)}, split {split} "
                        f"(expected <VIEW>/{SECTOR_MAPS_FOLDER}/{split}/*{PNG_SUFFIX} and "
                        f"<VIEW>/{IMAGES_FOLDER}/{split}/*{PNG_SUFFIX})")
    return pairs


def _read_pair(pair: tuple[str, str], num_classes: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    map_path, image_path = pair
    labels, image = read_map(map_path, num_classes), read_image(image_path)
    if labels.shape != image.shape:
        raise UserError(f"{image_path}: image size {image.shape[1]}x{image.shape[0]} differs from "
                        f"its map {map_path} ({labels.shape[1]}x{labels.shape[0]})")
    return resize_labels(labels, size), resize_image(image, size)


@dataclass
class PairData:
    """All training pairs in memory: maps and images (N, size, size) uint8."""

    maps: torch.Tensor
    images: torch.Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def data_std(self) -> float:
        """The standard deviation of the training images in the model's range [-1, 1] (all
        pixels): what EDM's sigma_data stands for (config.json reports both)."""
        return float(self.images.float().div(127.5).sub(1.0).std())

    def clean_inputs(self, index: torch.Tensor, flip: torch.Tensor, device: torch.device,
                     channels: int) -> torch.Tensor:
        """The network's clean inputs x0 of the pairs ``index``, mirrored where ``flip``: the images
        in [-1, 1], (N, channels, H, W)."""
        images = self.images[index]
        images = torch.where(flip[:, None, None], images.flip(-1), images)
        return to_model_range(images.to(device, non_blocking=True), channels)

    @classmethod
    def load(cls, data_dir: str, views: tuple[str, ...], split: str, num_classes: int, size: int,
             workers: int = 4, progress: bool = False) -> "PairData":
        pairs = list_pairs(data_dir, views, split)
        with ThreadPoolExecutor(max(1, workers)) as pool:
            results = list(tqdm(pool.map(lambda p: _read_pair(p, num_classes, size), pairs),
                                total=len(pairs), desc="reading pairs", disable=not progress,
                                leave=False))
        maps = torch.from_numpy(np.stack([r[0] for r in results]))
        images = torch.from_numpy(np.stack([r[1] for r in results]))
        return cls(maps, images, [Path(p[0]).name for p in pairs])


def step_seed(seed: int, step: int, rank: int, stream: int = 0) -> int:
    """A 63-bit seed unique to (seed, step, rank, stream)."""
    state = np.random.SeedSequence([seed, step, rank, stream]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def batch_indices(num_items: int, batch_size: int, seed: int, step: int, rank: int,
                  world_size: int) -> np.ndarray:
    """Indices of this rank's batch at this step: every epoch is a permutation seeded by (seed,
    epoch), read in order by the ranks in turn, so ranks see disjoint data within an epoch."""
    positions = (step * world_size + rank) * batch_size + np.arange(batch_size)
    epochs = positions // num_items
    indices = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        order = np.random.default_rng([seed, int(epoch)]).permutation(num_items)
        chosen = epochs == epoch
        indices[chosen] = order[positions[chosen] % num_items]
    return indices


def one_hot(maps: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, H, W) integer maps -> (N, num_classes, H, W) float one-hot."""
    return F.one_hot(maps.long(), num_classes).permute(0, 3, 1, 2).float()


def to_model_range(images: torch.Tensor, channels: int = 1) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, channels, H, W) float in [-1, 1] (grey repeated over channels)."""
    x = images.float().div(127.5).sub(1.0)[:, None]
    return x.expand(-1, channels, -1, -1).contiguous() if channels > 1 else x
