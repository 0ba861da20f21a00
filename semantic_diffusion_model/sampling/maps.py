"""The label maps a sampling run turns into images, and where each one's outputs go.

--maps-dir may be
- a step-2 root (LABELS): the augmented maps LABELS/<VIEW>_augmented/sector_annotations/<split>/
  of each of --views that is present;
- a folder of one view's maps with split subfolders (e.g. LABELS/2CH_ES_augmented/sector_annotations,
  or LABELS/2CH_ED/sector_annotations for the real maps): its --splits subfolders are walked;
- a plain folder of map PNGs.
A map's output view is the step-2 view folder it lies in, else the view in its name
(patientNNNN_<VIEW>_...), else none (outputs go straight under --out-dir). Its output name is its
file stem. The real image it was made from, when the layout tells (LABELS/<VIEW>/images/<split>/
<stem without the _k of augmentation>.png), fills the first panel of the combined figure.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echo_from_noise.contract import (AUGMENTED_SUFFIX, PNG_SUFFIX, SECTOR_MAPS_FOLDER, SPLITS,
                                      VIEWS, augmented_view, frame_of_augmented, png_name,
                                      sector_map_folders, stem_parts)
from echo_from_noise.errors import UserError
from echo_from_noise.files import list_pngs, read_png

@dataclass(frozen=True)
class MapItem:
    name: str            # output file stem
    view: str            # output sub-folder of --out-dir ("" = --out-dir itself)
    path: Path
    real_image: Path | None


def _view_folder(path: Path) -> tuple[Path, str, bool] | None:
    """(step-2 root, view, augmented) if ``path`` lies in LABELS/<VIEW>[_augmented]/sector_annotations."""
    for folder in path.parents:
        if folder.name == SECTOR_MAPS_FOLDER:
            view = folder.parent.name.removesuffix(AUGMENTED_SUFFIX)
            if view in VIEWS:
                return folder.parent.parent, view, folder.parent.name.endswith(AUGMENTED_SUFFIX)
            return None
    return None


def _item(path: Path) -> MapItem:
    place = _view_folder(path)
    if place is None:
        view = stem_parts(path.stem)["view"]
        return MapItem(path.stem, view if view in VIEWS else "", path, None)
    root, view, augmented = place
    split = path.parent.name
    real_stem = frame_of_augmented(path.stem) if augmented else path.stem
    real = sector_map_folders(root, view, split)[0] / png_name(real_stem)
    return MapItem(path.stem, view, path, real if real.is_file() else None)


def _map_files(maps_dir: Path, views: tuple[str, ...], splits: tuple[str, ...]) -> list[Path]:
    if (maps_dir / SECTOR_MAPS_FOLDER).is_dir():  # LABELS/<VIEW>_augmented given for its maps folder
        maps_dir = maps_dir / SECTOR_MAPS_FOLDER
    roots = [maps_dir / augmented_view(v) / SECTOR_MAPS_FOLDER for v in views]
    if any(r.is_dir() for r in roots):  # a step-2 root
        folders = [r / s for r in roots for s in splits]
    elif any((maps_dir / s).is_dir() for s in SPLITS):  # one view's maps, by split
        folders = [maps_dir / s for s in splits]
    else:
        folders = [maps_dir]
    return [p for f in folders for p in list_pngs(f)]


def find_maps(maps_dir: str | Path, views: tuple[str, ...] = VIEWS,
              splits: tuple[str, ...] = SPLITS) -> list[MapItem]:
    """Every map to sample, sorted by (view, name); UserError if none or names collide."""
    maps_dir = Path(maps_dir)
    if not maps_dir.is_dir():
        raise UserError(f"{maps_dir}: maps folder not found")
    items = [_item(p) for p in _map_files(maps_dir, tuple(views), tuple(splits))]
    items = [m for m in items if not m.view or m.view in views]
    if not items:
        raise UserError(f"{maps_dir}: no label map PNGs for views {' '.join(views)} and splits "
                        f"{' '.join(splits)} (expected <VIEW>{AUGMENTED_SUFFIX}/{SECTOR_MAPS_FOLDER}/<split>/*{PNG_SUFFIX}, "
                        f"<split>/*{PNG_SUFFIX} or *{PNG_SUFFIX})")
    items.sort(key=lambda m: (m.view, m.name))
    for a, b in zip(items, items[1:]):
        if (a.view, a.name) == (b.view, b.name):
            raise UserError(f"{b.path}: same output name as {a.path} ({b.view or '.'}/{png_name(b.name)})")
    return items


def check_map(path: Path, num_classes: int) -> None:
    """UserError unless the file is a square label map with values 0..num_classes-1."""
    labels = read_png(path)
    if labels.shape[0] != labels.shape[1]:
        raise UserError(f"{path}: map is {labels.shape[1]}x{labels.shape[0]}, expected a square map")
    bad = np.unique(labels[labels >= num_classes])
    if bad.size:
        raise UserError(f"{path}: label values {bad.tolist()} outside 0..{num_classes - 1}")
