"""Past one machine (issue 21): shards of a plan run as separate processes and joined, and
shots as tasks on a real Ray cluster started on loopback (a head and a worker node), each
giving the same OUT, byte for byte, as a local run; a shard killed and rerun, a Ray worker
killed mid-shot."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.kill import kill_after_probes
from vmaftune.errors import UsageError
from vmaftune.run.shards import assign, parse_shard
from vmaftune.steps.shots import Shot

from .conftest import cli_subprocess

CORES = os.cpu_count() or 1
TARGET = ("-c", "x264", "--preset", "veryfast", "--target-vmaf", "90")
VENV_BIN = Path(sys.executable).parent


def _shots(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a sidecar says of each shot, timings and provenance left out."""
    return [(s["index"], s["start_frame"], s["end_frame"], s["setting"], s["verdict"],
             s["vmaf"], s["bytes"], [(p["setting"], p["vmaf"], p["bytes"]) for p in s["probes"]])
            for s in doc["shots"]]  # fmt: skip


def _sidecar(out: Path) -> dict[str, Any]:
    return dict(json.loads(Path(f"{out}.shots.json").read_text()))


@pytest.fixture(scope="module")
def local(cut_clip, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The reference: a local run with one shot per core, so each encoder runs on one
    thread, as in every shard and Ray task."""
    src = cut_clip[0]
    out = tmp_path_factory.mktemp("local") / "out.mp4"
    r = cli_subprocess("encode", src, "-o", out, *TARGET, "--jobs", str(CORES))
    assert r.code == 0, r.stderr
    return src, out


def test_shards_joined_give_the_local_output_byte_for_byte(local, tmp_path):
    src, reference = local
    plan = tmp_path / "job.plan.json"
    r = cli_subprocess("plan", src, "-o", plan, *TARGET, "--json")
    assert r.code == 0, r.stderr
    shots = json.loads(plan.read_text())["shots"]
    assert len(shots) >= 4
    # Three shards at once, as three children of a batch array would run.
    procs = [subprocess.Popen([sys.executable, "-m", "vmaftune", "run", str(plan), "--shard",
                               f"{i}/3", "--json"], stdout=subprocess.PIPE, text=True)
             for i in range(3)]  # fmt: skip
    done = [json.loads(p.communicate()[0].splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(i for d in done for i in d["shots"]) == [s["index"] for s in shots]
    out = tmp_path / "out.mp4"
    r = cli_subprocess("join", plan, "-o", out, "--json")
    assert r.code == 0, r.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert _shots(_sidecar(out)) == _shots(_sidecar(reference))
    assert _sidecar(out)["totals"]["encodes"] == 0  # the join replayed, encoded nothing
    assert not (tmp_path / "job.plan.json.vmaftune-work").exists()


def test_a_killed_shard_is_named_by_the_join_and_its_rerun_finishes_it(local, tmp_path):
    src, reference = local
    plan = tmp_path / "p.json"
    assert cli_subprocess("plan", src, "-o", plan, *TARGET).code == 0
    assert cli_subprocess("run", plan, "--shard", "1/2").code == 0
    killed = kill_after_probes([sys.executable, "-m", "vmaftune", "run", str(plan), "--shard",
                                "0/2", "--json"], 2)  # fmt: skip
    assert len(killed) == 2
    out = tmp_path / "out.mp4"
    r = cli_subprocess("join", plan, "-o", out)
    assert r.code == 3 and "shard 0/2 (started, not finished" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()
    # The rerun keeps the two trials that finished, and a rerun of a finished shard
    # encodes nothing.
    again = cli_subprocess("run", plan, "--shard", "0/2", "--json")
    assert again.code == 0, again.stderr
    encodes = again.ndjson()[-1]["encodes"]
    trials = sum(len(s["probes"]) for s in _sidecar(reference)["shots"])
    assert encodes > 0
    assert cli_subprocess("run", plan, "--shard", "1/2", "--json").ndjson()[-1]["encodes"] == 0
    r = cli_subprocess("join", plan, "-o", out, "--keep-work")
    assert r.code == 0, r.stderr
    assert out.read_bytes() == reference.read_bytes()
    redone = sum(not p.get("resumed") for s in _sidecar(out)["shots"] for p in s["probes"])
    assert redone == 0 and encodes <= trials


def test_plan_errors_are_one_line(cut_clip, tmp_path):
    src = cut_clip[0]
    not_plan = tmp_path / "x.json"
    not_plan.write_text('{"schema": "other"}')
    r = cli_subprocess("run", not_plan, "--shard", "0/2")
    assert r.code == 3 and "not a vmaftune plan" in r.stderr
    r = cli_subprocess("run", tmp_path / "missing.json", "--shard", "0/2")
    assert r.code == 3 and "no such plan" in r.stderr
    copy = tmp_path / "src.mp4"
    copy.write_bytes(src.read_bytes())
    plan = tmp_path / "p.json"
    assert cli_subprocess("plan", copy, "-o", plan, *TARGET).code == 0
    r = cli_subprocess("plan", copy, "-o", plan, *TARGET)
    assert r.code == 3 and "exists; pass --force" in r.stderr
    for bad in ("3/2", "x/2", "2", "auto"):
        r = cli_subprocess("run", plan, "--shard", bad)
        assert r.code == 2 and "--shard" in r.stderr, (bad, r.stderr)
    r = cli_subprocess("run", plan, "--shard", "0/2", "--jobs", "0")
    assert r.code == 2 and "--jobs must be at least 1" in r.stderr
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"keep")
    r = cli_subprocess("join", plan, "-o", taken)
    assert r.code == 3 and "exists; pass --force" in r.stderr and taken.read_bytes() == b"keep"
    os.utime(copy, (time.time() + 10, time.time() + 10))  # the source changed
    r = cli_subprocess("run", plan, "--shard", "0/2")
    assert r.code == 3 and "changed since the plan was made" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_executor_errors_are_one_line(cut_clip, tmp_path, cli):  # type: ignore[no-untyped-def]
    src = cut_clip[0]
    out = tmp_path / "o.mp4"
    r = cli("encode", src, "-o", out, *TARGET, "--executor", "slurm")
    assert r.code == 2 and "--executor must be local or ray" in r.stderr
    r = cli("ladder", src, "-o", tmp_path / "hls", "-c", "x264", "--executor", "slurm")
    assert r.code == 2 and "--executor must be local or ray" in r.stderr
    r = cli("plan", src, "-o", tmp_path / "p.json", "-c", "x264")
    assert r.code == 2 and "needs --target-vmaf" in r.stderr
    # A cluster that is not there fails at once, before any work (Ray alone waits minutes).
    r = cli("encode", src, "-o", out, *TARGET, "--executor", "ray", "--ray-address", "nohost")
    assert r.code == 2 and "--ray-address must be host:port or auto" in r.stderr
    r = cli("encode", src, "-o", out, *TARGET, "--executor", "ray", "--ray-address",
            "127.0.0.1:1")  # fmt: skip
    assert r.code == 4 and "cannot reach the Ray cluster at 127.0.0.1:1" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_shard_auto_reads_the_batch_arrays_index():
    assert parse_shard("2/5", {}) == (2, 5)
    assert parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "3"}) == (3, 4)
    assert parse_shard("auto", {"AWS_BATCH_JOB_ARRAY_INDEX": "0", "VMAFTUNE_SHARDS": "2"}) == (
        0, 2)  # fmt: skip
    bad = [("auto", {"VMAFTUNE_SHARDS": "2"}), ("auto", {"JOB_COMPLETION_INDEX": "1"}),
           ("auto/2", {"JOB_COMPLETION_INDEX": "2"}), ("-1/2", {}), ("1/0", {})]  # fmt: skip
    for spec, env in bad:
        with pytest.raises(UsageError):
            parse_shard(spec, env)


def test_assign_gives_each_shot_to_one_shard_and_balances_frames():
    shots = [Shot(i, i * 100, i * 100 + n, i * 4.0, (i * 100 + n) / 25, "hard")
             for i, n in enumerate([100, 10, 90, 20, 80, 30, 70, 40])]  # fmt: skip
    parts = assign(shots, 3)
    assert sorted(s.index for p in parts for s in p) == list(range(8))
    loads = [sum(s.frames for s in p) for p in parts]
    assert max(loads) - min(loads) <= 30
    assert assign(shots, 3) == parts  # every shard computes the same split
    assert [len(p) for p in assign(shots[:2], 4)] == [1, 1, 0, 0]


# ---- Ray ---------------------------------------------------------------------------

ray_missing = pytest.mark.skipif(
    not (VENV_BIN / "ray").exists(), reason="ray is not installed (pip install 'vmaftune[ray]')"
)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A Ray head and one worker node on loopback, one CPU each: two nodes that share
    this machine's disk, as a cluster shares a mount. Token authentication on (Ray's
    default for `ray start`), the token given to every node and driver by environment."""
    ray = str(VENV_BIN / "ray")
    temp = tmp_path_factory.mktemp("ray")
    port = 46379
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
            "RAY_USAGE_STATS_ENABLED": "0"}  # fmt: skip
    saved = {k: os.environ.get(k) for k in auth}
    os.environ.update(auth)
    common = ["--num-cpus", "1", "--object-store-memory", str(100 * 2**20),
              "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        head = ["--head", "--port", str(port), "--include-dashboard=false", "--temp-dir", str(temp)]
        subprocess.run([ray, "start", *head, *common], check=True, capture_output=True)
        subprocess.run([ray, "start", "--address", address, *common], check=True,
                       capture_output=True)  # fmt: skip
        yield address
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@ray_missing
def test_ray_cluster_gives_the_local_output_byte_for_byte(local, ray_cluster, tmp_path):
    src, reference = local
    out = tmp_path / "out.mp4"
    r = cli_subprocess("encode", src, "-o", out, *TARGET, "--executor", "ray", "--ray-address",
                       ray_cluster, "--json")  # fmt: skip
    assert r.code == 0, r.stderr
    assert out.read_bytes() == reference.read_bytes()
    assert _shots(_sidecar(out)) == _shots(_sidecar(reference))
    assert not (tmp_path / "out.mp4.vmaftune-work").exists()


@ray_missing
def test_a_killed_ray_worker_is_retried_and_a_killed_driver_resumes(local, ray_cluster, tmp_path):
    src, reference = local
    out = tmp_path / "out.mp4"
    argv = [sys.executable, "-m", "vmaftune", "encode", str(src), "-o", str(out), *TARGET,
            "--executor", "ray", "--ray-address", ray_cluster, "--json"]  # fmt: skip
    driver = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Kill the first worker process found deciding a shot (SIGKILL: the node sees it die).
    killed = _kill_a_task_worker(deadline=time.monotonic() + 120)
    stdout, stderr = driver.communicate(timeout=600)
    assert killed, "no Ray worker was seen running a shot"
    assert driver.returncode == 0, stderr
    assert out.read_bytes() == reference.read_bytes()
    # A driver killed after some trials: the rerun decides the finished shots from their
    # journals (no task) and the output is the same.
    out2 = tmp_path / "again.mp4"
    argv2 = [*argv[:6], str(out2), *argv[7:]]
    assert len(kill_after_probes(argv2, 1)) == 1
    r = cli_subprocess(*argv2[3:])
    assert r.code == 0, r.stderr
    assert out2.read_bytes() == reference.read_bytes()
    assert any(p["resumed"] for s in _sidecar(out2)["shots"] for p in s["probes"])
    assert stdout


def _kill_a_task_worker(deadline: float) -> bool:
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", "ray::_shot_task"], capture_output=True,
                               text=True).stdout.split()  # fmt: skip
        if found:
            time.sleep(0.5)  # let it start an encode
            try:
                os.kill(int(found[0]), signal.SIGKILL)
            except ProcessLookupError:
                continue
            return True
        time.sleep(0.1)
    return False


