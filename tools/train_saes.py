#!/usr/bin/env python3
"""Train the TopK sparse autoencoders (SAEs) of models-small/ioi-4l, one per hook, and evaluate them.

    /usr/bin/python3 tools/train_saes.py            (about 30 minutes on one thread; then runs tools/eval_saes.py)

writes models-small/ioi-4l/saes/<hook>/{cfg.json,sae_weights.safetensors} (SAELens's layout, F16),
models-small/ioi-4l/saes/training.json (the command, the time and the loss along the way) and, through
tools/eval_saes.py, models-small/ioi-4l/saes/saes.json (the evaluation). Options: --out DIR, --k, --steps,
--hooks (a comma list, for trials), --weighting (a loss weighting that was tried), --no-eval. PyTorch on the
CPU (Debian python3-torch), one thread, fixed seeds.

Hooks (TransformerLens names, forward order; 13 SAEs, d_in 128, d_sae 512):
    blocks.L.hook_resid_pre, blocks.L.hook_attn_out, blocks.L.hook_mlp_out for L = 0..3, blocks.3.hook_resid_post
(the residual after the last block, before the final LayerNorm). attn_out and mlp_out include their output
projection's bias, as TransformerLens's hooks do.

Data: the model's own training mix (tools/train_small.py's Batches, as stage 3 ran it: 32 IOI sentences and 40
random-token induction documents a draw, random words with chance 0.15 in half the IOI sentences, 30% of the
generated sentences opening with the pair's names), with seed TRAIN_SEED (the model's stages used 1, 3 and 5;
the evaluation uses EVAL_SEED). Activations are taken at every token of every document except BOS (position 0)
and the padding after a document's end. BOS is left out, as SAELens (exclude_special_tokens) and later
dictionary_learning (remove_bos) do: with causal attention its activation is one fixed vector per hook whatever
the text, and a large one in the residual stream (norm about 900 against a mean of 200 to 250 over the other
tokens, from MLP 0's output), which would otherwise weigh on the reconstruction loss as one point repeated in
every document. cfg.json records it as seqpos_slice [1, null]. (Positions 1 to about 5 carry such massive
MLP 0 outputs too; they are kept: they hold words and names.)

Training (OpenAI's TopK recipe, Gao et al. 2024): activations scaled by one constant per hook so that the
centred data has unit variance per dimension (folded back into b_enc and b_dec when saved: the TopK choice does
not change under a positive scale, so W_enc and W_dec stay as trained); b_dec starts at the mean of the first
chunk of data; W_dec rows are random unit vectors and W_enc = W_dec^T; b_enc = 0; loss = ||x - x_hat||^2 summed
over dimensions, mean over tokens, plus AuxK (1/32 times the same loss, for the residual x - x_hat, from the
k_aux = 64 largest pre-activations of the dead latents, those that did not fire in the last DEAD_WINDOW training
tokens; scaled by min(1, n_dead / 64) as SAELens does); Adam (lr 3e-3, betas 0.9/0.999), 50 warm-up steps,
a linear decay to 0 over the last 20% of the steps; the component of W_dec's gradient along each row is removed
and the rows are set back to unit norm after each step. Batches of 4096 tokens, drawn from a shuffled chunk of
16384 tokens from about 600 documents.
"""
import argparse
import json
import math
import os
import struct
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import ioi_text as D  # noqa: E402
import train_small as TS  # noqa: E402

MODEL_DIR = os.path.join(ROOT, "models-small", "ioi-4l")
EOT = D.EOT
N_LAYERS, D_MODEL = 4, 128
HOOKS = [h for L in range(N_LAYERS) for h in (f"blocks.{L}.hook_resid_pre", f"blocks.{L}.hook_attn_out",
                                               f"blocks.{L}.hook_mlp_out")] + [f"blocks.{N_LAYERS - 1}.hook_resid_post"]
