#!/usr/bin/env python3
"""Convert Marks et al.'s dictionary_learning autoencoders (ae.pt) to the SAELens layout that relp reads.

    /usr/bin/python3 tools/convert_sae.py AE_PT OUT_DIR --hook blocks.2.hook_mlp_out
    /usr/bin/python3 tools/convert_sae.py AE_PT OUT_DIR --marks-name mlp_2
    /usr/bin/python3 tools/convert_sae.py --folder dictionaries/pythia-70m-deduped OUT_DIR [--dict-id 10_32768]

An ae.pt is a torch state_dict (a pickle: read here with torch.load(map_location="cpu"), never by relp). Two of
dictionary_learning's classes (dictionary.py) are understood:
  AutoEncoder      keys encoder.weight [d_sae, d_in], encoder.bias [d_sae], decoder.weight [d_in, d_sae], bias [d_in]
                   f = ReLU((x - bias) @ encoder.weight^T + encoder.bias);  x_hat = f @ decoder.weight^T + bias
                   -> W_enc = encoder.weight^T, b_enc = encoder.bias, W_dec = decoder.weight^T, b_dec = bias,
                      architecture "standard", apply_b_dec_to_input true (Marks et al.'s dictionaries are these)
  AutoEncoderNew   keys encoder.weight, encoder.bias, decoder.weight, decoder.bias [d_in]
                   f = ReLU(x @ encoder.weight^T + encoder.bias);  x_hat = f @ decoder.weight^T + decoder.bias
                   -> the same, b_dec = decoder.bias, apply_b_dec_to_input false
Anything else (other keys, wrong shapes, values that are not finite) is refused with a message that names it.

Each SAE is written as OUT_DIR/{cfg.json, sae_weights.safetensors}: cfg.json as SAELens 5.x writes it (relp reads
d_in, d_sae, hook_name, architecture, apply_b_dec_to_input, normalize_activations "none"); tensors W_enc [d_in,
d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in], F32 unless --dtype says otherwise.

Marks et al.'s Pythia-70m-deduped dictionaries (feature-circuits, dictionary_loading_utils.py) sit in
dictionaries/pythia-70m-deduped/<folder>/10_32768/ae.pt, each trained on the output of one nnsight submodule,
named in the circuits as below; TransformerLens names the same activations:
  folder              circuit name  submodule                       hook
  embed               embed         gpt_neox.embed_in               blocks.0.hook_resid_pre (= hook_embed: Pythia
                                                                    adds no position embedding, rotary is in attention)
  attn_out_layer{L}   attn_{L}      gpt_neox.layers[L].attention    blocks.L.hook_attn_out: the attention block's
                                                                    output, after its dense (W_O) projection and bias
  mlp_out_layer{L}    mlp_{L}       gpt_neox.layers[L].mlp          blocks.L.hook_mlp_out (after dense_4h_to_h)
  resid_out_layer{L}  resid_{L}     gpt_neox.layers[L]              blocks.L.hook_resid_post (the layer's output)
--marks-name takes either name; --folder converts every such folder found into OUT_DIR/<hook>/.
"""
import argparse
import json
import os
import re
import struct
import sys

import torch

AE_KEYS = {"encoder.weight", "encoder.bias", "decoder.weight", "bias"}
AE_NEW_KEYS = {"encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"}
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
SAELENS_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


class Refused(Exception):
    pass


def marks_hook(name):
    """a Marks et al. dictionary name (circuit name or folder name) -> TransformerLens hook name"""
    if name == "embed":
        return "blocks.0.hook_resid_pre"
    m = re.fullmatch(r"(attn|mlp|resid)_(\d+)", name) or re.fullmatch(r"(attn|mlp|resid)_out_layer(\d+)", name)
    if not m:
        raise Refused(f"unknown Marks et al. dictionary name {name!r}: expected embed, attn_L, mlp_L, resid_L "
                      "or a folder name embed, attn_out_layerL, mlp_out_layerL, resid_out_layerL")
    kind, layer = m.group(1), int(m.group(2))
    return f"blocks.{layer}." + {"attn": "hook_attn_out", "mlp": "hook_mlp_out", "resid": "hook_resid_post"}[kind]


