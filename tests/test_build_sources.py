"""ffmpeg-patches/build.sh finds its Debian archive in every apt layout a Debian machine
can have, reads the apt configuration without writing it, and refuses a download whose
sha256 is not the pinned one with one line."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parent.parent / "ffmpeg-patches" / "build.sh"

DEB822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.deb822.example/debian
Suites: bookworm bookworm-updates
Components: main
{signed}
Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""
CLASSIC = """# deb http://commented.example/debian bookworm main
deb {options}http://mirror.classic.example/debian/ bookworm main
deb http://security.debian.org/debian-security bookworm-security main
"""


def _mirror(apt: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "DEBIAN_MIRROR"}
    full.update(APT_ETC=str(apt), **env)
    return subprocess.run(["bash", str(BUILD), "--mirror"], capture_output=True, text=True,
                          env=full, timeout=60)  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _layout(tmp: Path, *, deb822: bool, classic: bool, signed: bool) -> Path:
    apt = tmp / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    if deb822:
        line = "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" if signed else ""
        (apt / "sources.list.d" / "debian.sources").write_text(DEB822.format(signed=line))
    if classic:
        options = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] " if signed else ""
        (apt / "sources.list").write_text(CLASSIC.format(options=options))
    # Files apt itself ignores must not be read either.
    (apt / "sources.list.d" / "other.list.disabled-by-farm").write_text(
        "deb http://disabled.example/debian bookworm main\n"
    )
    return apt


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize(
    ("deb822", "classic", "expected"),
    [
        (True, False, "http://mirror.deb822.example/debian"),
        (False, True, "http://mirror.classic.example/debian"),
        (True, True, "http://mirror.deb822.example/debian"),
    ],
)
def test_the_archive_is_found_in_every_layout(
    tmp_path: Path, deb822: bool, classic: bool, signed: bool, expected: str
) -> None:
    apt = _layout(tmp_path, deb822=deb822, classic=classic, signed=signed)
    before = _snapshot(apt)
    result = _mirror(apt)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
    assert _snapshot(apt) == before, "the apt configuration must never be written"


def test_no_debian_archive_is_one_line(tmp_path: Path) -> None:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list.d" / "security.list").write_text(
        "deb http://security.debian.org/debian-security bookworm-security main\n"
    )
    result = _mirror(apt)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "DEBIAN_MIRROR" in result.stderr
    # The way out it names works.
    fixed = _mirror(apt, DEBIAN_MIRROR="http://deb.debian.org/debian/")
    assert fixed.stdout.strip() == "http://deb.debian.org/debian"


def test_the_machines_apt_sources_are_left_alone() -> None:
    before = _snapshot(Path("/etc/apt/sources.list.d"))
    result = _mirror(Path("/etc/apt"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("http")
    assert _snapshot(Path("/etc/apt/sources.list.d")) == before


@pytest.fixture
def fake_archive(tmp_path: Path) -> Iterator[str]:
    """A local archive whose FFmpeg tarball is not the pinned one (a tampered mirror)."""
    pool = tmp_path / "archive" / "debian" / "pool" / "main" / "f" / "ffmpeg"
    pool.mkdir(parents=True)
    (pool / "ffmpeg_9.0.2.orig.tar.xz").write_bytes(b"not the pinned tarball")
    handler = type("Quiet", (http.server.SimpleHTTPRequestHandler,),
                   {"log_message": lambda *a: None})  # fmt: skip
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a: handler(*a, directory=str(tmp_path / "archive")),  # type: ignore[misc]
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/debian"
    server.shutdown()


def test_a_tarball_that_is_not_the_pinned_one_is_refused(fake_archive: str, tmp_path: Path) -> None:
    env = {**os.environ, "DEBIAN_MIRROR": fake_archive, "VMAFTUNE_SOURCES": str(tmp_path / "src")}
    result = subprocess.run(["bash", str(BUILD), "--source"], capture_output=True, text=True,
                            env=env, timeout=120)  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ffmpeg_9.0.2.orig.tar.xz" in lines[0] and "pinned 8c385028" in lines[0]
    assert not (tmp_path / "src" / "ffmpeg_9.0.2.orig.tar.xz").exists()
