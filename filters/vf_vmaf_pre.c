/*
 * Learned pre-filter running an ONNX model through the DNN module
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

/**
 * @file
 * vmaf_pre: a learned pre-filter (denoise/deband) from the vmaftune model zoo.
 *
 * The model maps one plane, as floats in [0,1], to a plane of the same size
 * ([1,1,H,W] -> [1,1,H,W]). Each processed plane is one inference; the frame is
 * filtered in place, so timestamps and side data pass through untouched.
 */

#include <math.h>

#include "libavutil/common.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavutil/pixdesc.h"

#include "avfilter.h"
#include "dnn_filter_common.h"
#include "filters.h"
#include "video.h"
#include "vmaf_model.h"

/* strength=auto for vmaf_pre_dn (v2): vmaf_pre_temporal's ramp, noise in 8-bit code
 * values; the ceiling chosen for v2 on a validation split for bits at equal VMAF
 * (models/train/prefilter_select.py). On held-out clips it saves bits on every clip and
 * codec measured (models/vmaf_pre_dn.md); max_strength=0 turns it off. */
#define VMAF_PRE_GATE    3.5
#define VMAF_PRE_FULL    7.5
#define VMAF_PRE_CEILING 0.5

typedef struct VmafPreContext {
    const AVClass *class;
    DnnContext dnnctx;

    char *model;
    char *registry;
    int device;
    int planes;
    float strength;
    float noise_gate, noise_full, max_strength;

    int depth;
    float frame_strength; ///< the strength of the frame in flight (auto or fixed)
    int nb_planes;
    int plane_w[4], plane_h[4];
    int error;
} VmafPreContext;

static const AVOption vmaf_pre_options[] = {
    VMAF_MODEL_OPTIONS(VmafPreContext, "pre-filter"),
    VMAF_PRE_OPTIONS(VmafPreContext, VMAF_PRE_GATE, VMAF_PRE_FULL, VMAF_PRE_CEILING),
    { NULL }
};

AVFILTER_DEFINE_CLASS(vmaf_pre);

/* The output plane still holds the input (in place): blend, round and clip into it. */
static int post_proc(AVFrame *plane, DNNData *output, AVFilterContext *avctx)
{
    VmafPreContext *s = avctx->priv;
    int ret = ff_vmaf_model_write_plane(avctx, plane, output, s->depth, s->frame_strength,
                                        VMAF_BLEND_ALWAYS, "pre-filter");

    if (ret < 0)
        s->error = ret;
    return ret;
}

static av_cold int init(AVFilterContext *avctx)
{
    VmafPreContext *s = avctx->priv;

    if (s->strength == VMAF_STRENGTH_AUTO && s->max_strength <= 0.0f)
        av_log(avctx, AV_LOG_INFO, "strength=auto with max_strength 0 passes every frame "
               "as it is; set strength or max_strength to filter\n");
    return ff_vmaf_model_open(avctx, &s->dnnctx, s->model, s->registry, "prefilter", s->device,
                              post_proc);
}

static int config_input(AVFilterLink *inlink)
{
    AVFilterContext *avctx = inlink->dst;
    VmafPreContext *s = avctx->priv;
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(inlink->format);
    DNNData input;
    int ret;

    s->depth     = desc->comp[0].depth;
    s->nb_planes = s->planes == VMAF_PLANES_ALL ? av_pix_fmt_count_planes(inlink->format) : 1;
    for (int p = 0; p < s->nb_planes; p++) {
        int sub = p == 1 || p == 2;
        s->plane_w[p] = sub ? AV_CEIL_RSHIFT(inlink->w, desc->log2_chroma_w) : inlink->w;
        s->plane_h[p] = sub ? AV_CEIL_RSHIFT(inlink->h, desc->log2_chroma_h) : inlink->h;
    }

    if ((ret = ff_dnn_get_input(&s->dnnctx, &input)) < 0)
        return ret;
    if (input.dt != DNN_FLOAT || input.dims[1] != 1) {
        av_log(avctx, AV_LOG_ERROR, "the model takes %d channel(s) of %s; a pre-filter "
               "takes one plane of floats [1,1,H,W]\n", input.dims[1],
               input.dt == DNN_FLOAT ? "floats" : "integers");
        return AVERROR(EINVAL);
    }
    for (int p = 0; p < s->nb_planes; p++) {
        if ((input.dims[2] != -1 && input.dims[2] != s->plane_h[p]) ||
            (input.dims[3] != -1 && input.dims[3] != s->plane_w[p])) {
            av_log(avctx, AV_LOG_ERROR, "the model takes %dx%d planes but plane %d is %dx%d; "
                   "scale first or use a model with dynamic height and width\n",
                   input.dims[3], input.dims[2], p, s->plane_w[p], s->plane_h[p]);
            return AVERROR(EINVAL);
        }
    }
    return 0;
}

