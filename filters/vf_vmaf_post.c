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
 *
 * A model with two input channels also reads what the stream says of the
 * frame: channel 1 holds the stream vector in the first samples of its first
 * row, zeros elsewhere (the DNN module binds one input tensor per model). Of
 * that vector a filter can fill only the H.264 block QPs the decoder exports
 * (-export_side_data venc_params); packet sizes do not reach filters. Which
 * inputs were used is set per frame as lavfi.vmaf_post.inputs.
 */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "libavutil/avstring.h"
#include "libavutil/dict.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavutil/video_enc_params.h"

#include "avfilter.h"
#include "dnn_filter_common.h"
#include "filters.h"
#include "video.h"
#include "vmaf_model.h"

/* vmaftune.zoo.stream.STREAM_FEATURES */
#define STREAM_FEATURES 9

typedef struct VmafPostContext {
    const AVClass *class;
    DnnContext dnnctx;

    char *model;
    char *registry;
    char *log;
    int device;

    float score;
    int error;
    int channels;
    /* has_qp, qp, qp_std, then bits and codec facts a filter never has (all 0) */
    float stream[STREAM_FEATURES];
    int told_no_qp;
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

/* The luma plane as channel 0 and, for a two-channel model, the stream plane. */
static int pre_proc(AVFrame *plane, DNNData *input, AVFilterContext *avctx)
{
    VmafPostContext *s = avctx->priv;
    const size_t area = (size_t)plane->width * plane->height;
    DNNData luma = *input;
    float *stream;
    int ret;

    luma.dims[1] = 1;
    if ((ret = ff_vmaf_model_plane_to_float(plane, &luma, avctx)) < 0 || input->dims[1] < 2)
        return ret;
    stream = (float *)input->data + area;
    memset(stream, 0, area * sizeof(*stream));
    memcpy(stream, s->stream, sizeof(s->stream));
    return 0;
}

static av_cold int init(AVFilterContext *avctx)
{
    VmafPostContext *s = avctx->priv;
    int ret = ff_vmaf_model_open(avctx, &s->dnnctx, s->model, s->registry, "nr", s->device,
                                 post_proc);

    if (ret < 0)
        return ret;
    return ff_dnn_set_frame_proc(&s->dnnctx, pre_proc, post_proc);
}

/**
 * Fill the QP part of the stream vector from the frame's H.264 encoding
 * parameters, as vmaftune.zoo.stream reads them: the mean and spread of the
 * block QPs (base QP plus each macroblock's delta). Other codecs' QPs are on
 * other scales, so they count as absent. Returns whether QPs were found.
 */
static int read_qp(VmafPostContext *s, const AVFrame *frame)
{
    const AVFrameSideData *sd = av_frame_get_side_data(frame, AV_FRAME_DATA_VIDEO_ENC_PARAMS);
    AVVideoEncParams *par;
    double sum = 0.0, sq = 0.0, mean;

    memset(s->stream, 0, sizeof(s->stream));
    if (!sd || sd->size < sizeof(*par))
        return 0;
    par = (AVVideoEncParams *)sd->data;
    if (par->type != AV_VIDEO_ENC_PARAMS_H264)
        return 0;
    if (par->nb_blocks && (par->block_size < sizeof(AVVideoBlockParams) ||
                           par->blocks_offset > sd->size ||
                           (sd->size - par->blocks_offset) / par->block_size < par->nb_blocks))
        return 0;
    if (!par->nb_blocks) {
        mean = par->qp;
    } else {
        for (unsigned i = 0; i < par->nb_blocks; i++) {
            const double qp = par->qp + av_video_enc_params_block(par, i)->delta_qp;
            sum += qp;
            sq  += qp * qp;
        }
        mean = sum / par->nb_blocks;
    }
    s->stream[0] = 1.0f;
    s->stream[1] = mean;
    s->stream[2] = par->nb_blocks ? sqrt(FFMAX(sq / par->nb_blocks - mean * mean, 0.0)) : 0.0;
    return 1;
}

static int config_input(AVFilterLink *inlink)
{
    AVFilterContext *avctx = inlink->dst;
    VmafPostContext *s = avctx->priv;
    DNNData input;
    int ret;

    if ((ret = ff_dnn_get_input(&s->dnnctx, &input)) < 0)
        return ret;
    if (input.dt != DNN_FLOAT || (input.dims[1] != 1 && input.dims[1] != 2)) {
        av_log(avctx, AV_LOG_ERROR, "the model takes %d channel(s); a no-reference model "
               "takes the luma plane as floats [1,1,H,W], or the luma and stream planes "
               "[1,2,H,W]\n", input.dims[1]);
        return AVERROR(EINVAL);
    }
    s->channels = input.dims[1];
    if (s->channels == 2 && inlink->w < STREAM_FEATURES) {
        av_log(avctx, AV_LOG_ERROR, "frames %d samples wide cannot carry the %d stream "
               "features in a row\n", inlink->w, STREAM_FEATURES);
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
    const int qp = s->channels == 2 && read_qp(s, frame);
    int ret;

    if (s->channels == 2 && !qp && !s->told_no_qp) {
        av_log(avctx, AV_LOG_INFO, "no H.264 QPs on the frames (decode with "
               "-export_side_data venc_params); scoring from the pixels alone\n");
        s->told_no_qp = 1;
    }
    ret = ff_vmaf_model_run_plane(&s->dnnctx, frame, 0, frame->width, frame->height);

    if (s->error < 0) {
        ret = s->error;
        s->error = 0;
    }
    if (ret < 0)
        return ret;

    snprintf(value, sizeof(value), "%.6f", s->score);
    if ((ret = av_dict_set(&frame->metadata, "lavfi.vmaf_post.score", value, 0)) < 0)
        return ret;
    if ((ret = av_dict_set(&frame->metadata, "lavfi.vmaf_post.inputs",
                           qp ? "pixels+qp" : "pixels", 0)) < 0)
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
