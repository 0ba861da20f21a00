"""Presets of the end-to-end pipeline: every value a stage needs, from a CPU smoke test to the paper.

A preset fills each option of ``PipelineConfig`` that the user did not give. ``None`` inside a preset
means "the stage program's own default" (the published setting), so the option is not passed on.
Training length is always epochs or steps, never wall-clock time, so the same preset gives the same
numbers on a busy machine as on a quiet one (``seg_max_minutes`` is a user's safety stop only).
"""
from __future__ import annotations

PRESETS: dict[str, dict] = {
    # Tiny models on this 2-core CPU machine: the whole pipeline in minutes. Numbers mean nothing.
    # A fast-moving EMA (0.95) because 200 steps are too few for 0.9999. An EDM model sampled with
    # 5 Euler steps: in the NFE study on camus_224 (docs/sampling.md, issue 18) its synthetic
    # images trained the segmenter as well as the ddpm model's with 20 respaced DDPM steps (mean
    # Dice 59.1 [57.6, 60.7] against 58.7 [56.8, 60.7], same training steps), at a quarter of the
    # sampling cost.
    "smoke": dict(
        formulation="edm",
        gpus=0, num_patients=60, data_size=128, train_patients=40, image_size=64, num_augment=1,
        sdm_model_channels=32, sdm_channel_mult=(1, 2, 2), sdm_num_res_blocks=1,
        sdm_attention_resolutions=(16,), sdm_num_head_channels=32, sdm_spade_hidden=32, sdm_batch_size=8,
        sdm_steps=200, sdm_lr=1e-3, sdm_ema_rate=0.95, vae_epochs=10,
        sampler="euler", sample_steps=5, sample_batch_size=32, samples_per_map=2,
        seg_preset="default", seg_image_size=64, seg_epochs=40, seg_max_minutes=None,
        view_classification=True, view_image_size=64, view_epochs=10,
        real_plus_synthetic=True, real_fractions=(0.1, 0.25),
    ),
    # One GPU, an afternoon: 128 px, a quarter-size SDM, a 20-step solver for sampling.
    "fast": dict(
        formulation=None,
        gpus=1, num_patients=200, data_size=256, train_patients=0, image_size=128, num_augment=5,
        sdm_model_channels=128, sdm_channel_mult=None, sdm_num_res_blocks=2,
        sdm_attention_resolutions=None, sdm_num_head_channels=None, sdm_spade_hidden=None,
        sdm_batch_size=32,
        sdm_steps=20000, sdm_lr=None, sdm_ema_rate=None, vae_epochs=50,
        sampler="dpm-solver++", sample_steps=20, sample_batch_size=64, samples_per_map=None,
        seg_preset="default", seg_image_size=None, seg_epochs=None, seg_max_minutes=None,
        view_classification=True, view_image_size=None, view_epochs=None,
        real_plus_synthetic=True, real_fractions=(0.1, 0.25),
    ),
    # The published settings: 256 px, full SDM on 8 GPUs (mpiexec), 1000-step DDPM, paper harness.
    "paper": dict(
        formulation=None,
        gpus=8, num_patients=500, data_size=256, train_patients=0, image_size=256, num_augment=5,
        sdm_model_channels=None, sdm_channel_mult=None, sdm_num_res_blocks=None,
        sdm_attention_resolutions=None, sdm_num_head_channels=None, sdm_spade_hidden=None,
        sdm_batch_size=12,
        sdm_steps=50000, sdm_lr=None, sdm_ema_rate=None, vae_epochs=None,
        sampler="ddpm", sample_steps=0, sample_batch_size=16, samples_per_map=None,
        seg_preset="paper", seg_image_size=None, seg_epochs=None, seg_max_minutes=None,
        view_classification=True, view_image_size=None, view_epochs=None,
        real_plus_synthetic=True, real_fractions=(0.1, 0.25),
    ),
}