static int filter_plane(AVFilterContext *avctx, AVFrame *frame, int p)
{
    VmafPreContext *s = avctx->priv;
    int ret = ff_vmaf_model_run_plane(&s->dnnctx, frame, p, s->plane_w[p], s->plane_h[p]);

    if (s->error < 0) {
        ret = s->error;
        s->error = 0;
    }
    return ret;
}

static int filter_frame(AVFilterLink *inlink, AVFrame *frame)
{
    AVFilterContext *avctx = inlink->dst;
    VmafPreContext *s = avctx->priv;
    int ret;

    s->frame_strength = s->strength;
    if (s->strength == VMAF_STRENGTH_AUTO &&
        (ret = ff_vmaf_pre_auto_strength(avctx, frame, frame, s->depth, s->noise_gate,
                                         s->noise_full, s->max_strength,
                                         &s->frame_strength)) < 0) {
        av_frame_free(&frame);
        return ret;
    }
    /* Strength 0 blends nothing in: the frame passes as it came, without the model. */
    for (int p = 0; p < s->nb_planes && s->frame_strength > 0.0f; p++) {
        if ((ret = filter_plane(avctx, frame, p)) < 0) {
            av_frame_free(&frame);
            return ret;
        }
    }
    return ff_filter_frame(avctx->outputs[0], frame);
}

static int activate(AVFilterContext *avctx)
{
    AVFilterLink *inlink  = avctx->inputs[0];
    AVFilterLink *outlink = avctx->outputs[0];
    AVFrame *frame;
    int ret;

    FF_FILTER_FORWARD_STATUS_BACK(outlink, inlink);

    ret = ff_inlink_consume_frame(inlink, &frame);
    if (ret < 0)
        return ret;
    if (ret > 0) {
        if ((ret = ff_inlink_make_frame_writable(inlink, &frame)) < 0) {
            av_frame_free(&frame);
            return ret;
        }
        return filter_frame(inlink, frame);
    }

    FF_FILTER_FORWARD_STATUS(inlink, outlink);
    FF_FILTER_FORWARD_WANTED(outlink, inlink);

    return FFERROR_NOT_READY;
}

static av_cold void uninit(AVFilterContext *avctx)
{
    VmafPreContext *s = avctx->priv;

    ff_dnn_uninit(&s->dnnctx);
    if (s->dnnctx.clazz)
        av_opt_free(&s->dnnctx);
}

static const AVFilterPad vmaf_pre_inputs[] = {
    {
        .name         = "default",
        .type         = AVMEDIA_TYPE_VIDEO,
        .config_props = config_input,
    },
};

const FFFilter ff_vf_vmaf_pre = {
    .p.name        = "vmaf_pre",
    .p.description = NULL_IF_CONFIG_SMALL("Apply a learned pre-filter (ONNX) from the vmaftune model zoo."),
    .p.priv_class  = &vmaf_pre_class,
    .priv_size     = sizeof(VmafPreContext),
    .init          = init,
    .uninit        = uninit,
    .activate      = activate,
    FILTER_INPUTS(vmaf_pre_inputs),
    FILTER_OUTPUTS(ff_video_default_filterpad),
    FILTER_PIXFMTS_ARRAY(ff_vmaf_model_pix_fmts),
};
