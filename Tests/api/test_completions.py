"""/v1/completions driven by the official `openai` package (and raw HTTP where the SDK hides things)."""
import json
import os
import re
import time

import pytest

from conftest import PROMPT, Server, sse, tokenize

TINY_SPM = os.path.join(os.path.dirname(__file__), "..", "ModelTests", "Fixtures", "tiny", "llama-spm.tiny.gguf")


def check_head(obj, prefix, kind):
    assert obj.id.startswith(prefix) and len(obj.id) > len(prefix)
    assert obj.object == kind
    assert isinstance(obj.created, int) and abs(obj.created - time.time()) < 600
    assert isinstance(obj.model, str) and obj.model
    assert isinstance(obj.system_fingerprint, str) and obj.system_fingerprint


def greedy(client, prompt=PROMPT, **kw):
    args = dict(model="default", prompt=prompt, max_tokens=8, temperature=0)
    args.update(kw)
    return client.completions.create(**args)


def test_shape_and_finish_length(client):
    r = greedy(client, max_tokens=6, extra_body={"ignore_eos": True})
    check_head(r, "cmpl-", "text_completion")
    assert len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0 and isinstance(c.text, str) and c.text
    assert c.logprobs is None
    assert c.finish_reason == "length"
    assert r.usage.completion_tokens == 6
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_stream_shape_and_equal_to_non_stream(client):
    whole = greedy(client, max_tokens=12)
    chunks = list(greedy(client, max_tokens=12, stream=True, stream_options={"include_usage": True}))
    ids = {c.id for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("cmpl-")
    for c in chunks:
        check_head(c, "cmpl-", "text_completion")
    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == whole.usage.completion_tokens
    assert last.usage.prompt_tokens == whole.usage.prompt_tokens
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in body)
    text = "".join(ch.text for c in body for ch in c.choices)
    assert text == whole.choices[0].text
    finishes = [ch.finish_reason for c in body for ch in c.choices if ch.finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert body[-1].choices[0].finish_reason is not None, "finish_reason must come in the last choice chunk"


def test_stop_sequence_spanning_two_tokens(client):
    """A stop string made of the end of one token and the start of the next: the output ends
    right before it, finish_reason is stop, and streaming never lets half of it out."""
    base = greedy(client, max_tokens=16, logprobs=0, extra_body={"ignore_eos": True})
    toks = base.choices[0].logprobs.tokens
    full = base.choices[0].text
    # pick tokens k, k+1 with at least 2 visible chars each
    k = next(i for i in range(1, len(toks) - 1) if len(toks[i].strip()) >= 2 and len(toks[i + 1]) >= 2)
    stop = toks[k][-2:] + toks[k + 1][:2]
    expected = full[: full.index(stop)]
    r = greedy(client, max_tokens=16, stop=[stop], extra_body={"ignore_eos": True})
    assert r.choices[0].text == expected
    assert stop not in r.choices[0].text
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens <= k + 2
    pieces = [ch.text for c in greedy(client, max_tokens=16, stop=stop, stream=True,
                                      extra_body={"ignore_eos": True}) for ch in c.choices]
    streamed = "".join(pieces)
    assert streamed == expected, f"streamed {pieces!r}"
    # a single stop string (not a list) and a stop that never occurs
    r2 = greedy(client, max_tokens=5, stop="@@never@@", extra_body={"ignore_eos": True})
    assert r2.choices[0].finish_reason == "length"


def test_logprobs_stop_at_the_stop_sequence(client):
    """Tokens that only wrote a matched stop sequence are not in `logprobs` (as llama-server
    trims them): the listed tokens are those whose text begins in the returned text, streamed
    or not, for a stop on a token boundary and one inside a token."""
    base = greedy(client, max_tokens=16, logprobs=2, extra_body={"ignore_eos": True})
    toks = base.choices[0].logprobs.tokens
    full = base.choices[0].text
    starts = [sum(len(t) for t in toks[:i]) for i in range(len(toks))]
    assert "".join(toks) == full
    k = next(i for i in range(2, len(toks) - 2) if len(toks[i].strip()) >= 2 and len(toks[i + 1]) >= 2)
    for stop in (toks[k] + toks[k + 1], toks[k][1:] + toks[k + 1]):
        expected = full[: full.index(stop)]
        kept = [t for t, a in zip(toks, starts) if a < len(expected)]
        r = greedy(client, max_tokens=16, stop=[stop], logprobs=2, extra_body={"ignore_eos": True})
        c = r.choices[0]
        assert c.text == expected and c.finish_reason == "stop"
        assert c.logprobs.tokens == kept, stop
        assert len(c.logprobs.token_logprobs) == len(c.logprobs.top_logprobs) == len(c.logprobs.text_offset) == len(kept)
        streamed = [t for ch in greedy(client, max_tokens=16, stop=[stop], logprobs=2, stream=True,
                                       extra_body={"ignore_eos": True})
                    for x in ch.choices if x.logprobs for t in x.logprobs.tokens]
        assert streamed == kept, stop


def test_streamed_offsets_while_text_is_held_for_a_stop_string(client):
    """Text that may begin a stop string is held back, then goes out before its tokens: the
    streamed text_offset still counts from where each token begins (found by a user's test:
    " Paris" was given offset 1 when "Paris!!" was a stop string)."""
    base = greedy(client, max_tokens=12, logprobs=1, extra_body={"ignore_eos": True})
    toks, offsets = base.choices[0].logprobs.tokens, base.choices[0].logprobs.text_offset
    k = next(i for i in range(1, len(toks)) if len(toks[i].strip()) >= 3)
    for stop in (toks[k] + "@@", toks[k][1:] + "@@", toks[k][:-1] + "@@"):
        whole = greedy(client, max_tokens=12, logprobs=1, stop=[stop], extra_body={"ignore_eos": True}).choices[0]
        assert whole.text == base.choices[0].text and whole.logprobs.text_offset == offsets
        chunks = [x for ch in greedy(client, max_tokens=12, logprobs=1, stop=[stop], stream=True,
                                     extra_body={"ignore_eos": True}) for x in ch.choices]
        assert [t for x in chunks if x.logprobs for t in x.logprobs.tokens] == toks
        assert [o for x in chunks if x.logprobs for o in x.logprobs.text_offset] == offsets, stop


def test_tokens_holding_part_of_a_character_are_written_as_bytes(client):
    """A token whose bytes are not whole UTF-8 characters is `bytes:\\xNN…` (OpenAI's legacy
    form), so several such alternatives stay apart in top_logprobs (each read U+FFFD and the
    keys collided: one entry instead of five)."""
    r = greedy(client, prompt="Emoji: \U0001F389\U0001F600\U0001F431", max_tokens=6, logprobs=5,
               extra_body={"ignore_eos": True}).choices[0]
    toks = r.logprobs.tokens
    split = [i for i, t in enumerate(toks) if t.startswith("bytes:")]
    assert split, toks
    for i in split:
        assert "\ufffd" not in toks[i]
        raw = bytes.fromhex(toks[i][len("bytes:"):].replace("\\x", ""))
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert len(r.logprobs.top_logprobs[i]) >= 5, r.logprobs.top_logprobs[i]
        assert r.logprobs.top_logprobs[i][toks[i]] == r.logprobs.token_logprobs[i]
    whole = b"".join(bytes.fromhex(t[6:].replace("\\x", "")) if t.startswith("bytes:") else t.encode() for t in toks)
    assert whole.decode("utf-8", errors="replace") == r.text


def test_n_2(client):
    eos = {"ignore_eos": True}
    r = greedy(client, max_tokens=4, n=2, temperature=1, seed=7, extra_body=eos)
    assert [c.index for c in r.choices] == [0, 1]
    assert [c.finish_reason for c in r.choices] == ["length", "length"]
    assert r.usage.completion_tokens == 8  # both choices count
    chunks = list(greedy(client, max_tokens=4, n=2, temperature=1, seed=7, stream=True, extra_body=eos))
    idx = {ch.index for c in chunks for ch in c.choices}
    assert idx == {0, 1}
    for i in (0, 1):
        text = "".join(ch.text for c in chunks for ch in c.choices if ch.index == i)
        assert text == r.choices[i].text, "streamed choice differs from the same seeded non-streamed one"
        fin = [ch.finish_reason for c in chunks for ch in c.choices if ch.index == i and ch.finish_reason]
        assert len(fin) == 1


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_logprobs(client, k):
    r = greedy(client, max_tokens=4, logprobs=k, extra_body={"ignore_eos": True})
    c = r.choices[0]
    lp = c.logprobs
    n = r.usage.completion_tokens
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
    assert "".join(lp.tokens) == c.text
    offs = 0
    for tok, val, top, off in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, lp.text_offset):
        assert val <= 0
        assert off == offs
        offs += len(tok)
        if k == 0:
            assert len(top) <= 1
        else:
            assert len(top) == k, top
            assert all(v <= 0 for v in top.values())
            # greedy: the chosen token is the most likely one
            assert tok in top and abs(top[tok] - val) < 1e-4
            assert abs(max(top.values()) - val) < 1e-4


