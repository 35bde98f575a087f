"""Runs llama.cpp's llama-perplexity and returns everything it printed.

The tool's logger prints from a thread that is still running when the process exits, so on a
busy machine its closing lines (the final perplexity, the KL-divergence statistics) are often
lost. Here the tool's entry point is called from its shared library (built beside the binary)
in a child Python, and the logger is flushed before that child exits. When the library or its
symbols are missing (another llama.cpp build), the binary runs instead, a few times over until
the wanted line shows.
"""
import os
import re
import subprocess
import sys

# The child: argv[1] is the bin folder, the rest are llama-perplexity's arguments. The C++ names
# are the Itanium-mangled `llama_perplexity(int, char**)`, `common_log_main()` and
# `common_log_flush(common_log*)`.
CHILD = r"""
import ctypes, os, sys
bindir, args = sys.argv[1], sys.argv[2:]
common = ctypes.CDLL(os.path.join(bindir, "libllama-common.so"), mode=ctypes.RTLD_GLOBAL)
impl = ctypes.CDLL(os.path.join(bindir, "libllama-perplexity-impl.so"), mode=ctypes.RTLD_GLOBAL)
main = impl._Z16llama_perplexityiPPc
log_main = common._Z15common_log_mainv
log_flush = common._Z16common_log_flushP10common_log
main.restype, log_main.restype, log_flush.argtypes = ctypes.c_int, ctypes.c_void_p, [ctypes.c_void_p]
argv = [b"llama-perplexity"] + [a.encode() for a in args]
rc = main(len(argv), (ctypes.c_char_p * (len(argv) + 1))(*argv, None))
log_flush(log_main())
os._exit(rc)
"""


def run_llama_perplexity(bindir, args, until, timeout=1800):
    """Both output streams of `llama-perplexity ARGS`, in order; raises when it fails."""
    lib = os.path.join(bindir, "libllama-perplexity-impl.so")
    if os.path.exists(lib):
        p = subprocess.run([sys.executable, "-c", CHILD, bindir, *args], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if p.returncode == 0 and re.search(until, p.stdout):
            return p.stdout
        if "AttributeError" not in p.stdout and "OSError" not in p.stdout:
            raise RuntimeError(f"llama-perplexity failed ({p.returncode}): {p.stdout[-3000:]}")
    for _ in range(10):
        p = subprocess.run([os.path.join(bindir, "llama-perplexity"), *args], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"llama-perplexity failed ({p.returncode}): {p.stdout[-3000:]}")
        if re.search(until, p.stdout):
            return p.stdout
    raise RuntimeError("llama-perplexity's closing lines were lost ten times: " + p.stdout[-3000:])
