"""llama-server's own POST /completion on SmolLM2, against llama-server given the same requests."""
import json

import pytest

from conftest import raw_post

# llama-server (llama_cpp_python 0.3.36, SmolLM2-135M-Instruct Q4_1, -c 4096 -t 1), temperature 0:
# its `content`, `tokens_evaluated`, `tokens_predicted`, `stop_type` and `stopping_word`.
REFERENCE = [
    ({"prompt": "The capital of France is", "n_predict": 12},
     " Paris.\n\nThe United States has a population of approximately", 5, 12, "limit", ""),
    ({"prompt": "<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n", "n_predict": 16},
     "The most popular color among the 1000 people surveyed was blue.", 13, 16, "limit", ""),
    ({"prompt": [504, 3575, 282], "n_predict": 8}, " the United States is Washington D.C", 3, 8, "limit", ""),
    ({"prompt": "Once upon a time", "n_predict": 20, "stop": [","]}, "", 4, 1, "word", ","),
]


@pytest.mark.parametrize("body,content,evaluated,predicted,stop_type,word", REFERENCE)
def test_completion_answers_as_llama_server(server, body, content, evaluated, predicted, stop_type, word):
    st, _, d = server.request("POST", "/completion", dict(body, temperature=0))
    assert st == 200, d
    got = tuple(d[k] for k in ("content", "tokens_evaluated", "tokens_predicted", "stop_type", "stopping_word"))
    assert got == (content, evaluated, predicted, stop_type, word)
    assert d["stop"] is True and set(d["timings"]) >= {"prompt_n", "predicted_n", "prompt_ms", "predicted_ms", "cache_n"}
    # Streamed: `data:` events without [DONE], adding up to the whole.
    status, _, text = raw_post(server, "/completion", dict(body, temperature=0, stream=True))
    assert status == 200 and "[DONE]" not in text
    events = [json.loads(block[len("data: "):]) for block in text[:-2].split("\n\n")]
    assert "".join(e["content"] for e in events) == content and events[-1]["stop"] is True


def test_completion_errors(server):
    for body, param in [({}, "prompt"), ({"prompt": ""}, "prompt"), ({"prompt": [1, 2.5]}, "prompt"),
                        ({"prompt": [1, 999999]}, "prompt"), ({"prompt": {"a": 1}}, "prompt"),
                        ({"prompt": "x", "n_predict": -2}, "n_predict"), ({"prompt": "x", "mirostat": 2}, "mirostat"),
                        ({"prompt": "x", "temperature": "hot"}, "temperature"), ({"prompt": []}, "prompt"),
                        ({"prompt": ["a", {"x": 1}]}, "prompt[1]"), ({"prompt": ["a", ""]}, "prompt[1]"),
                        ({"prompt": [{"prompt_string": "hi", "multimodal_data": ["AAAA"]}]}, "prompt[0].multimodal_data"),
                        ({"prompt": "x", "logit_bias": [[1, "no"]]}, "logit_bias")]:
        st, _, d = server.request("POST", "/completion", body)
        assert st == 400 and d["error"]["param"] == param, (body, d)


# llama-server (as above) given several prompts in one request: an answer each, in the prompts'
# order and `n_cmpl` times each (index = prompt × n_cmpl + choice); `{"prompt_string": ...}` is a prompt.
SEVERAL = [
    ({"prompt": ["The capital of France is", [504, 3575, 282]], "n_predict": 8},
     [(" Paris.\n\nThe United States has", 5), (" the United States is Washington D.C", 3)]),
    ({"prompt": ["The capital of France is", {"prompt_string": "<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n"}],
      "n_predict": 6, "n_cmpl": 2},
     [(" Paris.\n\nThe United", 5), (" Paris.\n\nThe United", 5), ("The most popular color among the", 13),
      ("The most popular color among the", 13)]),
]


@pytest.mark.parametrize("body,answers", SEVERAL)
def test_several_prompts_answered_as_llama_server(server, body, answers):
    st, _, d = server.request("POST", "/completion", dict(body, temperature=0))
    assert st == 200 and isinstance(d, list), d
    assert [(e["index"], e["content"], e["tokens_evaluated"]) for e in d] == [(i, c, n) for i, (c, n) in enumerate(answers)]
    assert all(e["tokens_predicted"] == body["n_predict"] and e["stop_type"] == "limit" for e in d)
    # Streamed: each answer's pieces under its index, then its final event.
    status, _, text = raw_post(server, "/completion", dict(body, temperature=0, stream=True))
    events = [json.loads(block[len("data: "):]) for block in text[:-2].split("\n\n")]
    assert status == 200 and sorted(e["index"] for e in events if e["stop"]) == list(range(len(answers)))
    for i, (content, evaluated) in enumerate(answers):
        mine = [e for e in events if e["index"] == i]
        assert "".join(e["content"] for e in mine) == content and all(e["tokens_evaluated"] == evaluated for e in mine)
    # One prompt in an array, or one prompt object, is answered as one object.
    for prompt in (["The capital of France is"], {"prompt_string": "The capital of France is"}, [["The capital", 282]]):
        st, _, d = server.request("POST", "/completion", {"prompt": prompt, "n_predict": 4, "temperature": 0})
        assert st == 200 and isinstance(d, dict) and d["index"] == 0, (prompt, d)


