"""The SIMD kernels use only the instructions CPUFeatures checks for before calling them.

KernelsAVX2 is compiled for `-target-cpu haswell` and KernelsAVX512 for `znver4` (Package.swift), so
the compiler may pick any instruction those CPUs have, anywhere in those modules. The server calls them
only where `CPUFeatures.hasAVX2` (AVX2, FMA, F16C, BMI1/2, LZCNT, POPCNT, MOVBE) or `hasAVX512VNNI`
(AVX-512 F, DQ, CD, BW, VL, VNNI) holds: an instruction from an extension outside those checks (VBMI,
BF16, GFNI, ... which a Zen 4 has and a Cascade Lake does not) would stop the server on an illegal
instruction on such a CPU. This reads the built binary's disassembly of both modules and names any.
"""
import os
import re
import shutil
import subprocess
from collections import Counter

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JETON = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "debug", "jeton"))

# Extensions neither check covers, by mnemonic.
BEYOND_BOTH = {
    "AVX512_VBMI": r"vpermb|vpermi2b|vpermt2b|vpmultishiftqb",
    "AVX512_VBMI2": r"vpcompress[bw]|vpexpand[bw]|vpshld\w*|vpshrd\w*",
    "AVX512_IFMA / AVX_IFMA": r"vpmadd52\w+",
    "AVX512_BITALG": r"vpopcnt[bw]|vpshufbitqmb",
    "AVX512_VPOPCNTDQ": r"vpopcnt[dq]",
    "AVX512_BF16": r"vcvtne2ps2bf16|vcvtneps2bf16|vdpbf16ps",
    "AVX512_FP16": r"v(?!cvtps2ph)\w+(ph|sh)|vcvtph2psx",
    "GFNI": r"v?gf2p8\w+",
    "VAES / VPCLMULQDQ": r"vaes\w+|vpclmul\w+",
    "AVX512_VP2INTERSECT": r"vp2intersect\w+",
    "SHA": r"v?sha(1|256|512)\w+",
    "ADX": r"adcx|adox",
}
# On top of those, AVX2 code must not touch AVX-512 or AMX (nor the VEX VNNI of later AVX2 CPUs).
BEYOND_AVX2 = {
    "AVX-VNNI": r"vpdp(bu|ws)sds?",
    "AMX": r"tile\w+|tdp\w+|ldtilecfg|sttilecfg",
}


def kernel_instructions():
    """(module, mnemonic, operands) of every instruction in a KernelsAVX2 or KernelsAVX512 function."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", JETON], capture_output=True, text=True,
                         check=True).stdout
    header = re.compile(r"^[0-9a-f]+ <(.*)>:$")
    line = re.compile(r"^\s+[0-9a-f]+:\s+(\S+)\s*(.*)$")
    module = None
    for text in out.splitlines():
        h = header.match(text)
        if h:
            name = h.group(1)
            module = "avx512" if "KernelsAVX512" in name else "avx2" if "KernelsAVX2" in name else None
            continue
        if module:
            m = line.match(text)
            if m:
                yield module, m.group(1), m.group(2)


def offenders(instructions, module, families):
    found = Counter()
    for mod, mnemonic, operands in instructions:
        if mod != module:
            continue
        for family, pattern in families.items():
            if re.fullmatch(pattern, mnemonic):
                found[f"{family}: {mnemonic}"] += 1
        if module == "avx2" and re.search(r"%zmm|%k[0-7]\b|\{%k", operands):
            found[f"AVX-512 in AVX2 code: {mnemonic} {operands}"] += 1
    return found


@pytest.fixture(scope="module")
def instructions():
    if shutil.which("objdump") is None:
        pytest.fail("objdump is missing: scripts/setup.sh --test installs binutils")
    return list(kernel_instructions())


def test_the_patterns_catch_what_they_name():
    # The check itself can fail: each family's pattern matches its instructions and not their neighbours.
    sample = [("avx512", "vpermb", "%zmm1,%zmm2,%zmm3"), ("avx512", "vdpbf16ps", "%zmm1,%zmm2,%zmm3"),
              ("avx512", "vaddph", "%zmm1,%zmm2,%zmm3"), ("avx512", "vpdpbusd", "%zmm1,%zmm2,%zmm3"),
              ("avx512", "vpermw", "%zmm1,%zmm2,%zmm3"), ("avx512", "vcvtps2ph", "$0x0,%zmm1,%ymm2"),
              ("avx512", "vcvtph2ps", "%ymm1,%zmm2"), ("avx512", "vpshufb", "%zmm1,%zmm2,%zmm3"),
              ("avx2", "vpdpbusd", "%ymm1,%ymm2,%ymm3"), ("avx2", "vpaddd", "%zmm1,%zmm2,%zmm3"),
              ("avx2", "pext", "%eax,%ecx,%edx"), ("avx2", "vpmaddubsw", "%ymm1,%ymm2,%ymm3")]
    wide = offenders(sample, "avx512", BEYOND_BOTH)
    assert set(wide) == {"AVX512_VBMI: vpermb", "AVX512_BF16: vdpbf16ps", "AVX512_FP16: vaddph"}
    narrow = offenders(sample, "avx2", {**BEYOND_BOTH, **BEYOND_AVX2})
    assert set(narrow) == {"AVX-VNNI: vpdpbusd", "AVX-512 in AVX2 code: vpaddd %zmm1,%zmm2,%zmm3"}


def test_avx2_kernels_stay_within_the_avx2_check(instructions):
    assert sum(1 for m, _, _ in instructions if m == "avx2") > 1000, "no KernelsAVX2 code found in the binary"
    found = offenders(instructions, "avx2", {**BEYOND_BOTH, **BEYOND_AVX2})
    assert not found, f"KernelsAVX2 uses instructions CPUFeatures.hasAVX2 does not check: {dict(found)}"


def test_avx512_kernels_stay_within_the_avx512_check(instructions):
    assert sum(1 for m, _, _ in instructions if m == "avx512") > 1000, "no KernelsAVX512 code found in the binary"
    found = offenders(instructions, "avx512", BEYOND_BOTH)
    assert not found, f"KernelsAVX512 uses instructions CPUFeatures.hasAVX512VNNI does not check: {dict(found)}"
