/*
 * vmaftune model resolution for the vmaf_* filters
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

#ifndef AVFILTER_VMAF_MODEL_H
#define AVFILTER_VMAF_MODEL_H

#include <stdint.h>

#include "libavutil/frame.h"
#include "libavutil/pixfmt.h"

#include "avfilter.h"
#include "dnn_interface.h"
#include "vmaf_registry.h"

enum VmafModelDevice {
    VMAF_DEVICE_CPU,
    VMAF_DEVICE_CUDA,
    VMAF_DEVICE_AUTO,
};

enum VmafModelPlanes {
    VMAF_PLANES_LUMA,
    VMAF_PLANES_ALL,
};

#define VMAF_MODEL_FLAGS (AV_OPT_FLAG_FILTERING_PARAM | AV_OPT_FLAG_VIDEO_PARAM)

/**
 * The options every vmaf_* filter takes: model, registry, device. The filter's
 * context type must hold char *model, char *registry and int device; what names
 * the kind of model in the help text.
 */
#define VMAF_MODEL_OPTIONS(type, what)                                                         \
    { "model",    "registry id or .onnx file of the " what " model", offsetof(type, model),     \
      AV_OPT_TYPE_STRING, { .str = NULL }, 0, 0, VMAF_MODEL_FLAGS },                           \
    { "registry", "registry.json (or its folder) to resolve ids in", offsetof(type, registry), \
      AV_OPT_TYPE_STRING, { .str = NULL }, 0, 0, VMAF_MODEL_FLAGS },                           \
    { "device",   "ONNX Runtime device", offsetof(type, device), AV_OPT_TYPE_INT,               \
      { .i64 = VMAF_DEVICE_CPU }, VMAF_DEVICE_CPU, VMAF_DEVICE_AUTO, VMAF_MODEL_FLAGS, .unit = "device" }, \
        { "cpu",  NULL, 0, AV_OPT_TYPE_CONST, { .i64 = VMAF_DEVICE_CPU  }, 0, 0, VMAF_MODEL_FLAGS, .unit = "device" }, \
        { "cuda", NULL, 0, AV_OPT_TYPE_CONST, { .i64 = VMAF_DEVICE_CUDA }, 0, 0, VMAF_MODEL_FLAGS, .unit = "device" }, \
        { "auto", NULL, 0, AV_OPT_TYPE_CONST, { .i64 = VMAF_DEVICE_AUTO }, 0, 0, VMAF_MODEL_FLAGS, .unit = "device" }

/**
 * The options of the pre-filters (vmaf_pre, vmaf_pre_temporal): which planes
 * go through the model, and how much of its output is blended over the input:
 * a fixed strength, or (auto, the default) one read from each frame's measured
 * luma noise, so clean frames pass untouched. gate, full and ceiling are the
 * defaults of the automatic ramp, chosen per filter for its shipped model
 * (models/prefilter_auto.metrics.json). The context type must hold int planes
 * and float strength, noise_gate, noise_full and max_strength.
 */
#define VMAF_PRE_OPTIONS(type, gate, full, ceiling)                                            \
    { "planes",   "planes to filter (the others are copied)", offsetof(type, planes),           \
      AV_OPT_TYPE_INT, { .i64 = VMAF_PLANES_LUMA }, VMAF_PLANES_LUMA, VMAF_PLANES_ALL,          \
      VMAF_MODEL_FLAGS, .unit = "planes" },                                                    \
        { "luma", NULL, 0, AV_OPT_TYPE_CONST, { .i64 = VMAF_PLANES_LUMA }, 0, 0, VMAF_MODEL_FLAGS, .unit = "planes" }, \
        { "all",  NULL, 0, AV_OPT_TYPE_CONST, { .i64 = VMAF_PLANES_ALL  }, 0, 0, VMAF_MODEL_FLAGS, .unit = "planes" }, \
    { "strength", "blend of filtered over original (0..1), or auto: from each frame's noise",  \
      offsetof(type, strength), AV_OPT_TYPE_FLOAT, { .dbl = VMAF_STRENGTH_AUTO },               \
      VMAF_STRENGTH_AUTO, 1.0, VMAF_MODEL_FLAGS, .unit = "strength" },                          \
        /* av_opt reads a named constant's value from .i64, whatever the option's type */    \
        { "auto", "from the luma noise (noise_gate, noise_full, max_strength)", 0,              \
          AV_OPT_TYPE_CONST, { .i64 = VMAF_STRENGTH_AUTO }, 0, 0, VMAF_MODEL_FLAGS, .unit = "strength" }, \
    { "noise_gate", "auto: noise deviation (8-bit code values) below which frames pass untouched", \
      offsetof(type, noise_gate), AV_OPT_TYPE_FLOAT, { .dbl = gate }, 0.0, 255.0, VMAF_MODEL_FLAGS }, \
    { "noise_full", "auto: noise deviation at which the strength reaches max_strength",         \
      offsetof(type, noise_full), AV_OPT_TYPE_FLOAT, { .dbl = full }, 0.0, 255.0, VMAF_MODEL_FLAGS }, \
    { "max_strength", "auto: the strength from noise_full up", offsetof(type, max_strength),   \
      AV_OPT_TYPE_FLOAT, { .dbl = ceiling }, 0.0, 1.0, VMAF_MODEL_FLAGS }

