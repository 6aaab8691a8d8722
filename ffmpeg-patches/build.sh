#!/usr/bin/env bash
# Build FFmpeg 9.0.2 with our patch series, ONNX Runtime (the DNN module's onnx backend),
# libx264 and libx265 into build/ffmpeg. `make ffmpeg`, CI and the Docker
# images all call this script.
#
# The result is cached under ~/.cache/vmaftune/ffmpeg/<key>; the key hashes every input
# (source tarball, ONNX Runtime headers and library, the patch series, the build recipe
# below, the configure flags, the compiler), so an unchanged tree rebuilds nothing.
#
# Sources are pinned tarballs taken by URL from the Debian archive's pool and checked by
# sha256; the machine's apt configuration is only read (to find its mirror), never written.
#
# Environment: FFMPEG_SRC=DIR|TARBALL builds from an unpacked FFmpeg tree or a local
# tarball instead of the pinned download; DEBIAN_MIRROR the archive to download from
# (default: the one this machine's apt uses); VMAFTUNE_SOURCES the download folder
# (default ~/.cache/vmaftune/src; CI points it at an empty folder so every run downloads
# afresh); PYTHON names the interpreter whose onnxruntime (or onnxruntime-gpu) wheel
# provides the library (default .venv/bin/python); VMAFTUNE_CACHE the cache root; JOBS the
# make parallelism. LIBVMAF_SRC=TARBALL|DIR also builds libvmaf from its source (static,
# with its built-in models) into the same ffmpeg.
#
# `build.sh --source` prints the FFmpeg source and stops; `build.sh --mirror` prints the
# archive it would download from (APT_ETC=DIR reads another apt configuration, for tests).
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${VMAFTUNE_CACHE:-$HOME/.cache/vmaftune}
SOURCES=${VMAFTUNE_SOURCES:-$CACHE/src}
APT_ETC=${APT_ETC:-/etc/apt}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
JOBS=${JOBS:-$(nproc)}
OUT=$ROOT/build/ffmpeg

# Pinned sources (Debian source packages; see ffmpeg-patches/README.md). Each is tried
# from the pool of this machine's mirror, then from deb.debian.org, then from the dated
# snapshot below (the archive drops a tarball once no suite refers to it; the snapshot
# keeps it for good).
FFMPEG_TAR=ffmpeg_9.0.2.orig.tar.xz
FFMPEG_SHA=8c3850283eb25fa026482078a04051e0be17347b09ef81a0849bec15a96e002e
SNAPSHOT=https://snapshot.debian.org/archive/debian/20261101T000000Z
# The C API is versioned: 1.21 headers work with the newer library of the wheel. sid's
# index has moved past 1.21, so this tarball is taken from the archive's pool directly.
ORT_VERSION=1.21.0+dfsg
ORT_TAR=onnxruntime_1.21.0+dfsg.orig.tar.xz
ORT_SHA=32df1f82bd6b07b18372c0f387133214905cbde7a586b3ad83f0ed0075f80273
# SVT-AV1 with region-of-interest maps (added in 1.6.0; bookworm has 1.4.1): the encoder
# library FFmpeg links, and SvtAv1EncApp for `vmaftune roi --format svt-roi-map`.
SVT_TAR=svt-av1_2.3.0+dfsg.orig.tar.xz
SVT_SHA=815e88cc539c41b8ebd1a6f362f82ab510147635fc6c3edfa35edcfbed302cd8
# No Debian suite packages libvmaf: scoring uses the bundled FFmpeg (imageio-ffmpeg), and
# LIBVMAF_SRC can add libvmaf from a source tree or tarball the user provides.
LIBVMAF_SRC=${LIBVMAF_SRC:-}
APT_PACKAGES="build-essential nasm cmake pkg-config xz-utils git dpkg-dev curl ca-certificates libx264-dev libx265-dev"
[ -z "$LIBVMAF_SRC" ] || APT_PACKAGES="$APT_PACKAGES meson ninja-build xxd"

