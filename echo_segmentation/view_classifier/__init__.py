"""A view classifier (2CH vs 4CH, or the four views) trained on real or synthetic echocardiograms:
a downstream task beside segmentation.

    config      ViewTrainConfig, the options of the training program, and their checks
    data        the images and their labels, read from a samples, extraction or dataset folder
    model       the network (MONAI, from scratch), its checkpoints and its predictions
    transforms  the training transform (augmentation without a horizontal flip)
    trainer     ViewClassifierTrainer: the epoch-training harness for this task
    metrics     accuracy, balanced accuracy, confusion matrix, patient-bootstrap intervals
    evaluation  a trained classifier on one split: predictions and their summary
    figures     the confusion-matrix figure

Programs: echo_segmentation.train_view_classifier and echo_segmentation.test_view_classifier."""
