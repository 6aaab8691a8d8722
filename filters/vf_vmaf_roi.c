/*
 * Saliency from an ONNX model as region-of-interest side data for encoders
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
 * vmaf_roi: a saliency model sees each frame's luma and the previous frame's
 * ([1,2,H,W] floats in [0,1]) and returns one value per 16x16 block
 * ([1,1,ceil(H/16),ceil(W/16)]). The map is smoothed over time, turned into
 * levels -3..3 around the frame's mean, and the blocks of equal non-zero level
 * become AVRegionOfInterest rectangles (salient: negative qoffset, more bits),
 * which libx264, libx265, qsv and vaapi encoders apply. vmaftune's Python
 * side (vmaftune/steps/roi.py) computes the same maps.
 */

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "libavutil/avassert.h"
#include "libavutil/bprint.h"
#include "libavutil/dict.h"
#include "libavutil/frame.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"

#include "avfilter.h"
#include "dnn_filter_common.h"
#include "filters.h"
#include "video.h"
#include "vmaf_model.h"

#define ROI_BLOCK    16
#define ROI_LEVELS   3
#define ROI_QMAX     0.2
#define ROI_FLAT     1e-3
#define ROI_SPREAD   2.0

typedef struct RoiRun {
    int x0, x1, level, region;
} RoiRun;

typedef struct VmafRoiContext {
    const AVClass *class;
    DnnContext dnnctx;

    char *model;
    char *registry;
    int device;
    double strength;
    float smooth;
    int max_regions;

    int cols, rows;
    float *map;         /* the model's output for the current frame */
    float *state;       /* the smoothed map */
    int8_t *levels;
    int have_state;
    AVFrame *prev;
    AVRegionOfInterest *regions;
    RoiRun *runs;       /* this row's and the previous row's runs */
    int *order;
    int error;

    int64_t frames;
    double sum_abs_qp;
    int64_t sum_regions;
} VmafRoiContext;

#define OFFSET(x) offsetof(VmafRoiContext, x)
#define FLAGS AV_OPT_FLAG_FILTERING_PARAM | AV_OPT_FLAG_VIDEO_PARAM
static const AVOption vmaf_roi_options[] = {
    VMAF_MODEL_OPTIONS(VmafRoiContext, "saliency"),
    { "strength",    "how far offsets reach: 1 gives up to 10 QP (x264/x265)", OFFSET(strength),    AV_OPT_TYPE_DOUBLE, { .dbl = 0.5 }, 0.0, 1.0,   FLAGS },
    { "smooth",      "share of the previous frames' map each frame keeps",     OFFSET(smooth),      AV_OPT_TYPE_FLOAT,  { .dbl = 0.5 }, 0.0, 0.999, FLAGS },
    { "max_regions", "most rectangles per frame (the strongest are kept)",     OFFSET(max_regions), AV_OPT_TYPE_INT,    { .i64 = 256 }, 1,   65536, FLAGS },
    { NULL }
};

AVFILTER_DEFINE_CLASS(vmaf_roi);

static int post_proc(AVFrame *out, DNNData *output, AVFilterContext *avctx)
{
    VmafRoiContext *s = avctx->priv;
    const float *src = output->data;

    if (output->dims[0] != 1 || output->dims[1] != 1 ||
        output->dims[2] != s->rows || output->dims[3] != s->cols) {
        av_log(avctx, AV_LOG_ERROR, "the model returned [%d,%d,%d,%d]; a saliency model "
               "must return one value per 16x16 block, [1,1,%d,%d] here\n",
               output->dims[0], output->dims[1], output->dims[2], output->dims[3],
               s->rows, s->cols);
        s->error = AVERROR(EINVAL);
        return s->error;
    }
    for (int i = 0; i < s->rows * s->cols; i++) {
        if (!(src[i] >= -0.01f && src[i] <= 1.01f)) {
            av_log(avctx, AV_LOG_ERROR, "the model returned %g, outside a saliency "
                   "model's range [0, 1]\n", src[i]);
            s->error = AVERROR(EINVAL);
            return s->error;
        }
        s->map[i] = src[i];
    }
    return 0;
}

static av_cold int init(AVFilterContext *avctx)
{
    VmafRoiContext *s = avctx->priv;

    return ff_vmaf_model_open(avctx, &s->dnnctx, s->model, s->registry, "saliency", s->device,
                              post_proc);
}

