#!/usr/bin/env python3
"""How often `tool_choice: "auto"` does the right thing: a call for clear tool requests, plain
text for small talk, on a small labelled set, at temperature 0, through the official openai client.

    python3 benchmarks/tools/auto_tool_choice.py --base http://127.0.0.1:8080/v1 [--limit N]

Prints one line per prompt and the rates; exits 0 (a report, not a test). The same set and
helpers back the floor asserted in Tests/api/test_tools.py.
"""
import argparse
import json
import sys
import time

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "convert_currency", "description": "Convert an amount of money from one currency to another",
        "parameters": {"type": "object", "properties": {
            "amount": {"type": "number"}, "from": {"type": "string", "description": "ISO code, e.g. USD"},
            "to": {"type": "string", "description": "ISO code, e.g. EUR"}}, "required": ["amount", "from", "to"]}}},
    {"type": "function", "function": {
        "name": "send_email", "description": "Send an email",
        "parameters": {"type": "object", "properties": {
            "to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}},
            "required": ["to", "subject", "body"]}}},
]

# (prompt, expected function or None for plain text)
LABELLED = [
    ("What's the weather like in Paris right now?", "get_weather"),
    ("Convert 100 US dollars to euros.", "convert_currency"),
    ("Email bob@example.com with subject 'Lunch' and say I'll be late.", "send_email"),
    ("Is it raining in Tokyo today? Use celsius.", "get_weather"),
    ("How many Japanese yen is 50 British pounds?", "convert_currency"),
    ("Tell me the temperature in Berlin.", "get_weather"),
    ("Hi! How are you today?", None),
    ("Thanks, that was helpful.", None),
    ("Tell me a short joke about cats.", None),
    ("What is your name?", None),
    ("Good morning!", None),
    ("Say hello in French.", None),
]


def classify(client, model, prompt, max_tokens=48):
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}], tools=TOOLS,
                                       tool_choice="auto", temperature=0, max_tokens=max_tokens)
    m = r.choices[0].message
    if m.tool_calls:
        return m.tool_calls[0].function.name, r
    return None, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8080/v1")
    ap.add_argument("--model", default="default")
    ap.add_argument("--limit", type=int, default=len(LABELLED))
    a = ap.parse_args()
    from openai import OpenAI
    client = OpenAI(base_url=a.base, api_key="unused", max_retries=0, timeout=300)
    right = {True: [0, 0], False: [0, 0]}  # tool request?: [right, total]
    t0 = time.time()
    pseudo = 0
    for prompt, want in LABELLED[:a.limit]:
        got, r = classify(client, a.model, prompt)
        ok = got == want
        right[want is not None][0] += ok
        right[want is not None][1] += 1
        text = r.choices[0].message.content or ""
        # A small model may answer small talk with an invented call written as text: not a call
        # on the wire (right), but not a useful answer either; counted apart.
        if got is None and '"name"' in text and '"arguments"' in text:
            pseudo += 1
        shown = got or json.dumps(text[:60])
        print(f"{'ok ' if ok else 'BAD'} want={want or 'text':<16} got={shown}  ({prompt})", flush=True)
    tr, tn = right[True]
    sr, sn = right[False]
    print(f"tool requests called the right tool: {tr}/{tn}; small talk answered in text: {sr}/{sn}; "
          f"overall {tr + sr}/{tn + sn}; texts that are an invented call written out: {pseudo}; {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
