/*
 * No-reference quality score from an ONNX model, as frame metadata
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
 * vmaf_post: frames pass unchanged; each gets the VMAF a no-reference model
 * predicts for it as lavfi.vmaf_post.score. The model maps the luma plane, as
 * floats in [0,1], to one number ([1,1,H,W] -> [1,1,1,1]). At the end the
 * mean, minimum and 5th percentile are logged and optionally written as JSON.
 */

#include <stdio.h>

#include "libavutil/avstring.h"
#include "libavutil/dict.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"

#include "avfilter.h"
#include "dnn_filter_common.h"
#include "filters.h"
#include "video.h"
#include "vmaf_model.h"

typedef struct VmafPostContext {
    const AVClass *class;
    DnnContext dnnctx;

    char *model;
    char *registry;
    char *log;
    int device;

    float score;
    int error;
    VmafScores scores;
    int summarized;
} VmafPostContext;

#define OFFSET(x) offsetof(VmafPostContext, x)
#define FLAGS AV_OPT_FLAG_FILTERING_PARAM | AV_OPT_FLAG_VIDEO_PARAM
static const AVOption vmaf_post_options[] = {
    VMAF_MODEL_OPTIONS(VmafPostContext, "no-reference"),
    { "log",      "write the pooled scores to this JSON file",           OFFSET(log),      AV_OPT_TYPE_STRING, { .str = NULL }, 0, 0, FLAGS },
    { NULL }
};

AVFILTER_DEFINE_CLASS(vmaf_post);

static int post_proc(AVFrame *plane, DNNData *output, AVFilterContext *avctx)
{
    VmafPostContext *s = avctx->priv;

    if (output->dims[0] * output->dims[1] * output->dims[2] * output->dims[3] != 1) {
        av_log(avctx, AV_LOG_ERROR, "the model returned [%d,%d,%d,%d]; a no-reference "
               "model must return one number [1,1,1,1]\n", output->dims[0], output->dims[1],
               output->dims[2], output->dims[3]);
        s->error = AVERROR(EINVAL);
        return s->error;
    }
    s->score = *(const float *)output->data;
    return 0;
}

static av_cold int init(AVFilterContext *avctx)
{
    VmafPostContext *s = avctx->priv;

    return ff_vmaf_model_open(avctx, &s->dnnctx, s->model, s->registry, "nr", s->device,
                              post_proc);
}

static int config_input(AVFilterLink *inlink)
{
    AVFilterContext *avctx = inlink->dst;
    VmafPostContext *s = avctx->priv;
    DNNData input;
    int ret;

    if ((ret = ff_dnn_get_input(&s->dnnctx, &input)) < 0)
        return ret;
    if (input.dt != DNN_FLOAT || input.dims[1] != 1) {
        av_log(avctx, AV_LOG_ERROR, "the model takes %d channel(s); a no-reference model "
               "takes the luma plane as floats [1,1,H,W]\n", input.dims[1]);
        return AVERROR(EINVAL);
    }
    if ((input.dims[2] != -1 && input.dims[2] != inlink->h) ||
        (input.dims[3] != -1 && input.dims[3] != inlink->w)) {
        av_log(avctx, AV_LOG_ERROR, "the model takes %dx%d frames but the input is %dx%d; "
               "scale first or use a model with dynamic height and width\n",
               input.dims[3], input.dims[2], inlink->w, inlink->h);
        return AVERROR(EINVAL);
    }
    return 0;
}

static int score_frame(AVFilterContext *avctx, AVFrame *frame)
{
    VmafPostContext *s = avctx->priv;
    char value[32];
    int ret = ff_vmaf_model_run_plane(&s->dnnctx, frame, 0, frame->width, frame->height);

    if (s->error < 0) {
        ret = s->error;
        s->error = 0;
    }
    if (ret < 0)
        return ret;

    snprintf(value, sizeof(value), "%.6f", s->score);
    if ((ret = av_dict_set(&frame->metadata, "lavfi.vmaf_post.score", value, 0)) < 0)
        return ret;
    return ff_vmaf_scores_add(&s->scores, s->score);
}

/* Logs the pooled scores and writes them as JSON (vmaf_model.c). */
static int summarize(AVFilterContext *avctx)
{
    VmafPostContext *s = avctx->priv;

    s->summarized = 1;
    return ff_vmaf_scores_summarize(avctx, &s->scores, "vmaf_post", s->model, s->log);
}

static int activate(AVFilterContext *avctx)
{
    AVFilterLink *inlink  = avctx->inputs[0];
    AVFilterLink *outlink = avctx->outputs[0];
    AVFrame *frame;
    int64_t pts;
    int ret, status;

    FF_FILTER_FORWARD_STATUS_BACK(outlink, inlink);

    ret = ff_inlink_consume_frame(inlink, &frame);
    if (ret < 0)
        return ret;
    if (ret > 0) {
        if ((ret = score_frame(avctx, frame)) < 0) {
            av_frame_free(&frame);
            return ret;
        }
        return ff_filter_frame(outlink, frame);
    }

    if (ff_inlink_acknowledge_status(inlink, &status, &pts)) {
        ret = summarize(avctx);
        ff_outlink_set_status(outlink, status, pts);
        return ret;
    }
    FF_FILTER_FORWARD_WANTED(outlink, inlink);

    return FFERROR_NOT_READY;
}

static av_cold void uninit(AVFilterContext *avctx)
{
    VmafPostContext *s = avctx->priv;

    /* A graph torn down before EOF (e.g. -frames:v) still gets its summary. */
    if (!s->summarized && s->scores.nb)
        summarize(avctx);
    ff_vmaf_scores_free(&s->scores);
    ff_dnn_uninit(&s->dnnctx);
    if (s->dnnctx.clazz)
        av_opt_free(&s->dnnctx);
}

static const AVFilterPad vmaf_post_inputs[] = {
    {
        .name         = "default",
        .type         = AVMEDIA_TYPE_VIDEO,
        .config_props = config_input,
    },
};

const FFFilter ff_vf_vmaf_post = {
    .p.name        = "vmaf_post",
    .p.description = NULL_IF_CONFIG_SMALL("Score frames with a no-reference VMAF model (ONNX) as metadata."),
    .p.priv_class  = &vmaf_post_class,
    .p.flags       = AVFILTER_FLAG_METADATA_ONLY,
    .priv_size     = sizeof(VmafPostContext),
    .init          = init,
    .uninit        = uninit,
    .activate      = activate,
    FILTER_INPUTS(vmaf_post_inputs),
    FILTER_OUTPUTS(ff_video_default_filterpad),
    FILTER_PIXFMTS_ARRAY(ff_vmaf_model_pix_fmts),
};
