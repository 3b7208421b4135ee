"""Feasibility probe: does fine-tuning all-MiniLM-L6-v2 end to end, as a
cross-encoder over (request, reply), beat the shipped frozen-embedding
`classifier` head on behaviours it never saw?

Not part of mmsafe: a PyTorch experiment whose figures are quoted in
docs/judges.md ("Fine-tuning the encoder"). It trains on the same training
files as `mmsafe judge train`, holds out the same behaviours / questions as
`--holdout 0.3` (FNV-1a of the group, as crates/mmsafe-judge/src/labels.rs),
and reads a measurement-only set (jailbreakbench/judge-comparison.csv) only
when `--measure-jbb` names it: after training is finished, once, to report.

    pip install torch transformers safetensors
    python3 experiments/finetune_probe.py --data ../shared/data \
        --model ~/.cache/mmsafe/models/all-minilm-l6-v2 [--freeze 0] [--epochs 2] [--max-len 256] \
        [--measure-jbb ../shared/data/jailbreakbench/judge-comparison.csv]

It prints accuracy per held-out source; it never prints data.
"""
import argparse, csv, json, random, time

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

SOURCE_WEIGHT = {"hb_text": 5.0, "hb_mm": 5.0, "xstest": 2.0, "gf_eval": 1.0, "gf_train": 1.0}


