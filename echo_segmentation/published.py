"""Published Dice scores (%) on the 50 CAMUS test patients (Table 1 of Stojanovski et al., ASMUS 2023)."""
from __future__ import annotations

# Table 1, row -> (mean, std) of LV endo, LV epi, LA and their mean. Rows are named like the
# pipeline's segmentation data sets: one per view (synthetic), all_views, real_all_views.
PAPER_TABLE1: dict[str, tuple[tuple[float, float], ...]] = {
    "4CH_ED": ((91.3, 4.4), (94.0, 3.2), (82.6, 16.9), (89.3, 4.9)),
    "4CH_ES": ((87.8, 5.5), (92.7, 2.7), (88.0, 5.3), (89.5, 2.3)),
    "2CH_ED": ((88.0, 4.9), (89.3, 5.5), (77.5, 16.8), (85.0, 5.3)),
    "2CH_ES": ((87.0, 5.7), (92.9, 2.4), (87.9, 7.3), (89.3, 2.6)),
    "all_views": ((88.6, 5.8), (91.9, 4.2), (85.2, 13.2), (88.6, 2.7)),
    "cyclegan": ((79.4, 9.9), (88.6, 5.4), (71.3, 23.7), (79.7, 7.1)),
    "real_all_views": ((87.8, 6.8), (90.9, 5.4), (82.6, 14.4), (87.1, 3.4)),
}

# name -> mean Dice of (LV endo, LV epi, LA), in the order of metrics.STRUCTURES
PUBLISHED_DICE: dict[str, tuple[float, float, float]] = {
    name: tuple(mean for mean, _ in PAPER_TABLE1[row][:3])
    for name, row in (("paper: trained on synthetic (SDM, all frames)", "all_views"),
                      ("paper: trained on real CAMUS", "real_all_views"),
                      ("paper: previous state of the art (CycleGAN)", "cyclegan"))
}
