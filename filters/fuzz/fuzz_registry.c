/*
 * libFuzzer harness for the registry reader and model resolver
 * (filters/vmaf_registry.c): each input is a registry.json, resolved for
 * every model id the harness knows, with oracles for what must never pass.
 *
 * Built and run by filters/fuzz/run.sh (make fuzz).
 */

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libavutil/log.h"
#include "libavutil/mem.h"

#include "vmaf_registry.h"

/* A one-node ONNX graph (y = x * 0.5) with its weight inside the file. */
/* 78 bytes, sha256 d88a13bd61128ccb0bbd9ce938043728ccf6f46ed6cb59c496abf8bde231ea22 */
static const uint8_t model_inside[] = {
    0x08, 0x08, 0x3a, 0x44, 0x0a, 0x0e, 0x0a, 0x01, 0x78, 0x0a, 0x01, 0x77,
    0x12, 0x01, 0x79, 0x22, 0x03, 0x4d, 0x75, 0x6c, 0x12, 0x01, 0x67, 0x2a,
    0x0d, 0x08, 0x01, 0x10, 0x01, 0x42, 0x01, 0x77, 0x4a, 0x04, 0x00, 0x00,
    0x00, 0x3f, 0x5a, 0x0f, 0x0a, 0x01, 0x78, 0x12, 0x0a, 0x0a, 0x08, 0x08,
    0x01, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x01, 0x62, 0x0f, 0x0a, 0x01, 0x79,
    0x12, 0x0a, 0x0a, 0x08, 0x08, 0x01, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x01,
    0x42, 0x04, 0x0a, 0x00, 0x10, 0x11,
};

/* The same graph with its weight in w.bin: a registry row pinning these bytes
 * must still be refused. 93 bytes, sha256
 * a192fa5b185acc2b3fd0009e451cd65221658397ef05f6dd6283118b0e9671af */
static const uint8_t model_external[] = {
    0x08, 0x08, 0x3a, 0x53, 0x0a, 0x0e, 0x0a, 0x01, 0x78, 0x0a, 0x01, 0x77,
    0x12, 0x01, 0x79, 0x22, 0x03, 0x4d, 0x75, 0x6c, 0x12, 0x01, 0x67, 0x2a,
    0x1c, 0x08, 0x01, 0x10, 0x01, 0x42, 0x01, 0x77, 0x6a, 0x11, 0x0a, 0x08,
    0x6c, 0x6f, 0x63, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x12, 0x05, 0x77, 0x2e,
    0x62, 0x69, 0x6e, 0x70, 0x01, 0x5a, 0x0f, 0x0a, 0x01, 0x78, 0x12, 0x0a,
    0x0a, 0x08, 0x08, 0x01, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x01, 0x62, 0x0f,
    0x0a, 0x01, 0x79, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x01, 0x12, 0x04, 0x0a,
    0x02, 0x08, 0x01, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x11,
};

static char folder[PATH_MAX], registry[PATH_MAX + 16];

static void write_file(const char *name, const uint8_t *data, size_t size)
{
    char path[PATH_MAX + 32];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", folder, name);
    if (!(f = fopen(path, "wb")) || fwrite(data, 1, size, f) != size || fclose(f)) {
        perror(path);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    char target[PATH_MAX + 32], link[PATH_MAX + 32];

    snprintf(folder, sizeof(folder), "%s/vmaf-registry-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(folder)) {
        perror(folder);
        abort();
    }
    snprintf(registry, sizeof(registry), "%s/registry.json", folder);
    write_file("inside.onnx", model_inside, sizeof(model_inside));
    write_file("w.bin", (const uint8_t *)"\0\0\0?", 4);
    write_file("external.onnx", model_external, sizeof(model_external));
    /* A link to a byte-identical model outside the folder: right hash, wrong place. */
    snprintf(target, sizeof(target), "%s.outside.onnx", folder);
    snprintf(link, sizeof(link), "%s/linked.onnx", folder);
    {
        FILE *f = fopen(target, "wb");
        if (!f || fwrite(model_inside, 1, sizeof(model_inside), f) != sizeof(model_inside) ||
            fclose(f) || symlink(target, link)) {
            perror(target);
            abort();
        }
    }
    av_log_set_level(AV_LOG_QUIET);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ids[] = { "inside", "external", "linked", "missing", "" };
    static const char *const kinds[] = { NULL, "nr" };
    char expected[PATH_MAX + 32];

    write_file("registry.json", data, size);
    snprintf(expected, sizeof(expected), "%s/inside.onnx", folder);
    for (int i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (int k = 0; k < 2; k++) {
            char *path = NULL;
            int ret = ff_vmaf_model_resolve(NULL, ids[i], registry, kinds[k], &path);

            if (ret < 0 && path)
                abort();  /* an error must not hand out a path */
            /* Only a row naming inside.onnx with its true hash may resolve: the
             * external-weights model and the link out of the folder never. */
            if (ret >= 0 && (!path || strcmp(path, expected)))
                abort();
            av_free(path);
        }
    }
    return 0;
}
