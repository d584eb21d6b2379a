"""Every ```sh block of README.md runs as written against herald started as `make run` starts
it (config/herald.toml: the embedded PostgreSQL in a fresh state directory, the simulator, the
demo account), in order, in one bash process with HERALD_URL and HERALD_KEY exported as the
banner prints them and `herald` on the PATH (issue 23, item 4).

A block fails on its first command that exits non-zero; curl is run with --fail-with-body, so
an API refusal (4xx) fails it too. The test then shows the block and what the shell printed.
```console, ```json and ```text blocks are illustrations and are not run.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.support.gateway import ROOT, make_run_config, running

_SH_BLOCK = re.compile(r"^```sh[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_FAILED = re.compile(r"^::readme-block-failed (\d+) (\d+)$", re.MULTILINE)


def sh_blocks(markdown: str) -> list[str]:
    return [m.group(1) for m in _SH_BLOCK.finditer(markdown)]


def script(blocks: list[str]) -> str:
    """One bash script: each block in turn, reporting the block that fails."""
    lines = [
        "set -eE",
        'curl() { command curl --fail-with-body --show-error "$@"; }',
        "trap 'echo \"::readme-block-failed $BLOCK $?\" >&2' ERR",
    ]
    for number, block in enumerate(blocks, 1):
        lines += [f"BLOCK={number}", f"echo '::readme-block {number}'", block]
    return "\n".join(lines) + "\n"


def test_the_readme_has_runnable_blocks() -> None:
    blocks = sh_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks, "README.md has no ```sh block to run"
    assert sh_blocks("```sh\necho a\n```\n```console\n$ no\n```\n") == ["echo a\n"]


async def test_the_first_failing_block_is_the_one_reported() -> None:
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script(["true\n", "x=1\nfalse\n", "echo never\n"]),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode != 0 and b"never" not in out
    failed = _FAILED.search(err.decode())
    assert failed is not None and failed.group(1) == "2"


async def test_every_readme_sh_block_runs_against_a_fresh_daemon(tmp_path: Path) -> None:
    blocks = sh_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    work = tmp_path / "work"  # files the examples write land here
    work.mkdir()
    config = make_run_config(tmp_path / "state")
    async with running(config) as herald:
        assert herald.demo_key is not None
        env = {
            **os.environ,
            "HERALD_URL": herald.api_url,
            "HERALD_KEY": herald.demo_key,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for variable in ("HERALD_API_URL", "HERALD_API_KEY"):
            env.pop(variable, None)
        proc = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            script(blocks),
            cwd=work,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    failed = _FAILED.search(stderr)
    if proc.returncode != 0:
        number = int(failed.group(1)) if failed else 0
        shown = blocks[number - 1] if number else "(no block: the script itself)"
        raise AssertionError(
            f"README ```sh block {number} of {len(blocks)} failed (exit {proc.returncode}):\n"
            f"{shown}\n--- stdout (its tail) ---\n{stdout[-3000:]}\n--- stderr ---\n"
            f"{stderr[-3000:]}"
        )
    assert stdout.count("::readme-block ") == len(blocks)
