"""The plugin as napari sees it: one manifest, discovered after install."""

import importlib.resources
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import npe2
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_MANIFEST = ROOT / "napari.yaml"


def _manifest():
    pm = npe2.PluginManager.instance()
    pm.discover()
    return pm.get_manifest("napari-seglab")


def test_installed_plugin_reads_the_top_level_manifest():
    # The package holds a real copy (a symlink becomes a text file in a checkout
    # without symlinks); the two must stay identical.
    packaged = Path(str(importlib.resources.files("napari_seglab") / "napari.yaml"))
    assert not packaged.is_symlink()
    assert packaged.read_bytes() == TOP_MANIFEST.read_bytes()
    # (the manifests' private file paths differ: compare their fields)
    assert _manifest().model_dump() == npe2.PluginManifest.from_file(TOP_MANIFEST).model_dump()


def test_every_contribution_is_discovered_and_importable():
    manifest = _manifest()
    contributions = manifest.contributions
    commands = {c.id for c in contributions.commands}
    assert {w.command for w in contributions.widgets} <= commands
    assert {s.command for s in contributions.sample_data} <= commands
    assert {w.display_name for w in contributions.widgets} == {
        "Segmentation Lab", "Seeded segmentation", "Evaluation", "Grow from seeds",
        "Clean up", "Effects", "Measure & export", "Feature space", "Whole volume to zarr"}
    assert {s.key for s in contributions.sample_data} == {"phantom_2d", "phantom_3d",
                                                          "ct_phantom"}
    for command in contributions.commands:
        assert callable(_resolve(command.python_name)), command.python_name


def _resolve(python_name):
    module, _, attr = python_name.partition(":")
    return getattr(__import__(module, fromlist=[attr]), attr)


def test_npe2_validate_with_imports():
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-seglab", "--imports"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


@pytest.mark.slow
def test_wheel_carries_the_same_manifest_and_no_sample_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "napari.yaml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "napari_seglab", src / "napari_seglab", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("napari_seglab-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert zf.read("napari_seglab/napari.yaml") == TOP_MANIFEST.read_bytes()
        (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
        assert "napari_seglab:napari.yaml" in zf.read(entry_points).decode()
    assert not any(n.startswith(("sample_data/", "tests/", "bench/")) for n in names)
    assert "napari_seglab/core/segmenters.py" in names
