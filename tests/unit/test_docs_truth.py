"""The documents that name settings and commands stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.settings import KEYS, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("doc", [".env.example", "docs/settings.md"])
def test_every_setting_is_documented(doc: str) -> None:
    text = (ROOT / doc).read_text()
    missing = [key for key in KEYS if key not in text]
    assert missing == [], f"{doc} does not mention {missing}"


def test_env_example_parses_as_a_profile(tmp_path: Path) -> None:
    # every line of .env.example must be a valid .env line with a valid value
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    load_settings(tmp_path, environ={})


@pytest.mark.parametrize("profile", [".env.local", ".env.docker", ".env.staging"])
def test_committed_profiles_load(profile: str, tmp_path: Path) -> None:
    (tmp_path / profile).write_text((ROOT / profile).read_text())
    load_settings(tmp_path, environ={})


def test_every_nox_session_the_readme_names_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    noxfile = (ROOT / "noxfile.py").read_text()
    named = set(re.findall(r"nox -s ([\w-]+)", readme))
    defined = set(re.findall(r'name="([\w-]+)"', noxfile))
    defined |= set(re.findall(r"@nox\.session(?:\([^)]*\))?\ndef (\w+)", noxfile))
    assert named
    assert named <= defined, f"README names sessions the noxfile lacks: {named - defined}"
