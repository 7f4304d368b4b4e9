"""Finds the CUDA toolkit, the way Bazel projects usually do: a repository
rule that looks for nvcc and writes @local_cuda with what it found.

  PS_CUDA=auto (default)  CUDA when nvcc is found, else a build without it
  PS_CUDA=1               CUDA or fail (bazel build --config=cuda)
  PS_CUDA=0               never CUDA (bazel build --config=nocuda)

A toolkit is a folder with bin/nvcc and include/cuda_runtime.h: $CUDA_PATH,
$CUDA_HOME, /usr/local/cuda, or the one holding the nvcc on $PATH. @local_cuda//:defs.bzl gives CUDA_ENABLED, NVCC and
CUDA_ROOT; @local_cuda//:cuda links the runtime and cuBLAS (empty without
CUDA). The rule runs again when those variables change, and with
`bazel sync --configure` (after installing or removing the toolkit).
"""

def _is_toolkit(ctx, root):
    return (ctx.path(root + "/bin/nvcc").exists and
            ctx.path(root + "/include/cuda_runtime.h").exists)

def _find_nvcc(ctx):
    """The toolkit's root folder, or None."""
    roots = [ctx.os.environ.get("CUDA_PATH", ""), ctx.os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"]
    for root in roots:
        if root and _is_toolkit(ctx, root):
            return root

    # An nvcc on PATH counts when it sits in a toolkit (not a wrapper script
    # left behind by one that is gone).
    nvcc = ctx.which("nvcc")
    if nvcc and _is_toolkit(ctx, str(nvcc.dirname.dirname)):
        return str(nvcc.dirname.dirname)
    return None

def _cuda_configure_impl(ctx):
    mode = ctx.os.environ.get("PS_CUDA", "auto")
    if mode not in ("auto", "0", "1"):
        fail("PS_CUDA=%s: allowed: auto, 0 or 1" % mode)
    root = None if mode == "0" else _find_nvcc(ctx)
    if mode == "1" and root == None:
        fail("--config=cuda (PS_CUDA=1) but nvcc was not found in " +
             "$CUDA_PATH/bin, $CUDA_HOME/bin, /usr/local/cuda/bin or $PATH")
    enabled = root != None
    ctx.file("defs.bzl", "\n".join([
        "# Written by deploy/bazel/cuda_configure.bzl.",
        "CUDA_ENABLED = %s" % enabled,
        "NVCC = %r" % (root + "/bin/nvcc" if enabled else ""),
        "CUDA_ROOT = %r" % (root if enabled else ""),
        "",
    ]))
    linkopts = []
    if enabled:
        # Shared, not libcudart_static: in the shared libraries Bazel
        # builds for tests, nvcc's objects must resolve the runtime from
        # the process's global scope. Both load without a GPU or driver.
        linkopts = [
            "-L%s/lib64" % root,
            "-Wl,-rpath,%s/lib64" % root,
            "-lcublas",
            "-lcudart",
            "-ldl",
            "-lrt",
            "-pthread",
        ]
    ctx.file("BUILD", "\n".join([
        "package(default_visibility = [\"//visibility:public\"])",
        "exports_files([\"defs.bzl\"])",
        "cc_library(name = \"cuda\", linkopts = %r)" % linkopts,
        "",
    ]))

cuda_configure = repository_rule(
    implementation = _cuda_configure_impl,
    environ = ["PS_CUDA", "CUDA_PATH", "CUDA_HOME", "PATH"],
    local = True,
    configure = True,
)
