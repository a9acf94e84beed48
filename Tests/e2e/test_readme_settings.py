"""The README's command tables are the one copy of the settings a person reads without a
binary at hand: every setting `relay run --help` and `agent run --help` list (both come
from the settings tables) must be in the README's table for that command."""
import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def section(text: str, title: str) -> str:
    start = text.index(f"### `{title}`")
    end = text.find("\n### ", start + 1)
    return text[start:end]


@pytest.mark.parametrize("program", ["relay", "agent"])
def test_every_setting_is_in_the_readme(bins, program):
    help_text = subprocess.run([str(bins / program), "run", "--help"], capture_output=True,
                               text=True, timeout=30).stdout
    flags = set(re.findall(r"^  (--[a-z][a-z0-9-]*) ", help_text, re.M))
    assert len(flags) > 15, help_text
    table = section(README.read_text(), f"{program} run")
    missing = sorted(f for f in flags if f"`{f}" not in table and f"{f}`" not in table and f"{f} " not in table)
    assert not missing, f"README's `{program} run` table lacks {missing}"
