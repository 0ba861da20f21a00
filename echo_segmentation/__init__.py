"""Segmentation networks trained on synthetic or real echocardiograms, tested on real CAMUS."""
