"""The SIMD kernels use only the instructions CPUFeatures checks for before calling them.

KernelsAVX2 is compiled for `-target-cpu haswell` and KernelsAVX512 for `znver4` (Package.swift), so
the compiler may pick any instruction those CPUs have, anywhere in those modules. The server calls them
only where `CPUFeatures.hasAVX2` (AVX2, FMA, F16C, BMI1/2, LZCNT, POPCNT, MOVBE) or `hasAVX512VNNI`
(AVX-512 F, DQ, CD, BW, VL, VNNI) holds: an instruction from an extension outside those checks (VBMI,
BF16, GFNI, SSE4A, ... which a Zen 4 has and a Cascade Lake does not) would stop the server on an
illegal instruction on such a CPU. This disassembles the two modules' object files (next to the
binary the suite runs, so inlined intrinsic wrappers and helpers count too) and names any. The one
exception: AVX-512 BF16 in the functions named for it, which run only where `hasAVX512BF16` holds.
"""
import glob
import os
import re
import shutil
import subprocess
from collections import Counter

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JETON = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "debug", "jeton"))

# Extensions neither check covers, by mnemonic (AT&T syntax, prefixes stripped).
BEYOND_BOTH = {
    "AVX512_VBMI": r"vpermb|vpermi2b|vpermt2b|vpmultishiftqb",
    "AVX512_VBMI2": r"vpcompress[bw]|vpexpand[bw]|vpshld\w*|vpshrd\w*",
    "AVX512_IFMA / AVX_IFMA": r"vpmadd52\w+",
    "AVX512_BITALG": r"vpopcnt[bw]|vpshufbitqmb",
    "AVX512_VPOPCNTDQ": r"vpopcnt[dq]",
    "AVX512_BF16 / AVX_NE_CONVERT": r"vcvtne2ps2bf16|vcvtneps2bf16[xy]?|vdpbf16ps|vbcstne\w+|vcvtnee\w+|vcvtneo\w+",
    "AVX512_FP16": r"v(?!cvtps2ph$)\w+(ph|sh)|vcvtph2(w|uw|dq|udq|qq|uqq|pd|psx)|vcvtt\w*ph2\w+|vcvtsh2\w+|vmovw"
                   r"|vcvtps2phx",
    "AVX_VNNI_INT8 / INT16": r"vpdpb(ss|su|uu)ds?|vpdpw(su|us|uu)ds?",
    "GFNI": r"v?gf2p8\w+",
    "AES / VAES / PCLMULQDQ (unchecked)": r"v?aes\w+|v?pclmul\w+",
    "AVX512_VP2INTERSECT": r"vp2intersect\w+",
    "SHA": r"v?sha(1|256|512)\w+",
    "ADX": r"adcx|adox",
    "SSE4A (AMD only)": r"extrq|insertq|movnts[sd]",
    "AMD-only system extensions": r"clzero|monitorx|mwaitx|rdpru",
}
# On top of those, AVX2 code must not touch AVX-512 or AMX (nor VNNI in any encoding).
BEYOND_AVX2 = {
    "VNNI": r"vpdp(bu|ws)sds?",
    "AMX": r"tile\w+|tdp\w+|ldtilecfg|sttilecfg",
    "AVX-512 (EVEX-only mnemonics)": r"vpternlog[dq]|vmovdq[au](8|16|32|64)|vpmov[qdw][bwd]|vpmovus\w+|vpmovs[qdw][bwd]"
                                     r"|vperm[ti]2\w+|vpro[lr]v?[dq]|v(extract|insert)[fi](32x4|64x2|32x8|64x4)"
                                     r"|vpabsq|vpmullq|vpsraq|vpsravq|vpcmpu?[bwdq]|vpmov[bwdq]2m|vpmovm2[bwdq]|k\w+"
                                     r"|vbroadcast[fi](32x[248]|64x[24])|vcompress\w+|vexpand\w+|vscalef\w+|vrndscale\w+"
                                     r"|vrange\w+|vreduce\w+|vfpclass\w+|vgetexp\w+|vgetmant\w+|vfixupimm\w+|vpconflict\w+"
                                     r"|vplzcnt\w+|vrcp14\w+|vrsqrt14\w+|vcvt\w*qq\w*|vcvt\w*2u\w+|vcvtu\w+",
}
# The VEX form of VNNI (objdump: `{vex} vpdpbusd`) is AVX-VNNI, which neither check covers.
VEX_VNNI = re.compile(r"vpdp(bu|ws)sds?")
PREFIXES = {"{vex}", "{vex3}", "{evex}", "lock", "rep", "repz", "repe", "repnz", "repne", "notrack", "bnd", "data16",
            "addr32", "cs", "ds", "es", "fs", "gs", "ss"}


