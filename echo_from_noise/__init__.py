"""Helpers shared by every package of echo-from-noise; it imports none of them.

errors    UserError: bad input, reported as one line and exit status 2 (AlreadyReported: its line printed)
cli       a configuration dataclass -> command-line options, saved configurations, a program's main
files     atomic writes, checked PNG reading and writing, temporary-file clean-up
staging   all-or-nothing output folders
storage   local paths and gs:// / az:// URLs behind one interface (checkpoints, logs)
checkpoint_files  torch checkpoints: atomic saves, safe (weights-only) loads, one-line errors
contract  the data contract between the steps: views, splits, label and sector classes, layout
resize    the one rule for resizing images and label maps
drawing   sector-map contours over grey images (sampling panels, evaluation figures)
device    --device and --precision
launch    how a program was started (torchrun, mpiexec, srun, alone): precedence, SLURM job steps
slurm_nodes  SLURM node lists (node[01-03,07]) -> host names
timing    wall time that waits for the GPU, JSON results (the benchmarks)
"""