def test_sampled_token_is_among_its_top_logprobs(client):
    # Sampled hot, the chosen token is often outside the top k; it is listed anyway (k + 1 entries
    # at most), with its own logprob, in the generated part and in the echoed prompt.
    r = client.completions.create(model="default", prompt=PROMPT, max_tokens=24, temperature=1.8, seed=7,
                                  logprobs=1, echo=True, extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    outside = 0
    for tok, val, top in zip(lp.tokens[1:], lp.token_logprobs[1:], lp.top_logprobs[1:]):
        assert tok in top and abs(top[tok] - val) < 1e-4, (tok, top)
        assert 1 <= len(top) <= 2
        outside += len(top) == 2
    assert outside > 0, "no token outside the top 1: the test checks nothing"


def test_echo(client, server):
    r = greedy(client, max_tokens=3, echo=True, extra_body={"ignore_eos": True})
    assert r.choices[0].text.startswith(PROMPT)
    plain = greedy(client, max_tokens=3, extra_body={"ignore_eos": True})
    assert r.choices[0].text == PROMPT + plain.choices[0].text
    r = greedy(client, max_tokens=3, echo=True, logprobs=1, extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    n_prompt = tokenize(server, prompt=PROMPT)["count"]
    assert len(lp.tokens) == n_prompt + 3
    assert lp.token_logprobs[0] is None
    assert all(v is not None and v <= 0 for v in lp.token_logprobs[1:])
    assert lp.text_offset[0] == 0
    # Every token is listed with its text (the first too, though it has no probability), and the
    # offsets are where each token's text stands in the returned text.
    assert all(isinstance(t, str) for t in lp.tokens)
    assert "".join(lp.tokens) == r.choices[0].text
    for tok, off in zip(lp.tokens, lp.text_offset):
        assert r.choices[0].text[off:off + len(tok)] == tok
    chunks = list(greedy(client, max_tokens=3, echo=True, stream=True, extra_body={"ignore_eos": True}))
    assert "".join(ch.text for c in chunks for ch in c.choices) == PROMPT + plain.choices[0].text
    # Streamed with logprobs, the echoed prompt comes first with the prompt's logprobs.
    chunks = [ch for c in greedy(client, max_tokens=3, echo=True, logprobs=1, stream=True, extra_body={"ignore_eos": True})
              for ch in c.choices]
    assert "".join(ch.text for ch in chunks) == PROMPT + plain.choices[0].text
    first = chunks[0]
    assert first.text == PROMPT
    assert first.logprobs.tokens == lp.tokens[:n_prompt] and first.logprobs.text_offset == lp.text_offset[:n_prompt]
    assert first.logprobs.token_logprobs[0] is None and all(v <= 0 for v in first.logprobs.token_logprobs[1:])
    streamed = [t for ch in chunks[1:] if ch.logprobs for t in ch.logprobs.tokens]
    assert streamed == lp.tokens[n_prompt:]


def test_max_tokens_0_scores_the_prompt(client, server):
    # Legacy prompt scoring (lm-evaluation-harness style): echo, logprobs and max_tokens 0 give
    # the prompt's log-probabilities and generate nothing.
    n_prompt = tokenize(server, prompt=PROMPT)["count"]
    longer = greedy(client, max_tokens=3, echo=True, logprobs=2, extra_body={"ignore_eos": True})
    r = greedy(client, max_tokens=0, echo=True, logprobs=2)
    c = r.choices[0]
    assert c.text == PROMPT and c.finish_reason == "length"
    assert r.usage.completion_tokens == 0 and r.usage.prompt_tokens == n_prompt
    assert c.logprobs.tokens == longer.choices[0].logprobs.tokens[:n_prompt]
    assert c.logprobs.token_logprobs[0] is None
    for a, b in zip(c.logprobs.token_logprobs[1:], longer.choices[0].logprobs.token_logprobs[1:n_prompt]):
        assert abs(a - b) < 1e-4
    chunks = [ch for x in greedy(client, max_tokens=0, echo=True, logprobs=2, stream=True) for ch in x.choices]
    assert "".join(ch.text for ch in chunks) == PROMPT
    assert chunks[0].logprobs.tokens == c.logprobs.tokens and chunks[-1].finish_reason == "length"
    # Without echo the answer is empty; chat still wants at least one token.
    r = greedy(client, max_tokens=0)
    assert r.choices[0].text == "" and r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 0
    st, _, data = server.request("POST", "/v1/chat/completions",
                                 {"model": "default", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 0})
    assert st == 400 and data["error"]["param"] == "max_tokens"


def prefix_hits(server):
    _, _, text = server.request("GET", "/metrics")
    return sum(float(v) for v in re.findall(r"^jeton_prefix_cache_hits_total(?:{[^}]*})? ([0-9.e+-]+)$", text, re.M))


def test_choices_of_an_echo_with_logprobs_score_the_prompt_once(client, server):
    # With n > 1 the first choice scores the prompt and the others take its scores and its cached
    # blocks (each computed every position again): every choice's echoed logprobs are what one
    # choice alone gets, streamed or not.
    prompt = " ".join([PROMPT] * 6)
    alone = greedy(client, prompt=prompt, max_tokens=2, echo=True, logprobs=2, extra_body={"ignore_eos": True})
    n_prompt = tokenize(server, prompt=prompt)["count"]
    before = prefix_hits(server)
    r = greedy(client, prompt=prompt, max_tokens=2, n=3, echo=True, logprobs=2, extra_body={"ignore_eos": True})
    assert prefix_hits(server) > before  # the other two choices read the first one's blocks
    want = alone.choices[0].logprobs
    for c in r.choices:
        assert c.text == alone.choices[0].text
        assert c.logprobs.tokens[:n_prompt] == want.tokens[:n_prompt]
        assert c.logprobs.token_logprobs[0] is None
        for a, b in zip(c.logprobs.token_logprobs[1:n_prompt], want.token_logprobs[1:n_prompt]):
            assert abs(a - b) < 1e-4
        assert [set(x) for x in c.logprobs.top_logprobs[1:n_prompt]] == [set(x) for x in want.top_logprobs[1:n_prompt]]
    chunks = [ch for x in greedy(client, prompt=prompt, max_tokens=2, n=3, echo=True, logprobs=2, stream=True,
                                 extra_body={"ignore_eos": True}) for ch in x.choices]
    for i in range(3):
        mine = [ch for ch in chunks if ch.index == i]
        assert mine[0].text == prompt and mine[0].logprobs.tokens == want.tokens[:n_prompt]
        assert "".join(ch.text for ch in mine) == alone.choices[0].text


def test_top_p_zero_keeps_the_most_likely_token(client):
    """OpenAI and llama-server take top_p 0 (it was a 400, as in vLLM): at any temperature the
    answer is the greedy one."""
    want = greedy(client, max_tokens=8, extra_body={"ignore_eos": True}).choices[0].text
    for seed in (1, 2, 3):
        r = greedy(client, max_tokens=8, temperature=1.5, top_p=0, seed=seed, extra_body={"ignore_eos": True})
        assert r.choices[0].text == want, seed


def test_seed_reproduces(client):
    def run(seed):
        return greedy(client, prompt="Once upon a time", max_tokens=8, temperature=1, seed=seed,
                      extra_body={"ignore_eos": True}).choices[0].text
    a, b = run(1234), run(1234)
    assert a == b
    others = {run(s) for s in (1, 2, 3)}
    assert len(others | {a}) > 1, "different seeds always give the same text"
    # -1 is no seed (llama-server, vLLM): five draws are not all the same text.
    assert len({run(-1) for _ in range(5)}) > 1


def test_usage_matches_tokenize(client, server):
    for p in [PROMPT, "Hello, world! How are you today?"]:
        r = greedy(client, prompt=p, max_tokens=1)
        assert r.usage.prompt_tokens == tokenize(server, prompt=p)["count"]
        assert r.usage.prompt_tokens == len(tokenize(server, content=p, add_special=True)["tokens"])


def test_prompt_forms(client, server):
    ids = tokenize(server, prompt=PROMPT)["tokens"]
    s = greedy(client, max_tokens=5)
    by_ids = greedy(client, prompt=ids, max_tokens=5)
    assert by_ids.choices[0].text == s.choices[0].text
    assert by_ids.usage.prompt_tokens == len(ids)
    other = "Hello world"
    two = greedy(client, prompt=[PROMPT, other], max_tokens=5)
    assert [c.index for c in two.choices] == [0, 1]
    assert two.choices[0].text == s.choices[0].text
    other_ids = tokenize(server, prompt=other)["tokens"]
    assert two.usage.prompt_tokens == len(ids) + len(other_ids)
    arrays = greedy(client, prompt=[ids, other_ids], max_tokens=5)
    assert [c.index for c in arrays.choices] == [0, 1]
    assert [c.text for c in arrays.choices] == [c.text for c in two.choices]
    # several prompts with n=2: one choice per (prompt, n), prompt-major
    both = greedy(client, prompt=[PROMPT, other], n=2, max_tokens=3)
    assert [c.index for c in both.choices] == [0, 1, 2, 3]
    assert both.choices[0].text == both.choices[1].text  # greedy: the two choices of a prompt agree


def stream_vs_whole_logprobs(server, prompt):
    body = {"model": "default", "prompt": prompt, "max_tokens": 8, "temperature": 0, "logprobs": 1,
            "ignore_eos": True}
    _, _, whole = server.request("POST", "/v1/completions", body)
    _, _, events = sse(server, "/v1/completions", dict(body, stream=True))
    got = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    for e in events[:-1]:
        for ch in e["choices"]:
            if ch["logprobs"]:
                for key in got:
                    got[key] += ch["logprobs"][key]
    return got, whole["choices"][0]["logprobs"]


def test_stream_logprobs_equal_non_stream(server):
    """Streamed logprobs concatenated are the non-streamed ones, with text_offset counted from
    the start of the whole text (as the non-streamed response and OpenAI/vLLM do)."""
    got, want = stream_vs_whole_logprobs(server, PROMPT)
    assert got["tokens"] == want["tokens"]
    assert got["token_logprobs"] == want["token_logprobs"]
    assert got["top_logprobs"] == want["top_logprobs"]
    assert got["text_offset"] == want["text_offset"], "streamed text_offset must count from the start of the text"


def test_stream_logprobs_keep_tokens_inside_a_character(server):
    """Tokens that end inside a UTF-8 character still get their logprobs entry when streamed."""
    got, want = stream_vs_whole_logprobs(server, "Smileys: \U0001F600\U0001F603\U0001F604\U0001F601\U0001F606")
    assert len(want["tokens"]) == 8
    assert len(got["tokens"]) == 8, f"streamed {len(got['tokens'])} logprob entries for 8 tokens"
    assert got["token_logprobs"] == want["token_logprobs"]


def test_usage_counts_the_prompt_tokens_the_prefix_cache_served(client, server):
    # OpenAI's usage.prompt_tokens_details.cached_tokens: none the first time (a prompt no other
    # test sends), whole blocks of it the second; chat says the same.
    prompt = "Cached-token accounting check: " + " ".join(f"w{i}" for i in range(80))
    first = greedy(client, prompt=prompt, max_tokens=1)
    second = greedy(client, prompt=prompt, max_tokens=1)
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert 0 < second.usage.prompt_tokens_details.cached_tokens < second.usage.prompt_tokens
    msgs = [{"role": "user", "content": prompt}]
    client.chat.completions.create(model="default", messages=msgs, max_tokens=1)
    again = client.chat.completions.create(model="default", messages=msgs, max_tokens=1)
    assert 0 < again.usage.prompt_tokens_details.cached_tokens < again.usage.prompt_tokens


def echo_with_logprobs(s, prompt, stream):
    body = {"model": "default", "prompt": prompt, "max_tokens": 2, "echo": True, "logprobs": 1, "stream": stream}
    st, _, r = s.request("POST", "/v1/completions", body)
    assert st == 200
    if not stream:
        c = r["choices"][0]
        return c["text"], c["logprobs"]["tokens"], c["logprobs"]["token_logprobs"], c["logprobs"]["text_offset"]
    chunks = [json.loads(line[6:])["choices"] for line in r.split("\n") if line.startswith("data: {")]
    lps = [c[0]["logprobs"] for c in chunks if c and c[0]["logprobs"]]
    return ("".join(c[0]["text"] for c in chunks if c), [t for lp in lps for t in lp["tokens"]],
            [v for lp in lps for v in lp["token_logprobs"]], [o for lp in lps for o in lp["text_offset"]])


@pytest.mark.parametrize("model", ["gemma3-270m", TINY_SPM])
def test_echo_is_the_prompt_as_written(model):
    # Both vocabularies add BOS; the tiny SentencePiece one also gives "Hello" a leading space
    # ("▁H") that decoding leaves out. The echo is the prompt's text: no BOS in it nor among its
    # logprob entries (the first listed token follows BOS, so it has a probability), and each
    # prompt token's offset is where its text stands in that text.
    s = Server(model=model)
    try:
        for stream in (False, True):
            text, tokens, lps, offsets = echo_with_logprobs(s, "Hello there", stream)
            assert text.startswith("Hello there") and "<bos>" not in text and "<s>" not in text, text
            assert lps[0] is not None, (tokens, lps)
            assert offsets[0] == 0 and text.startswith(tokens[0].lstrip(" ")), (tokens, offsets)
            for tok, off in zip(tokens[1:], offsets[1:]):
                if off >= len("Hello there"):
                    break
                assert text[off:off + len(tok)] == tok, (tokens, offsets, text)
        # Token ids are echoed as given, a BOS among them too (first, without a probability).
        st, _, t = s.request("POST", "/tokenize", {"content": "Hello there", "add_special": True})
        st2, _, bos = s.request("POST", "/detokenize", {"tokens": t["tokens"][:1]})
        assert st == st2 == 200 and bos["content"] in ("<bos>", "<s>"), (t, bos)
        text, tokens, lps, _ = echo_with_logprobs(s, t["tokens"], False)
        assert text.startswith(bos["content"]) and lps[0] is None, (text, lps)
    finally:
        s.stop()


def test_generated_control_tokens_are_not_text(server):
    # OpenAI's answers never hold control tokens (found by helper-118: a biased `<|im_start|>` came
    # back as text); vLLM's `skip_special_tokens: false` keeps them. Their logprob entries still name
    # them, and the offsets count only the text returned.
    im_start = "<|im_start|>"
    assert tokenize(server, content=im_start)["tokens"] == [1]
    body = {"model": "default", "prompt": PROMPT, "max_tokens": 3, "temperature": 0, "logit_bias": {"1": 100}, "logprobs": 1}
    st, _, r = server.request("POST", "/v1/completions", body)
    c = r["choices"][0]
    assert st == 200 and c["text"] == "" and r["usage"]["completion_tokens"] == 3, r
    assert c["logprobs"]["tokens"] == [im_start] * 3 and c["logprobs"]["text_offset"] == [0, 0, 0], c["logprobs"]
    st, _, r = server.request("POST", "/v1/completions", dict(body, skip_special_tokens=False))
    c = r["choices"][0]
    assert st == 200 and c["text"] == im_start * 3, r
    assert c["logprobs"]["text_offset"] == [0, 12, 24], c["logprobs"]
    # Streamed alike: no text, every token's entry.
    events = [e for e in sse(server, "/v1/completions", dict(body, stream=True))[2] if e != "[DONE]"]
    assert "".join(e["choices"][0]["text"] for e in events if e["choices"]) == ""
    lps = [e["choices"][0]["logprobs"] for e in events if e["choices"] and e["choices"][0]["logprobs"]]
    assert sum(len(lp["tokens"]) for lp in lps) == 3 and {o for lp in lps for o in lp["text_offset"]} == {0}, lps
    # An echoed prompt keeps its own control tokens; the generated one after it adds no text.
    st, _, r = server.request("POST", "/v1/completions", dict(body, prompt=im_start + "user", echo=True, max_tokens=1))
    c = r["choices"][0]
    assert c["text"] == im_start + "user", c
    assert c["logprobs"]["tokens"] == [im_start, "user", im_start] and c["logprobs"]["text_offset"] == [0, 12, 16], c["logprobs"]
    assert server.request("POST", "/v1/completions", dict(body, skip_special_tokens="no"))[0] == 400


def test_truncate_prompt_tokens_keeps_the_prompt_s_last_tokens(client, server, short_server):
    """vLLM's `truncate_prompt_tokens`: the answer is the one to the prompt's last k tokens."""
    ids = tokenize(server, prompt=PROMPT)["tokens"]
    k = len(ids) // 2
    cut = greedy(client, extra_body={"truncate_prompt_tokens": k})
    plain = greedy(client, prompt=ids[-k:])
    assert (cut.choices[0].text, cut.usage.prompt_tokens) == (plain.choices[0].text, k)
    # Chat: the rendered conversation's last k tokens.
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": PROMPT}]
    chat_ids = tokenize(server, messages=msgs, add_generation_prompt=True)["tokens"]
    k = len(chat_ids) - 5
    c = client.chat.completions.create(model="default", messages=msgs, max_tokens=8, temperature=0,
                                       extra_body={"truncate_prompt_tokens": k})
    plain = greedy(client, prompt=chat_ids[-k:])
    assert (c.choices[0].message.content, c.usage.prompt_tokens) == (plain.choices[0].text, k)
    # -1: as many as fit beside max_tokens (this server's context is 512 tokens).
    long = "word " * 600
    status, _, data = short_server.request("POST", "/v1/completions", {"model": "default", "prompt": long, "max_tokens": 5,
                                                                       "temperature": 0, "truncate_prompt_tokens": -1})
    assert status == 200 and data["usage"]["prompt_tokens"] == 512 - 5, data
    # -1 with max_tokens leaving no room: the 400 names max_tokens, not a prompt the client never sent.
    status, _, data = short_server.request("POST", "/v1/completions", {"model": "default", "prompt": "Hi", "max_tokens": 512,
                                                                       "truncate_prompt_tokens": -1})
    assert status == 400 and data["error"]["param"] == "max_tokens", data
    for bad in (0, -2, 513, "10"):
        status, _, data = short_server.request("POST", "/v1/completions", {"model": "default", "prompt": "Hi", "truncate_prompt_tokens": bad})
        assert status == 400 and data["error"]["param"] == "truncate_prompt_tokens", (bad, data)


def test_a_crlf_stop_matches_though_the_model_writes_it_in_two_tokens(client):
    """SmolLM2 writes "\\r" and "\\n" as separate tokens here: the stop "\\r\\n" must still end the answer."""
    prompt = "Q: What is 2+2?\r\nA: 4\r\nQ: What is the capital of France?\r\nA: Paris\r\nQ: What color is the sky?\r\nA:"
    whole = client.completions.create(model="default", prompt=prompt, max_tokens=20, temperature=0, stop=["\r\n"])
    c = whole.choices[0]
    assert c.finish_reason == "stop" and "\r" not in c.text and c.text.strip(), c
    streamed = "".join(ch.choices[0].text for ch in client.completions.create(
        model="default", prompt=prompt, max_tokens=20, temperature=0, stop=["\r\n"], stream=True) if ch.choices)
    assert streamed == c.text
    # The limit on a stop's length counts code points (one character of 601 is 601).
    with pytest.raises(Exception) as e:
        client.completions.create(model="default", prompt="x", max_tokens=2, stop=["a" + "\u0301" * 600])
    assert e.value.status_code == 400
