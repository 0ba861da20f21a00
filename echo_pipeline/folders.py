"""The pipeline's folders under WORK, and those of a few-real generator (--few-real-generator)."""
from __future__ import annotations

from pathlib import Path


class Folders:
    """The pipeline's folders (listed in the program's text, echo_pipeline/run_pipeline.py)."""

    def __init__(self, work: Path, camus_dir: str | None):
        self.work = work
        self.camus = Path(camus_dir).resolve() if camus_dir else work / "0_camus"
        self.extract, self.labels, self.samples = work / "1_extract", work / "2_labels", work / "3_samples"
        self.seg_data, self.results = work / "4_segmentation_data", work / "results"
        self.autoencoder, self.evaluation = work / "autoencoder", work / "evaluation"
        self.sdm, self.suffix = work / "sdm", ""  # diffusion models; stage-name suffix

    def few_real(self, fraction: float) -> "Folders":
        """The folders of --few-real-generator for ``fraction``: WORK/few_real/patientsNN/..."""
        few = Folders(self.work, str(self.camus))
        few.tag = f"patients{round(100 * fraction)}"
        root = self.work / "few_real" / few.tag
        few.extract, few.labels, few.samples, few.sdm = (root / "1_extract", root / "2_labels",
                                                         root / "3_samples", root / "sdm")
        few.autoencoder, few.suffix = self.autoencoder, f"_{few.tag}"
        return few
