"""A training run's folder (--out-dir), as both training programs prepare it: writable, without the
temporary files a killed run left, and holding config.json (the options and facts of the run)."""
from __future__ import annotations

import json

from echo_from_noise import storage
from echo_from_noise.cli import config_to_dict
from echo_from_noise.files import remove_temporaries

CONFIG_FILE = "config.json"


def prepare_run_folder(out_dir: str, temporaries: str = "") -> None:
    """Create ``out_dir`` (or check it is writable) and delete the files of ours half-written when
    a run was killed (``temporaries``: their suffix, e.g. ".pt"; "" = all)."""
    storage.ensure_writable_folder(out_dir)
    if not storage.is_url(out_dir):
        remove_temporaries(out_dir, temporaries)


def write_run_config(out_dir: str, config, facts: dict) -> None:
    """config.json: every option of the run, then ``facts`` (world size, data, versions...)."""
    content = json.dumps({**config_to_dict(config), **facts}, indent=2) + "\n"
    storage.write_bytes(storage.join(out_dir, CONFIG_FILE), content.encode())