def fnv1a(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def held_out(group, frac):
    return (fnv1a(group) % 10000) / 10000 < frac


def load_rows(data):
    """(source, group, request, reply, harmful) in the order mmsafe loads them."""
    behaviours = {}
    for f in ["harmbench_behaviors_text_all.csv", "harmbench_behaviors_multimodal_all.csv"]:
        for r in csv.DictReader(open(f"{data}/harmbench/behavior_datasets/{f}", encoding="utf-8")):
            behaviours[r["BehaviorID"]] = r["Behavior"]
    rows = []
    for f, src in [("multimodal_behaviors_val_set.json", "hb_mm"), ("text_behaviors_val_set.json", "hb_text")]:
        d = json.load(open(f"{data}/harmbench/classifier_val_sets/{f}", encoding="utf-8"))
        for b, items in sorted(d.items()):
            for r in items:
                tc = r["test_case"]
                tc = tc[-1] if isinstance(tc, list) else tc
                votes = sum(int(r[f"human_{k}"]) for k in range(3))
                rows.append((src, b, behaviours.get(b, tc), r["generation"], votes >= 2, votes / 3))
    questions = {r["index"]: r["text"] for r in csv.DictReader(open(f"{data}/gptfuzz-labeled-responses/question_list.csv", encoding="utf-8"))}
    for f, src in [("evaluate.csv", "gf_eval"), ("train.csv", "gf_train")]:
        for r in csv.DictReader(open(f"{data}/gptfuzz-labeled-responses/responses_labeled/{f}", encoding="utf-8")):
            rows.append((src, f"gptfuzz-q{r['question']}", questions[r["question"]], r["Response"], r["label"].strip() == "1"))
    for m in ["gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct"]:
        for r in csv.DictReader(open(f"{data}/xstest/model_completions/xstest_v2_completions_{m}.csv", encoding="utf-8")):
            harmful = r["final_label"].startswith("1") and r["type"].startswith("contrast")
            rows.append(("xstest", r["prompt"], r["prompt"], r["completion"], harmful))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--freeze", type=int, default=0, help="bottom layers kept frozen")
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--gptfuzz-train-rows", type=int, default=2500, help="subsample, for CPU time")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-len", type=int, default=256, help="tokens per sequence (MiniLM has 512 positions)")
    ap.add_argument("--soft-labels", action="store_true", help="train HarmBench rows towards the share of annotators who said harmful (0, 1/3, 2/3, 1) instead of the majority")
    ap.add_argument("--measure-jbb", help="after training, report agreement on this JailbreakBench judge-comparison CSV")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)

    cfg = BertConfig.from_json_file(f"{a.model}/config.json")
    enc = BertModel(cfg, add_pooling_layer=False)
    enc.load_state_dict(load_file(f"{a.model}/model.safetensors"), strict=False)
    tok = PreTrainedTokenizerFast(tokenizer_file=f"{a.model}/tokenizer.json")
    head = torch.nn.Linear(cfg.hidden_size, 1)
    for p in enc.embeddings.parameters():
        p.requires_grad = a.freeze == 0 and p.requires_grad
    for layer in enc.encoder.layer[: a.freeze]:
        for p in layer.parameters():
            p.requires_grad = False
    params = [p for p in enc.parameters() if p.requires_grad] + list(head.parameters())

    rows = load_rows(a.data)
    train = [i for i, r in enumerate(rows) if not held_out(r[1], a.holdout)]
    gf = [i for i in train if rows[i][0] == "gf_train"]
    random.shuffle(gf)
    dropped = set(gf[a.gptfuzz_train_rows:])
    train = [i for i in train if i not in dropped]
    test = [i for i, r in enumerate(rows) if held_out(r[1], a.holdout) and r[0] != "gf_train"]
    print(f"train {len(train)} rows, held-out {len(test)} rows", flush=True)

    def encode(ids):
        # Request first (≤ 64 tokens), then as much of the reply as fits in --max-len.
        q = tok([rows[i][2] for i in ids], add_special_tokens=False, truncation=True, max_length=64)["input_ids"]
        r = tok([rows[i][3] for i in ids], add_special_tokens=False, truncation=True, max_length=a.max_len)["input_ids"]
        seqs = [[tok.convert_tokens_to_ids("[CLS]")] + x + [tok.convert_tokens_to_ids("[SEP]")] + y[: a.max_len - 3 - len(x)] + [tok.convert_tokens_to_ids("[SEP]")] for x, y in zip(q, r)]
        n = max(map(len, seqs))
        ii = torch.zeros(len(seqs), n, dtype=torch.long)
        am = torch.zeros_like(ii)
        tt = torch.zeros_like(ii)
        for k, s in enumerate(seqs):
            ii[k, : len(s)] = torch.tensor(s)
            am[k, : len(s)] = 1
            tt[k, len(q[k]) + 2 : len(s)] = 1
        return ii, am, tt

    def logits(ids):
        ii, am, tt = encode(ids)
        h = enc(input_ids=ii, attention_mask=am, token_type_ids=tt).last_hidden_state
        m = am.unsqueeze(-1).float()
        return head((h * m).sum(1) / m.sum(1)).squeeze(-1)

    approx_len = {i: (len(rows[i][2]) + len(rows[i][3])) // 4 for i in range(len(rows))}

    def batches(ids, size, shuffle):
        # Length-sorted batches pad little; shuffling the batch order keeps SGD honest.
        ids = sorted(ids, key=lambda i: approx_len[i])
        out = [ids[k : k + size] for k in range(0, len(ids), size)]
        if shuffle:
            random.shuffle(out)
        return out

    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01)
    total = len(batches(train, 16, False)) * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / 50) * max(0.0, 1 - s / total))
    y = torch.tensor([r[5] if a.soft_labels and len(r) > 5 else float(r[4]) for r in rows])
    w = torch.tensor([SOURCE_WEIGHT[r[0]] for r in rows])
    t0 = time.time()
    for epoch in range(a.epochs):
        enc.train()
        for b in batches(train, 16, True):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits(b), y[b], weight=w[b], reduction="sum") / w[b].sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
        enc.eval()
        p = np.zeros(len(rows))
        with torch.no_grad():
            for b in batches(test, 32, False):
                p[b] = torch.sigmoid(logits(b)).numpy()
        for src in ["hb_text", "hb_mm", "gf_eval", "xstest"]:
            m = [i for i in test if rows[i][0] == src]
            acc = np.mean((p[m] >= 0.5) == np.array([rows[i][4] for i in m]))
            print(f"epoch {epoch + 1} {src}: n={len(m)} accuracy={100 * acc:.1f}% ({time.time() - t0:.0f}s)", flush=True)

    if a.measure_jbb:
        jbb = [(r["goal"], r["target_response"], r["human_majority"].strip() == "1") for r in csv.DictReader(open(a.measure_jbb, encoding="utf-8"))]
        base = len(rows)
        rows.extend(("jbb", "", q, r, label) for q, r, label in jbb)
        ids = list(range(base, len(rows)))
        for i in ids:
            approx_len[i] = (len(rows[i][2]) + len(rows[i][3])) // 4
        p = np.zeros(len(rows))
        with torch.no_grad():
            for b in batches(ids, 32, False):
                p[b] = torch.sigmoid(logits(b)).numpy()
        acc = np.mean((p[ids] >= 0.5) == np.array([rows[i][4] for i in ids]))
        print(f"measurement: JailbreakBench judge-comparison n={len(ids)} accuracy={100 * acc:.1f}%", flush=True)


if __name__ == "__main__":
    main()
