/*
 * Tiny full-reference VMAF model running ONNX through the DNN module
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
 * vmaf_tiny: a full-reference quality score from a tiny model, without libvmaf.
 *
 * Two inputs as libvmaf takes them: the distorted video first, the reference
 * second, paired by framesync. The model maps the two luma planes, as floats
 * in [0,1] ([1,2,H,W]: distorted, reference), to one number, the VMAF it
 * predicts for the pair. Distorted frames pass on with the score as
 * lavfi.vmaf_tiny.score; the mean, minimum and 5th percentile are logged at
 * the end and optionally written as JSON.
 */

#include <stdio.h>

#include "libavutil/dict.h"
#include "libavutil/opt.h"
#include "libavutil/pixdesc.h"

#include "avfilter.h"
#include "dnn_filter_common.h"
#include "filters.h"
#include "framesync.h"
#include "video.h"
#include "vmaf_model.h"

typedef struct VmafTinyContext {
    const AVClass *class;
    FFFrameSync fs;
    DnnContext dnnctx;

    char *model;
    char *registry;
    char *log;
    int device;

    float score;
    int error;
    VmafScores scores;
} VmafTinyContext;

#define OFFSET(x) offsetof(VmafTinyContext, x)
#define FLAGS AV_OPT_FLAG_FILTERING_PARAM | AV_OPT_FLAG_VIDEO_PARAM
static const AVOption vmaf_tiny_options[] = {
    VMAF_MODEL_OPTIONS(VmafTinyContext, "full-reference"),
    { "log",      "write the pooled scores to this JSON file",             OFFSET(log),      AV_OPT_TYPE_STRING, { .str = NULL }, 0, 0, FLAGS },
    { NULL }
};

FRAMESYNC_DEFINE_CLASS(vmaf_tiny, VmafTinyContext, fs);

static int post_proc(AVFrame *plane, DNNData *output, AVFilterContext *avctx)
{
    VmafTinyContext *s = avctx->priv;

    if (output->dims[0] * output->dims[1] * output->dims[2] * output->dims[3] != 1) {
        av_log(avctx, AV_LOG_ERROR, "the model returned [%d,%d,%d,%d]; a full-reference "
               "model must return one number\n", output->dims[0], output->dims[1],
               output->dims[2], output->dims[3]);
        s->error = AVERROR(EINVAL);
        return s->error;
    }
    s->score = *(const float *)output->data;
    return 0;
}

static int score_pair(FFFrameSync *fs)
{
    AVFilterContext *avctx = fs->parent;
    VmafTinyContext *s = avctx->priv;
    AVFrame *dist, *ref, *pair[2];
    char value[32];
    int ret;

    if ((ret = ff_framesync_dualinput_get(fs, &dist, &ref)) < 0)
        return ret;
    if (avctx->is_disabled || !ref)
        return ff_filter_frame(avctx->outputs[0], dist);

    pair[0] = dist;
    pair[1] = ref;
    ret = ff_vmaf_model_run_window(&s->dnnctx, pair, 2, dist, 0, dist->width, dist->height);
    if (s->error < 0) {
        ret = s->error;
        s->error = 0;
    }
    if (ret >= 0) {
        snprintf(value, sizeof(value), "%.6f", s->score);
        ret = av_dict_set(&dist->metadata, "lavfi.vmaf_tiny.score", value, 0);
    }
    if (ret >= 0)
        ret = ff_vmaf_scores_add(&s->scores, s->score);
    if (ret < 0) {
        av_frame_free(&dist);
        return ret;
    }
    return ff_filter_frame(avctx->outputs[0], dist);
}

static av_cold int init(AVFilterContext *avctx)
{
    VmafTinyContext *s = avctx->priv;

    s->fs.on_event = score_pair;
    return ff_vmaf_model_open(avctx, &s->dnnctx, s->model, s->registry, "fr_pixel", s->device,
                              post_proc);
}

