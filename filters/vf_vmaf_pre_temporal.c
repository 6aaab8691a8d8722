/*
 * Learned temporal pre-filter running an ONNX model through the DNN module
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
 * vmaf_pre_temporal: a learned denoiser that sees five frames.
 *
 * The model maps a window of one plane in five frames, t-2..t+2, as floats in
 * [0,1], to that plane of frame t ([1,5,H,W] -> [1,1,H,W]). The window is
 * mirrored at both ends of the stream (t-1 of the first frame is its second
 * frame), so every input frame gives exactly one output frame, with its
 * timestamps and side data; the last two are drained at EOF.
 */

#include "libavutil/common.h"
#include "libavutil/imgutils.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavutil/pixdesc.h"

#include "avfilter.h"
#include "dnn_filter_common.h"
#include "filters.h"
#include "video.h"
#include "vmaf_model.h"

#define WINDOW 5
#define HALF   (WINDOW / 2)

/* strength=auto for vmaf_pre_tdn (v2): the gate and full noise chosen on a validation
 * split for bits at equal VMAF (models/train/prefilter_auto.py), noise in 8-bit code
 * values; the ceiling chosen for v2 on a wider split (models/train/prefilter_select.py).
 * On held-out clips it saves bits on every clip and codec measured
 * (models/vmaf_pre_tdn.md); max_strength=0 turns it off. */
#define VMAF_PRE_TEMPORAL_GATE    3.5
#define VMAF_PRE_TEMPORAL_FULL    7.5
#define VMAF_PRE_TEMPORAL_CEILING 0.5

typedef struct VmafPreTemporalContext {
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
    int nb_planes, nb_filtered;
    int plane_w[4], plane_h[4];
    int error;

    /* The frames t-2..t+2 of the next output t that are still needed, by index. */
    AVFrame *buf[WINDOW];
    int64_t first;      ///< index of buf[0]
    int nb_buf;
    int64_t nb_in;      ///< frames received
    int64_t next_out;   ///< index of the next frame to output
    int eof;
    int64_t eof_pts;
} VmafPreTemporalContext;

static const AVOption vmaf_pre_temporal_options[] = {
    VMAF_MODEL_OPTIONS(VmafPreTemporalContext, "temporal"),
    VMAF_PRE_OPTIONS(VmafPreTemporalContext, VMAF_PRE_TEMPORAL_GATE, VMAF_PRE_TEMPORAL_FULL,
                     VMAF_PRE_TEMPORAL_CEILING),
    { NULL }
};

AVFILTER_DEFINE_CLASS(vmaf_pre_temporal);

/* The output plane holds a copy of frame t: blend (strength < 1) or replace it with
 * the model's floats, rounded and clipped. */
static int post_proc(AVFrame *plane, DNNData *output, AVFilterContext *avctx)
{
    VmafPreTemporalContext *s = avctx->priv;
    int ret = ff_vmaf_model_write_plane(avctx, plane, output, s->depth, s->frame_strength,
                                        VMAF_BLEND_BELOW_FULL, "temporal pre-filter");

    if (ret < 0)
        s->error = ret;
    return ret;
}

static av_cold int init(AVFilterContext *avctx)
{
    VmafPreTemporalContext *s = avctx->priv;

    if (s->strength == VMAF_STRENGTH_AUTO && s->max_strength <= 0.0f)
        av_log(avctx, AV_LOG_INFO, "strength=auto with max_strength 0 passes every frame "
               "as it is; set strength or max_strength to filter\n");
    return ff_vmaf_model_open(avctx, &s->dnnctx, s->model, s->registry, "temporal", s->device,
                              post_proc);
}

