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
 * Resolve registry ids to model files and check them (size, sha256) before
 * ONNX Runtime reads a byte; load them through the DNN module's onnx backend.
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <onnxruntime_c_api.h>

#include "libavutil/avstring.h"
#include "libavutil/bprint.h"
#include "libavutil/common.h"
#include "libavutil/error.h"
#include "libavutil/log.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavutil/pixdesc.h"
#include "libavutil/sha.h"

#include "config.h"
#include "dnn_filter_common.h"
#include "vmaf_model.h"

#define FIELD_MAX 512

typedef struct JsonCursor {
    const char *p, *end;
} JsonCursor;

typedef struct RegistryRow {
    char id[FIELD_MAX];
    char file[FIELD_MAX];
    char sha256[FIELD_MAX];
    char kind[FIELD_MAX];
    int64_t bytes;
} RegistryRow;

static void json_ws(JsonCursor *c)
{
    while (c->p < c->end && strchr(" \t\r\n", *c->p))
        c->p++;
}

static int json_expect(JsonCursor *c, char ch)
{
    json_ws(c);
    if (c->p >= c->end || *c->p != ch)
        return AVERROR_INVALIDDATA;
    c->p++;
    return 0;
}

/* Reads a string into out (NUL-terminated, truncation is an error); out may be NULL. */
static int json_string(JsonCursor *c, char *out, size_t size)
{
    size_t n = 0;

    if (json_expect(c, '"') < 0)
        return AVERROR_INVALIDDATA;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p >= c->end)
                return AVERROR_INVALIDDATA;
            ch = *c->p++;
            switch (ch) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u':
                /* Ids, names and hashes are ASCII: keep \u escapes out of them. */
                if (c->end - c->p < 4)
                    return AVERROR_INVALIDDATA;
                c->p += 4;
                ch = '?';
                break;
            case '"': case '\\': case '/':
                break;
            default:
                return AVERROR_INVALIDDATA;
            }
        }
        if (out) {
            if (n + 1 >= size)
                return AVERROR_INVALIDDATA;
            out[n++] = ch;
        }
    }
    if (c->p >= c->end)
        return AVERROR_INVALIDDATA;
    c->p++;
    if (out)
        out[n] = 0;
    return 0;
}

static int json_skip(JsonCursor *c, int depth)
{
    int ret;

    if (depth > 32)
        return AVERROR_INVALIDDATA;
    json_ws(c);
    if (c->p >= c->end)
        return AVERROR_INVALIDDATA;
    switch (*c->p) {
    case '"':
        return json_string(c, NULL, 0);
    case '{':
    case '[': {
        char close = *c->p == '{' ? '}' : ']';
        int object = close == '}';
        c->p++;
        json_ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 0;
        }
        for (;;) {
            if (object) {
                if ((ret = json_string(c, NULL, 0)) < 0 || (ret = json_expect(c, ':')) < 0)
                    return ret;
            }
            if ((ret = json_skip(c, depth + 1)) < 0)
                return ret;
            json_ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                continue;
            }
            return json_expect(c, close);
        }
    }
    default:
        /* numbers, true, false, null */
        if (!strchr("-0123456789tfn", *c->p))
            return AVERROR_INVALIDDATA;
        while (c->p < c->end && !strchr(",}] \t\r\n", *c->p))
            c->p++;
        return 0;
    }
}

static int json_int(JsonCursor *c, int64_t *v)
{
    const char *start;
    char buf[32];
    char *tail;

    json_ws(c);
    start = c->p;
    while (c->p < c->end && strchr("-0123456789", *c->p))
        c->p++;
    if (c->p == start || c->p - start >= sizeof(buf))
        return AVERROR_INVALIDDATA;
    memcpy(buf, start, c->p - start);
    buf[c->p - start] = 0;
    *v = strtoll(buf, &tail, 10);
    return *tail ? AVERROR_INVALIDDATA : 0;
}

