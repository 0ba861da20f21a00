"""Where the pipeline runs from: the clone's root (the stage programs' PYTHONPATH and working
folder), the program a SLURM job of a stage runs again, and the sbatch template of those jobs."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PIPELINE_PROGRAM = REPO / "scripts" / "run_pipeline.py"
STAGE_TEMPLATE = REPO / "scripts" / "slurm" / "pipeline_stage.sbatch"