static int config_input(AVFilterLink *inlink)
{
    AVFilterContext *avctx = inlink->dst;
    VmafPreTemporalContext *s = avctx->priv;
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(inlink->format);
    DNNData input;
    int ret;

    s->depth       = desc->comp[0].depth;
    s->nb_planes   = av_pix_fmt_count_planes(inlink->format);
    s->nb_filtered = s->planes == VMAF_PLANES_ALL ? s->nb_planes : 1;
    for (int p = 0; p < s->nb_planes; p++) {
        int sub = p == 1 || p == 2;
        s->plane_w[p] = sub ? AV_CEIL_RSHIFT(inlink->w, desc->log2_chroma_w) : inlink->w;
        s->plane_h[p] = sub ? AV_CEIL_RSHIFT(inlink->h, desc->log2_chroma_h) : inlink->h;
    }

    if ((ret = ff_dnn_get_input(&s->dnnctx, &input)) < 0)
        return ret;
    if (input.dt != DNN_FLOAT || input.dims[1] != WINDOW) {
        av_log(avctx, AV_LOG_ERROR, "the model takes %d channel(s) of %s; a temporal "
               "pre-filter takes a window of %d planes of floats [1,%d,H,W]\n", input.dims[1],
               input.dt == DNN_FLOAT ? "floats" : "integers", WINDOW, WINDOW);
        return AVERROR(EINVAL);
    }
    for (int p = 0; p < s->nb_filtered; p++) {
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

/* Frame i of the window, mirrored at the ends of the stream (n frames, or
 * unknown until EOF: then only the start mirrors). */
static AVFrame *window_frame(VmafPreTemporalContext *s, int64_t i)
{
    const int64_t n = s->nb_in;

    if (i < 0)
        i = -i;
    if (s->eof && i >= n)
        i = 2 * (n - 1) - i;
    i = av_clip64(i, 0, n - 1);
    return s->buf[i - s->first];
}

static int output_frame(AVFilterContext *avctx)
{
    VmafPreTemporalContext *s = avctx->priv;
    AVFilterLink *outlink = avctx->outputs[0];
    const int64_t t = s->next_out;
    AVFrame *window[WINDOW], *centre, *out;
    int ret;

    for (int i = 0; i < WINDOW; i++)
        window[i] = window_frame(s, t - HALF + i);
    centre = window[HALF];
    out = ff_get_video_buffer(outlink, outlink->w, outlink->h);
    if (!out)
        return AVERROR(ENOMEM);
    if ((ret = av_frame_copy_props(out, centre)) < 0)
        goto fail;
    s->frame_strength = s->strength;
    if (s->strength == VMAF_STRENGTH_AUTO &&
        (ret = ff_vmaf_pre_auto_strength(avctx, centre, out, s->depth, s->noise_gate,
                                         s->noise_full, s->max_strength,
                                         &s->frame_strength)) < 0)
        goto fail;
    for (int p = 0; p < s->nb_planes; p++) {
        /* Frame t itself: what unfiltered planes keep and a blend starts from. */
        av_image_copy_plane(out->data[p], out->linesize[p],
                            centre->data[p], centre->linesize[p],
                            s->plane_w[p] * ((s->depth + 7) / 8), s->plane_h[p]);
        /* Strength 0 blends nothing in: frame t passes without the model. */
        if (p >= s->nb_filtered || s->frame_strength <= 0.0f)
            continue;
        ret = ff_vmaf_model_run_window(&s->dnnctx, window, WINDOW, out, p,
                                       s->plane_w[p], s->plane_h[p]);
        if (s->error < 0) {
            ret = s->error;
            s->error = 0;
        }
        if (ret < 0)
            goto fail;
    }
    s->next_out++;
    /* Frames before t-1 are needed by no later window. */
    while (s->nb_buf && s->first < s->next_out - HALF) {
        av_frame_free(&s->buf[0]);
        memmove(s->buf, s->buf + 1, (WINDOW - 1) * sizeof(*s->buf));
        s->buf[--s->nb_buf] = NULL;
        s->first++;
    }
    return ff_filter_frame(outlink, out);
fail:
    av_frame_free(&out);
    return ret;
}

/* Output t needs t+2, or the end of the stream. */
static int can_output(VmafPreTemporalContext *s)
{
    return s->next_out < s->nb_in && (s->eof || s->next_out + HALF < s->nb_in);
}

static int activate(AVFilterContext *avctx)
{
    VmafPreTemporalContext *s = avctx->priv;
    AVFilterLink *inlink  = avctx->inputs[0];
    AVFilterLink *outlink = avctx->outputs[0];
    AVFrame *frame;
    int64_t pts;
    int ret, status;

    FF_FILTER_FORWARD_STATUS_BACK(outlink, inlink);

    if (!s->eof && s->nb_buf < WINDOW) {
        ret = ff_inlink_consume_frame(inlink, &frame);
        if (ret < 0)
            return ret;
        if (ret > 0) {
            s->buf[s->nb_buf++] = frame;
            s->nb_in++;
        }
    }
    if (!s->eof && ff_inlink_acknowledge_status(inlink, &status, &pts)) {
        s->eof     = 1;
        s->eof_pts = pts;
    }
    if (can_output(s)) {
        ret = output_frame(avctx);
        if (ret >= 0 && (can_output(s) || (!s->eof && ff_inlink_queued_frames(inlink))))
            ff_filter_set_ready(avctx, 100);
        return ret;
    }
    if (s->eof) {
        ff_outlink_set_status(outlink, AVERROR_EOF, s->eof_pts);
        return 0;
    }
    if (ff_inlink_queued_frames(inlink)) {
        ff_filter_set_ready(avctx, 100);
        return 0;
    }
    FF_FILTER_FORWARD_WANTED(outlink, inlink);

    return FFERROR_NOT_READY;
}

static av_cold void uninit(AVFilterContext *avctx)
{
    VmafPreTemporalContext *s = avctx->priv;

    for (int i = 0; i < WINDOW; i++)
        av_frame_free(&s->buf[i]);
    ff_dnn_uninit(&s->dnnctx);
    if (s->dnnctx.clazz)
        av_opt_free(&s->dnnctx);
}

static const AVFilterPad vmaf_pre_temporal_inputs[] = {
    {
        .name         = "default",
        .type         = AVMEDIA_TYPE_VIDEO,
        .config_props = config_input,
    },
};

const FFFilter ff_vf_vmaf_pre_temporal = {
    .p.name        = "vmaf_pre_temporal",
    .p.description = NULL_IF_CONFIG_SMALL("Apply a learned 5-frame temporal pre-filter (ONNX) from the vmaftune model zoo."),
    .p.priv_class  = &vmaf_pre_temporal_class,
    .priv_size     = sizeof(VmafPreTemporalContext),
    .init          = init,
    .uninit        = uninit,
    .activate      = activate,
    FILTER_INPUTS(vmaf_pre_temporal_inputs),
    FILTER_OUTPUTS(ff_video_default_filterpad),
    FILTER_PIXFMTS_ARRAY(ff_vmaf_model_pix_fmts),
};