say() { echo "build.sh: $*" >&2; }
die() { say "$*"; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

install_packages() {
    local missing=()
    for p in $APT_PACKAGES; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (apt-get install them)"
    say "installing ${missing[*]}"
    # To stderr: --source prints the source path on stdout, and nothing else may.
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# The Debian archive: DEBIAN_MIRROR, else the first non-security archive in this
# machine's apt sources (deb822 .sources first, then classic lists). Read only.
mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "${DEBIAN_MIRROR%/}"; return; fi
    local uri="" f
    for f in "$APT_ETC"/sources.list.d/*.sources "$APT_ETC"/sources.list "$APT_ETC"/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(grep -hE '^[[:space:]]*(URIs:|deb(-src)?[[:space:]])' "$f" \
              | grep -oE 'https?://[^[:space:]]+/debian/?([[:space:]]|$)' | head -1 || true)
        [ -z "$uri" ] || break
    done
    [ -n "$uri" ] || die "no Debian archive in $APT_ETC's sources; set DEBIAN_MIRROR=http://deb.debian.org/debian (or FFMPEG_SRC)"
    echo "$uri" | sed 's:[[:space:]]*$::; s:/*$::'
}

# cached FILE SHA: the downloaded copy of FILE if its sha256 is SHA.
cached() {
    local dest=$SOURCES/$1
    [ -f "$dest" ] && [ "$(sha "$dest")" = "$2" ] && echo "$dest"
}

# pool NAME FILE SHA: a tarball straight from the archive's pool (no index needed), from
# this machine's mirror, deb.debian.org, then the snapshot; the first whose sha256 matches.
pool() {
    local name=$1 file=$2 want=$3 path url tried=() tmp here
    path=pool/main/${name:0:1}/$name/${file//+/%2b}
    cached "$file" "$want" && return
    here=$(mirror)
    tmp=$(mktemp -d)
    for url in "$here/$path" "http://deb.debian.org/debian/$path" "$SNAPSHOT/$path"; do
        [[ " ${tried[*]} " == *" $url "* ]] && continue
        tried+=("$url")
        curl -fsSL --retry 2 -o "$tmp/$file" "$url" 2>/dev/null || continue
        if [ "$(sha "$tmp/$file")" != "$want" ]; then
            die "$file from $url: sha256 $(sha "$tmp/$file"), pinned $want"
        fi
        mkdir -p "$SOURCES"
        mv "$tmp/$file" "$SOURCES/$file"
        rm -rf "$tmp"
        echo "$SOURCES/$file"
        return
    done
    rm -rf "$tmp"
    die "$file (sha256 $want) is gone from ${tried[*]}; pass FFMPEG_SRC=/path/to/ffmpeg-9.0.2 (a tree or a tarball) or DEBIAN_MIRROR"
}

# The ONNX Runtime C API headers, from Debian's source tarball.
ort_headers() {
    local dir=$SOURCES/onnxruntime-$ORT_VERSION-include
    if [ ! -f "$dir/onnxruntime_c_api.h" ]; then
        local tar
        tar=$(pool onnxruntime "$ORT_TAR" "$ORT_SHA")
        local tmp
        tmp=$(mktemp -d)
        tar -xJf "$tar" -C "$tmp" --wildcards '*/include/onnxruntime/core/session/*.h'
        mkdir -p "$dir.partial"
        cp "$tmp"/*/include/onnxruntime/core/session/*.h "$dir.partial/"
        rm -rf "$tmp" "$dir"
        mv "$dir.partial" "$dir"
    fi
    echo "$dir"
}

# The ONNX Runtime library from the onnxruntime wheel (the one Python uses too).
ort_library() {
    [ -x "$PYTHON" ] || die "$PYTHON not found: run make setup first (or set PYTHON)"
    local lib
    lib=$("$PYTHON" - <<'EOF'
import glob, os, sys
try:
    import onnxruntime
except ImportError:
    sys.exit("onnxruntime is not installed in this Python")
found = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so.1.*")))
if not found:
    sys.exit("the onnxruntime wheel holds no libonnxruntime.so.1.*")
print(found[-1])
EOF
) || die "no ONNX Runtime library: $lib"
    echo "$lib"
}

# The libvmaf source the user named: a tarball or a tree.
libvmaf_source() {
    [ -e "$LIBVMAF_SRC" ] || die "LIBVMAF_SRC=$LIBVMAF_SRC does not exist"
    echo "$(cd "$(dirname "$LIBVMAF_SRC")" && pwd)/$(basename "$LIBVMAF_SRC")"
}

# --- recipe: the build steps; their text is part of the cache key (fetching is not).
# build_libvmaf SRC DEST: a static libvmaf with its models built in, installed in DEST.
build_libvmaf() {
    local src=$1 dest=$2 tree=$WORK/vmaf-src
    if [ -d "$src" ]; then
        cp -a "$src" "$tree"
    else
        mkdir -p "$tree"
        tar -xzf "$src" -C "$tree" --strip-components=1
    fi
    [ -f "$tree/libvmaf/meson.build" ] || die "$src holds no libvmaf/meson.build"
    meson setup "$WORK/vmaf-build" "$tree/libvmaf" --prefix="$dest" --libdir=lib \
        --buildtype=release --default-library=static \
        -Denable_tests=false -Denable_docs=false -Dbuilt_in_models=true \
        > "$WORK/vmaf.log" 2>&1 || { tail -n 30 "$WORK/vmaf.log" >&2; exit 1; }
    ninja -C "$WORK/vmaf-build" -j "$JOBS" install >> "$WORK/vmaf.log" 2>&1 \
        || { tail -n 30 "$WORK/vmaf.log" >&2; exit 1; }
}

# build_svtav1 TARBALL DEST: SVT-AV1's static encoder library and SvtAv1EncApp in DEST.
build_svtav1() {
    local tree=$WORK/svt-src
    mkdir -p "$tree"
    tar -xJf "$1" -C "$tree" --strip-components=1
    cmake -S "$tree" -B "$WORK/svt-build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$2" -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED_LIBS=OFF \
        -DBUILD_DEC=OFF -DBUILD_TESTING=OFF -DBUILD_APPS=ON \
        > "$WORK/svt.log" 2>&1 || { tail -n 30 "$WORK/svt.log" >&2; exit 1; }
    make -C "$WORK/svt-build" -j"$JOBS" install >> "$WORK/svt.log" 2>&1 \
        || { tail -n 30 "$WORK/svt.log" >&2; exit 1; }
    # The library is static: what it needs goes on every link, not only on --static ones
    # (pkg-config --static would also ask for x265's libnuma, which nothing here needs).
    sed -i 's/^Libs: \(.*\)$/Libs: \1 -lpthread -lm/' "$2/lib/pkgconfig/SvtAv1Enc.pc"
}
# --- end recipe

if [ "${1:-}" = "--mirror" ]; then
    mirror
    exit 0
fi
# `build.sh --source` prints the pinned FFmpeg source (tarball or FFMPEG_SRC) and stops:
# `make patches` lays filters/ onto it.
if [ "${1:-}" = "--source" ]; then
    install_packages
    if [ -n "${FFMPEG_SRC:-}" ]; then echo "$FFMPEG_SRC"; else pool ffmpeg "$FFMPEG_TAR" "$FFMPEG_SHA"; fi
    exit 0
fi

install_packages
ORT_INC=$(ort_headers)
ORT_LIB=$(ort_library)
if [ -f "${FFMPEG_SRC:-}" ]; then
    FFMPEG_TARBALL=$FFMPEG_SRC
    SRC_ID="tar:$(sha "$FFMPEG_SRC")"
    FFMPEG_SRC=
elif [ -n "${FFMPEG_SRC:-}" ]; then
    [ -f "$FFMPEG_SRC/configure" ] || die "FFMPEG_SRC=$FFMPEG_SRC holds no FFmpeg tree"
    SRC_ID="dir:$(cd "$FFMPEG_SRC" && find . -type f \( -name '*.[ch]' -o -name configure -o -name Makefile \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
else
    FFMPEG_TARBALL=$(pool ffmpeg "$FFMPEG_TAR" "$FFMPEG_SHA")
    SRC_ID="tar:$FFMPEG_SHA"
fi

SVT_TARBALL=$(pool svt-av1 "$SVT_TAR" "$SVT_SHA")
CONFIGURE_FLAGS=(
    --enable-gpl --enable-version3
    --enable-libx264 --enable-libx265 --enable-libsvtav1 --enable-libonnxruntime
    --disable-doc --disable-ffplay --disable-stripping
)
VMAF_ID=none
if [ -n "$LIBVMAF_SRC" ]; then
    VMAF_SOURCE=$(libvmaf_source)
    if [ -d "$VMAF_SOURCE" ]; then
        VMAF_ID="dir:$(cd "$VMAF_SOURCE" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
    else
        VMAF_ID="tar:$(sha "$VMAF_SOURCE")"
    fi
    CONFIGURE_FLAGS+=(--enable-libvmaf --pkg-config-flags=--static)
fi
# The CUDA execution provider lives in libraries beside libonnxruntime (onnxruntime-gpu).
ORT_PROVIDERS=$(find "$(dirname "$ORT_LIB")" -maxdepth 1 -name 'libonnxruntime_providers_*.so' | sort)
KEY=$(
    {
        echo "$SRC_ID"
        echo "$VMAF_ID"
        echo "$SVT_SHA"
        for f in $ORT_PROVIDERS; do sha "$f"; done
        cat "$ORT_INC"/*.h
        sha "$ORT_LIB"
        cat "$ROOT"/ffmpeg-patches/*.patch 2>/dev/null || true
        sed -n '/^# --- recipe/,/^# --- end recipe/p' "$0"
        echo "${CONFIGURE_FLAGS[*]}"
        gcc --version | head -1
        uname -m
        dpkg-query -W libx264-dev libx265-dev
    } | sha256sum | cut -c1-16
)
PREFIX=$CACHE/ffmpeg/$KEY

# --- recipe
if [ -x "$PREFIX/bin/ffmpeg" ]; then
    say "cached build $PREFIX"
else
    say "building FFmpeg into $PREFIX (key $KEY); this takes several minutes"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmaftune-ffmpeg.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    if [ -n "${FFMPEG_SRC:-}" ]; then
        cp -a "$FFMPEG_SRC" "$WORK/src"
    else
        mkdir "$WORK/src"
        tar -xJf "$FFMPEG_TARBALL" -C "$WORK/src" --strip-components=1
    fi
    # The series applies with `git am` onto the pristine tree, as a reviewer would.
    (
        cd "$WORK/src"
        git init -q
        git -c user.name=vmaftune -c user.email=build@vmaftune.invalid add -A
        git -c user.name=vmaftune -c user.email=build@vmaftune.invalid commit -qm "FFmpeg n9.0.2"
        shopt -s nullglob
        patches=("$ROOT"/ffmpeg-patches/*.patch)
        if [ ${#patches[@]} -gt 0 ]; then
            git -c user.name=vmaftune -c user.email=build@vmaftune.invalid am -q "${patches[@]}"
        fi
    )
    # -lonnxruntime needs an unversioned name; the binary finds the copy in PREFIX/lib.
    mkdir -p "$WORK/ort"
    cp "$ORT_LIB" $ORT_PROVIDERS "$WORK/ort/"
    ln -s "$(basename "$ORT_LIB")" "$WORK/ort/libonnxruntime.so"
    ln -s "$(basename "$ORT_LIB")" "$WORK/ort/libonnxruntime.so.1"
    say "building SVT-AV1 $SVT_TAR"
    build_svtav1 "$SVT_TARBALL" "$WORK/svt"
    export PKG_CONFIG_PATH="$WORK/svt/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    if [ -n "$LIBVMAF_SRC" ]; then
        say "building libvmaf $VMAF_SOURCE"
        build_libvmaf "$VMAF_SOURCE" "$WORK/vmaf"
        export PKG_CONFIG_PATH="$WORK/vmaf/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    fi
    (
        cd "$WORK/src"
        # The final prefix, so FFMPEG_DATADIR (where the filters find the model
        # registry) is right; make install stages it and the move below publishes it.
        ./configure --prefix="$PREFIX" "${CONFIGURE_FLAGS[@]}" \
            --extra-cflags="-I$ORT_INC" \
            --extra-ldflags="-L$WORK/ort -Wl,-rpath,$PREFIX/lib" \
            > "$WORK/configure.log" 2>&1 || { tail -n 30 "$WORK/configure.log" "$WORK/src/ffbuild/config.log" >&2; exit 1; }
        make -j"$JOBS" > "$WORK/make.log" 2>&1 || { tail -n 40 "$WORK/make.log" >&2; exit 1; }
        make install DESTDIR="$WORK/stage" > "$WORK/install.log" 2>&1 || { tail -n 20 "$WORK/install.log" >&2; exit 1; }
    )
    rm -rf "$PREFIX.partial"
    mkdir -p "$(dirname "$PREFIX")"
    mv "$WORK/stage$PREFIX" "$PREFIX.partial"
    cp -a "$WORK"/ort/libonnxruntime*.so* "$PREFIX.partial/lib/"
    cp "$WORK/svt/bin/SvtAv1EncApp" "$PREFIX.partial/bin/"
    rm -rf "$PREFIX"
    mv "$PREFIX.partial" "$PREFIX"
    # A build is ~0.5 GB (static libraries with symbols, for valgrind): keep the two newest.
    ls -dt "$CACHE"/ffmpeg/*/ | tail -n +3 | xargs -r rm -rf
fi
# --- end recipe

# The models are not part of the key: the filters read them at run time, from here by
# default (FFMPEG_DATADIR/vmaftune), so this copy follows models/ on every run.
rm -rf "$PREFIX/share/ffmpeg/vmaftune"
mkdir -p "$PREFIX/share/ffmpeg/vmaftune"
find "$ROOT/models" -maxdepth 1 -type f \( -name registry.json -o -name '*.onnx' \) \
    -exec cp {} "$PREFIX/share/ffmpeg/vmaftune/" \;

mkdir -p "$ROOT/build"
rm -rf "$OUT"
ln -s "$PREFIX" "$OUT"
# Captured first: grep -q closing the pipe early would fail the pipeline (pipefail).
FILTERS=$("$OUT/bin/ffmpeg" -hide_banner -filters 2>/dev/null) || die "$OUT/bin/ffmpeg does not run"
WANTED="dnn_processing vmaf_pre vmaf_post"
[ -z "$LIBVMAF_SRC" ] || WANTED="$WANTED libvmaf"
for f in $WANTED; do
    grep -q " $f " <<<"$FILTERS" || die "$OUT/bin/ffmpeg runs but lacks the $f filter"
done
"$OUT/bin/SvtAv1EncApp" --version >/dev/null 2>&1 || die "$OUT/bin/SvtAv1EncApp does not run"
say "ready: $OUT/bin/ffmpeg"
