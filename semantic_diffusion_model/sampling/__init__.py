"""The sampling program's files: which maps to sample, the step-3 outputs, claims on shared work."""