# ---- docs/farm.md ------------------------------------------------------------------

FARM = Path(__file__).resolve().parent.parent / "docs" / "farm.md"


def _farm_commands() -> tuple[list[list[str]], list[list[str]], list[object]]:
    """vmaftune argvs and `ray` argvs named in docs/farm.md's manifests and shell blocks,
    and every manifest parsed."""
    import re
    import shlex

    import yaml

    text = FARM.read_text()
    manifests: list[object] = []
    ours: list[list[str]] = []
    rays: list[list[str]] = []
    for lang, body in re.findall(r"```(yaml|json|sh)\n(.*?)```", text, re.S):
        if lang in ("yaml", "json"):
            for doc in yaml.safe_load_all(body):
                manifests.append(doc)
                ours += _argvs(doc)
            continue
        for line in body.replace("\\\n", " ").splitlines():
            for override in re.findall(r"command=(\[.*?\])", line):
                ours.append(json.loads(override))
            words = shlex.split(line, comments=True)
            if "--entrypoint" in words and words[words.index("--entrypoint") + 1] == "ray":
                rays.append(words[words.index("vmaftune") + 1 :])
            elif "vmaftune" in words:
                argv = words[len(words) - words[::-1].index("vmaftune") :]
                if argv and not argv[0].startswith("-"):
                    ours.append(argv)
    return ours, rays, manifests


