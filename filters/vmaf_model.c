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

/**
 * @file
 * Load checked models (vmaf_registry.c resolves them) through the DNN module's
 * onnx backend, move planes in and out of it, and pool per-frame scores.
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <onnxruntime_c_api.h>

#include "libavutil/avstring.h"
#include "libavutil/common.h"
#include "libavutil/error.h"
#include "libavutil/log.h"
#include "libavutil/mathematics.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavutil/pixdesc.h"

#include "config.h"
#include "dnn_filter_common.h"
#include "vmaf_model.h"

/*
 * Whether ONNX Runtime offers the CUDA execution provider. FFmpeg 9.0's ONNX
 * backend takes device=cuda as a preference: when CUDA cannot be enabled it logs
 * a warning and runs on the CPU, and it does not tell its caller. The filters
 * promise that device=cuda fails rather than silently running elsewhere, and
 * that device=auto says where it runs, so they ask for the provider list here;
 * the model itself is loaded and run only through the DNN module.
 */
static int cuda_offered(void *log_ctx)
{
    const OrtApi *ort = OrtGetApiBase()->GetApi(ORT_API_VERSION);
    char **providers = NULL;
    int nb = 0, found = 0;
    OrtStatus *status;

    if (!ort)
        return 0;
    status = ort->GetAvailableProviders(&providers, &nb);
    if (status) {
        av_log(log_ctx, AV_LOG_WARNING, "cannot list ONNX Runtime providers: %s\n",
               ort->GetErrorMessage(status));
        ort->ReleaseStatus(status);
        return 0;
    }
    for (int i = 0; i < nb; i++)
        found |= !strcmp(providers[i], "CUDAExecutionProvider");
    status = ort->ReleaseAvailableProviders(providers, nb);
    if (status)
        ort->ReleaseStatus(status);
    return found;
}

int ff_vmaf_model_load(AVFilterContext *avctx, DnnContext *dnnctx, const char *path,
                       enum VmafModelDevice device)
{
    int cuda = device != VMAF_DEVICE_CPU && cuda_offered(avctx);

    if (device == VMAF_DEVICE_CUDA && !cuda) {
        av_log(avctx, AV_LOG_ERROR, "device=cuda: this ONNX Runtime offers no CUDA "
               "execution provider (install onnxruntime-gpu, or use device=cpu|auto)\n");
        return AVERROR(ENOSYS);
    }
    /* The filters keep model= and device= as their own options (registry ids,
     * checked sha256, a strict device), so the DNN context is not exposed as an
     * option child (AVFILTER_DNN_DEFINE_CLASS): av_opt_find2() searches children
     * first, and the DNN module's own "model" and "device" would take the values.
     * Its classes and defaults are set the way ff_dnn_filter_init_child_class()
     * sets them; then the values the filter resolved. */
    ff_dnn_init_child_class(dnnctx);
    dnnctx->backend_type   = DNN_ONNX;
    dnnctx->async          = 0;
    dnnctx->model_filename = av_strdup(path);
    dnnctx->device         = av_strdup(cuda ? "cuda" : "cpu");
    if (!dnnctx->model_filename || !dnnctx->device)
        return AVERROR(ENOMEM);
    return ff_dnn_init(dnnctx, DFT_PROCESS_FRAME, avctx);
}

const enum AVPixelFormat ff_vmaf_model_pix_fmts[] = {
    AV_PIX_FMT_GRAY8,     AV_PIX_FMT_GRAY10,
    AV_PIX_FMT_YUV420P,   AV_PIX_FMT_YUV422P,   AV_PIX_FMT_YUV444P,
    AV_PIX_FMT_YUVJ420P,  AV_PIX_FMT_YUVJ422P,  AV_PIX_FMT_YUVJ444P,
    AV_PIX_FMT_YUV420P10, AV_PIX_FMT_YUV422P10, AV_PIX_FMT_YUV444P10,
    AV_PIX_FMT_NONE
};

int ff_vmaf_model_open(AVFilterContext *avctx, DnnContext *dnnctx, const char *name,
                       const char *registry, const char *kind, enum VmafModelDevice device,
                       FramePrePostProc post_proc)
{
    char *path;
    int ret;

    if ((ret = ff_vmaf_model_resolve(avctx, name, registry, kind, &path)) < 0)
        return ret;
    ret = ff_vmaf_model_load(avctx, dnnctx, path, device);
    av_free(path);
    if (ret < 0)
        return ret;
    return ff_dnn_set_frame_proc(dnnctx, ff_vmaf_model_plane_to_float, post_proc);
}