def check_hook(hook):
    if not re.fullmatch(r"(blocks\.\d+\.)?([a-z_0-9]+\.)?hook_[a-z_0-9]+", hook):
        raise Refused(f"--hook {hook!r} is not a TransformerLens hook name (e.g. blocks.2.hook_mlp_out)")
    return hook


def load_state_dict(path):
    if not os.path.isfile(path):
        raise Refused(f"{path}: no such file")
    try:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except TypeError:  # a torch without weights_only
            sd = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001  (a pickle can fail in many ways)
        raise Refused(f"{path}: not a torch checkpoint torch.load can read ({type(e).__name__}: {e})")
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise Refused(f"{path}: not a state_dict of tensors (got {type(sd).__name__})")
    return sd


def convert_state_dict(sd, where="ae.pt"):
    """dictionary_learning state_dict -> ({W_enc, b_enc, W_dec, b_dec} F32, apply_b_dec_to_input)"""
    keys = set(sd)
    if keys == AE_KEYS:
        b_dec, apply_b_dec = sd["bias"], True
    elif keys == AE_NEW_KEYS:
        b_dec, apply_b_dec = sd["decoder.bias"], False
    else:
        want = AE_KEYS if "bias" in keys or "decoder.bias" not in keys else AE_NEW_KEYS
        missing, extra = sorted(want - keys), sorted(keys - want)
        msg = f"{where}: not a dictionary_learning AutoEncoder (keys {', '.join(sorted(AE_KEYS))})"
        if missing:
            msg += f"; missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        if extra:
            msg += f"; unexpected key{'s' if len(extra) > 1 else ''} {', '.join(extra)}"
        raise Refused(msg)
    enc_w, enc_b, dec_w = sd["encoder.weight"], sd["encoder.bias"], sd["decoder.weight"]
    if enc_w.dim() != 2:
        raise Refused(f"{where}: encoder.weight has shape {list(enc_w.shape)}, expected [d_sae, d_in]")
    d_sae, d_in = enc_w.shape
    bname = "bias" if apply_b_dec else "decoder.bias"
    for name, t, shape in (("encoder.bias", enc_b, [d_sae]), ("decoder.weight", dec_w, [d_in, d_sae]),
                           (bname, b_dec, [d_in])):
        if list(t.shape) != shape:
            raise Refused(f"{where}: {name} has shape {list(t.shape)}, expected {shape} "
                          f"(encoder.weight is [d_sae, d_in] = {[d_sae, d_in]})")
    out = {"W_enc": enc_w.t(), "b_enc": enc_b, "W_dec": dec_w.t(), "b_dec": b_dec}
    for name, t in out.items():
        if not t.is_floating_point():
            raise Refused(f"{where}: {name} has dtype {t.dtype}, expected floating point")
        if not torch.isfinite(t).all():
            raise Refused(f"{where}: the tensor that becomes {name} has values that are not finite")
    return {k: v.float().contiguous() for k, v in out.items()}, apply_b_dec


def write_safetensors(path, tensors, dtype):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        t = t.to(DTYPES[dtype]).contiguous()
        raw = (t.view(torch.int16) if dtype == "BF16" else t).numpy().tobytes()
        header[k] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def cfg_json(hook, d_in, d_sae, apply_b_dec, dtype, model_name, context_size, dataset_path, source):
    """SAELens 5.x SAEConfig.to_dict(); SAELens 6 reads it as a pre-6.0 config"""
    m = re.match(r"blocks\.(\d+)\.", hook)
    return {
        "architecture": "standard",
        "d_in": d_in,
        "d_sae": d_sae,
        "dtype": SAELENS_DTYPE[dtype],
        "device": "cpu",
        "model_name": model_name,
        "hook_name": hook,
        "hook_layer": int(m.group(1)) if m else 0,
        "hook_head_index": None,
        "activation_fn_str": "relu",
        "activation_fn_kwargs": {},
        "apply_b_dec_to_input": apply_b_dec,
        "finetuning_scaling_factor": False,
        "sae_lens_training_version": None,
        "prepend_bos": False,
        "dataset_path": dataset_path,
        "dataset_trust_remote_code": False,
        "context_size": context_size,
        "normalize_activations": "none",
        "neuronpedia_id": None,
        "model_from_pretrained_kwargs": {},
        "seqpos_slice": [None],
        "converted_from": source,
    }


