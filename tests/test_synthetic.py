"""The committed SYNTHETIC demo data are exactly what the seeded generator writes."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path


def test_demo_data_are_reproducible(repo_root: Path, tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(repo_root / ".test" / "make_synthetic.py"), str(tmp_path)], check=True)
    committed = repo_root / ".test" / "data"
    for sub in ("comtrade", "usgs"):
        fresh = sorted(p.name for p in (tmp_path / "data" / sub).iterdir())
        assert fresh == sorted(p.name for p in (committed / sub).iterdir())
        match, mismatch, errors = filecmp.cmpfiles(committed / sub, tmp_path / "data" / sub, fresh, shallow=False)
        assert not mismatch and not errors, f"regenerate with: python .test/make_synthetic.py .test ({mismatch})"
    assert all("synthetic" in p.name for p in (committed / "comtrade").iterdir())
