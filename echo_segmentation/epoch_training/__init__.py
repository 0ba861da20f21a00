"""One epoch-training harness for the downstream networks (after nnU-Net's trainer classes).

    trainer   EpochTrainer: the whole run of a training program, a task subclasses it
    steps     the cosine schedule, the seeded batches of one epoch, one training pass
    records   the run to continue (--resume), best.pt / last.pt, log.csv and TensorBoard

The tasks: echo_segmentation.segmentation_trainer (programs echo_segmentation.train) and
echo_segmentation.view_classifier.trainer (echo_segmentation.train_view_classifier).
"""
