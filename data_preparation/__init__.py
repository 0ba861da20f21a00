"""CAMUS extraction, sector maps, label augmentation and the hand-off to segmentation."""
