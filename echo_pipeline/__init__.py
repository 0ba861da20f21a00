"""The end-to-end pipeline and the NFE study: the top floor, which may import every other package
and which none of them imports. Their programs: scripts/run_pipeline.py (efn-pipeline) and
scripts/study_nfe.py (efn-study-nfe), thin launchers of run_pipeline.main and nfe_study.study_nfe.main.

run_pipeline  the program: its text (--help), run(), the command a SLURM job runs again, the report
config        PipelineConfig (the pipeline's own options and the stage programs' it passes on), resolve
presets       smoke, fast, paper: a value for every option left unset
stages        every stage in order, as its stage program's command line
stage_runner  StageRunner (runs, skips or collects the stages), StageChecker (checks them first)
folders       the folders under WORK
rows          the segmentation rows (the data set each network trains on)
launch        how a multi-process stage starts (--launcher mpiexec, torchrun, srun)
slurm         the stages as chained SLURM jobs (--slurm print | submit)
report        WORK/report.md (Table 1) and the real-vs-synthetic figure
clone         the clone's root, the program file and the sbatch template the pipeline names
nfe_study/    downstream Dice versus sampling cost (NFE) and training cost
"""