def disassembly(paths):
    """(function, mnemonic, operands, prefixes) of every instruction objdump finds in the files."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", *paths], capture_output=True, text=True,
                         check=True).stdout
    header = re.compile(r"^[0-9a-f]+ <(.*)>:$")
    line = re.compile(r"^\s+[0-9a-f]+:\s+(.*)$")
    function = None
    for text in out.splitlines():
        h = header.match(text)
        if h:
            function = h.group(1)
            continue
        m = line.match(text)
        if not m:
            continue
        words = m.group(1).split()
        prefixes = []
        while words and words[0] in PREFIXES:
            prefixes.append(words.pop(0))
        if words:
            yield function, words[0], " ".join(words[1:]), prefixes


def module_instructions(module, with_function=False):
    """(mnemonic, operands, prefixes) of every instruction in the module's object files (with the
    function first when asked)."""
    objects = sorted(glob.glob(os.path.join(os.path.dirname(JETON), f"{module}.build", "*.o")))
    assert objects, f"no object files of {module} next to {JETON}: build it first"
    for function, mnemonic, operands, prefixes in disassembly(objects):
        yield (function, mnemonic, operands, prefixes) if with_function else (mnemonic, operands, prefixes)


# AVX-512 BF16 has a check of its own (CPUFeatures.hasAVX512BF16, Attention.bestBackend): its
# (EVEX) instructions may appear in KernelsAVX512's BF16Values functions (kept out of line for this),
# attendTileBF16, and CBF16's jeton_bf16_* wrappers where a build leaves them out of line; nowhere else.
BF16_FAMILY = "AVX512_BF16 / AVX_NE_CONVERT"
BF16_FUNCTION = re.compile(r"^(\$s13KernelsAVX51210BF16ValuesO|\$s13KernelsAVX5120B9AttentionO14attendTileBF16_|jeton_bf16_)")


def bf16_allowed(function, mnemonic, prefixes):
    """Whether an instruction is an AVX-512 BF16 one in a function allowed to hold it."""
    return (re.fullmatch(BEYOND_BOTH[BF16_FAMILY], mnemonic) is not None and "{vex}" not in prefixes
            and BF16_FUNCTION.match(function or "") is not None)


def offenders(instructions, avx2):
    """Counter of 'family: mnemonic' for each instruction outside the module's check."""
    families = {**BEYOND_BOTH, **BEYOND_AVX2} if avx2 else BEYOND_BOTH
    found = Counter()
    for mnemonic, operands, prefixes in instructions:
        if mnemonic == "(bad)":
            found["undecodable (objdump older than the compiler?): (bad)"] += 1
        for family, pattern in families.items():
            if re.fullmatch(pattern, mnemonic):
                found[f"{family}: {mnemonic}"] += 1
        if "{vex}" in prefixes and VEX_VNNI.fullmatch(mnemonic):
            found[f"AVX-VNNI: {{vex}} {mnemonic}"] += 1
        if avx2 and re.search(r"%zmm|%[xy]mm(1[6-9]|2[0-9]|3[01])\b|%k[0-7]\b|\{1to|\{z\}|\{(rn-|rd-|ru-|rz-)?sae\}",
                              operands):
            found[f"AVX-512 in AVX2 code: {mnemonic} {operands}"] += 1
    return found