TRAIN_SEED = 1001  # the text the SAEs learn from
EVAL_SEED = 2002  # held-out text (tools/eval_saes.py)
INIT_SEED = 0  # torch seed of SAE i is INIT_SEED + i (its index in HOOKS)
N_IOI, N_INDUCTION = 32, 40  # documents a draw, as the model's stage 3
NOISE, INITIAL_NAMES = 0.15, 0.3  # stage 3's text options
D_SAE = 512
DEAD_WINDOW = 200_000
K_AUX = 64
AUX_COEF = 1 / 32


# ---------------------------------------------------------------- model and text
def tokenizer(model_dir=MODEL_DIR):
    """GPT-2's BPE from the model's own vocab.json and merges.txt (train_small.Tokenizer reads npm's names)"""
    d = tempfile.mkdtemp(prefix="relp-tok-")
    os.symlink(os.path.abspath(os.path.join(model_dir, "vocab.json")), os.path.join(d, "encoder.json"))
    os.symlink(os.path.abspath(os.path.join(model_dir, "merges.txt")), os.path.join(d, "vocab.bpe"))
    tok = TS.Tokenizer(d)
    for f in ("encoder.json", "vocab.bpe"):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)
    return tok


def load_model(model_dir=MODEL_DIR):
    """the shipped F16 weights, computed in F32"""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    m = TS.GPT2(cfg["n_layer"], cfg["n_embd"], cfg["n_head"], cfg["n_positions"])
    TS.load_hf(m, model_dir)
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def forward(model, ids, splice=None, record=None):
    """train_small.GPT2.hidden with TransformerLens's hooks: the final hidden state (after ln_f), shape (B, T, C).
    record: a dict that receives each hook's activation (B, T, C); splice: {hook: fn(x) -> x}, applied in forward
    order, each to the activation as it is then (after the earlier splices)."""
    P, C, NH = model.P, model.C, model.NH
    B, T = ids.shape
    splice = splice or {}

    def hook(name, x):
        if name in splice:
            x = splice[name](x)
        if record is not None:
            record[name] = x
        return x

    x = P["wte"][ids] + P["wpe"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(model.L):
        x = hook(f"blocks.{l}.hook_resid_pre", x)
        h = F.layer_norm(x, (C,), P[f"ln1g{l}"], P[f"ln1b{l}"], 1e-5)
        q, k, v = (h @ P[f"qkv{l}"] + P[f"bqkv{l}"]).split(C, -1)
        q, k, v = (t.view(B, T, NH, C // NH).transpose(1, 2) for t in (q, k, v))
        att = ((q @ k.transpose(-1, -2)) / math.sqrt(C // NH)).masked_fill(~mask, float("-inf")).softmax(-1)
        a = hook(f"blocks.{l}.hook_attn_out", (att @ v).transpose(1, 2).reshape(B, T, C) @ P[f"o{l}"] + P[f"bo{l}"])
        x = x + a
        h = F.layer_norm(x, (C,), P[f"ln2g{l}"], P[f"ln2b{l}"], 1e-5)
        m = hook(f"blocks.{l}.hook_mlp_out",
                 F.gelu(h @ P[f"fc{l}"] + P[f"bfc{l}"], approximate="tanh") @ P[f"mp{l}"] + P[f"bmp{l}"])
        x = x + m
    x = hook(f"blocks.{model.L - 1}.hook_resid_post", x)
    return F.layer_norm(x, (C,), P["lnfg"], P["lnfb"], 1e-5)


def text_draws(tok, seed):
    """an endless stream of draws of the model's training mix: (ids (n, T) padded with EOT after each document's
    end, loss positions [(row, col)], their targets); IOI draws and induction draws alternate"""
    b = TS.Batches(tok, seed, name_loss=True, lm_loss=False, noise=NOISE, initial=INITIAL_NAMES)
    while True:
        yield b.ioi(N_IOI)
        yield b.induction(N_INDUCTION)


def token_mask(ids):
    """the positions SAEs train and are judged on: every token but BOS and the padding. Documents hold EOT only
    at position 0 (BOS) and as padding after their end: the text is ASCII and random tokens are < EOT."""
    m = ids != EOT
    assert not m[:, 0].any()
    return m


@torch.no_grad()
def activations(model, ids):
    """{hook: (n_tokens, C)} at token_mask(ids)"""
    rec = {}
    forward(model, ids, record=rec)
    m = token_mask(ids)
    return {h: rec[h][m] for h in HOOKS}


# ---------------------------------------------------------------- SAE
class TopKSAE:
    """SAELens's TopK SAE: pre = (x - b_dec) @ W_enc + b_enc (apply_b_dec_to_input); the k largest entries of pre
    pass through ReLU, the others are 0; x_hat = f @ W_dec + b_dec."""

    def __init__(self, W_enc, b_enc, W_dec, b_dec, k, cfg=None):
        self.W_enc, self.b_enc, self.W_dec, self.b_dec, self.k, self.cfg = W_enc, b_enc, W_dec, b_dec, k, cfg

    def encode(self, x):
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        v, i = pre.topk(self.k, -1)
        return torch.zeros_like(pre).scatter(-1, i, v.relu())

    def decode(self, f):
        return f @ self.W_dec + self.b_dec

    def __call__(self, x):
        return self.decode(self.encode(x))

    def tensors(self):
        return {"W_enc": self.W_enc, "b_enc": self.b_enc, "W_dec": self.W_dec, "b_dec": self.b_dec}

    @staticmethod
    def load(folder):
        cfg = json.load(open(os.path.join(folder, "cfg.json")))
        t = {k: v.float() for k, v in TS.read_safetensors(os.path.join(folder, "sae_weights.safetensors")).items()}
        assert cfg["architecture"] == "topk" and cfg["apply_b_dec_to_input"] and cfg["normalize_activations"] == "none"
        return TopKSAE(t["W_enc"], t["b_enc"], t["W_dec"], t["b_dec"], cfg["activation_fn_kwargs"]["k"], cfg)


def write_safetensors(path, tensors, dtype="F16", metadata=None):
    """{name: tensor} as F16 or F32 safetensors"""
    td = {"F16": torch.float16, "F32": torch.float32}[dtype]
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        raw = t.detach().contiguous().to(td).numpy().tobytes()
        header[k] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = metadata or {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def sae_cfg(hook, k, dtype):
    """cfg.json as SAELens 5.x writes it (SAEConfig.to_dict); SAELens 6 reads it as a pre-6.0 config and takes k
    from activation_fn_kwargs. relp reads d_in, d_sae, hook_name, architecture, apply_b_dec_to_input,
    normalize_activations and activation_fn_kwargs.k."""
    layer = int(hook.split(".")[1])
    return {
        "architecture": "topk",
        "d_in": D_MODEL,
        "d_sae": D_SAE,
        "dtype": "float32" if dtype == "F32" else "float16",
        "device": "cpu",
        "model_name": "ioi-4l",
        "hook_name": hook,
        "hook_layer": layer,
        "hook_head_index": None,
        "activation_fn_str": "topk",
        "activation_fn_kwargs": {"k": k},
        "apply_b_dec_to_input": True,
        "finetuning_scaling_factor": False,
        "sae_lens_training_version": None,
        "prepend_bos": True,
        "dataset_path": "generated by tools/ioi_text.py (IOI sentences and random-token induction documents), "
                        f"tools/train_saes.py seed {TRAIN_SEED}",
        "dataset_trust_remote_code": False,
        "context_size": 64,
        "normalize_activations": "none",
        "neuronpedia_id": None,
        "model_from_pretrained_kwargs": {},
        "seqpos_slice": [1, None],
    }


def save_sae(folder, hook, sae, dtype="F16"):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "cfg.json"), "w") as f:
        json.dump(sae_cfg(hook, sae.k, dtype), f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(folder, "sae_weights.safetensors"), sae.tensors(), dtype)


class Trainer:
    """one TopK SAE, trained on activations scaled by `scale` (folded back by export())"""

    def __init__(self, x0, k, seed, lr, steps, weighting="none"):
        g = torch.Generator().manual_seed(seed)
        mu = x0.mean(0)
        self.scale = math.sqrt(D_MODEL / (x0 - mu).pow(2).sum(-1).mean().item())
        W = torch.randn(D_SAE, D_MODEL, generator=g)
        W = W / W.norm(dim=-1, keepdim=True)
        self.W_dec = W.clone().requires_grad_()
        self.W_enc = W.t().clone().contiguous().requires_grad_()
        self.b_enc = torch.zeros(D_SAE, requires_grad=True)
        self.b_dec = (mu * self.scale).clone().requires_grad_()
        self.params = [self.W_enc, self.b_enc, self.W_dec, self.b_dec]
        self.opt = torch.optim.Adam(self.params, lr=lr, betas=(0.9, 0.999))
        self.k, self.lr, self.steps, self.step_i, self.weighting = k, lr, steps, 0, weighting
        self.since_fired = torch.zeros(D_SAE)  # training tokens since each latent last fired

    def step(self, x):
        x = x * self.scale
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        v, i = pre.topk(self.k, -1)
        f = torch.zeros_like(pre).scatter(-1, i, v.relu())
        x_hat = f @ self.W_dec + self.b_dec
        if self.weighting == "inverse_norm":  # each token's squared error relative to its own squared norm
            w = 1 / x.pow(2).sum(-1)
            w = w / w.mean()
        else:
            w = torch.ones(x.shape[0])
        mse = ((x_hat - x).pow(2).sum(-1) * w).mean()
        loss = mse
        fired = torch.zeros(D_SAE, dtype=torch.bool)
        fired[i[v > 0].unique()] = True
        self.since_fired += x.shape[0]
        self.since_fired[fired] = 0
        dead = self.since_fired >= DEAD_WINDOW
        n_dead = int(dead.sum())
        aux = torch.zeros(())
        if n_dead:  # AuxK: the dead latents' largest pre-activations model the residual
            k_aux = min(K_AUX, n_dead)
            va, ia = pre.masked_fill(~dead, float("-inf")).topk(k_aux, -1)
            e_hat = torch.zeros_like(pre).scatter(-1, ia, va.relu()) @ self.W_dec
            aux = ((e_hat - (x - x_hat).detach()).pow(2).sum(-1) * w).mean() * min(1.0, n_dead / K_AUX)
            loss = loss + AUX_COEF * aux
        self.opt.zero_grad()
        loss.backward()
        with torch.no_grad():  # no gradient along the rows: they stay unit vectors
            g = self.W_dec.grad
            g -= (g * self.W_dec).sum(-1, keepdim=True) * self.W_dec
        s, n = self.step_i, self.steps
        for grp in self.opt.param_groups:
            grp["lr"] = self.lr * min(1.0, (s + 1) / 50, (n - s) / (0.2 * n))
        self.opt.step()
        with torch.no_grad():
            self.W_dec /= self.W_dec.norm(dim=-1, keepdim=True)
        self.step_i += 1
        fvu = (x_hat - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
        return {"fvu": fvu.item(), "aux": aux.item(), "dead": n_dead}

    def export(self):
        """the SAE on unscaled activations: pre and f divide by the scale, the TopK choice does not change"""
        s = self.scale
        return TopKSAE(self.W_enc.detach().clone(), self.b_enc.detach() / s, self.W_dec.detach().clone(),
                       self.b_dec.detach() / s, self.k)


def chunks(model, tok, seed, size, batch):
    """batches of `batch` tokens {hook: (batch, C)}, shuffled within chunks of `size` tokens"""
    draws = text_draws(tok, seed)
    g = torch.Generator().manual_seed(seed)
    left = None
    while True:
        parts = [left] if left else []
        n = len(left[HOOKS[0]]) if left else 0
        while n < size:
            a = activations(model, next(draws)[0])
            parts.append(a)
            n += len(a[HOOKS[0]])
        acts = {h: torch.cat([p[h] for p in parts]) for h in HOOKS}
        perm = torch.randperm(n, generator=g)
        nb = n // batch
        for b in range(nb):
            sel = perm[b * batch:(b + 1) * batch]
            yield {h: acts[h][sel] for h in HOOKS}
        rest = perm[nb * batch:]
        left = {h: acts[h][rest] for h in HOOKS} if len(rest) else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(MODEL_DIR, "saes"))
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--steps", type=int, default=1200, help="Adam steps of 4096 tokens (each SAE sees the same tokens)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--dtype", choices=("F16", "F32"), default="F16")
    ap.add_argument("--weighting", choices=("none", "inverse_norm"), default="none",
                    help="inverse_norm: each token's squared error divided by its squared norm")
    ap.add_argument("--hooks", help="a comma list of hooks (default all 13)")
    ap.add_argument("--no-eval", action="store_true", help="do not run tools/eval_saes.py afterwards")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(INIT_SEED)
    hooks = a.hooks.split(",") if a.hooks else HOOKS
    assert all(h in HOOKS for h in hooks), hooks
    tok, model = tokenizer(), load_model()
    t0 = time.time()
    stream = chunks(model, tok, TRAIN_SEED, 16384, 4096)
    first = next(stream)
    trainers = {h: Trainer(first[h], a.k, INIT_SEED + HOOKS.index(h), a.lr, a.steps, a.weighting) for h in hooks}
    log = {h: [] for h in hooks}
    batch = first
    for step in range(a.steps):
        if step:
            batch = next(stream)
        for h in hooks:
            r = trainers[h].step(batch[h])
            if step % 50 == 0 or step == a.steps - 1:
                log[h].append((step, r["fvu"], r["aux"], r["dead"]))
        if step % 50 == 0 or step == a.steps - 1:
            print(f"step {step} {time.time() - t0:.0f}s " + " ".join(
                f"{h.replace('blocks.', '').replace('hook_', '')}:{log[h][-1][1]:.3f}/{log[h][-1][3]}" for h in hooks),
                file=sys.stderr, flush=True)
    secs = time.time() - t0
    # what storing the tensors as F16 costs: FVU on held-out tokens (the first 10 evaluation draws) in both
    draws = text_draws(tok, EVAL_SEED)
    held = [activations(model, next(draws)[0]) for _ in range(10)]
    precision = {}
    for h in hooks:
        x = torch.cat([d[h] for d in held])
        sae = trainers[h].export()
        half = TopKSAE(*(t.half().float() for t in sae.tensors().values()), sae.k)
        with torch.no_grad():
            precision[h] = {n: ((s(x) - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum()).item()
                            for n, s in (("fvu_f32", sae), ("fvu_f16", half))}
    os.makedirs(a.out, exist_ok=True)
    for h in hooks:
        save_sae(os.path.join(a.out, h), h, trainers[h].export(), a.dtype)
    cmd = "/usr/bin/python3 tools/train_saes.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(a).items() if v not in (None, False) and k != "out")
    record = {"command": cmd, "minutes": secs / 60, "threads": a.threads, "torch": torch.__version__,
              "tokens_per_sae": a.steps * 4096, "train_seed": TRAIN_SEED, "init_seed": INIT_SEED,
              "scale": {h: trainers[h].scale for h in hooks}, "weighting": a.weighting,
              "f16_vs_f32": precision,
              "log_columns": ["step", "training FVU (batch)", "AuxK loss", "dead latents"], "log": log}
    with open(os.path.join(a.out, "training.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(f"trained {len(hooks)} SAEs in {secs / 60:.1f} minutes", file=sys.stderr)
    if not a.no_eval:
        import eval_saes
        eval_saes.main(["--saes", a.out])


if __name__ == "__main__":
    main()
