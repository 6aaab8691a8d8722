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

/**
 * @file
 * Resolve registry ids to model files and check them (place, size, sha256,
 * no external weights) before ONNX Runtime reads a byte.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libavutil/avstring.h"
#include "libavutil/bprint.h"
#include "libavutil/error.h"
#include "libavutil/log.h"
#include "libavutil/macros.h"
#include "libavutil/mem.h"
#include "libavutil/sha.h"

#include "config.h"
#include "vmaf_registry.h"

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

/* Reads a whole file of at most max_bytes into out, its sha256 into digest if asked. */
static int read_file(void *log_ctx, const char *path, const char *what,
                     int64_t max_bytes, AVBPrint *out, uint8_t digest[32])
{
    char buf[65536];
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
    /* The size is checked again as read: the file may grow after ftell(). */
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && out->len + n <= max_bytes) {
        if (sha)
            av_sha_update(sha, (const uint8_t *)buf, n);
        av_bprint_append_data(out, buf, n);
    }
    if (ferror(f) || n > 0) {
        ret = n > 0 ? AVERROR(EFBIG) : AVERROR(EIO);
        av_log(log_ctx, AV_LOG_ERROR, "cannot read %s '%s': %s\n", what, path, av_err2str(ret));
        goto end;
    }
    if (!av_bprint_is_complete(out)) {
        ret = AVERROR(ENOMEM);
        goto end;
    }
    if (sha)
        av_sha_final(sha, digest);
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

/*
 * The operators a model may use: the zoo's allowlist, the same set as
 * ALLOWED_OPS in vmaftune/zoo/registry.py (a test compares them). Small on
 * purpose: dense and convolutional layers, activations, pooling, shape glue,
 * in-graph scaling, and the two operators of static INT8 (QDQ) models.
 * Anything else (loops, custom domains, string ops) is refused before ONNX
 * Runtime parses the graph.
 */
static const char *const allowed_ops[] = {
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant",
    "Conv", "ConvTranspose", "DequantizeLinear", "Div", "Exp", "Flatten", "Gather",
    "Gemm", "GlobalAveragePool", "Identity", "LeakyRelu", "Log", "MatMul", "Max",
    "MaxPool", "Min", "Mul", "Neg", "Pad", "Pow", "QuantizeLinear", "ReduceMean",
    "ReduceSum", "Relu", "Reshape", "Resize", "Shape", "Sigmoid", "Slice", "Softplus",
    "Sqrt", "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze",
};

/* The ONNX messages that can hold tensors or nodes, and the fields that lead to them. */
enum OnnxMessage {
    ONNX_NONE,
    ONNX_MODEL,
    ONNX_GRAPH,
    ONNX_FUNCTION,
    ONNX_NODE,
    ONNX_ATTRIBUTE,
    ONNX_SPARSE_TENSOR,
    ONNX_TENSOR,
};

static const struct {
    uint8_t message, field, child;
} onnx_fields[] = {
    { ONNX_MODEL,         7, ONNX_GRAPH         }, /* graph */
    { ONNX_MODEL,        25, ONNX_FUNCTION      }, /* functions */
    { ONNX_GRAPH,         1, ONNX_NODE          }, /* node */
    { ONNX_GRAPH,         5, ONNX_TENSOR        }, /* initializer */
    { ONNX_GRAPH,        15, ONNX_SPARSE_TENSOR }, /* sparse_initializer */
    { ONNX_FUNCTION,      7, ONNX_NODE          }, /* node */
    { ONNX_NODE,          5, ONNX_ATTRIBUTE     }, /* attribute */
    { ONNX_ATTRIBUTE,     5, ONNX_TENSOR        }, /* t */
    { ONNX_ATTRIBUTE,     6, ONNX_GRAPH         }, /* g */
    { ONNX_ATTRIBUTE,    10, ONNX_TENSOR        }, /* tensors */
    { ONNX_ATTRIBUTE,    11, ONNX_GRAPH         }, /* graphs */
    { ONNX_ATTRIBUTE,    22, ONNX_SPARSE_TENSOR }, /* sparse_tensor */
    { ONNX_ATTRIBUTE,    23, ONNX_SPARSE_TENSOR }, /* sparse_tensors */
    { ONNX_SPARSE_TENSOR, 1, ONNX_TENSOR        }, /* values */
    { ONNX_SPARSE_TENSOR, 2, ONNX_TENSOR        }, /* indices */
};

