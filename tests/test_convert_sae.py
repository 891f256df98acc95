"""tools/convert_sae.py: Marks et al.'s dictionary_learning ae.pt -> SAELens layout.

Writes fake ae.pt files (random weights, torch.save), converts them, reads the result back with a reader of its
own (struct + numpy, not the converter's code) and checks that the SAELens formulas on the written tensors
(pre = (x - [apply_b_dec_to_input] b_dec) W_enc + b_enc, f = ReLU(pre), x_hat = f W_dec + b_dec) give what
dictionary_learning's AutoEncoder gives on the state_dict (f = ReLU((x - bias) encoder.weight^T + encoder.bias),
x_hat = f decoder.weight^T + bias), and AutoEncoderNew likewise; the folder mode and the Marks et al. names; the
refusals (missing key, wrong shapes, not a state_dict, unknown name). Seconds; exits non-zero on a failure.

    /usr/bin/python3 tests/test_convert_sae.py
"""
import contextlib
import io
import json
import os
import shutil
import struct
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(os.path.dirname(HERE), "tools", "convert_sae.py")
sys.path.insert(0, os.path.dirname(TOOL))
import convert_sae  # noqa: E402
import testlib  # noqa: E402

checks = testlib.Checks()
check = checks.ok


def run(*args):
    """convert_sae.main in this process (a subprocess each would spend a second importing torch): rc, out, err"""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = convert_sae.main(list(args))
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def read_safetensors(path):
    """an independent reader: name -> float64 array"""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        raw = data[8 + n + a:8 + n + b]
        if v["dtype"] == "BF16":
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view("<f4")
        else:
            arr = np.frombuffer(raw, {"F32": "<f4", "F16": "<f2"}[v["dtype"]])
        out[k] = arr.reshape(v["shape"]).astype(np.float64)
    return out


def sae_lens(folder, x):
    cfg = json.load(open(os.path.join(folder, "cfg.json")))
    t = read_safetensors(os.path.join(folder, "sae_weights.safetensors"))
    pre = (x - cfg["apply_b_dec_to_input"] * t["b_dec"]) @ t["W_enc"] + t["b_enc"]
    f = np.maximum(pre, 0)
    return f, f @ t["W_dec"] + t["b_dec"], cfg, t


def fake_ae(d_in, d_sae, seed, new=False):
    g = torch.Generator().manual_seed(seed)
    sd = {"encoder.weight": torch.randn(d_sae, d_in, generator=g) / d_in ** 0.5,
          "encoder.bias": torch.randn(d_sae, generator=g) * 0.1,
          "decoder.weight": torch.randn(d_in, d_sae, generator=g)}
    sd["decoder.bias" if new else "bias"] = torch.randn(d_in, generator=g)
    return sd


def dictionary_learning(sd, x):
    """dictionary.py's AutoEncoder.encode/decode (AutoEncoderNew when there is no 'bias'), float64"""
    sd = {k: v.double() for k, v in sd.items()}
    x = torch.from_numpy(x)
    if "bias" in sd:
        f = torch.relu(torch.nn.functional.linear(x - sd["bias"], sd["encoder.weight"], sd["encoder.bias"]))
        return f.numpy(), (torch.nn.functional.linear(f, sd["decoder.weight"]) + sd["bias"]).numpy()
    f = torch.relu(torch.nn.functional.linear(x, sd["encoder.weight"], sd["encoder.bias"]))
    return f.numpy(), torch.nn.functional.linear(f, sd["decoder.weight"], sd["decoder.bias"]).numpy()