static int config_input(AVFilterLink *inlink)
{
    AVFilterContext *avctx = inlink->dst;
    VmafRoiContext *s = avctx->priv;
    DNNData input;
    int n, ret;

    if ((ret = ff_dnn_get_input(&s->dnnctx, &input)) < 0)
        return ret;
    if (input.dt != DNN_FLOAT || input.dims[1] != 2) {
        av_log(avctx, AV_LOG_ERROR, "the model takes %d channel(s); a saliency model takes "
               "the frame's luma and the previous frame's as floats [1,2,H,W]\n", input.dims[1]);
        return AVERROR(EINVAL);
    }
    if ((input.dims[2] != -1 && input.dims[2] != inlink->h) ||
        (input.dims[3] != -1 && input.dims[3] != inlink->w)) {
        av_log(avctx, AV_LOG_ERROR, "the model takes %dx%d frames but the input is %dx%d; "
               "scale first or use a model with dynamic height and width\n",
               input.dims[3], input.dims[2], inlink->w, inlink->h);
        return AVERROR(EINVAL);
    }
    s->cols = (inlink->w + ROI_BLOCK - 1) / ROI_BLOCK;
    s->rows = (inlink->h + ROI_BLOCK - 1) / ROI_BLOCK;
    n = s->cols * s->rows;
    s->map     = av_calloc(n, sizeof(*s->map));
    s->state   = av_calloc(n, sizeof(*s->state));
    s->levels  = av_calloc(n, sizeof(*s->levels));
    s->regions = av_calloc(n, sizeof(*s->regions));
    s->order   = av_calloc(n, sizeof(*s->order));
    s->runs    = av_calloc(2 * s->cols, sizeof(*s->runs));
    if (!s->map || !s->state || !s->levels || !s->regions || !s->order || !s->runs)
        return AVERROR(ENOMEM);
    return 0;
}

/* state = smooth * state + (1 - smooth) * map; then the levels around the mean. */
static void make_levels(VmafRoiContext *s)
{
    const int n = s->rows * s->cols;
    double sum = 0, sq = 0, deviation;
    float mean, scale;

    for (int i = 0; i < n; i++) {
        s->state[i] = s->have_state ? s->smooth * s->state[i] + (1.0f - s->smooth) * s->map[i]
                                    : s->map[i];
        sum += s->state[i];
    }
    s->have_state = 1;
    mean = (float)(sum / n);
    for (int i = 0; i < n; i++) {
        float c = s->state[i] - mean;
        sq += (double)c * c;
    }
    deviation = sqrt(sq / n);
    if (deviation < ROI_FLAT) {
        memset(s->levels, 0, n);
        return;
    }
    scale = (float)(ROI_LEVELS / (ROI_SPREAD * deviation));
    for (int i = 0; i < n; i++)
        s->levels[i] = av_clip(lrintf((s->state[i] - mean) * scale), -ROI_LEVELS, ROI_LEVELS);
}

/*
 * Runs of equal non-zero level along each block row, each merged into the
 * region of an identical run (same columns, same level) in the row above.
 * Over max_regions, those of largest |level| are kept, in raster order.
 */
static int make_regions(VmafRoiContext *s, int width, int height, int num)
{
    RoiRun *prev = s->runs, *cur = s->runs + s->cols, *tmp;
    int nb_prev = 0, nb = 0;

    for (int y = 0; y < s->rows; y++) {
        const int8_t *row = s->levels + y * s->cols;
        int nb_cur = 0, p = 0;

        for (int x = 0; x < s->cols;) {
            int level = row[x], end = x + 1;

            while (end < s->cols && row[end] == level)
                end++;
            if (level) {
                RoiRun *r = &cur[nb_cur++];
                r->x0 = x;
                r->x1 = end;
                r->level = level;
                while (p < nb_prev && prev[p].x0 < x)
                    p++;
                if (p < nb_prev && prev[p].x0 == x && prev[p].x1 == end && prev[p].level == level) {
                    r->region = prev[p].region;
                    s->regions[r->region].bottom = FFMIN((y + 1) * ROI_BLOCK, height);
                } else {
                    AVRegionOfInterest *roi = &s->regions[nb];
                    roi->self_size = sizeof(*roi);
                    roi->top     = y * ROI_BLOCK;
                    roi->bottom  = FFMIN((y + 1) * ROI_BLOCK, height);
                    roi->left    = x * ROI_BLOCK;
                    roi->right   = FFMIN(end * ROI_BLOCK, width);
                    roi->qoffset = av_make_q(-level * num, ROI_LEVELS * 1000);
                    r->region = nb++;
                }
            }
            x = end;
        }
        tmp = prev;
        prev = cur;
        cur = tmp;
        nb_prev = nb_cur;
    }
    if (nb > s->max_regions) {
        int kept = 0, out = 0;

        /* The strongest levels first, earlier regions first within a level. */
        memset(s->order, 0, nb * sizeof(*s->order));
        for (int level = ROI_LEVELS; level >= 1 && kept < s->max_regions; level--)
            for (int i = 0; i < nb && kept < s->max_regions; i++)
                if (FFABS(s->regions[i].qoffset.num) == level * num) {
                    s->order[i] = 1;
                    kept++;
                }
        for (int i = 0; i < nb; i++)
            if (s->order[i])
                s->regions[out++] = s->regions[i];
        nb = out;
    }
    return nb;
}

static int set_metadata(AVFrame *frame, const char *key, const char *value)
{
    return av_dict_set(&frame->metadata, key, value, 0);
}