def convert(ae_path, out_dir, hook, dtype="F32", model_name="pythia-70m-deduped", context_size=128, dataset_path=""):
    sd = load_state_dict(ae_path)
    tensors, apply_b_dec = convert_state_dict(sd, ae_path)
    d_in, d_sae = tensors["W_enc"].shape
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "cfg.json"), "w") as f:
        json.dump(cfg_json(hook, d_in, d_sae, apply_b_dec, dtype, model_name, context_size, dataset_path,
                           "dictionary_learning " + ("AutoEncoder" if apply_b_dec else "AutoEncoderNew") + " "
                           + os.path.basename(os.path.dirname(os.path.abspath(ae_path))) + "/"
                           + os.path.basename(ae_path)), f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out_dir, "sae_weights.safetensors"), tensors, dtype)
    return hook, d_in, d_sae


def convert_folder(root, out_dir, dict_id, **kw):
    """root/<name>/<dict_id>/ae.pt for each Marks et al. name -> out_dir/<hook>/"""
    if not os.path.isdir(root):
        raise Refused(f"{root}: no such folder")
    done = []
    for name in sorted(os.listdir(root)):
        ae = os.path.join(root, name, dict_id, "ae.pt")
        if not os.path.isfile(ae):
            continue
        hook = marks_hook(name)
        if hook in [h for h, *_ in done]:
            raise Refused(f"{root}: two dictionaries for {hook}")
        done.append(convert(ae, os.path.join(out_dir, hook), hook, **kw))
    if not done:
        raise Refused(f"{root}: no <name>/{dict_id}/ae.pt inside (Marks et al.'s layout: "
                      f"dictionaries/pythia-70m-deduped/embed/{dict_id}/ae.pt, attn_out_layer0/..., ...)")
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="convert_sae.py", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="an ae.pt, or with --folder a folder of Marks et al.'s dictionaries")
    ap.add_argument("out", help="the SAE folder to write (with --folder: the folder of SAE folders)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--hook", help="the TransformerLens hook the dictionary reads, e.g. blocks.2.hook_mlp_out")
    g.add_argument("--marks-name", help="Marks et al.'s name for it: embed, attn_L, mlp_L, resid_L (or the folder "
                   "names attn_out_layerL, mlp_out_layerL, resid_out_layerL)")
    g.add_argument("--folder", action="store_true", help="source is a folder <name>/<dict-id>/ae.pt; each becomes "
                   "out/<hook>/")
    ap.add_argument("--dict-id", default="10_32768", help="with --folder: the subfolder of each dictionary "
                    "(default 10_32768, the one feature-circuits loads)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="F32", help="tensor type written (default F32)")
    ap.add_argument("--model-name", default="pythia-70m-deduped", help="cfg.json model_name (metadata)")
    ap.add_argument("--context-size", type=int, default=128,
                    help="cfg.json context_size (metadata; dictionary_learning's ActivationBuffer default)")
    ap.add_argument("--dataset-path", default="", help="cfg.json dataset_path (metadata; default empty: the "
                    "checkpoint does not say what text it was trained on)")
    a = ap.parse_args(argv)
    kw = {"dtype": a.dtype, "model_name": a.model_name, "context_size": a.context_size,
          "dataset_path": a.dataset_path}
    try:
        if a.folder:
            for hook, d_in, d_sae in convert_folder(a.source, a.out, a.dict_id, **kw):
                print(f"{os.path.join(a.out, hook)}: {hook}, d_in {d_in}, d_sae {d_sae}")
        else:
            if a.hook:
                hook = check_hook(a.hook)
            elif a.marks_name:
                hook = marks_hook(a.marks_name)
            else:
                raise Refused("say which hook the dictionary reads: --hook HOOK or --marks-name NAME "
                              "(or --folder for a folder of dictionaries)")
            hook, d_in, d_sae = convert(a.source, a.out, hook, **kw)
            print(f"{a.out}: {hook}, d_in {d_in}, d_sae {d_sae}")
    except Refused as e:
        print(f"convert_sae.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
