from __future__ import annotations

from pathlib import Path

import pytest

from medner.errors import ConfigError
from medner.training.config import load_config


def test_defaults_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("crf:\n  c1: 0.3\n  features:\n    window: 1\n", encoding="utf-8")
    config = load_config(path, ["crf.c2=0.7", "crf.scheme=BIO"])
    assert (config.crf.c1, config.crf.c2, config.crf.features.window) == (0.3, 0.7, 1)
    assert config.crf.scheme == "BIO"
    assert load_config().crf.scheme == "BIOES"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("crf.c1", "expected key.path=value"),
        ("crf.unknown=1", "crf.unknown"),
        ("crf.features.window=9", "crf.features.window"),
        ("backend=bert", "backend"),
    ],
)
def test_bad_overrides(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])
