/*
 * libFuzzer harness for the ONNX external-data scan (filters/vmaf_registry.c):
 * each input is a serialized model, walked as protobuf.
 *
 * Built and run by filters/fuzz/run.sh (make fuzz).
 */

#include <stdint.h>
#include <stdlib.h>

#include "vmaf_registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int n = ff_vmaf_onnx_external_tensors(data, size);

    /* Every tensor takes at least two bytes of its parent: a count beyond that
     * means the walker read something twice or outside the input. */
    if (n > (int)(size / 2))
        abort();
    return 0;
}
