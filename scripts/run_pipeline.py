"""The whole echo-from-noise pipeline with one command: `python scripts/run_pipeline.py --help`.

A launcher of echo_pipeline.run_pipeline (also `efn-pipeline`), runnable from a clone.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the clone's packages

from echo_pipeline.run_pipeline import main  # noqa: E402

if __name__ == "__main__":
    main()