static int registry_row(JsonCursor *c, RegistryRow *row)
{
    char key[FIELD_MAX];
    int ret;

    memset(row, 0, sizeof(*row));
    row->bytes = -1;
    if ((ret = json_expect(c, '{')) < 0)
        return ret;
    json_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        if ((ret = json_string(c, key, sizeof(key))) < 0 || (ret = json_expect(c, ':')) < 0)
            return ret;
        if (!strcmp(key, "id"))
            ret = json_string(c, row->id, sizeof(row->id));
        else if (!strcmp(key, "file"))
            ret = json_string(c, row->file, sizeof(row->file));
        else if (!strcmp(key, "sha256"))
            ret = json_string(c, row->sha256, sizeof(row->sha256));
        else if (!strcmp(key, "kind"))
            ret = json_string(c, row->kind, sizeof(row->kind));
        else if (!strcmp(key, "bytes"))
            ret = json_int(c, &row->bytes);
        else
            ret = json_skip(c, 1);
        if (ret < 0)
            return ret;
        json_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        return json_expect(c, '}');
    }
}

/* Finds the row whose id is name in the registry's "models" array; 1 found, 0 not. */
static int registry_find(JsonCursor *c, const char *name, RegistryRow *row, AVBPrint *known)
{
    char key[FIELD_MAX];
    int ret, found = 0;

    if ((ret = json_expect(c, '{')) < 0)
        return ret;
    for (;;) {
        if ((ret = json_string(c, key, sizeof(key))) < 0 || (ret = json_expect(c, ':')) < 0)
            return ret;
        if (!strcmp(key, "models")) {
            if ((ret = json_expect(c, '[')) < 0)
                return ret;
            json_ws(c);
            if (c->p < c->end && *c->p == ']') {
                c->p++;
            } else {
                for (;;) {
                    RegistryRow r;
                    if ((ret = registry_row(c, &r)) < 0)
                        return ret;
                    av_bprintf(known, "%s%s", known->len ? ", " : "", r.id);
                    if (!found && !strcmp(r.id, name)) {
                        *row = r;
                        found = 1;
                    }
                    json_ws(c);
                    if (c->p < c->end && *c->p == ',') {
                        c->p++;
                        continue;
                    }
                    if ((ret = json_expect(c, ']')) < 0)
                        return ret;
                    break;
                }
            }
        } else if ((ret = json_skip(c, 1)) < 0) {
            return ret;
        }
        json_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if ((ret = json_expect(c, '}')) < 0)
            return ret;
        return found;
    }
}

static char *registry_path(const char *registry)
{
    const char *dir = registry;
    size_t len;

    if (!dir || !*dir)
        dir = getenv("VMAFTUNE_MODELS");
    if (!dir || !*dir)
        return av_asprintf("%s/vmaftune/registry.json", FFMPEG_DATADIR);
    len = strlen(dir);
    if (len >= 5 && !strcmp(dir + len - 5, ".json"))
        return av_strdup(dir);
    return av_asprintf("%s/registry.json", dir);
}

static int read_file(void *log_ctx, const char *path, const char *what,
                     int64_t max_bytes, AVBPrint *out, int64_t *bytes,
                     uint8_t digest[32])
{
    uint8_t buf[65536];
    struct AVSHA *sha = NULL;
    FILE *f;
    size_t n;
    int64_t size;
    int ret = 0;

    f = fopen(path, "rb");
    if (!f) {
        ret = AVERROR(errno);
        av_log(log_ctx, AV_LOG_ERROR, "cannot open %s '%s': %s\n", what, path, av_err2str(ret));
        return ret;
    }
    if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
        ret = AVERROR(errno);
        av_log(log_ctx, AV_LOG_ERROR, "cannot read %s '%s': %s\n", what, path, av_err2str(ret));
        goto end;
    }
    if (size > max_bytes) {
        av_log(log_ctx, AV_LOG_ERROR, "%s '%s' is %"PRId64" bytes; the limit is %"PRId64"\n",
               what, path, size, max_bytes);
        ret = AVERROR(EFBIG);
        goto end;
    }
    if (digest) {
        if (!(sha = av_sha_alloc())) {
            ret = AVERROR(ENOMEM);
            goto end;
        }
        av_sha_init(sha, 256);
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (sha)
            av_sha_update(sha, buf, n);
        if (out)
            av_bprint_append_data(out, buf, n);
    }
    if (ferror(f)) {
        ret = AVERROR(EIO);
        av_log(log_ctx, AV_LOG_ERROR, "cannot read %s '%s'\n", what, path);
        goto end;
    }
    if (out && !av_bprint_is_complete(out)) {
        ret = AVERROR(ENOMEM);
        goto end;
    }
    if (sha)
        av_sha_final(sha, digest);
    *bytes = size;
