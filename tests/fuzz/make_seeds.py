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
    # tokenizer.json: the small vocabulary with every pre-tokenizer, normalizer and post-processor relp reads
    added = [{"id": 300, "content": "<|begin_of_text|>", "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True},
             {"id": 301, "content": "   ", "single_word": False, "lstrip": True, "rstrip": True, "normalized": True,
              "special": False}]
    llama3 = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
              "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+").replace("\\\\", "\\")
    pres = {"bytelevel": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "llama3": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": llama3}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
            "digits": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                             {"type": "ByteLevel", "use_regex": True}]}}
    for name, pre in pres.items():
        tj = {"version": "1.0", "added_tokens": added, "normalizer": {"type": "NFC"} if name != "llama3" else None,
              "pre_tokenizer": pre,
              "post_processor": {"type": "TemplateProcessing",
                                 "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                            {"Sequence": {"id": "A", "type_id": 0}}],
                                 "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [300]}}},
              "decoder": {"type": "ByteLevel"},
              "model": {"type": "BPE", "ignore_merges": name == "llama3", "vocab": small,
                        "merges": [m for m in merges if m and not m.startswith("#")] if name != "digits" else
                        [m.split(" ") for m in merges if m and not m.startswith("#")]}}
        write(out, "fuzz_tokenizer_json", name, json.dumps(tj, ensure_ascii=False))
    # configs of the other architectures (loaded with the tiny GPT-2 tensors: the config is what is fuzzed)
    for mt, extra in (("llama", {"rms_norm_eps": 1e-5, "rope_theta": 500000.0, "rope_scaling": {
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8}, "num_key_value_heads": 1, "tie_word_embeddings": True}),
                      ("qwen2", {"num_key_value_heads": 2, "use_sliding_window": False}),
                      ("qwen3", {"head_dim": 4, "num_key_value_heads": 1}),
                      ("gpt_neox", {"rotary_pct": 0.5, "use_parallel_residual": True, "hidden_act": "gelu"})):
        cfg = {"model_type": mt, "hidden_size": C, "num_hidden_layers": 1, "num_attention_heads": 2,
               "intermediate_size": 4 * C, "vocab_size": V, "max_position_embeddings": P}
        cfg.update(extra)
        write(out, "fuzz_config", mt, json.dumps(cfg))
    p = [{"clean": "When John and Mary went to the shops, John gave the bag to",
          "corrupt": "When John and Mary went to the shops, Mary gave the bag to", "answer": " Mary", "wrong": " John"},
         {"clean": "After Alice and Tom went to the park, Tom gave a drink to",
          "corrupt": "After Alice and Tom went to the park, Alice gave a drink to", "answer": " Alice", "wrong": " Tom"}]
    write(out, "fuzz_prompts", "two", "\n".join(json.dumps(x) for x in p) + "\n")
    write(out, "fuzz_prompts", "escapes", json.dumps({"clean": "a\\u00e9\\n", "corrupt": "b\\u00e9\\n", "answer": " x", "wrong": " y"}))


if __name__ == "__main__":
    main()