def main():
    tmp = tempfile.mkdtemp(prefix="test_convert_sae-")
    x = np.random.default_rng(0).standard_normal((50, 16)) * 2

    r = testlib.run(sys.executable, TOOL, "--help", timeout=None)
    check(r.returncode == 0 and "--marks-name" in r.stdout and "attn_out_layer" in r.stdout,
          "convert_sae.py --help describes the options and names")
    r = testlib.run(sys.executable, TOOL, os.path.join(tmp, "nothing.pt"), os.path.join(tmp, "x"), "--hook",
                    "blocks.0.hook_mlp_out", timeout=None)
    check(r.returncode == 2 and "no such file" in r.stderr, "convert_sae.py exits 2 with a message on a refusal")

    # one AutoEncoder, --hook
    sd = fake_ae(16, 64, 1)
    ae = os.path.join(tmp, "ae.pt")
    torch.save(sd, ae)
    rc, out, err = run(ae, os.path.join(tmp, "one"), "--hook", "blocks.1.hook_mlp_out")
    check(rc == 0, f"converts an AutoEncoder ae.pt (rc {rc}) {err.strip()}")
    f, xh, cfg, t = sae_lens(os.path.join(tmp, "one"), x)
    f_ref, xh_ref = dictionary_learning(sd, x)
    check(np.abs(f - f_ref).max() < 1e-5 and np.abs(xh - xh_ref).max() < 1e-5,
          f"encode and decode equal dictionary_learning's (max diff {np.abs(f - f_ref).max():.1e}, "
          f"{np.abs(xh - xh_ref).max():.1e}); {int((f > 0).sum())} of {f.size} features active")
    check(t["W_enc"].shape == (16, 64) and t["W_dec"].shape == (64, 16) and t["b_enc"].shape == (64,)
          and t["b_dec"].shape == (16,), "tensor shapes W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc, b_dec")
    want = {"architecture": "standard", "d_in": 16, "d_sae": 64, "hook_name": "blocks.1.hook_mlp_out",
            "hook_layer": 1, "apply_b_dec_to_input": True, "normalize_activations": "none", "dtype": "float32",
            "activation_fn_str": "relu"}
    check(all(cfg.get(k) == v for k, v in want.items()), f"cfg.json {dict((k, cfg.get(k)) for k in want)}")
    check(all(k in cfg for k in ("model_name", "context_size", "prepend_bos", "dataset_path", "hook_head_index",
                                 "finetuning_scaling_factor", "sae_lens_training_version")),
          "cfg.json has SAELens's other keys")

    # F16 output
    rc, out, err = run(ae, os.path.join(tmp, "half"), "--marks-name", "mlp_1", "--dtype", "F16")
    f, xh, cfg, t = sae_lens(os.path.join(tmp, "half"), x)
    check(rc == 0 and cfg["hook_name"] == "blocks.1.hook_mlp_out" and cfg["dtype"] == "float16"
          and np.abs(xh - xh_ref).max() < 0.05 * np.abs(xh_ref).max(), "--dtype F16, --marks-name mlp_1")

    # AutoEncoderNew
    sd_new = fake_ae(16, 32, 2, new=True)
    torch.save(sd_new, os.path.join(tmp, "new.pt"))
    rc, out, err = run(os.path.join(tmp, "new.pt"), os.path.join(tmp, "new"), "--hook", "blocks.0.hook_attn_out")
    f, xh, cfg, t = sae_lens(os.path.join(tmp, "new"), x)
    f_ref, xh_ref = dictionary_learning(sd_new, x)
    check(rc == 0 and cfg["apply_b_dec_to_input"] is False and np.abs(xh - xh_ref).max() < 1e-5
          and np.abs(f - f_ref).max() < 1e-5, "AutoEncoderNew: apply_b_dec_to_input false, same encode and decode")

    # Marks et al.'s names
    names = {"embed": "blocks.0.hook_resid_pre", "attn_2": "blocks.2.hook_attn_out", "mlp_0": "blocks.0.hook_mlp_out",
             "resid_5": "blocks.5.hook_resid_post", "attn_out_layer3": "blocks.3.hook_attn_out",
             "mlp_out_layer4": "blocks.4.hook_mlp_out", "resid_out_layer1": "blocks.1.hook_resid_post"}
    for name, hook in names.items():
        rc, out, err = run(ae, os.path.join(tmp, "m_" + name), "--marks-name", name)
        cfg = json.load(open(os.path.join(tmp, "m_" + name, "cfg.json"))) if rc == 0 else {}
        check(cfg.get("hook_name") == hook, f"--marks-name {name} -> {hook} (got {cfg.get('hook_name')})")

    # a folder in Marks et al.'s layout
    root = os.path.join(tmp, "dictionaries", "pythia-70m-deduped")
    sds = {}
    for i, name in enumerate(["embed", "attn_out_layer0", "mlp_out_layer0", "resid_out_layer0", "resid_out_layer1"]):
        os.makedirs(os.path.join(root, name, "10_32768"))
        sds[name] = fake_ae(16, 48, 10 + i)
        torch.save(sds[name], os.path.join(root, name, "10_32768", "ae.pt"))
    os.makedirs(os.path.join(root, "notes"))  # not a dictionary: skipped
    rc, out, err = run("--folder", root, os.path.join(tmp, "set"))
    got = sorted(os.listdir(os.path.join(tmp, "set"))) if rc == 0 else []
    want = sorted(["blocks.0.hook_resid_pre", "blocks.0.hook_attn_out", "blocks.0.hook_mlp_out",
                   "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"])
    check(got == want, f"--folder: one SAE folder per dictionary, named by hook ({got}) {err.strip()}")
    ok = rc == 0
    for name, s in sds.items():
        if not ok:
            break
        hook = {"embed": "blocks.0.hook_resid_pre", "attn_out_layer0": "blocks.0.hook_attn_out",
                "mlp_out_layer0": "blocks.0.hook_mlp_out", "resid_out_layer0": "blocks.0.hook_resid_post",
                "resid_out_layer1": "blocks.1.hook_resid_post"}[name]
        f, xh, cfg, t = sae_lens(os.path.join(tmp, "set", hook), x)
        ok = cfg["hook_name"] == hook and np.abs(xh - dictionary_learning(s, x)[1]).max() < 1e-5
    check(ok, "--folder: each converted SAE reads its dictionary's hook and decodes as dictionary_learning")
    rc, out, err = run("--folder", root, os.path.join(tmp, "none"), "--dict-id", "5_32768")
    check(rc != 0 and "5_32768/ae.pt" in err, f"--folder with no such --dict-id is refused: {err.strip()}")

    # refusals
    def refused(sd_bad, words, what, args=("--hook", "blocks.0.hook_mlp_out")):
        p = os.path.join(tmp, "bad.pt")
        torch.save(sd_bad, p)
        rc, out, err = run(p, os.path.join(tmp, "bad"), *args)
        check(rc != 0 and all(w in err for w in words) and "Traceback" not in err, f"refuses {what}: {err.strip()}")

    bad = dict(sd)
    del bad["bias"]
    refused(bad, ["missing key", "bias"], "a missing key")
    bad = dict(sd)
    del bad["encoder.bias"]
    refused(bad, ["missing key", "encoder.bias"], "a missing encoder.bias")
    bad = dict(sd, extra=torch.zeros(3))
    refused(bad, ["unexpected key", "extra"], "an unexpected key")
    bad = dict(sd, **{"decoder.weight": torch.zeros(64, 16)})
    refused(bad, ["decoder.weight", "[64, 16]", "[16, 64]"], "a transposed decoder.weight")
    bad = dict(sd, bias=torch.zeros(17))
    refused(bad, ["bias", "[17]", "[16]"], "a bias of the wrong width")
    bad = dict(sd, **{"encoder.weight": torch.zeros(64, 16, 2)})
    refused(bad, ["encoder.weight", "[64, 16, 2]"], "a 3-d encoder.weight")
    bad = dict(sd, **{"encoder.bias": torch.full((64,), float("nan"))})
    refused(bad, ["not finite"], "NaN weights")
    refused([1, 2, 3], ["not a state_dict"], "a pickle that is not a state_dict")
    refused(sd, ["unknown Marks", "attn3"], "an unknown Marks et al. name", ("--marks-name", "attn3"))
    refused(sd, ["not a TransformerLens hook"], "a hook name that is not one", ("--hook", "layer 3 mlp"))
    refused(sd, ["--hook", "--marks-name"], "no hook named", ())
    rc, out, err = run(os.path.join(tmp, "nothing.pt"), os.path.join(tmp, "bad"), "--hook", "blocks.0.hook_mlp_out")
    check(rc != 0 and "no such file" in err, f"refuses a missing file: {err.strip()}")
    with open(os.path.join(tmp, "junk.pt"), "wb") as fh:
        fh.write(b"not a pickle at all")
    rc, out, err = run(os.path.join(tmp, "junk.pt"), os.path.join(tmp, "bad"), "--hook", "blocks.0.hook_mlp_out")
    check(rc != 0 and "torch.load" in err and "Traceback" not in err, f"refuses a file that is not a checkpoint: "
          f"{err.strip()}")

    shutil.rmtree(tmp)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