#define ONNX_NODE_OP_TYPE           4
#define ONNX_NODE_DOMAIN            7
#define ONNX_TENSOR_EXTERNAL_DATA  13
#define ONNX_TENSOR_DATA_LOCATION  14
#define ONNX_DATA_LOCATION_EXTERNAL 1

static int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (*p >= end)
            return AVERROR_INVALIDDATA;
        b   = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return AVERROR_INVALIDDATA;
}

static int op_allowed(const uint8_t *domain, size_t domain_len, const uint8_t *op, size_t op_len)
{
    /* Only the default domain: "" or its alias "ai.onnx". */
    if (domain_len && (domain_len != 7 || memcmp(domain, "ai.onnx", 7)))
        return 0;
    for (int i = 0; i < FF_ARRAY_ELEMS(allowed_ops); i++)
        if (strlen(allowed_ops[i]) == op_len && !memcmp(allowed_ops[i], op, op_len))
            return 1;
    return 0;
}

/* Remember the first operator outside the allowlist, as "domain.op" or "op". */
static void note_op(OnnxScan *scan, const uint8_t *domain, size_t domain_len,
                    const uint8_t *op, size_t op_len)
{
    if (scan->bad_op[0])
        return;
    snprintf(scan->bad_op, sizeof(scan->bad_op), "%.*s%s%.*s",
             (int)FFMIN(domain_len, 64), domain, domain_len ? "." : "",
             (int)FFMIN(op_len, 64), op_len ? (const char *)op : "(no op_type)");
    for (char *c = scan->bad_op; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
}

static int onnx_scan(const uint8_t *p, const uint8_t *end, enum OnnxMessage message,
                     int depth, OnnxScan *scan)
{
    const uint8_t *op = NULL, *domain = NULL;
    size_t op_len = 0, domain_len = 0;
    int external = 0;

    /* protobuf's own parser stops at 100 levels; real graphs nest a few. */
    if (depth > 100)
        return AVERROR_INVALIDDATA;
    while (p < end) {
        uint64_t key, v;
        unsigned field;
        int ret;

        if (pb_varint(&p, end, &key) < 0 || key >> 3 == 0 || key >> 3 > UINT32_MAX >> 3)
            return AVERROR_INVALIDDATA;
        field = key >> 3;
        switch (key & 7) {
        case 0:
            if (pb_varint(&p, end, &v) < 0)
                return AVERROR_INVALIDDATA;
            if (message == ONNX_TENSOR && field == ONNX_TENSOR_DATA_LOCATION &&
                v == ONNX_DATA_LOCATION_EXTERNAL)
                external = 1;
            break;
        case 1:
        case 5: {
            size_t n = (key & 7) == 1 ? 8 : 4;
            if ((size_t)(end - p) < n)
                return AVERROR_INVALIDDATA;
            p += n;
            break;
        }
        case 2:
            if (pb_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return AVERROR_INVALIDDATA;
            if (message == ONNX_TENSOR && field == ONNX_TENSOR_EXTERNAL_DATA)
                external = 1;
            /* A repeated string field keeps its last value, as protobuf does. */
            if (message == ONNX_NODE && field == ONNX_NODE_OP_TYPE) {
                op     = p;
                op_len = v;
            } else if (message == ONNX_NODE && field == ONNX_NODE_DOMAIN) {
                domain     = p;
                domain_len = v;
            }
            for (int i = 0; i < FF_ARRAY_ELEMS(onnx_fields); i++) {
                if (onnx_fields[i].message != message || onnx_fields[i].field != field)
                    continue;
                if ((ret = onnx_scan(p, p + v, onnx_fields[i].child, depth + 1, scan)) < 0)
                    return ret;
            }
            p += v;
            break;
        default:
            /* groups (3, 4) are not used by ONNX; 6 and 7 do not exist */
            return AVERROR_INVALIDDATA;
        }
    }
    if (message == ONNX_NODE && !op_allowed(domain, domain_len, op, op_len))
        note_op(scan, domain, domain_len, op, op_len);
    scan->external += external;
    return 0;
}

int ff_vmaf_onnx_scan(const uint8_t *data, size_t size, OnnxScan *scan)
{
    scan->external  = 0;
    scan->bad_op[0] = 0;
    return onnx_scan(data, data + size, ONNX_MODEL, 0, scan);
}

/*
 * Check a model file's bytes: all weights inside, every operator allowed.
 * ONNX Runtime would read an external tensor from a path beside the model,
 * bytes no sha256 and no size cap ever saw.
 */
static int check_model(void *log_ctx, const char *name, const char *path, const AVBPrint *data)
{
    OnnxScan scan;

    if (ff_vmaf_onnx_scan((const uint8_t *)data->str, data->len, &scan) < 0) {
        av_log(log_ctx, AV_LOG_ERROR, "model '%s' (%s) is not an ONNX model\n", name, path);
        return AVERROR_INVALIDDATA;
    }
    if (scan.external > 0) {
        av_log(log_ctx, AV_LOG_ERROR, "model '%s' (%s): %d tensor(s) keep their values in "
               "another file; a model must hold its own weights\n", name, path, scan.external);
        return AVERROR_INVALIDDATA;
    }
    if (scan.bad_op[0]) {
        av_log(log_ctx, AV_LOG_ERROR, "model '%s' (%s) uses an operator outside the "
               "allowlist: %s\n", name, path, scan.bad_op);
        return AVERROR_INVALIDDATA;
    }
    return 0;
}

/* 1 if file, symbolic links followed, lies in the folder dir; 0 if not; <0 on error. */
static int inside_folder(void *log_ctx, const char *dir, const char *file)
{
    char *real_dir = NULL, *real_file = NULL;
    size_t len;
    int ret;

    real_dir  = realpath(*dir ? dir : ".", NULL);
    real_file = realpath(file, NULL);
    if (!real_dir || !real_file) {
        ret = AVERROR(errno);
        av_log(log_ctx, AV_LOG_ERROR, "cannot open model '%s': %s\n", file, av_err2str(ret));
        goto end;
    }
    len = strlen(real_dir);
    ret = !strncmp(real_dir, real_file, len) &&
          (real_file[len] == '/' || (len == 1 && real_dir[0] == '/'));
end:
    free(real_dir);
    free(real_file);
    return ret;
}

int ff_vmaf_model_resolve(void *log_ctx, const char *name, const char *registry,
                          const char *kind, char **path)
{
    AVBPrint json, known, model;
    RegistryRow row;
    JsonCursor cur;
    uint8_t digest[32];
    char hex[65];
    char *reg = NULL, *file = NULL, *slash;
    int ret;

    *path = NULL;
    if (!name || !*name) {
        av_log(log_ctx, AV_LOG_ERROR, "no model given: set model=ID (a registry id) or model=FILE.onnx\n");
        return AVERROR(EINVAL);
    }
    av_bprint_init(&json, 0, AV_BPRINT_SIZE_UNLIMITED);
    av_bprint_init(&known, 0, AV_BPRINT_SIZE_AUTOMATIC);
    av_bprint_init(&model, 0, AV_BPRINT_SIZE_UNLIMITED);
    if (is_path(name)) {
        /* The user's own file: checked for what it holds, not for who made it. */
        if ((ret = read_file(log_ctx, name, "model", VMAF_MODEL_MAX_BYTES, &model, NULL)) < 0 ||
            (ret = check_model(log_ctx, name, name, &model)) < 0)
            goto end;
        av_log(log_ctx, AV_LOG_VERBOSE, "model '%s' is a file, not a registry id: "
               "its bytes are not pinned\n", name);
        ret = (*path = av_strdup(name)) ? 0 : AVERROR(ENOMEM);
        goto end;
    }

    if (!(reg = registry_path(registry))) {
        ret = AVERROR(ENOMEM);
        goto end;
    }
    if ((ret = read_file(log_ctx, reg, "model registry", 16 << 20, &json, NULL)) < 0)
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
    if ((ret = inside_folder(log_ctx, reg, file)) <= 0) {
        if (!ret) {
            av_log(log_ctx, AV_LOG_ERROR, "model '%s' (%s) links to a file outside the "
                   "registry's folder\n", name, file);
            ret = AVERROR(EPERM);
        }
        goto end;
    }
    if ((ret = read_file(log_ctx, file, "model", VMAF_MODEL_MAX_BYTES, &model, digest)) < 0)
        goto end;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    if (model.len != row.bytes || av_strcasecmp(hex, row.sha256)) {
        av_log(log_ctx, AV_LOG_ERROR, "model '%s' (%s) does not match the registry: "
               "sha256 %s, %u bytes; expected %s, %"PRId64" bytes\n",
               name, file, hex, model.len, row.sha256, row.bytes);
        ret = AVERROR_INVALIDDATA;
        goto end;
    }
    if ((ret = check_model(log_ctx, name, file, &model)) < 0)
        goto end;
    *path = file;
    file = NULL;
    ret = 0;
end:
    av_free(file);
    av_free(reg);
    av_bprint_finalize(&json, NULL);
    av_bprint_finalize(&known, NULL);
    av_bprint_finalize(&model, NULL);
    return ret;
}
