"""A view classifier (2CH vs 4CH, or the four views) trained on real or synthetic echocardiograms:
a downstream task beside segmentation. Programs: echo_segmentation.train_view_classifier and
echo_segmentation.test_view_classifier."""