def test_a_short_answer_s_final_event_does_not_wait_for_a_long_one(server):
    """Streamed, each answer's final event comes when that answer ends, as llama-server sends each
    task's: here the first stops at "." after two tokens while the second counts on."""
    body = {"prompt": ["The capital of France is", "1, 2, 3, 4, 5,"], "n_predict": 24, "temperature": 0, "stop": ["."],
            "stream": True}
    status, _, text = raw_post(server, "/completion", body)
    events = [json.loads(block[len("data: "):]) for block in text[:-2].split("\n\n")]
    assert status == 200 and [(e["index"], e["stop_type"]) for e in events if e["stop"]] == [(0, "word"), (1, "limit")]
    first_final = next(k for k, e in enumerate(events) if e["stop"])
    assert sum(1 for e in events[first_final:] if e["index"] == 1 and not e["stop"]) >= 10, events
    # Its timings are its own: two tokens predicted, not the longer answer's.
    assert events[first_final]["timings"]["predicted_n"] == 2 and events[-1]["timings"]["predicted_n"] == 24


# llama-server (as above) with `return_tokens`: the ids sampled, a stop string's included; streamed,
# each event's own (the final event's empty).
RETURN_TOKENS = [
    ({"prompt": "The capital of France is", "n_predict": 8}, [7042, 30, 198, 198, 504, 1797, 1918, 553],
     [(" Paris", [7042]), (".", [30]), ("\n", [198]), ("\n", [198]), ("The", [504]), (" United", [1797]),
      (" States", [1918]), (" has", [553])]),
    ({"prompt": "Once upon a time", "n_predict": 20, "stop": [","]}, [28], [("", [28])]),
    ({"prompt": "The capital of France is", "n_predict": 20, "stop": ["."]}, [7042, 30], [(" Paris", [7042]), ("", [30])]),
]


@pytest.mark.parametrize("body,ids,pieces", RETURN_TOKENS)
def test_return_tokens_gives_the_sampled_ids(server, body, ids, pieces):
    st, _, d = server.request("POST", "/completion", dict(body, temperature=0, return_tokens=True))
    assert st == 200 and d["tokens"] == ids, d
    status, _, text = raw_post(server, "/completion", dict(body, temperature=0, return_tokens=True, stream=True))
    events = [json.loads(block[len("data: "):]) for block in text[:-2].split("\n\n")]
    assert status == 200 and [(e["content"], e["tokens"]) for e in events[:-1]] == pieces and events[-1]["tokens"] == []


def test_completion_takes_llama_server_s_own_forms(server):
    """What llama.cpp's clients send: its whole sampler set at off values (passed over, as llama-server does),
    `samplers` as letters, `n_predict` beside `max_tokens`, `logit_bias` as pairs, `json_schema`, `ignore_eos`."""
    base = {"prompt": "The capital of France is", "n_predict": 6, "temperature": 0}
    plain = server.request("POST", "/completion", base)[2]
    extras = {"tfs_z": 1.0, "dry_multiplier": 0.0, "xtc_probability": 0.0, "dynatemp_range": 0.0, "min_keep": 0,
              "timings_per_token": False, "samplers": "kfypmxt", "max_tokens": 99}
    st, _, d = server.request("POST", "/completion", dict(base, **extras))
    assert st == 200 and d["content"] == plain["content"] and d["tokens_predicted"] == 6, d
    # The first token banned by a pair: another first token.
    first = server.request("POST", "/tokenize", {"content": plain["content"]})[2]["tokens"][0]
    st, _, d = server.request("POST", "/completion", dict(base, logit_bias=[[first, False]]))
    assert st == 200 and server.request("POST", "/tokenize", {"content": d["content"]})[2]["tokens"][0] != first
    st, _, d = server.request("POST", "/completion", dict(base, n_predict=24, json_schema={"type": "object", "properties": {"a": {"type": "integer"}},
                                                                                           "required": ["a"]}))
    assert st == 200 and json.loads(d["content"])["a"] is not None, d
    # ignore_eos bans the end of generation (llama-server's meaning): every token is text.
    st, _, d = server.request("POST", "/completion", {"prompt": "<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n",
                                                      "n_predict": 40, "temperature": 0, "ignore_eos": True, "return_tokens": True})
    assert st == 200 and d["tokens_predicted"] == 40 and "<|im_end|>" not in d["content"], d
