"""The structured-output automaton against reference validators: Python `jsonschema` for JSON
schemas and `re` for regexes, on random schemas/patterns and random strings (`jeton grammar`
prints whether the compiled grammar accepts each string).

Soundness everywhere: whatever the automaton accepts is valid. Completeness where the grammar
promises it: valid strings written the way the grammar writes JSON (properties in schema order,
json.dumps spacing, no extra keys unless `additionalProperties` allows them, up to 16 digits,
no exponent on bounded numbers) are all accepted; regexes are exact both ways."""
import json
import os
import random
import re
import subprocess
from decimal import Decimal

import jsonschema
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JETON = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "debug", "jeton"))


def grammar(tmp_path, kind, text, strings=None, check=True):
    g = tmp_path / "g.txt"
    g.write_text(text)
    args = [JETON, "grammar", "--kind", kind, "--grammar", str(g)]
    if strings is not None:
        s = tmp_path / "s.json"
        s.write_text(json.dumps(strings))
        args += ["--strings", str(s)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    if check:
        assert p.returncode == 0, (text, p.stdout, p.stderr)
    return p.returncode, lines


def accepts(tmp_path, kind, text, strings):
    _, lines = grammar(tmp_path, kind, text, strings)
    return lines[1]["accept"]


# ---------------------------------------------------------------- random schemas

PATTERNS = ["^[a-z]{2,5}$", "^[A-Z][a-z]*$", "ab", "^\\d{3}-\\d{2}$", "x|y", "^(foo|bar)+$", "^[^q]*$", "^a.c$"]
FORMATS = ["date", "time", "date-time", "duration", "uuid", "email", "hostname", "ipv4", "ipv6"]
FORMAT_EXAMPLES = {
    "date": ["2024-02-29", "1999-12-31"], "time": ["12:30:59Z", "23:59:00.5+02:00"],
    "date-time": ["2024-01-15T08:00:00Z", "2000-02-29T23:59:59.123-05:30"],
    "uuid": ["123e4567-e89b-12d3-a456-426614174000"], "email": ["a.b@example.com"], "ipv4": ["192.168.0.1", "0.0.0.0"],
    "duration": ["P1Y2M3DT4H5M6S", "PT5M", "P2W"], "hostname": ["example.com", "a-b.c"], "ipv6": ["::1", "fe80::2:3"],
}
STEPS = [2, 3, 5, 10, 0.5, 0.25, 0.1, 1.5]


def rand_schema(rng, depth=0):
    kinds = ["string", "integer", "number", "boolean", "null", "enum", "const"]
    if depth < 3:
        kinds += ["object", "object", "array", "anyOf", "oneOf"]
    k = rng.choice(kinds)
    if k == "string":
        s = {"type": "string"}
        r = rng.random()
        if r < 0.3:
            lo = rng.randint(0, 3)
            s["minLength"] = lo
            if rng.random() < 0.7:
                s["maxLength"] = lo + rng.randint(0, 4)
        elif r < 0.5:
            s["pattern"] = rng.choice(PATTERNS)
        elif r < 0.65:
            s["format"] = rng.choice(FORMATS)
        return s
    if k in ("integer", "number"):
        s = {"type": k}
        vals = [-100, -10, -2.5, -1, 0, 0.5, 1, 3, 7.25, 10, 99]
        if rng.random() < 0.5:
            s["exclusiveMinimum" if rng.random() < 0.3 else "minimum"] = rng.choice(vals)
        if rng.random() < 0.5:
            lo = s.get("minimum", s.get("exclusiveMinimum", -1000))
            hi = rng.choice([v for v in vals if v > lo] or [lo + 5])
            s["exclusiveMaximum" if rng.random() < 0.3 else "maximum"] = hi
        if rng.random() < 0.3:
            s["multipleOf"] = rng.choice(STEPS)
        return s
    if k == "boolean":
        return {"type": "boolean"}
    if k == "null":
        return {"type": "null"}
    if k == "enum":
        return {"enum": rng.sample(["red", "green", 1, 2.5, None, True, "a\"b"], rng.randint(1, 3))}
    if k == "const":
        return {"const": rng.choice(["fixed", 42, False, None])}
    if k == "object":
        names = rng.sample(["id", "name", "tags", "x", "value", "é"], rng.randint(0, 4))
        props = {n: rand_schema(rng, depth + 1) for n in names}
        s = {"type": "object", "properties": props,
             "required": [n for n in names if rng.random() < 0.6]}
        r = rng.random()
        if r < 0.6:
            s["additionalProperties"] = False
        elif r < 0.8:
            s["additionalProperties"] = rand_schema(rng, depth + 2)
        return s
    if k == "array":
        s = {"type": "array"}
        if rng.random() < 0.3:
            s["prefixItems"] = [rand_schema(rng, depth + 1) for _ in range(rng.randint(1, 2))]
        s["items"] = rand_schema(rng, depth + 1) if rng.random() < 0.85 else False
        if rng.random() < 0.5:
            s["minItems"] = rng.randint(0, 2)
        if rng.random() < 0.5:
            s["maxItems"] = s.get("minItems", 0) + rng.randint(0, 3)
        return s
    subs = [rand_schema(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    if k == "oneOf":
        # Distinct types: the automaton only takes oneOf alternatives that cannot overlap.
        types = rng.sample(["string", "boolean", "null", "integer"], len(subs))
        subs = [{"type": t} for t in types]
    return {k: subs}


def rand_value(rng, s, depth=0):
    """A value meant to be valid for s (sometimes not), in the grammar's canonical shape."""
    if rng.random() < 0.1:
        return rng.choice([None, 0, "zz", [], {}, True, 12345678, -3.5])
    if "const" in s:
        return s["const"]
    if "enum" in s:
        return rng.choice(s["enum"])
    if "anyOf" in s or "oneOf" in s:
        return rand_value(rng, rng.choice(s.get("anyOf") or s.get("oneOf")), depth)
    t = s.get("type")
    if t == "string":
        if "format" in s:
            return rng.choice(FORMAT_EXAMPLES[s["format"]] + ["2024-13-01", "x@y", "1.2.3.4.5"])
        if "pattern" in s:
            return rng.choice(["ab", "abc", "Abc", "123-45", "x", "foobar", "qq", "a-c", "abcdef", "", "y"])
        n = rng.randint(s.get("minLength", 0), s.get("maxLength", s.get("minLength", 0) + 5) + 1)
        return "".join(rng.choice("ab é\"\\\n😀") for _ in range(n))
    if t in ("integer", "number"):
        v = rng.choice([-100, -11, -10, -3, -2.5, -1, 0, 0.5, 1, 2.75, 3, 7.25, 10, 42, 99, 100, 101])
        if "multipleOf" in s and rng.random() < 0.5:
            v = float(Decimal(repr(s["multipleOf"])) * rng.randint(-40, 40))
            v = int(v) if v == int(v) and (t == "integer" or isinstance(s["multipleOf"], int)) else v
        elif t == "number" and rng.random() < 0.3:
            v = round(rng.uniform(-120, 120), rng.randint(0, 3))
        return v
    if t == "boolean":
        return rng.random() < 0.5
    if t == "null":
        return None
    if t == "object":
        out = {}
        for n, ps in s.get("properties", {}).items():
            if n in s.get("required", []) or rng.random() < 0.6:
                out[n] = rand_value(rng, ps, depth + 1)
        if isinstance(s.get("additionalProperties"), dict) and rng.random() < 0.4:
            out["extra"] = rand_value(rng, s["additionalProperties"], depth + 1)
        return out
    if t == "array":
        n = rng.randint(s.get("minItems", 0), s.get("maxItems", 3) + 1)
        pre = s.get("prefixItems", [])
        return [rand_value(rng, pre[i] if i < len(pre) else (s["items"] if s["items"] is not False else {"type": "null"}), depth + 1)
                for i in range(n)]
    return None


def canonical(v, compact):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":") if compact else (", ", ": "))


def exact_multiple_of(validator, step, instance, schema):
    """`multipleOf` on the numbers' decimal texts: jsonschema divides floats (0.3 / 0.1 is not 3)."""
    if validator.is_type(instance, "number") and Decimal(repr(instance)) % Decimal(repr(step)) != 0:
        yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {step}")


# Formats as jsonschema checks them (`fqdn` for hostname, `isoduration` for duration, `ipaddress`).
Exact = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"multipleOf": exact_multiple_of})


