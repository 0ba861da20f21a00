"""Checking a MetaImage (.mhd header + .raw data, the 2019 CAMUS release) before SimpleITK reads it.

SimpleITK prints its own messages from C++ about a missing or short data file and then blames the
wrong thing ("No such file or directory"); this check names the file and the problem in one line.
"""
from __future__ import annotations

import math
from pathlib import Path

from echo_from_noise.errors import UserError

ELEMENT_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4,
                 "MET_UINT": 4, "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8,
                 "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def header_fields(path: Path) -> dict[str, str]:
    """The ``key = value`` fields of a MetaImage header, up to ElementDataFile (its last one)."""
    fields = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        key, equals, value = line.partition("=")
        if equals:
            fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            break
    return fields


def promised_bytes(header: dict[str, str]) -> int | None:
    """The data file size a MetaImage header promises, or None where it cannot tell."""
    try:
        if header.get("CompressedData", "").lower() == "true":
            return int(header["CompressedDataSize"])
        elements = math.prod(int(n) for n in header["DimSize"].split())
        channels = int(header.get("ElementNumberOfChannels", "1"))
        skipped = max(int(header.get("HeaderSize", "0")), 0)  # -1: the data ends the file
        return elements * channels * ELEMENT_BYTES[header["ElementType"]] + skipped
    except (KeyError, ValueError):
        return None


def check_data_file(path: Path) -> None:
    """Check the .raw of the header ``path`` exists and is as long as the header says."""
    header = header_fields(path)
    name = header.get("ElementDataFile", "LOCAL")
    if name in ("LOCAL", "LIST") or "%" in name:  # data inside the header file, or in several
        return
    raw = path.parent / name
    if not raw.is_file():
        raise UserError(f"{raw}: file not found (the data of {path})")
    promised, size = promised_bytes(header), raw.stat().st_size
    if promised is not None and size < promised:
        raise UserError(f"{raw}: has {size} bytes, header {path} promises {promised}")
