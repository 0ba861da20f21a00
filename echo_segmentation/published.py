"""Published Dice scores (%) on the 50 CAMUS test patients (DESIGN.md; Stojanovski et al., ASMUS 2023)."""
from __future__ import annotations

# name -> (LV endo, LV epi, LA), in the order of metrics.STRUCTURES
PUBLISHED_DICE: dict[str, tuple[float, float, float]] = {
    "paper: trained on synthetic (SDM, all frames)": (88.6, 91.9, 85.2),
    "paper: trained on real CAMUS": (87.8, 90.9, 82.6),
    "paper: previous state of the art (CycleGAN)": (79.4, 88.6, 71.3),
}
