"""Builds .cu files with nvcc into a cc_library, or, in a build without
CUDA, the same library from plain C++ fallbacks.

Bazel 4 has no CUDA rules and the toolkit's headers live outside the
workspace, so each .cu file becomes a genrule calling nvcc, and the objects
it produces are the srcs of an ordinary cc_library. Only the .cu files (and
the private headers they include) see CUDA headers; the library's public
headers must not, so that every other target builds with the normal C++
toolchain.

Whether there is a toolkit, and where, is for deploy/bazel/cuda_configure.bzl
to find (@local_cuda). Without one, each library is built from its
`nocuda_srcs` instead: the same API, every call answering that this binary
was built without CUDA, so the worker runs on the CPU.
"""

load("@local_cuda//:defs.bzl", "CUDA_ENABLED", "NVCC")

# Machine code for A100 (sm_80) and H100 (sm_90), plus compute_90 PTX that
# newer GPUs compile at load time. -fPIC because the objects also go into
# the shared libraries Bazel builds for tests.
NVCC_FLAGS = [
    "-O3",
    "-std=c++17",
    "-Xcompiler",
    "-fPIC",
    "-gencode",
    "arch=compute_80,code=sm_80",
    "-gencode",
    "arch=compute_90,code=sm_90",
    "-gencode",
    "arch=compute_90,code=compute_90",
    "-I.",
]

def cuda_library(name, srcs, nocuda_srcs, hdrs = [], private_hdrs = [], deps = [], **kwargs):
    """A cc_library whose srcs are .cu files compiled by nvcc.

    Args:
      name: the cc_library's name.
      srcs: .cu files.
      nocuda_srcs: C++ files implementing hdrs without CUDA, for a build
        without the toolkit.
      hdrs: public headers, free of CUDA types.
      private_hdrs: headers from this workspace that the .cu files include
        (beyond hdrs), so that editing them rebuilds the objects.
      deps: cc_library dependencies (headers the .cu files include must also
        be listed in hdrs or private_hdrs: nvcc sees only the files passed
        to the genrule).
      **kwargs: passed to the cc_library (visibility, tags, ...).
    """
    if not CUDA_ENABLED:
        native.cc_library(
            name = name,
            srcs = nocuda_srcs + private_hdrs,
            hdrs = hdrs,
            deps = deps,
            **kwargs
        )
        return
    objects = []
    for src in srcs:
        obj = "%s_%s.pic.o" % (name, src.replace("/", "_").rsplit(".", 1)[0])
        native.genrule(
            name = obj.replace(".", "_") + "_nvcc",
            srcs = [src] + hdrs + private_hdrs,
            outs = [obj],
            cmd = "%s %s -c $(location %s) -o $@" % (
                NVCC,
                " ".join(NVCC_FLAGS),
                src,
            ),
            message = "nvcc %s" % src,
        )
        objects.append(obj)
    native.cc_library(
        name = name,
        srcs = objects,
        hdrs = hdrs,
        deps = deps + ["//:cuda"],
        **kwargs
    )
