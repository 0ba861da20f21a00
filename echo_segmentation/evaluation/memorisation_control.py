"""Memorisation against a fair control: images of maps whose frame the generator saw, against images
of maps whose frame it never saw.

A mask-conditioned generator draws an image close to the frame its map was made from even when it
copies nothing: the map carries that frame's anatomy. So "closer to a training frame than real test
frames are" (evaluation.memorisation) is partly the condition speaking. The control asks the
same generator the same question about frames it never saw. For each synthetic image whose map was
drawn from a real frame that is at hand, its distance to that source frame (features standardised
by the view's training frames; SSIM at --ssim-size):

    seen      images of training maps: d(s_i, f_i), f_i a training frame (the generator saw it)
    control   images of held-out maps (validation or test frames): d(s_j, f_j), f_j unseen

Both groups have the same pull of the map towards its frame; only the seen group can also have been
copied. Decision rule (MEMORISED_RULE):
- per measure (features, SSIM): the seen distances are smaller (SSIM larger) than the control's by a
  one-sided Mann-Whitney U test at alpha = 0.01 / 2 (Bonferroni over the two measures);
- the set memorises when either measure says so; "undecided" when either group has fewer than
  LEAST images (a set sampled from training maps only has no control);
- per image: flagged when nearer its own frame than every control image is to its own.
Values are rounded to 1e-3 first (standardised feature distances are of order 10, SSIM of order
0.5): differences of float32 rounding are ties, not evidence (a copy's features, computed in another
batch, are about 3e-5 from its original's). Without memorisation the two groups are alike: p is uniform and about 1 / (controls + 1) of the
seen images are flagged by chance.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import mannwhitneyu

ALPHA = 0.01
LEAST = 5
DECIMALS = 3
MEMORISED_RULE = (f"memorised when, by features or by SSIM, images of training maps are nearer the "
                  f"frame their map was drawn from than images of held-out maps are to theirs "
                  f"(one-sided Mann-Whitney U, p < {ALPHA} / 2); undecided with fewer than "
                  f"{LEAST} images in either group")


def compare(seen: np.ndarray, control: np.ndarray, closer: str = "smaller") -> dict:
    """One measure's verdict: medians, the one-sided p value, images flagged beyond the control."""
    seen, control = (np.round(np.asarray(v, float), DECIMALS) for v in (seen, control))
    if closer not in ("smaller", "larger"):
        raise ValueError(f"closer must be 'smaller' or 'larger', got {closer!r}")
    result = {"num_seen": int(seen.size), "num_control": int(control.size), "closer": closer,
              "median_seen": float(np.median(seen)) if seen.size else math.nan,
              "median_control": float(np.median(control)) if control.size else math.nan,
              "p_value": math.nan, "threshold": math.nan, "flagged": 0, "flagged_fraction": math.nan,
              "memorised": None}
    if min(seen.size, control.size) < LEAST:
        return result
    alternative = "less" if closer == "smaller" else "greater"
    p = float(mannwhitneyu(seen, control, alternative=alternative).pvalue)
    threshold = float(control.min() if closer == "smaller" else control.max())
    flagged = seen < threshold if closer == "smaller" else seen > threshold
    return result | {"p_value": p, "threshold": threshold, "flagged": int(flagged.sum()),
                     "flagged_fraction": float(flagged.mean()), "memorised": p < ALPHA / 2}


def decide(by_features: dict, by_ssim: dict) -> str:
    """'memorised', 'no evidence of memorisation' or 'undecided (...)' by MEMORISED_RULE."""
    verdicts = (by_features["memorised"], by_ssim["memorised"])
    if None in verdicts:
        return (f"undecided: {by_features['num_seen']} images of training maps and "
                f"{by_features['num_control']} of held-out maps (need {LEAST} of each)")
    return "memorised" if any(verdicts) else "no evidence of memorisation"
