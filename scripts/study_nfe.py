"""Downstream Dice versus sampling cost (NFE): `python scripts/study_nfe.py --help`.

A launcher of echo_pipeline.nfe_study.study_nfe (also `efn-study-nfe`), runnable from a clone.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the clone's packages

from echo_pipeline.nfe_study.study_nfe import main  # noqa: E402

if __name__ == "__main__":
    main()