def test_the_patterns_catch_what_they_name():
    # The check itself can fail: each family's pattern matches its instructions and not their neighbours.
    wide = [("vpermb", "%zmm1,%zmm2,%zmm3", []), ("vdpbf16ps", "%zmm1,%zmm2,%zmm3", []),
            ("vaddph", "%zmm1,%zmm2,%zmm3", []), ("vcvtph2w", "%ymm1,%zmm2", []), ("extrq", "$0x8,$0x0,%xmm1", []),
            ("vpdpbusd", "%ymm1,%ymm2,%ymm3", ["{vex}"]),
            # allowed on AVX-512 F/BW/DQ/VL/VNNI, F16C, BMI:
            ("vpdpbusd", "%zmm1,%zmm2,%zmm3", []), ("vpermw", "%zmm1,%zmm2,%zmm3", []),
            ("vcvtps2ph", "$0x0,%zmm1,%ymm2", []), ("vcvtph2ps", "%ymm1,%zmm2", []), ("vpshufb", "%zmm1,%zmm2,%zmm3", []),
            ("vpshufhw", "$0x0,%ymm1,%ymm2", []), ("vmovshdup", "%ymm1,%ymm2", []), ("vpexpandq", "%zmm1,%zmm2{%k1}", []),
            ("kshiftrb", "$0x1,%k1,%k2", []), ("shlx", "%eax,%ecx,%edx", [])]
    assert set(offenders(wide, avx2=False)) == {
        "AVX512_VBMI: vpermb", "AVX512_BF16 / AVX_NE_CONVERT: vdpbf16ps", "AVX512_FP16: vaddph",
        "AVX512_FP16: vcvtph2w", "SSE4A (AMD only): extrq", "AVX-VNNI: {vex} vpdpbusd"}
    narrow = [("vpdpbusd", "%ymm1,%ymm2,%ymm3", ["{vex}"]), ("vpaddd", "%zmm1,%zmm2,%zmm3", []),
              ("vpaddd", "%ymm17,%ymm2,%ymm3", []), ("vpternlogd", "$0x96,%ymm1,%ymm2,%ymm3", []),
              ("pext", "%eax,%ecx,%edx", []), ("vpmaddubsw", "%ymm1,%ymm2,%ymm3", []), ("andn", "%eax,%ecx,%edx", []),
              ("vbroadcastss", "(%rax),%ymm1", []), ("vpbroadcastw", "%xmm1,%ymm2", [])]
    assert set(offenders(narrow, avx2=True)) == {
        "VNNI: vpdpbusd", "AVX-VNNI: {vex} vpdpbusd", "AVX-512 in AVX2 code: vpaddd %zmm1,%zmm2,%zmm3",
        "AVX-512 in AVX2 code: vpaddd %ymm17,%ymm2,%ymm3", "AVX-512 (EVEX-only mnemonics): vpternlogd"}


@pytest.fixture(scope="module")
def objdump():
    if shutil.which("objdump") is None:
        pytest.fail("objdump is missing: scripts/setup.sh --test installs binutils")


@pytest.mark.parametrize("module, own, check", [("KernelsAVX2", "vpmaddubsw", "hasAVX2"),
                                                 ("KernelsAVX512", "vpdpbusd", "hasAVX512VNNI")])
def test_kernels_stay_within_their_check(objdump, module, own, check):
    listed = list(module_instructions(module, with_function=True))
    # BF16 instructions in the functions named for them answer to hasAVX512BF16, checked below.
    instructions = [(m, o, p) for f, m, o, p in listed if module == "KernelsAVX2" or not bf16_allowed(f, m, p)]
    assert len(instructions) > 1000, f"too few instructions: not the {module} objects?"
    assert any(m == own for m, _, _ in instructions), f"the {module} kernels' own instruction {own} is missing"
    found = offenders(instructions, avx2=module == "KernelsAVX2")
    assert not found, f"{module} uses instructions CPUFeatures.{check} does not check: {dict(found)}"