#define VMAF_STRENGTH_AUTO -1

/**
 * The deviation of white noise in a plane of w x h samples (depth bits), in
 * 8-bit code values, as vmaftune.zoo.noise estimates it (Immerkaer's operator,
 * median of the quietest quarter of 16x16 blocks). Planes smaller than 18x18
 * read 0.
 */
int ff_vmaf_noise_sigma(const uint8_t *data, ptrdiff_t linesize, int w, int h, int depth,
                        double *sigma);

/**
 * A pre-filter's strength for a frame in auto mode: 0 below noise_gate, then
 * rising linearly to max_strength at noise_full, and flat above. Measures the
 * frame's luma noise and sets lavfi.<filter>.noise and lavfi.<filter>.strength
 * on dst.
 */
int ff_vmaf_pre_auto_strength(AVFilterContext *avctx, const AVFrame *frame, AVFrame *dst,
                              int depth, float gate, float full, float ceiling,
                              float *strength);

/* How a pre-filter's output meets the samples it replaces. */
enum VmafModelBlend {
    /* o + strength * (model - o) for every sample (vmaf_pre) */
    VMAF_BLEND_ALWAYS,
    /* the model's value itself at strength 1, the blend below it (vmaf_pre_temporal) */
    VMAF_BLEND_BELOW_FULL,
};

/**
 * Load a resolved model into the DNN module's ONNX backend on the device asked for.
 * "cuda" fails when ONNX Runtime offers no CUDA execution provider; "auto"
 * picks CUDA when it is offered and the CPU otherwise.
 */
int ff_vmaf_model_load(AVFilterContext *avctx, DnnContext *dnnctx, const char *path,
                       enum VmafModelDevice device);

/* The pixel formats the vmaf_* filters take: gray and planar YUV, 8 and 10 bit. */
extern const enum AVPixelFormat ff_vmaf_model_pix_fmts[];

/**
 * Resolve, check and load a filter's model (ff_vmaf_model_resolve, then
 * ff_vmaf_model_load) and install the shared pre_proc with the filter's post_proc.
 */
int ff_vmaf_model_open(AVFilterContext *avctx, DnnContext *dnnctx, const char *name,
                       const char *registry, const char *kind, enum VmafModelDevice device,
                       FramePrePostProc post_proc);

/**
 * DNN pre_proc shared by the vmaf_* filters: copy the view's data[c] for each
 * of the model's input channels c (8 bit, or up to 16 bit in uint16, depth
 * taken from its format) into the model input as floats in [0,1].
 */
int ff_vmaf_model_plane_to_float(AVFrame *plane, DNNData *input, AVFilterContext *avctx);

/**
 * Run the model once on plane p of frame (w x h samples) through borrowed
 * views, so the frame is neither copied nor reallocated; the filter's post_proc
 * sees the view whose data[0] is that plane.
 *
 * @return 0, or a negative AVERROR when the backend fails; errors raised in the
 *         filter's post_proc are the filter's to keep and report.
 */
int ff_vmaf_model_run_plane(DnnContext *dnnctx, AVFrame *frame, int p, int w, int h);

/**
 * Run the model once on plane p of nb frames (the model's input channels, in
 * order) and let the filter's post_proc write plane p of dst, all through
 * borrowed views. dst may be one of the window's frames.
 */
int ff_vmaf_model_run_window(DnnContext *dnnctx, AVFrame *const *window, int nb,
                             AVFrame *dst, int p, int w, int h);

/**
 * A pre-filter's post-processing: check that the model returned one plane of
 * plane's size ([1,1,H,W], else log that a "what" must return it and fail),
 * then write it into plane's data[0], which holds the samples it replaces:
 * blended by strength as blend says, rounded and clipped to depth bits.
 */
int ff_vmaf_model_write_plane(AVFilterContext *avctx, AVFrame *plane, const DNNData *output,
                              int depth, float strength, enum VmafModelBlend blend,
                              const char *what);

/* Per-frame scores of a scoring filter, pooled at the end. */
typedef struct VmafScores {
    double *v;
    unsigned nb, size;
} VmafScores;

int ff_vmaf_scores_add(VmafScores *s, double score);

/**
 * Log the frame count, mean, minimum and 5th percentile (numpy's linear
 * interpolation), and write them as JSON to log_path when it is set, through
 * a temporary name. Sorts the scores.
 */
int ff_vmaf_scores_summarize(void *log_ctx, VmafScores *s, const char *filter,
                             const char *model, const char *log_path);

void ff_vmaf_scores_free(VmafScores *s);

#endif /* AVFILTER_VMAF_MODEL_H */
