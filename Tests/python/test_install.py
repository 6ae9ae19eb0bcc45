"""`pip install ./Sources/python` in a fresh virtual environment, then the installed package
(not the tree's) records calls that probed receives."""

import shutil
import subprocess
import sys

from conftest import PACKAGE


def test_pipInstall_inAFreshVenv_givesAWorkingClient(daemon, tmp_dir):
    source = tmp_dir / "python"  # a copy: the build leaves build/ and *.egg-info beside the sources
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_dir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    pip = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, f"pip install failed (it fetches setuptools to build):\n{pip.stdout}\n{pip.stderr}"
    out = subprocess.run([python, "-c", """
import sys, probe_client
from probe_client import Probe
assert "site-packages" in probe_client.__file__, probe_client.__file__
probe = Probe("installed", sys.argv[1])

@probe.measure("predict")
def predict(x):
    return x + 1

assert [predict(i) for i in range(10)] == list(range(1, 11))
assert probe.flush(30)
print(probe.delivered_events)
""", daemon.socket], capture_output=True, text=True, timeout=120, cwd=str(tmp_dir))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["10"]
    assert daemon.stats("installed", "predict", daemon.status()["processes"][0]["pid"])["calls"] == 10
    typed = subprocess.run([python, "-c", "import importlib.resources as r; print(r.files('probe_client').joinpath('py.typed').is_file())"],
                           capture_output=True, text=True, timeout=60)
    assert typed.stdout.strip() == "True"
