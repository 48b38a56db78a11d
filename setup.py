"""Builds drn._C: the C++ CPU kernels always, the CUDA kernels when a CUDA torch and nvcc are there.

FORCE_CUDA=1 builds the CUDA kernels even where the check would say no; FORCE_CPU=1 skips them.
With no GPU visible, TORCH_CUDA_ARCH_LIST defaults to 9.0 (Hopper). The decision is printed.
"""

import glob
import os
import shutil
import sys

from setuptools import setup


def find_cuda_home():
    """The CUDA toolkit root: $CUDA_HOME/$CUDA_PATH, else the toolkit around nvcc, else /usr/local/cuda."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            return os.environ[var]
    candidates = []
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(os.path.dirname(os.path.dirname(os.path.realpath(nvcc))))
    candidates.append("/usr/local/cuda")
    for root in candidates:
        if os.path.exists(os.path.join(root, "include", "cuda_runtime.h")):
            return root
    return None


cuda_home = find_cuda_home()
if cuda_home:
    os.environ["CUDA_HOME"] = cuda_home  # read by torch.utils.cpp_extension at import
os.environ.setdefault("MAX_JOBS", str(min(os.cpu_count() or 1, 8)))

import torch  # noqa: E402
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension  # noqa: E402


def decide_cuda():
    if os.environ.get("FORCE_CPU") == "1":
        return False, "FORCE_CPU=1"
    if os.environ.get("FORCE_CUDA") == "1":
        return True, "FORCE_CUDA=1"
    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} is a CPU-only build"
    if cuda_home is None:
        return False, "no CUDA toolkit found (set CUDA_HOME or put nvcc on PATH)"
    return True, f"torch {torch.__version__} is a CUDA {torch.version.cuda} build and nvcc is in {cuda_home}"


def extension():
    with_cuda, why = decide_cuda()
    here = os.path.dirname(os.path.abspath(__file__))
    sources = [os.path.join("csrc", "drn.cpp")] + sorted(glob.glob(os.path.join("csrc", "cpu", "*.cpp")))
    define_macros = [("DRN_TORCH_VERSION", f'"{torch.__version__}"')]
    # at::parallel_for is inline OpenMP: without -fopenmp, one thread. torch's own flags
    # -fno-math-errno -fno-trapping-math let the CPU kernels' loops vectorise (csrc/cpu/simd.h);
    # -ffp-contract=off keeps FMA out of their AVX-512 versions, so every ISA rounds alike.
    extra = {"cxx": ["-O3", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"]}
    if not with_cuda:
        print(f"drn build: CPU kernels only ({why})", file=sys.stderr)
        return CppExtension("drn._C", sources, define_macros=define_macros, extra_compile_args=extra,
                            extra_link_args=["-fopenmp"], include_dirs=[os.path.join(here, "csrc")])
    if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
        os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0"
    arch = os.environ.get("TORCH_CUDA_ARCH_LIST", "the visible GPU's")
    print(f"drn build: CPU + CUDA kernels ({why}); CUDA arch {arch}", file=sys.stderr)
    sources += sorted(glob.glob(os.path.join("csrc", "cuda", "*.cu")))
    define_macros += [("DRN_WITH_CUDA", None), ("DRN_CUDA_VERSION", f'"{torch.version.cuda}"')]
    extra["nvcc"] = ["-O3", "--expt-relaxed-constexpr"]
    # Some toolkits keep their libraries in lib/ rather than lib64/.
    library_dirs = [d for d in (os.path.join(cuda_home or "", "lib64"), os.path.join(cuda_home or "", "lib")) if os.path.isdir(d)]
    return CUDAExtension("drn._C", sources, define_macros=define_macros, extra_compile_args=extra,
                         include_dirs=[os.path.join(here, "csrc")], library_dirs=library_dirs,
                         extra_link_args=["-fopenmp"])


setup(ext_modules=[extension()], cmdclass={"build_ext": BuildExtension})
