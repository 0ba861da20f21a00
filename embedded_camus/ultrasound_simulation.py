"""Ultrasound-like image formation for a phantom given as an echogenicity function.

The simulation runs in beam coordinates (depth samples x beam angles), as a phased-array scanner
acquires its lines:

1. scatterers: white Gaussian amplitudes scaled by the tissue's echogenicity (fully developed
   speckle), a few strong point scatterers, and specular echoes where the echogenicity changes
   along the beam (interfaces facing the probe are bright, walls parallel to the beams faint);
2. depth attenuation of the transmitted and returning pulse, and per-beam shadows (a poor
   acoustic window, ribs);
3. the point-spread function: an axial pulse (Gaussian-modulated cosine, the RF signal) along each
   beam and a Gaussian beam profile across beams, narrowest at the focal depth;
4. electronic noise, envelope detection (magnitude of the analytic signal, scipy.signal.hilbert),
   time-gain compensation that undoes most of the attenuation (and amplifies the noise at depth);
5. log compression to a dynamic range in dB and a gain;
6. scan conversion into the fan (cv2.remap from polar to Cartesian), exactly 0 outside the sector.

Geometry is in image heights: the probe at (x, y) = (0, 0), y is depth. The displayed image may be
stretched across (CAMUS frames were resized to a square, anisotropically).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
from scipy.signal import hilbert


@dataclass(frozen=True)
class Scanner:
    """Sector geometry and acquisition settings of one patient's examination."""
    half_angle: float  # radians
    depth: float  # sector radius, image heights
    stretch: float  # displayed width / physical width
    attenuation: float  # round-trip amplitude attenuation, nepers per image height
    tgc_residual: float  # attenuation left uncompensated (negative: over-compensated)
    dynamic_range: float  # dB shown between black and white
    gain: float  # display level (0 black, 1 white) of the median echo in the sector
    noise: float  # electronic noise relative to myocardium echoes at the probe
    wavelength: float  # of the pulse's carrier, image heights
    pulse_cycles: float  # Gaussian envelope sigma in carrier periods
    beam_width: float  # lateral sigma at the focus, radians
    focus: float  # focal depth, image heights
    specular: float  # strength of interface echoes
    edge_falloff: float  # loss of sensitivity towards the sector's edges


def draw_scanner(rng: np.random.Generator) -> Scanner:
    u = rng.uniform
    return Scanner(half_angle=np.deg2rad(u(33, 40)), depth=u(0.97, 1.02), stretch=u(0.92, 1.08),
                   attenuation=u(3.5, 5.0), tgc_residual=u(-0.2, 0.8),
                   dynamic_range=u(50, 65), gain=u(0.28, 0.42), noise=u(0.0002, 0.0008),
                   wavelength=u(0.007, 0.009), pulse_cycles=u(0.5, 0.7),
                   beam_width=np.deg2rad(u(0.4, 0.6)), focus=u(0.4, 0.65),
                   specular=u(0.5, 1.2), edge_falloff=u(0.2, 0.5))


@dataclass(frozen=True)
class BeamGrid:
    """Sample positions of the beams: depth rows x beam columns."""
    depth: np.ndarray  # (rows,)
    angle: np.ndarray  # (columns,)

    @property
    def x(self) -> np.ndarray:
        return self.depth[:, None] * np.sin(self.angle)[None, :]

    @property
    def y(self) -> np.ndarray:
        return self.depth[:, None] * np.cos(self.angle)[None, :]


