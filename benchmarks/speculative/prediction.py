#!/usr/bin/env python3
"""Predicted Outputs (`prediction` on chat completions): one client, temperature 0, the answers
ending where the model ends them. Three code edits whose answer is mostly the given code (rename
a variable, add a type hint to each parameter, fix one off-by-one), each asked of a Jeton server
with and without the code as the prediction (alternating which goes first), and, with --llama
URL, of llama-server (which has no `prediction`: the same request without it).

  prediction.py --base http://127.0.0.1:PORT [--llama http://127.0.0.1:PORT2] [--rounds 2]

Rates are completion tokens over each request's wall time (the prompt is cached after a warm-up
request, on both engines). Jeton's answers with and without the prediction must be the same text
(the prediction only proposes; the model decides), and each prints its usage's
accepted_prediction_tokens / rejected_prediction_tokens.
"""
import argparse
import statistics

from bench import EDIT, post  # post: one chat request, (answer, seconds)

CODE = EDIT.split("```python\n", 1)[1].split("```", 1)[0]

TASKS = {
    "rename": EDIT,
    "hints": "Add type hints to every parameter of these functions and return all of the code, nothing else.\n\n"
             f"```python\n{CODE}```",
    "fix": "The timeout in `post` should be 600, not 1800. Fix it and return all of the code, nothing else.\n\n"
           f"```python\n{CODE}```",
}


def body(task, max_tokens, prediction=False):
    b = {"model": "default", "messages": [{"role": "user", "content": TASKS[task]}], "max_tokens": max_tokens,
         "temperature": 0}
    if prediction:
        b["prediction"] = {"type": "content", "content": f"```python\n{CODE}```"}
    return b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="a Jeton server (its own speculation off or on)")
    ap.add_argument("--llama", help="a llama-server on the same model, for its plain rate")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=400)
    ap.add_argument("--tasks", default=",".join(TASKS))
    a = ap.parse_args()
    summary = []
    for task in a.tasks.split(","):
        rates = {"plain": [], "prediction": [], "llama": []}
        texts = {}
        for arm, base in (("plain", a.base), ("llama", a.llama)):  # warm-ups: the prompts cached
            if base:
                post(base, body(task, 1))
        for rnd in range(a.rounds):
            order = ["prediction", "plain"] if rnd % 2 == 0 else ["plain", "prediction"]
            if a.llama:
                order.insert(rnd % 3, "llama")
            for arm in order:
                out, seconds = post(a.llama if arm == "llama" else a.base, body(task, a.max_tokens, arm == "prediction"))
                n = out["usage"]["completion_tokens"]
                rates[arm].append(n / seconds)
                texts.setdefault(arm, out["choices"][0]["message"]["content"])
                d = (out["usage"].get("completion_tokens_details") or {}) if arm == "prediction" else {}
                extra = (f", prediction tokens accepted {d.get('accepted_prediction_tokens')} rejected "
                         f"{d.get('rejected_prediction_tokens')}") if d else ""
                print(f"  {task} round {rnd + 1} {arm:10}: {n} tokens in {seconds:.2f} s: {n / seconds:.2f} tok/s{extra}",
                      flush=True)
        same = texts["plain"] == texts["prediction"]
        p, q = statistics.mean(rates["prediction"]), statistics.mean(rates["plain"])
        line = f"{task}: with the prediction {p:.2f} tok/s, without {q:.2f} ({p / q:.2f}x)"
        if rates["llama"]:
            l = statistics.mean(rates["llama"])
            line += f"; llama-server {l:.2f} (Jeton with the prediction {p / l:.2f}x, without {q / l:.2f}x)"
        line += "; same text" if same else "; TEXTS DIFFER"
        summary.append(line)
    print("== Predicted Outputs (means over the rounds)")
    for s in summary:
        print("  " + s)


if __name__ == "__main__":
    main()
