"""The embedded CAMUS-format data set: synthetic patients drawn from a heart phantom and a simple
ultrasound simulation, in the layout of the official NIfTI release (docs/embedded_data.md).

heart_phantom          the anatomy of one frame (LV cavity, myocardium, atrium) per patient and phase
ultrasound_simulation  speckle, attenuation and the scan sector that turn the anatomy into an image
generate               the command: python -m embedded_camus.generate --out-dir DIR
figure                 a figure of example frames
"""
