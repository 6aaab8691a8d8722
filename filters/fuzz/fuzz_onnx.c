/*
 * libFuzzer harness for the ONNX scan (external data, operator allowlist) (filters/vmaf_registry.c):
 * each input is a serialized model, walked as protobuf.
 *
 * Built and run by filters/fuzz/run.sh (make fuzz).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmaf_registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    OnnxScan scan;

    if (ff_vmaf_onnx_scan(data, size, &scan) < 0)
        return 0;
    /* Every tensor takes at least two bytes of its parent: a count beyond that
     * means the walker read something twice or outside the input. */
    if (scan.external > (int)(size / 2))
        abort();
    if (strnlen(scan.bad_op, sizeof(scan.bad_op)) == sizeof(scan.bad_op))
        abort();
    return 0;
}