def is_valid(schema, text):
    try:
        v = Exact(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        v.validate(json.loads(text))
        return True
    except jsonschema.ValidationError:
        return False


def uses(schema, key):
    return key in json.dumps(schema)


@pytest.mark.parametrize("seed", range(12))
def test_random_schemas_match_jsonschema(tmp_path, seed):
    rng = random.Random(seed)
    checked = accepted_valid = 0
    for _ in range(15):
        schema = rand_schema(rng)
        strings = [canonical(rand_value(rng, schema), rng.random() < 0.5) for _ in range(25)]
        # Mutations: truncated and noisy strings must be refused unless valid.
        strings += [s[:-1] for s in strings[:5]] + [s + " " for s in strings[:3]] + ["", "{", "nul"]
        rc, lines = grammar(tmp_path, "schema", json.dumps(schema), strings, check=False)
        if rc != 0:
            # Only schemas no document satisfies may be refused (e.g. an integer in (-1, 0)).
            assert re.search("leave no number|no multiple|no array|no `enum` value", lines[0]["error"]), (schema, lines)
            continue
        got = lines[1]["accept"]
        for s, ok in zip(strings, got):
            valid = s != "" and is_valid_text(schema, s)
            checked += 1
            if ok:
                assert valid, f"accepted an invalid document\nschema {json.dumps(schema)}\ntext {s!r}"
                accepted_valid += 1
            elif valid and not uses(schema, '"format"') and not uses(schema, '"anyOf"') and not uses(schema, "1e") \
                    and s == s.strip() and not re.search(r"\d{17}", s) \
                    and not (uses(schema, '"multipleOf"') and re.search(r"\.\d*0(?!\d)", s)):
                # (A multiple of an integer step is written as an integer: "12", not "12.0".)
                pytest.fail(f"refused a valid canonical document\nschema {json.dumps(schema)}\ntext {s!r}")
    assert accepted_valid > 20, "the generator should give many valid documents"


def is_valid_text(schema, s):
    try:
        json.loads(s)
    except ValueError:
        return False
    return is_valid(schema, s)


MULTIPLE_OF = [
    {"type": "integer", "multipleOf": 5},
    {"type": "integer", "multipleOf": 3, "minimum": -20, "exclusiveMaximum": 31},
    {"type": "integer", "multipleOf": 7, "exclusiveMinimum": -50},
    {"type": "integer", "multipleOf": 0.5, "maximum": 40},
    {"type": "number", "multipleOf": 0.25, "minimum": -2.3, "maximum": 3.1},
    {"type": "number", "multipleOf": 0.1, "exclusiveMinimum": 0},
    {"type": "number", "multipleOf": 0.05, "minimum": -1.02, "exclusiveMaximum": 1.5},
    {"type": "number", "multipleOf": 1.5, "minimum": -10},
    {"type": "number", "multipleOf": 12, "maximum": 100, "minimum": -100},
    {"type": "integer", "multipleOf": 1000},
    {"type": "integer", "multipleOf": 64, "minimum": 1000, "maximum": 123456},
    {"multipleOf": 4, "exclusiveMaximum": 0},
    {"type": "integer", "multipleOf": 123456789.123457},  # 10^6·x a multiple of 123456789123457: x of it (it overflowed)
    {"type": "integer", "multipleOf": 0.000001}, {"type": "integer", "multipleOf": 1e-9, "minimum": -5},
    # Merged remainders (the last digits decide), and a step with few multiples of 16 digits, listed.
    {"type": "integer", "multipleOf": 10000}, {"type": "integer", "multipleOf": 3600}, {"type": "number", "multipleOf": 1e15},
    {"type": "number", "multipleOf": 9.99, "minimum": -50, "exclusiveMaximum": 49.95},
    # A step of k trailing zeros: its multiples, then k zeros.
    {"type": "integer", "multipleOf": 1000000}, {"type": "integer", "multipleOf": 100, "exclusiveMinimum": 0},
    {"type": "number", "multipleOf": 30, "minimum": -100},
]


def decimal_text(k, per):
    """k / per as the shortest decimal text ("0.05", "-1.5", "2")."""
    return format((Decimal(k) / Decimal(per)).normalize(), "f")


@pytest.mark.parametrize("schema", MULTIPLE_OF, ids=lambda s: json.dumps(s))
def test_multiple_of_is_exact(tmp_path, schema):
    """Sound against an exact reading of `multipleOf` (the texts' decimal values), and complete on the
    canonical texts the grammar writes: integers, and for a fractional step at most its digits."""
    ints = [str(i) for i in range(-130, 131)] + ["1000", "1024", "1088", "2000", "-3000", "123456", "123392", "123520", "1000000000000000",
                                                   "9999999999999000", "10000000000000000", "123456789123457", "-123456789123457",
                                                   "246913578246914", "123456789123458", "-1000000000000000", "2000000000000000",
                                                   "7200", "-36000", "-10000", "9.99", "-49.95", "39.96", "49.95", "19.97"]
    decimals = sorted({decimal_text(k, 20) for k in range(-70, 71)}) + ["0.50", "1.10", "-0.25", "2.0"]
    junk = ["-0", "05", "1.", ".5", "1e2", "--5", "5 ", ""]
    strings = ints + decimals + junk
    got = accepts(tmp_path, "schema", json.dumps(schema), strings)
    step = Decimal(repr(schema["multipleOf"]))
    places = max(0, -step.normalize().as_tuple().exponent)
    fractional = schema.get("type") != "integer" and step != step.to_integral_value()
    accepted = 0
    for s, ok in zip(strings, got):
        valid = s != "" and is_valid_text(schema, s)
        if ok:
            assert valid, (schema, s)
            accepted += 1
            continue
        canonical_text = s in ints or (fractional and s in decimals and not s.endswith("0") and "." in s
                                       and len(s.split(".")[1]) <= places)
        assert not (valid and canonical_text and len(s.lstrip("-")) <= 16), f"refused {s!r} under {json.dumps(schema)}"
    assert accepted >= 3, schema


def test_formats_against_their_checkers(tmp_path):
    """duration (`isoduration`), hostname (`fqdn`) and ipv6 (`ipaddress`) as jsonschema checks them:
    all accepted strings valid, and the forms the grammar writes accepted."""
    cases = {  # format: (written, valid but not written, invalid)
        "duration": (["P1Y", "P1Y2M3DT4H5M6S", "PT5M", "P2W", "P1Y2D", "PT1H5S", "P3DT12H", "P0D"], ["P1.5Y"],
                     ["P", "PT", "P1DT", "1Y", "P1S", "PT1D", "P1Y1Y", "p1y", "P2W1D"]),
        "hostname": (["localhost", "example.com", "a-b.c-d.example.org", "xn--bcher-kva.example", "A1.b2.Com"], [],
                     ["-a.com", "a-.com", "a..com", ".com", "a_b.com", "exa mple.com", "a." + "b" * 64 + ".com", ""]),
        "ipv6": (["::", "::1", "1:2:3:4:5:6:7:8", "1::", "fe80::1:2", "1:2:3:4:5:6:7::", "2001:db8::ff00:42:8329",
                  "::ffff:0:1", "ABCD:ef01::9"], ["::ffff:1.2.3.4"],
                 ["1:2:3:4:5:6:7:8:9", ":::", "1::2::3", "12345::1", "g::1", "1:2:3:4:5:6:7", "", "::1::", "1.2.3.4"]),
    }
    for fmt, (written, other, bad) in cases.items():
        schema = {"type": "string", "format": fmt}
        texts = written + other + bad
        got = accepts(tmp_path, "schema", json.dumps(schema), [json.dumps(x) for x in texts])
        for x, ok in zip(texts, got):
            valid = is_valid(schema, json.dumps(x))
            assert valid == (x not in bad), (fmt, x, "the checker's verdict differs from the case's")
            assert ok == (x in written), (fmt, x)


def test_every_keyword_schema(tmp_path):
    schema = {
        "$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
                                                             "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                           "required": ["v"], "additionalProperties": False}},
        "type": "object",
        "properties": {
            "s": {"type": "string", "minLength": 1, "maxLength": 3}, "p": {"type": "string", "pattern": "^[a-c]+$"},
            "d": {"type": "string", "format": "date"}, "n": {"type": "number", "exclusiveMinimum": 0, "maximum": 1.5},
            "i": {"type": "integer", "minimum": -5, "exclusiveMaximum": 5}, "b": {"type": "boolean"}, "z": {"type": "null"},
            "e": {"enum": ["x", "y"]}, "c": {"const": 7}, "u": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "o": {"oneOf": [{"type": "integer"}, {"type": "boolean"}]},
            "a": {"allOf": [{"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"]},
                            {"properties": {"l": {"type": "string"}}}]},
            "t": {"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
            "m": {"type": "object", "additionalProperties": {"type": "integer"}},
            "tree": {"$ref": "#/$defs/node"},
        },
        "required": ["s", "i", "tree"],
        "additionalProperties": False,
    }
    good = {"s": "ab", "p": "cab", "d": "2024-02-29", "n": 1.5, "i": -5, "b": True, "z": None, "e": "y", "c": 7, "u": None,
            "o": False, "a": {"k": 1, "l": "q"}, "t": ["a", 1, 2], "m": {"q": 3}, "tree": {"v": 1, "kids": [{"v": 2}]}}
    bad = [dict(good, s=""), dict(good, p="abd"), dict(good, d="2023-02-29"), dict(good, n=0), dict(good, i=5),
           dict(good, e="z"), dict(good, c=8), dict(good, o="s"), dict(good, a={"l": "q"}), dict(good, t=[1]),
           dict(good, t=["a", 1, 2, 3]), dict(good, m={"q": "r"}), dict(good, tree={"kids": []})]
    strings = [canonical(good, True), canonical(good, False)] + [canonical(b, True) for b in bad]
    got = accepts(tmp_path, "schema", json.dumps(schema), strings)
    assert got == [True, True] + [False] * len(bad)
    for s in strings:
        assert is_valid(schema, s) == (s in strings[:2])


def rand_regex(rng, depth=0):
    r = rng.random()
    if depth > 2 or r < 0.35:
        return rng.choice(["a", "b", "c", "[ab]", "[^a]", "\\d", ".", "[a-c]", "\\.", "x"])
    if r < 0.55:
        return rand_regex(rng, depth + 1) + rand_regex(rng, depth + 1)
    if r < 0.7:
        return "(" + rand_regex(rng, depth + 1) + "|" + rand_regex(rng, depth + 1) + ")"
    q = rng.choice(["*", "+", "?", "{2}", "{1,3}", "{0,2}", "{2,}"])
    return "(" + rand_regex(rng, depth + 1) + ")" + q


@pytest.mark.parametrize("seed", range(8))
def test_random_regexes_match_python_re(tmp_path, seed):
    rng = random.Random(100 + seed)
    for _ in range(20):
        pattern = rand_regex(rng)
        strings = ["".join(rng.choice("abcx1.\n") for _ in range(rng.randint(0, 6))) for _ in range(40)]
        got = accepts(tmp_path, "regex", pattern, strings)
        for s, ok in zip(strings, got):
            assert ok == bool(re.fullmatch(pattern, s)), (pattern, s)


def test_patterns_search_semantics(tmp_path):
    for pattern in PATTERNS + ["a$", "^b"]:
        schema = {"type": "string", "pattern": pattern}
        texts = ["", "ab", "xaby", "Abc", "123-45", "foofoo", "qq", "abc", "a\n", "ba"]
        strings = [json.dumps(t) for t in texts]
        got = accepts(tmp_path, "schema", json.dumps(schema), strings)
        # JSON Schema's dialect is ECMA-262: `$` is the end of the text (Python's `\Z`; Python's `$`
        # also matches before a final newline). These patterns hold `$` only as that anchor.
        ecma = pattern.replace("$", "\\Z")
        for t, s, ok in zip(texts, strings, got):
            assert ok == bool(re.search(ecma, t)), (pattern, t)


def test_choice_and_gbnf(tmp_path):
    assert accepts(tmp_path, "choice", json.dumps(["yes", "no", "maybe so"]), ["yes", "no", "maybe so", "ye", "yess"]) == \
        [True, True, True, False, False]
    g = 'root ::= "(" list? ")"\nlist ::= item ("," item)*\nitem ::= [0-9]+ | root\n'
    assert accepts(tmp_path, "gbnf", g, ["()", "(1,22)", "((1),())", "(1,)", "(", "(a)"]) == \
        [True, True, True, False, False, False]


@pytest.mark.parametrize("kind,text,needle", [
    ("schema", '{"type": "string", "multipleOf": 2}', "multipleOf"),
    ("schema", '{"type": "integer", "multipleOf": 0}', "greater than 0"),
    ("schema", '{"type": "number", "exclusiveMinimum": 0, "maximum": 1e-17}', "at most 16 fraction digits"),
    ("schema", '{"anyOf": [' * 80 + '{}' + ']}' * 80, "nested deeper than 64 levels (grammar.max_nesting)"),
    ("schema", '{"type": "number", "multipleOf": 0.0000001}', "fraction digits"),
    ("schema", '{"type": "integer", "multipleOf": 99991}', "multipleOf` 99991"),
    ("schema", '{"type": "integer", "multipleOf": 99991, "minimum": 0}', "list them instead"),
    ("schema", '{"type": "integer", "multipleOf": 7, "minimum": 1, "maximum": 6}', "no multiple"),
    ("schema", '{"type": "object", "patternProperties": {}}', "patternProperties"),
    ("schema", '{"type": "string", "format": "uri"}', "uri"),
    ("schema", '{"oneOf": [{"type": "integer"}, {"type": "number"}]}', "oneOf"),
    ("schema", '{"$ref": "https://example.com/s.json"}', "$ref"),
    ("schema", '{"type": "strin"}', "strin"),
    ("schema", '{"type": ', "JSON"),
    ("regex", "a(?=b)", "lookaround"),
    ("regex", "(a", ")"),
    ("regex", "\\1", "backreference"),
    ("gbnf", "root ::= x", "x"),
    ("gbnf", "root ::= root \"a\"", "left-recursive"),
])
def test_refused_with_a_reason(tmp_path, kind, text, needle):
    rc, lines = grammar(tmp_path, kind, text, check=False)
    assert rc == 2 and lines[0]["ok"] is False
    assert needle in lines[0]["error"]


def test_hostile_schemas_are_bounded(tmp_path):
    deep = {"type": "string"}
    for _ in range(200):
        deep = {"type": "array", "items": deep}
    rc, lines = grammar(tmp_path, "schema", json.dumps(deep), check=False)
    assert rc == 2 and lines[0]["kind"] == "too_large"
    rc, lines = grammar(tmp_path, "schema", json.dumps({"type": "string", "maxLength": 10_000_000}), check=False)
    assert rc == 2 and lines[0]["kind"] == "too_large"
    rc, lines = grammar(tmp_path, "regex", "(ab{300000})", check=False)
    assert rc == 2 and lines[0]["kind"] == "too_large"
