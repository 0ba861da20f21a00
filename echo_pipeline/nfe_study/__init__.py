"""Downstream Dice versus sampling cost (NFE) and training cost (scripts/study_nfe.py).

study_nfe     the program: its text (--help), study(), main
config        StudyConfig
sampler_spec  an entry of --samplers: [FORMULATION:]SAMPLER[,option=value...]
runs          the runs (checkpoint x sampler x NFE budget) and the stages of each
table         a finished run's row: nfe_study.csv and nfe_study.md
figures       nfe_study.png (Dice versus NFE) and nfe_study_cost.png (versus GFLOP)
"""