static int config_input_ref(AVFilterLink *inlink)
{
    AVFilterContext *avctx = inlink->dst;
    VmafTinyContext *s = avctx->priv;
    AVFilterLink *dist = avctx->inputs[0];
    DNNData input;
    int ret;

    if (dist->w != inlink->w || dist->h != inlink->h || dist->format != inlink->format) {
        av_log(avctx, AV_LOG_ERROR, "distorted %dx%d %s and reference %dx%d %s differ; "
               "scale and convert one to the other first\n",
               dist->w, dist->h, av_get_pix_fmt_name(dist->format),
               inlink->w, inlink->h, av_get_pix_fmt_name(inlink->format));
        return AVERROR(EINVAL);
    }
    if ((ret = ff_dnn_get_input(&s->dnnctx, &input)) < 0)
        return ret;
    if (input.dt != DNN_FLOAT || input.dims[1] != 2) {
        av_log(avctx, AV_LOG_ERROR, "the model takes %d channel(s); a full-reference model "
               "takes the distorted and reference luma planes as floats [1,2,H,W]\n",
               input.dims[1]);
        return AVERROR(EINVAL);
    }
    if ((input.dims[2] != -1 && input.dims[2] != inlink->h) ||
        (input.dims[3] != -1 && input.dims[3] != inlink->w)) {
        av_log(avctx, AV_LOG_ERROR, "the model takes %dx%d frames but the inputs are %dx%d; "
               "scale first or use a model with dynamic height and width\n",
               input.dims[3], input.dims[2], inlink->w, inlink->h);
        return AVERROR(EINVAL);
    }
    return 0;
}

static int config_output(AVFilterLink *outlink)
{
    AVFilterContext *avctx = outlink->src;
    VmafTinyContext *s = avctx->priv;
    AVFilterLink *mainlink = avctx->inputs[0];
    FilterLink *il = ff_filter_link(mainlink);
    FilterLink *ol = ff_filter_link(outlink);
    int ret;

    if ((ret = ff_framesync_init_dualinput(&s->fs, avctx)) < 0)
        return ret;
    outlink->w = mainlink->w;
    outlink->h = mainlink->h;
    outlink->time_base = mainlink->time_base;
    outlink->sample_aspect_ratio = mainlink->sample_aspect_ratio;
    ol->frame_rate = il->frame_rate;
    return ff_framesync_configure(&s->fs);
}

static int activate(AVFilterContext *avctx)
{
    VmafTinyContext *s = avctx->priv;

    return ff_framesync_activate(&s->fs);
}

static av_cold void uninit(AVFilterContext *avctx)
{
    VmafTinyContext *s = avctx->priv;

    ff_framesync_uninit(&s->fs);
    if (s->scores.nb)
        ff_vmaf_scores_summarize(avctx, &s->scores, "vmaf_tiny", s->model, s->log);
    ff_vmaf_scores_free(&s->scores);
    ff_dnn_uninit(&s->dnnctx);
    if (s->dnnctx.clazz)
        av_opt_free(&s->dnnctx);
}

static const AVFilterPad vmaf_tiny_inputs[] = {
    {
        .name         = "main",
        .type         = AVMEDIA_TYPE_VIDEO,
    },
    {
        .name         = "reference",
        .type         = AVMEDIA_TYPE_VIDEO,
        .config_props = config_input_ref,
    },
};

static const AVFilterPad vmaf_tiny_outputs[] = {
    {
        .name         = "default",
        .type         = AVMEDIA_TYPE_VIDEO,
        .config_props = config_output,
    },
};

const FFFilter ff_vf_vmaf_tiny = {
    .p.name        = "vmaf_tiny",
    .p.description = NULL_IF_CONFIG_SMALL("Score distorted against reference frames with a tiny full-reference VMAF model (ONNX)."),
    .p.priv_class  = &vmaf_tiny_class,
    .p.flags       = AVFILTER_FLAG_METADATA_ONLY,
    .preinit       = vmaf_tiny_framesync_preinit,
    .priv_size     = sizeof(VmafTinyContext),
    .init          = init,
    .uninit        = uninit,
    .activate      = activate,
    FILTER_INPUTS(vmaf_tiny_inputs),
    FILTER_OUTPUTS(vmaf_tiny_outputs),
    FILTER_PIXFMTS_ARRAY(ff_vmaf_model_pix_fmts),
};
