"""Where the embedded dataset and model files live, and which folder a command reads by default.

The embedded data and models ship inside the package (``forecast/embedded/``; the top-level
``data/`` and ``models/`` of a source checkout are links to them), so an installed wheel works
from any folder. A user's own ``./data`` (with an ``observations.csv``) and ``./models/*.toml`` in
the current folder take precedence; ``--data`` / ``--priors`` / ``--scenarios`` take precedence
over both.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

EMBEDDED = Path(str(files("forecast") / "embedded"))
EMBEDDED_DATA_DIR = EMBEDDED / "data"
EMBEDDED_MODELS_DIR = EMBEDDED / "models"


def embedded_is_installed() -> bool:
    """True when the embedded files sit in an installed package (site-packages), which a command
    must never write into; a source checkout's embedded folder is the project's own data."""
    return any(part in ("site-packages", "dist-packages") for part in EMBEDDED.parts)


def default_data_dir() -> Path:
    """``./data`` when it holds an ``observations.csv``, else the embedded dataset."""
    local = Path("data")
    return local.resolve() if (local / "observations.csv").is_file() else EMBEDDED_DATA_DIR


def models_file(name: str) -> Path:
    """``./models/NAME`` when it exists, else the embedded one."""
    local = Path("models") / name
    return local.resolve() if local.is_file() else EMBEDDED_MODELS_DIR / name


def user_scenarios_dir() -> Path:
    """Folder of user scenario files: ``./models/scenarios`` when it exists, else the embedded one."""
    local = Path("models") / "scenarios"
    return local.resolve() if local.is_dir() else EMBEDDED_MODELS_DIR / "scenarios"