int ff_vmaf_model_plane_to_float(AVFrame *plane, DNNData *input, AVFilterContext *avctx)
{
    const int depth = av_pix_fmt_desc_get(plane->format)->comp[0].depth;
    const float scale = 1.0f / ((1 << depth) - 1);
    float *dst = input->data;

    /* Channel c of the input tensor is the view's data[c]: one plane, or a window. */
    for (int c = 0; c < input->dims[1]; c++) {
        for (int y = 0; y < plane->height; y++) {
            if (depth > 8) {
                const uint16_t *src = (const uint16_t *)(plane->data[c] + y * plane->linesize[c]);
                for (int x = 0; x < plane->width; x++)
                    *dst++ = src[x] * scale;
            } else {
                const uint8_t *src = plane->data[c] + y * plane->linesize[c];
                for (int x = 0; x < plane->width; x++)
                    *dst++ = src[x] * scale;
            }
        }
    }
    return 0;
}

int ff_vmaf_model_run_window(DnnContext *dnnctx, AVFrame *const *window, int nb,
                             AVFrame *dst, int p, int w, int h)
{
    AVFrame *in, *out, *done_in = NULL, *done_out = NULL;

    if (nb < 1 || nb > AV_NUM_DATA_POINTERS)
        return AVERROR(EINVAL);
    in  = av_frame_alloc();
    out = av_frame_alloc();
    if (!in || !out) {
        av_frame_free(&in);
        av_frame_free(&out);
        return AVERROR(ENOMEM);
    }
    in->format  = out->format = dst->format;
    in->width   = out->width  = w;
    in->height  = out->height = h;
    for (int i = 0; i < nb; i++) {
        in->data[i]     = window[i]->data[p];
        in->linesize[i] = window[i]->linesize[p];
    }
    out->data[0]     = dst->data[p];
    out->linesize[0] = dst->linesize[p];
    /* On failure the backend keeps the views in its task queue and frees them at uninit. */
    if (ff_dnn_execute_model(dnnctx, in, out) != 0)
        return AVERROR_EXTERNAL;
    if (ff_dnn_get_result(dnnctx, &done_in, &done_out) != DAST_SUCCESS)
        return AVERROR_BUG;
    av_frame_free(&done_in);
    av_frame_free(&done_out);
    return 0;
}

int ff_vmaf_model_run_plane(DnnContext *dnnctx, AVFrame *frame, int p, int w, int h)
{
    return ff_vmaf_model_run_window(dnnctx, &frame, 1, frame, p, w, h);
}

