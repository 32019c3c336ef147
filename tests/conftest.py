"""Shared fixtures: where the real data lives, and the repository root."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

# Real public data sit beside the checkout (../shared/data/real); tests read them in place.
REAL = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture
def real_data() -> Path:
    if not REAL.is_dir():
        pytest.skip("../shared/data/real is absent (real-data tests run only beside the shared folder)")
    return REAL


@pytest.fixture
def repo_root() -> Path:
    return ROOT
