"""Print the library folders of NVIDIA's CUDA/cuDNN pip wheels, one per line (for
ld.so.conf), so libonnxruntime_providers_cuda.so finds them from FFmpeg as well as Python."""

import importlib.util
from pathlib import Path

spec = importlib.util.find_spec("nvidia")
roots = list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []
for root in roots:
    for lib in sorted(Path(root).glob("*/lib")):
        print(lib)