int ff_vmaf_model_write_plane(AVFilterContext *avctx, AVFrame *plane, const DNNData *output,
                              int depth, float strength, enum VmafModelBlend blend,
                              const char *what)
{
    const int maxv = (1 << depth) - 1;
    const float scale = 1.0f / maxv;
    const int mix = blend == VMAF_BLEND_ALWAYS || strength < 1.0f;
    const float *src = output->data;

    if (output->dims[0] != 1 || output->dims[1] != 1 ||
        output->dims[2] != plane->height || output->dims[3] != plane->width) {
        av_log(avctx, AV_LOG_ERROR, "the model returned [%d,%d,%d,%d] for a %dx%d plane; "
               "a %s must return [1,1,H,W]\n", output->dims[0], output->dims[1],
               output->dims[2], output->dims[3], plane->width, plane->height, what);
        return AVERROR(EINVAL);
    }
    for (int y = 0; y < plane->height; y++) {
        uint8_t  *row8  = plane->data[0] + y * plane->linesize[0];
        uint16_t *row16 = (uint16_t *)row8;
        for (int x = 0; x < plane->width; x++) {
            float v = *src++;
            if (mix) {
                float o = (depth > 8 ? row16[x] : row8[x]) * scale;
                v = o + strength * (v - o);
            }
            if (depth > 8)
                row16[x] = av_clip(lrintf(v * maxv), 0, maxv);
            else
                row8[x] = av_clip_uint8(lrintf(v * maxv));
        }
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int ff_vmaf_noise_sigma(const uint8_t *data, ptrdiff_t linesize, int w, int h, int depth,
                        double *sigma)
{
    /* Mean |response| of white noise of deviation 1 is 6 * sqrt(2/pi); the quietest
     * quarter of the blocks reads 0.902 of it (vmaftune/zoo/noise.py). */
    const double scale = sqrt(M_PI / 2) / 6 / 0.902;
    const int rows = (h - 2) / 16, cols = (w - 2) / 16;
    int n, quiet;
    double *mean;

    *sigma = 0.0;
    if (w < 18 || h < 18)
        return 0;
    n = rows * cols;
    mean = av_malloc_array(n, sizeof(*mean));
    if (!mean)
        return AVERROR(ENOMEM);
    for (int by = 0; by < rows; by++) {
        for (int bx = 0; bx < cols; bx++) {
            int64_t sum = 0;
            for (int y = by * 16; y < by * 16 + 16; y++) {
                for (int x = bx * 16; x < bx * 16 + 16; x++) {
                    int v[3][3];
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 3; j++)
                            v[i][j] = depth > 8
                                ? ((const uint16_t *)(data + (y + i) * linesize))[x + j]
                                : data[(y + i) * linesize + x + j];
                    sum += FFABS(v[0][0] - 2 * v[0][1] + v[0][2]
                                 - 2 * v[1][0] + 4 * v[1][1] - 2 * v[1][2]
                                 + v[2][0] - 2 * v[2][1] + v[2][2]);
                }
            }
            mean[by * cols + bx] = sum / 256.0;
        }
    }
    qsort(mean, n, sizeof(*mean), cmp_double);
    quiet = FFMAX(1, n / 4);
    *sigma = (quiet & 1 ? mean[quiet / 2] : (mean[quiet / 2 - 1] + mean[quiet / 2]) / 2)
             * scale / (1 << (depth - 8));
    av_free(mean);
    return 0;
}

int ff_vmaf_pre_auto_strength(AVFilterContext *avctx, const AVFrame *frame, AVFrame *dst,
                              int depth, float gate, float full, float ceiling,
                              float *strength)
{
    char key[64], value[32];
    double sigma, ramp;
    int ret = ff_vmaf_noise_sigma(frame->data[0], frame->linesize[0], frame->width,
                                  frame->height, depth, &sigma);

    if (ret < 0)
        return ret;
    if (sigma < gate) {
        *strength = 0.0f;
    } else {
        ramp = full > gate ? (sigma - gate) / ((double)full - gate) : 1.0;
        *strength = ceiling * FFMIN(ramp, 1.0);
    }
    snprintf(key, sizeof(key), "lavfi.%s.noise", avctx->filter->name);
    snprintf(value, sizeof(value), "%.4f", sigma);
    if ((ret = av_dict_set(&dst->metadata, key, value, 0)) < 0)
        return ret;
    snprintf(key, sizeof(key), "lavfi.%s.strength", avctx->filter->name);
    snprintf(value, sizeof(value), "%.4f", *strength);
    return av_dict_set(&dst->metadata, key, value, 0);
}

int ff_vmaf_scores_add(VmafScores *s, double score)
{
    double *v = av_fast_realloc(s->v, &s->size, (s->nb + 1) * sizeof(*v));

    if (!v)
        return AVERROR(ENOMEM);
    s->v = v;
    s->v[s->nb++] = score;
    return 0;
}

static void put_json_string(FILE *f, const char *str)
{
    fputc('"', f);
    for (const char *c = str; *c; c++) {
        if (*c == '"' || *c == '\\')
            fputc('\\', f);
        if ((unsigned char)*c >= 0x20)
            fputc(*c, f);
    }
    fputc('"', f);
}

int ff_vmaf_scores_summarize(void *log_ctx, VmafScores *s, const char *filter,
                             const char *model, const char *log_path)
{
    double mean = 0, p5, pos;
    char *tmp = NULL;
    FILE *f;
    int lo, ret = 0;

    if (!s->nb) {
        av_log(log_ctx, AV_LOG_WARNING, "no frames were scored\n");
        return 0;
    }
    for (unsigned i = 0; i < s->nb; i++)
        mean += s->v[i];
    mean /= s->nb;
    qsort(s->v, s->nb, sizeof(*s->v), cmp_double);
    pos = 0.05 * (s->nb - 1);
    lo  = (int)pos;
    p5  = s->v[lo];
    if (lo + 1 < s->nb)
        p5 += (pos - lo) * (s->v[lo + 1] - s->v[lo]);
    av_log(log_ctx, AV_LOG_INFO, "frames: %u mean: %f min: %f p5: %f\n",
           s->nb, mean, s->v[0], p5);

    if (!log_path)
        return 0;
    if (!(tmp = av_asprintf("%s.partial", log_path)))
        return AVERROR(ENOMEM);
    if (!(f = fopen(tmp, "w"))) {
        ret = AVERROR(errno);
        av_log(log_ctx, AV_LOG_ERROR, "cannot write '%s': %s\n", tmp, av_err2str(ret));
        goto end;
    }
    fputs("{\"filter\": ", f);
    put_json_string(f, filter);
    fputs(", \"model\": ", f);
    put_json_string(f, model);
    fprintf(f, ", \"frames\": %u, \"mean\": %.6f, \"min\": %.6f, \"p5\": %.6f}\n",
            s->nb, mean, s->v[0], p5);
    if (fclose(f) != 0 || rename(tmp, log_path) != 0) {
        ret = AVERROR(errno);
        av_log(log_ctx, AV_LOG_ERROR, "cannot write '%s': %s\n", log_path, av_err2str(ret));
        remove(tmp);
    }
end:
    av_free(tmp);
    return ret;
}

void ff_vmaf_scores_free(VmafScores *s)
{
    av_freep(&s->v);
    s->nb = s->size = 0;
}