static int roi_frame(AVFilterContext *avctx, AVFrame *frame)
{
    VmafRoiContext *s = avctx->priv;
    AVFrame *window[2] = { frame, s->prev ? s->prev : frame };
    const int num = lrint(s->strength * ROI_QMAX * 1000);
    const int n = s->rows * s->cols;
    double qp = 0, abs_qp = 0;
    AVFrameSideData *sd;
    AVBPrint map;
    char value[32];
    int nb = 0, ret;

    ret = ff_vmaf_model_run_window(&s->dnnctx, window, 2, frame, 0, frame->width, frame->height);
    if (s->error < 0) {
        ret = s->error;
        s->error = 0;
    }
    if (ret < 0)
        return ret;
    make_levels(s);

    /* Strength 0 attaches nothing: the encode is the one without the filter. */
    av_frame_remove_side_data(frame, AV_FRAME_DATA_REGIONS_OF_INTEREST);
    if (num > 0 && (nb = make_regions(s, frame->width, frame->height, num)) > 0) {
        sd = av_frame_new_side_data(frame, AV_FRAME_DATA_REGIONS_OF_INTEREST,
                                    nb * sizeof(*s->regions));
        if (!sd)
            return AVERROR(ENOMEM);
        memcpy(sd->data, s->regions, nb * sizeof(*s->regions));
    }

    for (int i = 0; i < n; i++) {
        double q = -s->levels[i] * (double)num / (ROI_LEVELS * 1000) * 51;
        qp += q;
        abs_qp += fabs(q);
    }
    snprintf(value, sizeof(value), "%.3f", qp / n);
    if ((ret = set_metadata(frame, "lavfi.vmaf_roi.mean_qp_offset", value)) < 0)
        return ret;
    snprintf(value, sizeof(value), "%d", nb);
    if ((ret = set_metadata(frame, "lavfi.vmaf_roi.regions", value)) < 0)
        return ret;
    /* The levels, one character per block ('0'..'6' for -3..3), rows split by '/'. */
    av_bprint_init(&map, n + s->rows, AV_BPRINT_SIZE_UNLIMITED);
    for (int y = 0; y < s->rows; y++) {
        for (int x = 0; x < s->cols; x++)
            av_bprint_chars(&map, '0' + ROI_LEVELS + s->levels[y * s->cols + x], 1);
        if (y + 1 < s->rows)
            av_bprint_chars(&map, '/', 1);
    }
    if (!av_bprint_is_complete(&map)) {
        av_bprint_finalize(&map, NULL);
        return AVERROR(ENOMEM);
    }
    ret = set_metadata(frame, "lavfi.vmaf_roi.map", map.str);
    av_bprint_finalize(&map, NULL);
    if (ret < 0)
        return ret;

    s->frames++;
    s->sum_abs_qp  += abs_qp / n;
    s->sum_regions += nb;

    av_frame_free(&s->prev);
    if (!(s->prev = av_frame_clone(frame)))
        return AVERROR(ENOMEM);
    return 0;
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
        if ((ret = roi_frame(avctx, frame)) < 0) {
            av_frame_free(&frame);
            return ret;
        }
        return ff_filter_frame(outlink, frame);
    }
    FF_FILTER_FORWARD_STATUS(inlink, outlink);
    FF_FILTER_FORWARD_WANTED(outlink, inlink);

    return FFERROR_NOT_READY;
}

static av_cold void uninit(AVFilterContext *avctx)
{
    VmafRoiContext *s = avctx->priv;

    if (s->frames)
        av_log(avctx, AV_LOG_INFO, "%"PRId64" frames, mean |QP offset| %.3f, %.1f regions "
               "per frame (model %s, strength %g)\n", s->frames, s->sum_abs_qp / s->frames,
               (double)s->sum_regions / s->frames, s->model, s->strength);
    av_frame_free(&s->prev);
    av_freep(&s->map);
    av_freep(&s->state);
    av_freep(&s->levels);
    av_freep(&s->regions);
    av_freep(&s->order);
    av_freep(&s->runs);
    ff_dnn_uninit(&s->dnnctx);
    if (s->dnnctx.clazz)
        av_opt_free(&s->dnnctx);
}

static const AVFilterPad vmaf_roi_inputs[] = {
    {
        .name         = "default",
        .type         = AVMEDIA_TYPE_VIDEO,
        .config_props = config_input,
    },
};

const FFFilter ff_vf_vmaf_roi = {
    .p.name        = "vmaf_roi",
    .p.description = NULL_IF_CONFIG_SMALL("Attach region-of-interest QP offsets from a saliency model (ONNX)."),
    .p.priv_class  = &vmaf_roi_class,
    .p.flags       = AVFILTER_FLAG_METADATA_ONLY,
    .priv_size     = sizeof(VmafRoiContext),
    .init          = init,
    .uninit        = uninit,
    .activate      = activate,
    FILTER_INPUTS(vmaf_roi_inputs),
    FILTER_OUTPUTS(ff_video_default_filterpad),
    FILTER_PIXFMTS_ARRAY(ff_vmaf_model_pix_fmts),
};
