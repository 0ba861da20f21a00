"""The data contract between the steps, in one place (docs/data_contract.md): views, splits, label
encodings, names, and the folder layout every program reads and writes.

CAMUS labels: 0 background, 1 LV endocardium (cavity), 2 LV myocardium, 3 left atrium.
Sector maps (the diffusion model's condition): 0 outside the sector, 1 LV cavity, 2 tissue inside
the sector, 3 LV myocardium, 4 left atrium.

The folders follow the model of nnU-Net's documented dataset layout: a fixed tree of named folders,
the split one more folder level, one PNG per frame named by its stem, and an image and its label
map under the same name in parallel folders. A program builds its paths with the functions below
instead of spelling folder names itself.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

VIEWS = ("2CH_ED", "2CH_ES", "4CH_ED", "4CH_ES")
SPLITS = ("training", "validation", "testing")

# --- label encodings (docs/data_contract.md, "Label encodings") ---------------------------------
CAMUS_CLASSES = 4
CAMUS_BACKGROUND, CAMUS_CAVITY, CAMUS_MYOCARDIUM, CAMUS_ATRIUM = range(4)

SECTOR_CLASSES = 5
SECTOR_OUTSIDE, SECTOR_CAVITY, SECTOR_TISSUE, SECTOR_MYOCARDIUM, SECTOR_ATRIUM = range(5)
SECTOR_NAMES = {0: "outside sector", 1: "LV cavity", 2: "tissue", 3: "LV myocardium",
                4: "left atrium"}

# sector value -> CAMUS value, and CAMUS value -> sector value (inside the sector)
SECTOR_TO_CAMUS = np.array([0, 1, 0, 2, 3], dtype=np.uint8)
CAMUS_TO_SECTOR = np.array([SECTOR_TISSUE, SECTOR_CAVITY, SECTOR_MYOCARDIUM, SECTOR_ATRIUM],
                           dtype=np.uint8)

# display colours (RGB) for label overlays, indexed by sector value
SECTOR_COLOURS = np.array(
    [[0, 0, 0], [220, 50, 50], [90, 90, 90], [50, 200, 80], [60, 120, 230]], dtype=np.uint8
)
CAMUS_COLOURS = SECTOR_COLOURS[[0, 1, 3, 4]]


def sector_to_camus(sector_map: np.ndarray) -> np.ndarray:
    """Convert a sector map (0..4) to CAMUS labels (0..3)."""
    return SECTOR_TO_CAMUS[sector_map]


def camus_to_sector(labels: np.ndarray, sector_mask: np.ndarray) -> np.ndarray:
    """Build a sector map from CAMUS labels and a boolean mask of the ultrasound sector.

    Heart structures keep their class even where they reach outside the mask.
    """
    sector = np.where(sector_mask, SECTOR_TISSUE, SECTOR_OUTSIDE).astype(np.uint8)
    heart = labels > 0
    sector[heart] = CAMUS_TO_SECTOR[labels[heart]]
    return sector


# --- names (docs/data_contract.md, "File names") ------------------------------------------------
def patient_name(number: int) -> str:
    """``patientNNNN``, as CAMUS names its patients."""
    return f"patient{number:04d}"


def frame_stem(patient: str, view: str, split: str) -> str:
    """The stem of an extracted frame: ``patientNNNN_<VIEW>_<split>``."""
    return f"{patient}_{view}_{split}"


def augmented_stem(stem: str, k: int) -> str:
    """The stem of the k-th augmented map of the map named ``stem``: ``<stem>_<k>``."""
    return f"{stem}_{k}"


def frame_of_augmented(stem: str) -> str:
    """The stem of the frame an augmented map was made from (the inverse of ``augmented_stem``)."""
    return re.sub(r"_\d+$", "", stem)


def stem_parts(stem: str) -> dict[str, str]:
    """Split a file stem ``patientNNNN_<VIEW>_<split>[_k]`` into patient, view, phase, split."""
    parts = stem.split("_")
    if len(parts) < 4 or not parts[0].startswith("patient"):
        return {"patient": parts[0], "view": "", "chamber": "", "phase": "", "split": ""}
    return {"patient": parts[0], "view": f"{parts[1]}_{parts[2]}", "chamber": parts[1],
            "phase": parts[2], "split": parts[3] if len(parts) > 3 else ""}


def view_chamber(view: str) -> str:
    """The chamber of a view: ``2CH`` of ``2CH_ED`` (a model of a chamber samples both phases)."""
    return view.split("_")[0]


def chosen_patients(patients, fraction: float, seed: int) -> list[str]:
    """The patients of a few-label data set: round(fraction x N) of them (at least 1), the first of
    a permutation of the sorted names seeded by ``seed``, so that a smaller fraction's patients are
    among a larger one's. Chosen by patient, never by frame (the frames of a heart stay together)."""
    names = sorted(set(patients))
    if fraction >= 1 or not names:
        return names
    count = max(1, round(fraction * len(names)))
    order = np.random.default_rng(seed).permutation(len(names))
    return sorted(names[i] for i in order[:count])


def segmentation_dataset_name(source: str, name: str, fraction: float = 1.0) -> str:
    """Step 4's data set name from ``name`` (a view, or all_views): patientsNN_ for a fraction of
    the patients, real_ or real_synthetic_ for --source real or real+synthetic."""
    if fraction < 1:
        name = f"patients{round(100 * fraction)}_{name}"
    return {"real": f"real_{name}", "real+synthetic": f"real_synthetic_{name}"}.get(source, name)


