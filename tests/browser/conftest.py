"""Headless Chromium for the browser tests: Debian's package (`make browser-deps`), driven by playwright."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _install_chromium() -> None:
    """What `make browser-deps` does, tried once when running as root with apt."""
    if os.path.exists(CHROMIUM) or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, check=True,
                       capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError):
        pass


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    _install_chromium()
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent and could not be installed; run `make browser-deps` as root")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
