"""A parametric model of the apical two- and four-chamber views of the heart at ED and ES.

Geometry lives in a physical frame measured in image heights: the ultrasound probe (the sector's
apex) is at (x, y) = (0, 0), x runs across the sector (to the image right), y is depth (down). The
heart is described in its own frame around the LV apex: u along the long axis towards the base,
v across it. Shapes are analytic (a "bullet" for the ventricles: an elliptic cap on a slowly
tapering body; ellipses for the atria; thin segments for the valves), so one phantom can be
evaluated at any points: the polar beam grid of the simulation and the pixel grid of the label map
get the same anatomy, and image and labels align exactly.

ES against ED: the apex stays, the base moves towards it (long-axis shortening), the cavity narrows
(fractional shortening), the walls thicken and the left atrium fills.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from echo_from_noise.contract import CAMUS_ATRIUM, CAMUS_CAVITY, CAMUS_MYOCARDIUM


@dataclass(frozen=True)
class Bullet:
    """Ventricle-like region: 0 <= u - apex <= length and -left*g <= v - centre <= right*g."""
    apex: float
    length: float
    left: float
    right: float
    cap: float  # fraction of the length taken by the elliptic cap
    taper: float  # half-width at the base relative to the widest point
    centre: float = 0.0
    wobble: tuple[float, ...] = ()  # (amplitude, frequency, phase) triples: irregular walls

    def half_width(self, u: np.ndarray) -> np.ndarray:
        s = np.clip((u - self.apex) / self.length, 0.0, 1.0)
        cap = np.sqrt(np.clip(1.0 - (1.0 - s / self.cap) ** 2, 0.0, None))
        body = 1.0 - (1.0 - self.taper) * ((s - self.cap) / (1.0 - self.cap)) ** 2
        g = np.where(s < self.cap, cap, body)
        for amp, freq, phase in zip(*[iter(self.wobble)] * 3):
            g = g * (1.0 + amp * np.sin(freq * s + phase))
        return g

    def contains(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        d = v - self.centre
        widest = max(self.left, self.right) * (1.0 + sum(self.wobble[0::3]))
        inside = (u >= self.apex) & (u <= self.apex + self.length) & (np.abs(d) <= widest)
        # the profile only where the bounding box says it matters (most points are far away)
        g, d = self.half_width(u[inside]), d[inside]
        inside[inside] = (d >= -self.left * g) & (d <= self.right * g)
        return inside

    def grown(self, by: float, apex_by: float | None = None) -> "Bullet":
        """The bullet enlarged by ``by`` on the sides and ``apex_by`` at the apex (same base)."""
        apex_by = by if apex_by is None else apex_by
        length = self.length + apex_by
        widest = max(self.left, self.right)
        return Bullet(self.apex - apex_by, length, self.left + by, self.right + by,
                      (self.cap * self.length + apex_by) / length,
                      (widest * self.taper + by) / (widest + by), self.centre, self.wobble)


def inside_ellipse(u, v, cu, cv, au, av, angle=0.0):
    c, s = np.cos(angle), np.sin(angle)
    du, dv = u - cu, v - cv
    return ((c * du + s * dv) / au) ** 2 + ((-s * du + c * dv) / av) ** 2 <= 1.0


def near_segment(u, v, start, end, half_thickness):
    """Points within ``half_thickness`` of the segment start-end (a valve leaflet, a wall line)."""
    (u0, v0), (u1, v1) = start, end
    du, dv = u1 - u0, v1 - v0
    t = np.clip(((u - u0) * du + (v - v0) * dv) / (du * du + dv * dv + 1e-12), 0.0, 1.0)
    return (u - u0 - t * du) ** 2 + (v - v0 - t * dv) ** 2 <= half_thickness ** 2


class SmoothField:
    """A smooth random field exp(sigma * N(0,1)) over x in [-0.5, 0.5], y in [0, 1]."""

    def __init__(self, rng: np.random.Generator, sigma: float, cells: int = 10, fine: int = 96):
        knots = (sigma * rng.standard_normal((cells, cells))).astype(np.float32)
        # cubic interpolation of random knots into a smooth field: not an image or a label map,
        # so the resize rule of echo_from_noise.resize does not apply
        self.fine = np.exp(cv2.resize(knots, (fine, fine), interpolation=cv2.INTER_CUBIC))

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        n = self.fine.shape[0] - 1
        columns = (np.clip(x + 0.5, 0, 1) * n).astype(np.float32).reshape(x.shape[0], -1)
        rows = (np.clip(y, 0, 1) * n).astype(np.float32).reshape(columns.shape)
        return cv2.remap(self.fine, columns, rows, cv2.INTER_LINEAR).reshape(x.shape)


def draw_anatomy(rng: np.random.Generator) -> dict:
    """Random per-patient anatomy and tissue appearance (shared by the patient's four frames)."""
    u = rng.uniform
    scale = u(0.78, 1.18)
    anatomy = {
        "scale": scale,
        "ejection": u(0.12, 0.4),  # fractional shortening of the cavity width
        "long_shortening": u(0.06, 0.14),
        "wall_thickening": u(1.3, 1.6),
        "atrial_filling": u(1.08, 1.25),
        "thickness": 0.066 * scale * u(0.8, 1.25),
        "pericardium_gap": u(0.004, 0.02),
        "pericardium_width": u(0.006, 0.014),
        # appearance, as backscatter amplitude relative to myocardium
        "blood": u(0.05, 0.12),
        "clutter": u(0.1, 0.4),
        "background": u(0.25, 0.5),
        "myocardium": u(0.8, 1.4),
        "pericardium": u(0.8, 3.5),
        "chest_wall": u(0.03, 0.08),
        "vessel": bool(rng.random() < 0.5),
    }
    for view in ("2CH", "4CH"):
        anatomy[view] = {
            "length": 0.56 * scale * u(0.9, 1.1),
            "width": 0.125 * scale * u(0.85, 1.2),
            "asymmetry": u(0.85, 1.15),
            "cap": u(0.3, 0.45),
            "taper": u(0.72, 0.9),
            "apex_y": u(0.07, 0.15),
            "apex_x": u(-0.05, 0.03) + (0.07 if view == "4CH" else 0.0),
            "tilt": np.deg2rad(u(-10, 10)),
            "wobble": tuple(np.column_stack([u(0, 0.06, 3), u(3, 16, 3), u(0, 2 * np.pi, 3)])
                            .ravel()),
            "atrium_length": 0.15 * scale * u(0.85, 1.2),
            "atrium_width": 0.1 * scale * u(0.85, 1.2),
            "atrium_angle": np.deg2rad(u(-12, 12)),
            "rv_width": u(0.55, 0.8),
            "rv_apex": u(0.15, 0.35),
            "leaflet_angle": {"ED": np.deg2rad(u(10, 50)), "ES": np.deg2rad(u(-15, 5))},
            "vessel_at": (u(0.1, 0.3), u(0.08, 0.14)),
        }
    anatomy["myocardium_field"] = SmoothField(rng, 0.4, cells=16)
    anatomy["background_field"] = SmoothField(rng, 0.8, cells=14)
    return anatomy


class HeartFrame:
    """One view at one phase: labels and echogenicity at any physical points."""

    def __init__(self, anatomy: dict, view: str, phase: str):
        chamber = view.split("_")[0]
        a, p = anatomy, anatomy[chamber]
        es = phase == "ES"
        self.anatomy, self.chamber = a, chamber
        self.apex = np.array([p["apex_x"], p["apex_y"]])
        self.tilt = p["tilt"]
        length = p["length"] * (1 - a["long_shortening"] * es)
        # keep the mitral plane high enough that the atrium stays in view
        length = min(length, (0.8 - p["apex_y"]) / np.cos(self.tilt))
        width = p["width"] * (1 - a["ejection"] * es)
        thick = a["thickness"] * (a["wall_thickening"] if es else 1.0)
        self.base = length
        self.cavity = Bullet(0.0, length, width * p["asymmetry"], width / p["asymmetry"],
                             p["cap"], p["taper"], wobble=p["wobble"])
        self.epicardium = self.cavity.grown(thick, 0.8 * thick)
        gap, pw = a["pericardium_gap"], a["pericardium_width"]
        self.pericardium_in = self.epicardium.grown(gap)
        self.pericardium_out = self.epicardium.grown(gap + pw)
        fill = a["atrial_filling"] if es else 1.0
        la_len, la_w = p["atrium_length"] * fill, p["atrium_width"] * fill
        base_left, base_right = self.cavity.left * p["taper"], self.cavity.right * p["taper"]
        self.atrium = (length + 0.7 * la_len, 0.5 * (base_right - base_left), la_len, la_w,
                       p["atrium_angle"])
        self.wall = 0.35 * thick
        leaflet, angle = 0.4 * min(base_left, base_right), p["leaflet_angle"][phase]
        self.leaflets = [((length, -base_left), (length - leaflet * np.sin(angle),
                                                  -base_left + leaflet * np.cos(angle))),
                         ((length, base_right), (length - leaflet * np.sin(angle),
                                                 base_right - leaflet * np.cos(angle)))]
        self.septum_v = -base_left - 0.5 * thick  # interatrial septum continues the septal wall
        if chamber == "4CH":
            rv_w = p["rv_width"] * p["width"] * (1 - 0.8 * a["ejection"] * es)
            rv_apex = p["rv_apex"] * length
            self.rv = Bullet(rv_apex, length - rv_apex - 0.02, rv_w, rv_w, 0.45, 0.85,
                             centre=-(self.epicardium.left + 0.8 * rv_w))
            self.rv_wall = self.rv.grown(0.45 * thick)
            self.rv_pericardium = self.rv_wall.grown(gap + pw)
            self.ra = (length + 0.75 * la_len, self.rv.centre - 0.1 * rv_w, 0.85 * la_len,
                       0.9 * rv_w, -p["atrium_angle"])
            self.tricuspid = [((length - 0.02, self.rv.centre - rv_w),
                               (length - 0.02 - leaflet * np.sin(angle),
                                self.rv.centre - rv_w + leaflet * np.cos(angle)))]
        self.vessel = p["vessel_at"]

    def heart_coordinates(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = x - self.apex[0], y - self.apex[1]
        c, s = np.cos(self.tilt), np.sin(self.tilt)
        return dx * s + dy * c, dx * c - dy * s

    def regions(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        u, v = self.heart_coordinates(x, y)
        above_base = u <= self.base
        cavity = self.cavity.contains(u, v)
        epicardium = self.epicardium.contains(u, v) & above_base
        cu, cv, au, av, angle = self.atrium
        la_blood = inside_ellipse(u, v, cu, cv, au, av, angle) & (u > self.base)
        la_outer = inside_ellipse(u, v, cu, cv, au + self.wall, av + self.wall, angle)
        # in 4CH the interatrial septum bounds the left atrium; in 2CH nothing cuts it
        right_of_septum = (v >= self.septum_v + self.wall) | (self.chamber != "4CH")
        r = {"cavity": cavity, "myocardium": epicardium & ~cavity,
             "atrium": la_blood & right_of_septum}
        heart = epicardium | la_blood
        r["atrial_wall"] = la_outer & ~heart & (u > self.base - self.wall)
        peri = self.pericardium_out.contains(u, v) & ~self.pericardium_in.contains(u, v)
        r["pericardium"] = peri & (u <= self.base + 0.03)
        valves = list(self.leaflets)
        if self.chamber == "4CH":
            rv = self.rv.contains(u, v) & ~epicardium
            rv_wall = self.rv_wall.contains(u, v) & ~epicardium & ~rv
            cu, cv, au, av, angle = self.ra
            ra = inside_ellipse(u, v, cu, cv, au, av, angle) & (u > self.base)
            ra &= v <= self.septum_v - self.wall
            r["right_blood"] = (rv | ra) & ~r["atrium"]
            r["right_wall"] = (rv_wall | (la_blood & ~right_of_septum & ~ra)) & ~r["right_blood"]
            rv_peri = self.rv_pericardium.contains(u, v) & ~self.rv_wall.grown(
                self.anatomy["pericardium_gap"]).contains(u, v)
            r["pericardium"] |= rv_peri & ~epicardium & (u <= self.base)
            valves += self.tricuspid
        r["valves"] = np.zeros_like(u, dtype=bool)
        for start, end in valves:
            r["valves"] |= near_segment(u, v, start, end, 0.5 * self.wall)
        return r

    def labels(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = self.regions(x, y)
        labels = np.zeros(x.shape, np.uint8)
        labels[r["atrium"]] = CAMUS_ATRIUM
        labels[r["myocardium"]] = CAMUS_MYOCARDIUM
        labels[r["cavity"]] = CAMUS_CAVITY
        return labels

    def echogenicity(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Backscatter amplitude (myocardium ~ 1, blood ~ 0.1, pericardium up to ~ 3)."""
        a, r = self.anatomy, self.regions(x, y)
        depth = np.hypot(x, y)
        echo = a["background"] * a["background_field"](x, y)
        # chest wall: a bright band in the near field
        echo = np.where(depth < a["chest_wall"], 1.5, echo)
        vx, vy = self.vessel
        vessel = (x - self.apex[0] - vx) ** 2 + (y - 0.95) ** 2 <= vy ** 2
        if a["vessel"]:  # descending aorta behind the atrium: dark lumen
            echo = np.where(vessel, a["blood"], echo)
        blood = a["blood"] + a["clutter"] * np.exp(-depth / 0.2)
        myocardium = a["myocardium"] * a["myocardium_field"](x, y)
        # the pericardium's brightness varies along it (its field is the myocardium's, squared)
        pericardium = a["pericardium"] * (myocardium / a["myocardium"]) ** 2
        for name, value in (("atrial_wall", 0.7 * myocardium), ("pericardium", pericardium),
                            ("myocardium", myocardium), ("right_wall", 0.9 * myocardium),
                            ("cavity", blood), ("atrium", blood), ("right_blood", blood),
                            ("valves", 1.6)):
            if name in r:
                echo = np.where(r[name], value, echo)
        return echo
