"""Seed corpora for the libFuzzer harnesses: valid files of the tiny model
(the shapes of fuzz_common.h) and of models-small, one directory per harness.

    python3 tests/fuzz/make_seeds.py OUT_DIR MODEL_DIR
"""
import json
import os
import struct
import sys

C, V, P = 8, 300, 8
TENSORS = [("wte.weight", (V, C)), ("wpe.weight", (P, C)), ("h.0.ln_1.weight", (C,)), ("h.0.ln_1.bias", (C,)),
           ("h.0.attn.c_attn.weight", (C, 3 * C)), ("h.0.attn.c_attn.bias", (3 * C,)),
           ("h.0.attn.c_proj.weight", (C, C)), ("h.0.attn.c_proj.bias", (C,)), ("h.0.ln_2.weight", (C,)),
           ("h.0.ln_2.bias", (C,)), ("h.0.mlp.c_fc.weight", (C, 4 * C)), ("h.0.mlp.c_fc.bias", (4 * C,)),
           ("h.0.mlp.c_proj.weight", (4 * C, C)), ("h.0.mlp.c_proj.bias", (C,)), ("ln_f.weight", (C,)),
           ("ln_f.bias", (C,))]
CONFIG = {"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": C, "n_positions": P, "vocab_size": V,
          "layer_norm_epsilon": 1e-5}


def safetensors(tensors, dtype="F32", prefix=""):
    header, off, body = {}, 0, b""
    size = {"F32": 4, "F16": 2, "BF16": 2}[dtype]
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        header[prefix + name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n * size]}
        body += bytes((i * 37 + 11) % 251 for i in range(n * size))
        off += n * size
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


def write(out, harness, name, data):
    d = os.path.join(out, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    out, model = sys.argv[1], sys.argv[2]
    write(out, "fuzz_safetensors", "tiny_f32", safetensors(TENSORS))
    write(out, "fuzz_safetensors", "tiny_f16_prefix", safetensors(TENSORS, "F16", "transformer."))
    write(out, "fuzz_safetensors", "tiny_bf16", safetensors(TENSORS, "BF16"))
    write(out, "fuzz_config", "tiny", json.dumps(CONFIG))
    write(out, "fuzz_config", "models_small", open(os.path.join(model, "config.json")).read())
    write(out, "fuzz_index", "index", json.dumps({"metadata": {"total_size": 1},
                                                  "weight_map": {n: ("a.safetensors" if i < 7 else "b.safetensors")
                                                                 for i, (n, _) in enumerate(TENSORS)}}))
    vocab = json.load(open(os.path.join(model, "vocab.json"), encoding="utf-8"))
    small = dict(sorted(vocab.items(), key=lambda kv: kv[1])[:300])
    merges = open(os.path.join(model, "merges.txt"), encoding="utf-8").read().split("\n")[:45]
    vb = json.dumps(small).encode()
    mb = "\n".join(merges).encode()
    write(out, "fuzz_tokenizer_files", "small", struct.pack("<H", len(vb)) + vb + mb + b"hello world")
    for i, t in enumerate(["When John and Mary went to the shops, John gave the bag to", "caf\u00e9 \u20ac \U0001F600 \u4e2d\u6587",
                           "  multiple   spaces\n\nand\ttabs", "it's they'll we've I'M"]):
        write(out, "fuzz_tokenize", f"text{i}", t.encode())
    write(out, "fuzz_tokenize", "invalid_utf8", b"ok\x80\xff\xc3 \xed\xa0\x80 end")
    p = [{"clean": "When John and Mary went to the shops, John gave the bag to",
          "corrupt": "When John and Mary went to the shops, Mary gave the bag to", "answer": " Mary", "wrong": " John"},
         {"clean": "After Alice and Tom went to the park, Tom gave a drink to",
          "corrupt": "After Alice and Tom went to the park, Alice gave a drink to", "answer": " Alice", "wrong": " Tom"}]
    write(out, "fuzz_prompts", "two", "\n".join(json.dumps(x) for x in p) + "\n")
    write(out, "fuzz_prompts", "escapes", json.dumps({"clean": "a\\u00e9\\n", "corrupt": "b\\u00e9\\n", "answer": " x", "wrong": " y"}))


if __name__ == "__main__":
    main()
