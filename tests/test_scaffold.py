"""``neuro plugin new``: the written package installs (pip install -e) and passes its own tests."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from msc_neuro_cli.testing import neuro


def test_bad_names_and_existing_folders_are_refused(tmp_path):
    for args, message in ((("Bad-Name",), "lowercase letters"), (("ok", "--kind", "rocket"), "available kinds")):
        proc = neuro("plugin", "new", *args, "--dest", str(tmp_path), cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert neuro("plugin", "new", "twice", "--dest", str(tmp_path), cwd=tmp_path).returncode == 0
    again = neuro("plugin", "new", "twice", "--dest", str(tmp_path), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind, tests", [("component", 3), ("dataset", 2), ("backend", 4)])
def test_scaffolded_plugin_installs_and_passes_its_own_tests(tmp_path, kind, tests):
    proc = neuro("plugin", "new", "gainnet", "--kind", kind, "--dest", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "neuro-gainnet"
    # a throwaway environment that sees this one's packages (neuro, TensorFlow, the built-in
    # plugins), so installing the new plugin never touches the shared environment
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "parent_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                              "--no-build-isolation", "-e", str(root)], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run([str(python), "-m", "msc_neuro_cli", "plugins", "--json"], capture_output=True,
                            text=True, cwd=tmp_path)
    assert '"gainnet"' in listed.stdout and "neuro-gainnet" not in listed.stderr, listed.stderr
    ran = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                         capture_output=True, text=True, cwd=root)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert f"{tests} passed" in ran.stdout