end:
    av_free(sha);
    fclose(f);
    return ret;
}

static int is_path(const char *name)
{
    size_t len = strlen(name);
    return strchr(name, '/') || (len >= 5 && !av_strcasecmp(name + len - 5, ".onnx"));
}

int ff_vmaf_model_resolve(void *log_ctx, const char *name, const char *registry,
                          const char *kind, char **path)
{
    AVBPrint json, known;
    RegistryRow row;
    JsonCursor cur;
    uint8_t digest[32];
    char hex[65];
    char *reg = NULL, *file = NULL, *slash;
    int64_t bytes;
    int ret;

    *path = NULL;
    if (!name || !*name) {
        av_log(log_ctx, AV_LOG_ERROR, "no model given: set model=ID (a registry id) or model=FILE.onnx\n");
        return AVERROR(EINVAL);
    }
    if (is_path(name)) {
        if ((ret = read_file(log_ctx, name, "model", VMAF_MODEL_MAX_BYTES, NULL, &bytes, NULL)) < 0)
            return ret;
        return (*path = av_strdup(name)) ? 0 : AVERROR(ENOMEM);
    }

    av_bprint_init(&json, 0, AV_BPRINT_SIZE_UNLIMITED);
    av_bprint_init(&known, 0, AV_BPRINT_SIZE_AUTOMATIC);
    if (!(reg = registry_path(registry))) {
        ret = AVERROR(ENOMEM);
        goto end;
    }
    if ((ret = read_file(log_ctx, reg, "model registry", 16 << 20, &json, &bytes, NULL)) < 0)
        goto end;
    cur.p   = json.str;
    cur.end = json.str + json.len;
    ret = registry_find(&cur, name, &row, &known);
    if (ret < 0) {
        av_log(log_ctx, AV_LOG_ERROR, "model registry '%s' is not valid JSON of the registry schema\n", reg);
        ret = AVERROR_INVALIDDATA;
        goto end;
    }
    if (!ret) {
        av_log(log_ctx, AV_LOG_ERROR, "model '%s' is not in the registry '%s' (known: %s)\n",
               name, reg, known.len ? known.str : "none");
        ret = AVERROR(ENOENT);
        goto end;
    }
    if (kind && strcmp(row.kind, kind)) {
        av_log(log_ctx, AV_LOG_ERROR, "model '%s' is a %s model; this filter runs %s models\n",
               name, row.kind[0] ? row.kind : "untyped", kind);
        ret = AVERROR(EINVAL);
        goto end;
    }
    /* The registry names files beside itself: refuse anything that climbs out. */
    if (!row.file[0] || strchr(row.file, '/') || row.file[0] == '.' ||
        strlen(row.sha256) != 64 || row.bytes < 0) {
        av_log(log_ctx, AV_LOG_ERROR, "registry row '%s' in '%s' lacks a plain file, a sha256 or bytes\n",
               name, reg);
        ret = AVERROR_INVALIDDATA;
        goto end;
    }
    if ((slash = strrchr(reg, '/')))
        slash[1] = 0;
    else
        reg[0] = 0;
    if (!(file = av_asprintf("%s%s", reg, row.file))) {
        ret = AVERROR(ENOMEM);
        goto end;
    }
    if ((ret = read_file(log_ctx, file, "model", VMAF_MODEL_MAX_BYTES, NULL, &bytes, digest)) < 0)
        goto end;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    if (bytes != row.bytes || av_strcasecmp(hex, row.sha256)) {
        av_log(log_ctx, AV_LOG_ERROR, "model '%s' (%s) does not match the registry: "
               "sha256 %s, %"PRId64" bytes; expected %s, %"PRId64" bytes\n",
               name, file, hex, bytes, row.sha256, row.bytes);
        ret = AVERROR_INVALIDDATA;
        goto end;
    }
    *path = file;
    file = NULL;
    ret = 0;
end:
    av_free(file);
    av_free(reg);
    av_bprint_finalize(&json, NULL);
    av_bprint_finalize(&known, NULL);
    return ret;
}

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

int ff_vmaf_scores_add(VmafScores *s, double score)
{
    double *v = av_fast_realloc(s->v, &s->size, (s->nb + 1) * sizeof(*v));

    if (!v)
        return AVERROR(ENOMEM);
    s->v = v;
    s->v[s->nb++] = score;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
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