def test_bf16_instructions_only_in_bf16_functions(objdump):
    # The attention's bf16 value sums run only where CPUFeatures.hasAVX512BF16 holds, through
    # functions whose names say so: any BF16 instruction elsewhere (inlined into an f32 path) fails.
    found = [(f or "", m, p) for f, m, _, p in module_instructions("KernelsAVX512", with_function=True)
             if re.fullmatch(BEYOND_BOTH[BF16_FAMILY], m)]
    assert any(m == "vdpbf16ps" for _, m, _ in found), "the bf16 attention's vdpbf16ps is missing"
    stray = Counter(f"{f}: {' '.join(p + [m])}" for f, m, p in found if not bf16_allowed(f, m, p))
    assert not stray, f"BF16 instructions outside BF16 functions: {dict(stray)}"


def test_the_bf16_allowance_is_narrow():
    # The allowance names functions, not a substring anywhere: an f32 function or a VEX form fails.
    values = "$s13KernelsAVX51210BF16ValuesO10accumulateyy"
    assert bf16_allowed(values, "vdpbf16ps", [])
    assert bf16_allowed("jeton_bf16_dot2", "vdpbf16ps", [])
    assert not bf16_allowed("$s13KernelsAVX5120B9AttentionO10attendTile_", "vdpbf16ps", [])
    assert not bf16_allowed("$s13KernelsAVX5129F32ValuesO10accumulateyyBF16", "vdpbf16ps", [])
    assert not bf16_allowed(values, "vcvtneps2bf16", ["{vex}"])
    assert not bf16_allowed(values, "vpermb", [])


def shared_weak_symbols():
    """Weak symbols a kernel module's objects define that another module's objects define too."""
    build = os.path.dirname(JETON)
    by_module = {}
    for folder in glob.glob(os.path.join(build, "*.build")):
        objects = glob.glob(os.path.join(folder, "*.o"))
        if not objects:
            continue
        out = subprocess.run(["nm", "--defined-only", *objects], capture_output=True, text=True, check=True).stdout
        by_module[os.path.basename(folder)[:-len(".build")]] = {
            parts[2]: parts[1] for parts in (l.split() for l in out.splitlines()) if len(parts) == 3}
    kernel = {"KernelsAVX2", "KernelsAVX512"}
    assert kernel <= set(by_module), f"no kernel objects under {build}"
    others = set().union(*(syms for m, syms in by_module.items() if m not in kernel))
    return {name for m in kernel for name, kind in by_module[m].items() if kind in "WV" and name in others}


def test_helpers_shared_with_other_modules_are_plain_x86_64(objdump):
    # The compiler emits helpers (__swift_memcpyN_M, metadata accessors, stdlib specializations) as weak
    # symbols in every module that needs them, and the linker keeps one copy: were it a haswell or znver4
    # one, code outside the kernels would run AVX or BMI instructions with no check. The copy kept of
    # each symbol a kernel module shares with another module must be plain x86-64.
    shared = shared_weak_symbols()
    assert any(n.startswith("__swift_memcpy") for n in shared), "expected the memcpy helpers among the shared symbols"
    seen, found = set(), Counter()
    for function, mnemonic, _, _ in disassembly([JETON]):
        if function not in shared:
            continue
        seen.add(function)
        if re.fullmatch(r"v\w+|shlx|shrx|sarx|andn|pext|pdep|bzhi|bextr|blsi|blsr|blsmsk|tzcnt|lzcnt|movbe", mnemonic):
            found[f"{function}: {mnemonic}"] += 1
    assert seen, "none of the shared symbols found in the binary"
    assert not found, f"shared helpers compiled for a SIMD target: {dict(found)}"