def beam_grid(scanner: Scanner, size: int) -> BeamGrid:
    rows = max(384, 2 * size)  # >= 4 samples per carrier period at the smallest wavelength
    columns = max(128, (3 * size) // 4)
    # beams run 5 % deeper than the sector shows: the Hilbert transform's edge effects stay unseen
    return BeamGrid(np.linspace(0.0, 1.05 * scanner.depth, rows),
                    np.linspace(-scanner.half_angle, scanner.half_angle, columns))


def gaussian(sigma: float) -> np.ndarray:
    n = np.arange(-int(np.ceil(3 * sigma)), int(np.ceil(3 * sigma)) + 1)
    kernel = np.exp(-0.5 * (n / sigma) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


def axial_pulse(wavelength: float, cycles: float) -> np.ndarray:
    """Gaussian-modulated cosine: ``wavelength`` in samples, envelope sigma ``cycles`` periods."""
    sigma = cycles * wavelength
    n = np.arange(-int(np.ceil(3 * sigma)), int(np.ceil(3 * sigma)) + 1)
    return (np.exp(-0.5 * (n / sigma) ** 2) * np.cos(2 * np.pi * n / wavelength)).astype(np.float32)


def beam_shadows(angle: np.ndarray, half_angle: float, rng: np.random.Generator) -> np.ndarray:
    """Per-beam transmission: poor acoustic windows (smooth gain changes across beams) and,
    sometimes, a rib or lung shadow darkening a few beams."""
    knots = rng.standard_normal(8) * rng.uniform(0.1, 0.35)
    gain = np.exp(np.interp(angle, np.linspace(-half_angle, half_angle, 8), knots))
    if rng.random() < 0.3:
        centre, width = rng.uniform(-1, 1) * half_angle, rng.uniform(0.05, 0.15) * half_angle
        gain *= 1.0 - rng.uniform(0.4, 0.8) * np.exp(-0.5 * ((angle - centre) / width) ** 2)
    return gain


def envelope_image(echogenicity: np.ndarray, grid: BeamGrid, scanner: Scanner,
                   rng: np.random.Generator) -> np.ndarray:
    """Log-compressed B-mode lines in [0, 1] (rows = depth, columns = beams)."""
    dr = grid.depth[1] - grid.depth[0]
    dtheta = grid.angle[1] - grid.angle[0]
    # specular echoes: interfaces facing the beam reflect strongly, walls along the beam hardly
    step = max(1, int(round(0.5 * scanner.wavelength / dr)))
    along = np.zeros_like(echogenicity)
    along[step:-step] = echogenicity[2 * step:] - echogenicity[:-2 * step]
    across = np.zeros_like(echogenicity)
    across[:, 1:-1] = (echogenicity[:, 2:] - echogenicity[:, :-2]) * (
        2 * step * dr / np.maximum(2 * dtheta * grid.depth[:, None], 1e-6))
    facing = along ** 2 / np.maximum(along ** 2 + across ** 2, 1e-12)
    amplitude = echogenicity + scanner.specular * np.abs(along) * facing ** 2
    scatterers = amplitude * rng.standard_normal(amplitude.shape)
    strong = rng.random(amplitude.shape) < 0.003
    scatterers[strong] *= 3.0
    scatterers *= np.exp(-scanner.attenuation * grid.depth)[:, None]
    scatterers *= beam_shadows(grid.angle, scanner.half_angle, rng)[None, :]
    scatterers = scatterers.astype(np.float32)

    pulse = axial_pulse(scanner.wavelength / dr, scanner.pulse_cycles)
    sigma = scanner.beam_width / dtheta
    focused = cv2.sepFilter2D(scatterers, -1, gaussian(sigma), pulse, borderType=cv2.BORDER_REFLECT)
    diffuse = cv2.sepFilter2D(scatterers, -1, gaussian(1.8 * sigma), pulse,
                              borderType=cv2.BORDER_REFLECT)
    defocus = np.clip(np.abs(grid.depth - scanner.focus) / 0.6, 0.0, 1.0)[:, None] ** 2
    rf = (1 - defocus) * focused + defocus * diffuse
    rf += scanner.noise * rng.standard_normal(rf.shape).astype(np.float32)
    # time-gain compensation on the RF, as in the scanner's front end (it amplifies the noise at
    # depth too); before envelope detection, so the global Hilbert transform never sees the
    # attenuation's 40 dB range along a beam
    rf *= np.exp((scanner.attenuation - scanner.tgc_residual) * grid.depth)[:, None]
    envelope = np.abs(hilbert(rf, axis=0))
    # the scanner's (and CAMUS's resizing's) smoothing: averages the deepest speckle minima
    envelope = np.sqrt(cv2.GaussianBlur((envelope ** 2).astype(np.float32), (0, 0),
                                        sigmaX=0.7, sigmaY=1.5))
    edges = 1.0 - scanner.edge_falloff * (grid.angle / scanner.half_angle) ** 4
    envelope *= edges[None, :]

    decibels = 20 * np.log10(envelope + 1e-12)
    median = np.median(decibels)
    return np.clip(scanner.gain + (decibels - median) / scanner.dynamic_range, 0.0, 1.0)


@dataclass(frozen=True)
class PixelGrid:
    """Physical positions of the pixel centres, their beam-grid indices and the sector mask."""
    x: np.ndarray
    y: np.ndarray
    row_index: np.ndarray  # float32, into BeamGrid.depth
    column_index: np.ndarray  # float32, into BeamGrid.angle
    sector: np.ndarray  # bool


def pixel_grid(scanner: Scanner, grid: BeamGrid, size: int) -> PixelGrid:
    centres = (np.arange(size) + 0.5) / size
    y = np.repeat(centres[:, None], size, axis=1)
    x = np.repeat(((centres - 0.5) / scanner.stretch)[None, :], size, axis=0)
    radius, angle = np.hypot(x, y), np.arctan2(x, y)
    sector = (radius <= scanner.depth) & (np.abs(angle) <= scanner.half_angle)
    rows = radius / (grid.depth[1] - grid.depth[0])
    columns = (angle + scanner.half_angle) / (2 * scanner.half_angle) * (len(grid.angle) - 1)
    return PixelGrid(x, y, rows.astype(np.float32), columns.astype(np.float32), sector)


def scan_convert(lines: np.ndarray, pixels: PixelGrid) -> np.ndarray:
    """B-mode lines in [0, 1] -> uint8 fan image, min-max stretched inside the sector like CAMUS."""
    image = cv2.remap(lines.astype(np.float32), pixels.column_index, pixels.row_index,
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = image[pixels.sector]
    low, high = inside.min(), inside.max()
    image = (image - low) / max(high - low, 1e-6) * 255.0
    image[~pixels.sector] = 0.0
    return np.round(image).astype(np.uint8)


def simulate(echogenicity: Callable[[np.ndarray, np.ndarray], np.ndarray], scanner: Scanner,
             size: int, rng: np.random.Generator) -> tuple[np.ndarray, PixelGrid]:
    """B-mode image (size x size uint8) of the phantom, and the pixel grid to draw its labels on."""
    grid = beam_grid(scanner, size)
    lines = envelope_image(echogenicity(grid.x, grid.y), grid, scanner, rng)
    pixels = pixel_grid(scanner, grid, size)
    return scan_convert(lines, pixels), pixels