def _argvs(doc: object, params: dict[str, str] | None = None) -> list[list[str]]:
    """`args` of Kubernetes containers and an AWS Batch `command`, its `Ref::` parameters
    filled in."""
    found: list[list[str]] = []
    if isinstance(doc, dict):
        params = {**(params or {}), **(doc.get("parameters") or {})}
        for key, value in doc.items():
            if key in ("args", "command") and isinstance(value, list):
                found.append([params.get(str(v)[5:], v) if str(v).startswith("Ref::") else str(v)
                              for v in value])  # fmt: skip
            else:
                found += _argvs(value, params)
    elif isinstance(doc, list):
        for item in doc:
            found += _argvs(item, params)
    return found


def _ray_params(doc: object) -> list[str]:
    """KubeRay's rayStartParams, as `ray start` flags."""
    if isinstance(doc, dict):
        own = [f"--{k}" for k in doc.get("rayStartParams", {})]
        return own + [f for v in doc.values() for f in _ray_params(v)]
    if isinstance(doc, list):
        return [f for v in doc for f in _ray_params(v)]
    return []


def test_farm_recipes_parse_and_name_commands_that_exist(cli):  # type: ignore[no-untyped-def]
    ours, rays, manifests = _farm_commands()
    kinds = {d.get("kind") for d in manifests if isinstance(d, dict)}
    assert {"Job", "RayCluster"} <= kinds
    indexed = [d for d in manifests if isinstance(d, dict) and d.get("kind") == "Job"
               and d["spec"].get("completionMode") == "Indexed"]  # fmt: skip
    assert len(indexed) == 1
    env = indexed[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "VMAFTUNE_SHARDS", "value": str(indexed[0]["spec"]["completions"])} in env
    batch = next(d for d in manifests if isinstance(d, dict) and "containerProperties" in d)
    assert batch["containerProperties"]["command"][0] == "run"
    commands = {argv[0] for argv in ours}
    assert {"plan", "run", "join", "encode"} <= commands
    helps: dict[str, str] = {}
    for argv in ours:
        if argv[0] not in helps:
            r = cli(argv[0], "--help")
            assert r.code == 0, argv
            helps[argv[0]] = r.stdout
        for word in argv[1:]:
            if word.startswith("--"):
                assert word.split("=")[0] in helps[argv[0]], (argv, word)
    ray_help = subprocess.run([str(VENV_BIN / "ray"), "start", "--help"], capture_output=True,
                              text=True).stdout  # fmt: skip
    assert rays and all(argv[0] == "start" for argv in rays)
    assert "/data/title.plan.json" in next(a for a in ours if a[0] == "run" and "auto" in a)
    rays.append(["start", *_ray_params(manifests)])
    for argv in rays:
        for word in argv[1:]:
            if word.startswith("--"):
                assert word in ray_help, word