def sample_name(map_name: str, k: int) -> str:
    """The name of the k-th synthetic image of a map (step 3): the map's name for k = 0, else
    ``<map name>_s<k>`` (sampling with several seeds per map)."""
    return f"{map_name}_s{k}" if k else map_name


def map_of_sample(name: str) -> str:
    """The map a synthetic image was generated from (the inverse of ``sample_name``)."""
    match = re.fullmatch(r"(.+)_s\d+", name)
    return match.group(1) if match else name


PNG_SUFFIX = ".png"  # every image and map of steps 1-4 is one PNG named by its stem


def png_name(stem: str) -> str:
    """The file name of the PNG named by ``stem``."""
    return f"{stem}{PNG_SUFFIX}"


# --- the CAMUS input: the official NIfTI release (step 1 reads it, embedded_camus writes it) ----
CAMUS_NIFTI_FOLDER = "database_nifti"  # patientNNNN/patientNNNN_<VIEW>[_gt].nii.gz
CAMUS_SPLIT_FOLDER = "database_split"  # subgroup_<split>.txt, one patientNNNN a line


def camus_patient_folder(root: str | Path, patient: str) -> Path:
    return Path(root) / CAMUS_NIFTI_FOLDER / patient


def camus_frame_paths(root: str | Path, patient: str, view: str) -> tuple[Path, Path]:
    """The image and label (``_gt``) NIfTI files of one patient's view in the NIfTI release."""
    folder = camus_patient_folder(root, patient)
    return folder / f"{patient}_{view}.nii.gz", folder / f"{patient}_{view}_gt.nii.gz"


def camus_split_list(root: str | Path, split: str) -> Path:
    """The NIfTI release's list of the patients of ``split``."""
    return Path(root) / CAMUS_SPLIT_FOLDER / f"subgroup_{split}.txt"


# --- the folders the steps hand on (docs/data_contract.md, "The folders", steps 1-4) -----------
IMAGES_FOLDER = "images"  # grey images (steps 1, 2, 4)
ANNOTATIONS_FOLDER = "annotations"  # CAMUS label maps beside them (steps 1, 4)
SECTOR_MAPS_FOLDER = "sector_annotations"  # sector maps (step 2)
AUGMENTED_SUFFIX = "_augmented"  # step 2: LABELS/<VIEW>_augmented holds the augmented maps
SAMPLES_FOLDER = "samples"  # step 3: synthetic images
SAMPLE_LABELS_FOLDER = "labels"  # step 3: the sector map each sample was drawn from
SAMPLE_LABELS_VISIBLE_FOLDER = "labels_visible"  # step 3: that map in colour
SAMPLE_COMBINED_FOLDER = "combined"  # step 3: real | synthetic | overlay | contours
SAMPLE_OUTPUT_FOLDERS = (SAMPLE_LABELS_FOLDER, SAMPLE_LABELS_VISIBLE_FOLDER, SAMPLE_COMBINED_FOLDER,
                         SAMPLES_FOLDER)  # step 3: a map is done when all four hold its PNG
CONTACT_SHEET_FILE = "contact_sheet.png"  # step 3, per view: combined panels of the first maps
SAMPLE_CONFIG_FILE = "sample_config.json"  # step 3, per view: the options and generation settings
SUMMARY_FILE = "summary.json"  # step 3 per view folder, step 5 per result folder
SPACING_FILE = "spacing.json"  # steps 1, 4: stem -> [row_mm, col_mm]
DATASET_CONFIG_FILE = "dataset_config.json"  # step 4: how a data set was made ("source": real|synthetic)


def image_label_folders(dataset: str | Path, split: str) -> tuple[Path, Path]:
    """The images and CAMUS label maps of one split of a dataset folder: EXTRACT/<VIEW> (step 1)
    or SEG/<dataset> (step 4), the same layout."""
    dataset = Path(dataset)
    return dataset / IMAGES_FOLDER / split, dataset / ANNOTATIONS_FOLDER / split


def image_label_paths(dataset: str | Path, split: str, stem: str) -> tuple[Path, Path]:
    """An image and its CAMUS label map in a dataset folder (steps 1 and 4)."""
    image_dir, label_dir = image_label_folders(dataset, split)
    return image_dir / png_name(stem), label_dir / png_name(stem)


def extract_pair_paths(root: str | Path, view: str, split: str, stem: str) -> tuple[Path, Path]:
    """An extracted frame's image and CAMUS labels: EXTRACT/<VIEW>/{images,annotations}/<split>/."""
    return image_label_paths(Path(root) / view, split, stem)


def sector_map_folders(root: str | Path, view: str, split: str) -> tuple[Path, Path]:
    """Step 2: the real images and their sector maps,
    LABELS/<VIEW>/{images,sector_annotations}/<split>."""
    view_dir = Path(root) / view
    return view_dir / IMAGES_FOLDER / split, view_dir / SECTOR_MAPS_FOLDER / split


def augmented_view(view: str) -> str:
    """The step 2 folder of a view's augmented maps, ``<VIEW>_augmented``."""
    return view + AUGMENTED_SUFFIX


def augmented_maps_folder(root: str | Path, view: str, split: str) -> Path:
    """Step 2: LABELS/<VIEW>_augmented/sector_annotations/<split>, the maps to sample from."""
    return Path(root) / augmented_view(view) / SECTOR_MAPS_FOLDER / split


def sample_folders(root: str | Path, view: str) -> tuple[Path, Path]:
    """Step 3: the synthetic images and their sector maps, SAMPLES/<VIEW>/{samples,labels}."""
    view_dir = Path(root) / view
    return view_dir / SAMPLES_FOLDER, view_dir / SAMPLE_LABELS_FOLDER
