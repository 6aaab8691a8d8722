/*
 * vmaftune model registry reader for the vmaf_* filters
 *
 * This file is part of FFmpeg.
 *
 * FFmpeg is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * FFmpeg is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
 * Lesser General Public License for more details.
 *
 * You should have received a copy of the GNU Lesser General Public
 * License along with FFmpeg; if not, write to the Free Software
 * Foundation, Inc., 51 Franklin Street, Fifth Floor, Boston, MA 02110-1301 USA
 */

#ifndef AVFILTER_VMAF_REGISTRY_H
#define AVFILTER_VMAF_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

/* Models larger than this are refused before ONNX Runtime opens them. */
#define VMAF_MODEL_MAX_BYTES (50 * 1024 * 1024)

/**
 * Resolve a model given as a registry id or a file path into a checked file path.
 *
 * A name without '/' and without the ".onnx" suffix is a registry id: it is
 * looked up in registry.json (the registry argument, a file or the folder
 * holding it; else $VMAFTUNE_MODELS; else FFMPEG_DATADIR/vmaftune), the file
 * must sit in the registry's folder (symbolic links are followed and must not
 * leave it) and its size and sha256 must match the row. Any model file must
 * exist, be at most VMAF_MODEL_MAX_BYTES, hold all its weights itself and use
 * only operators of the zoo's allowlist.
 *
 * Only libavutil is used here, so the reader can be fuzzed on its own
 * (filters/fuzz in the vmaftune tree).
 *
 * @param kind     the registry kind the filter runs (e.g. "prefilter"), or NULL
 * @param path     set to the checked path, to be freed with av_free()
 * @return 0 or a negative AVERROR, with one error line logged
 */
int ff_vmaf_model_resolve(void *log_ctx, const char *name, const char *registry,
                          const char *kind, char **path);

typedef struct OnnxScan {
    int external;     /* tensors whose values live in another file */
    char bad_op[140]; /* the first operator outside the allowlist, or "" */
} OnnxScan;

/**
 * Scan a serialized ONNX model (the graph, its subgraphs, sparse tensors and
 * functions) for tensors whose values live in another file (data_location
 * EXTERNAL, or external_data entries) and for operators outside the zoo's
 * allowlist (custom domains included).
 *
 * @return 0, or AVERROR_INVALIDDATA when data is not a protobuf message
 */
int ff_vmaf_onnx_scan(const uint8_t *data, size_t size, OnnxScan *scan);

#endif /* AVFILTER_VMAF_REGISTRY_H */
