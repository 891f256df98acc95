"""_capi.py - the ctypes declarations of include/relp.h, and where librelp.so is found.

Every structure and prototype here transcribes relp.h; tests/test_python.py parses relp.h and checks
each one (field names, types and order; argument and return types), so a change to the header that
is not made here fails a test instead of corrupting memory.

The library is looked up, first match wins:
  1. $RELP_LIBRARY (a path to librelp.so);
  2. the build tree, when this package is imported from a checkout (python/relp inside the repository):
     build/native-release/librelp.so;
  3. the copy `make python` puts beside this file (relp/_lib/librelp.so), which `pip install ./python`
     installs with the package.
"""
import ctypes
import os
from ctypes import POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_int32, c_int64, c_size_t, c_uint32
from ctypes import c_uint64, c_void_p

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))  # the checkout, when imported from python/relp


def in_checkout():
    return os.path.isfile(os.path.join(REPO, 'include', 'relp.h')) and os.path.isdir(os.path.join(REPO, 'web'))


def library_candidates():
    out = []
    if os.environ.get('RELP_LIBRARY'):
        out.append(os.environ['RELP_LIBRARY'])
    if in_checkout():
        out.append(os.path.join(REPO, 'build', 'native-release', 'librelp.so'))
    out.append(os.path.join(HERE, '_lib', 'librelp.so'))
    return out


# enums are C ints
c_enum = c_int

RELP_STATUS_OK = 0
RELP_STATUS_BAD_ARGUMENT = -4
RELP_STATUS_CANCELLED = -7
DTYPES = {'f32': 0, 'f16': 1, 'bf16': 2}
NODE_RESID_PRE, NODE_ATTN_Z, NODE_ATTN_OUT, NODE_RESID_MID, NODE_MLP_OUT, NODE_MLP_POST = 0, 1, 2, 3, 4, 5
METHOD_AP, METHOD_GRAD, METHOD_IG, METHOD_IG_INPUT = 0, 1, 2, 3
METRIC_LOGIT_DIFF, METRIC_LOGPROB, METRIC_LOGIT = 0, 1, 2


class relp_config(Structure):
    _fields_ = [('n_layer', c_int32), ('n_head', c_int32), ('n_embd', c_int32), ('n_positions', c_int32),
                ('vocab_size', c_int32), ('layer_norm_epsilon', c_float), ('arch', c_enum), ('n_kv_head', c_int32),
                ('head_dim', c_int32), ('n_inner', c_int32), ('rotary_dim', c_int32), ('rope_theta', c_float),
                ('rope_scaling', c_enum), ('rope_factor', c_float), ('rope_low_freq_factor', c_float),
                ('rope_high_freq_factor', c_float), ('rope_original_max_positions', c_int32),
                ('untied_embeddings', c_int32), ('attention_bias', c_int32), ('mlp_bias', c_int32),
                ('sequential_residual', c_int32), ('gelu_tanh', c_int32)]


class relp_load_params(Structure):
    _fields_ = [('weight_dtype', c_enum), ('use_mmap', c_int32), ('require_tokenizer', c_int32),
                ('transposed_copy', c_int32)]


class relp_file(Structure):
    _fields_ = [('name', c_char_p), ('data', c_void_p), ('size', c_size_t)]


class relp_ctx_params(Structure):
    _fields_ = [('max_batch', c_int32), ('max_tokens', c_int32), ('n_threads', c_int32), ('scratch_kb', c_int32)]


class relp_patch(Structure):
    _fields_ = [('node', c_enum), ('layer', c_int32), ('position', c_int32), ('head', c_int32),
                ('values', POINTER(c_float)), ('first_prompt', c_int32), ('n_prompts', c_int32)]


class relp_rules(Structure):
    _fields_ = [('ln', c_enum), ('gelu', c_enum), ('attn', c_enum), ('gate', c_enum)]


class relp_metric(Structure):
    _fields_ = [('kind', c_enum), ('answer', POINTER(c_int32)), ('wrong', POINTER(c_int32)), ('scale', c_float)]


PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int64, c_int64)
CANCEL_FN = ctypes.CFUNCTYPE(c_int32, c_void_p)


class relp_attr_params(Structure):
    _fields_ = [('method', c_enum), ('node', c_enum), ('per_position', c_int32), ('noising', c_int32),
                ('ig_steps', c_int32), ('rules', relp_rules), ('progress', PROGRESS_FN), ('progress_user', c_void_p)]


class relp_preset(Structure):
    _fields_ = [('name', c_char_p), ('title', c_char_p), ('rules', relp_rules), ('source', c_char_p)]


class relp_ioi_prompt(Structure):
    _fields_ = [('clean', c_char * 256), ('corrupt', c_char * 256), ('answer', c_char * 32), ('wrong', c_char * 32),
                ('template_index', c_int32), ('abba', c_int32), ('io', c_char * 16), ('s', c_char * 16),
                ('io_new', c_char * 16), ('s_new', c_char * 16), ('s1_new', c_char * 16), ('place', c_char * 16),
                ('object', c_char * 16)]


class relp_sae_info(Structure):
    _fields_ = [('hook_name', c_char_p), ('path', c_char_p), ('node', c_enum), ('layer', c_int32),
                ('hook_layer', c_int32), ('d_in', c_int32), ('d_sae', c_int32), ('arch', c_enum), ('k', c_int32),
                ('apply_b_dec_to_input', c_int32), ('dtype', c_enum)]


class relp_circuit_hook(Structure):
    _fields_ = [('name', c_char * 64), ('node', c_enum), ('layer', c_int32), ('hook_layer', c_int32),
                ('width', c_int32), ('error', c_int32), ('sae', c_int32)]


class relp_circuit_node(Structure):
    _fields_ = [('hook', c_int32), ('position', c_int32), ('unit', c_int32)]


class relp_prediction(Structure):
    _fields_ = [('answer', c_int32), ('p_answer', c_double), ('rank', c_int32), ('top', c_int32), ('p_top', c_double)]


class relp_run_facts(Structure):
    _fields_ = [('metric', c_enum), ('metric_clean', c_double), ('metric_corrupt', c_double), ('noising', c_int32),
                ('n_prompts', c_int32), ('clean_last', POINTER(c_int32)), ('answer', POINTER(c_int32)),
                ('wrong', POINTER(c_int32)), ('prediction', POINTER(relp_prediction))]


class relp_metric_name(Structure):
    _fields_ = [('name', c_char_p), ('kind', c_enum), ('title', c_char_p)]


class relp_warning_name(Structure):
    _fields_ = [('flag', c_uint32), ('name', c_char_p), ('title', c_char_p)]


NODESET_FEATURES, NODESET_NEURONS, NODESET_COMPONENTS = 0, 1, 2
SAE_ARCHS = ('standard', 'topk', 'jumprelu')

P = POINTER
model_p = c_void_p  # struct relp_model *
ctx_p = c_void_p    # struct relp_ctx *
f32_p = P(c_float)
i32_p = P(c_int32)

# name: (restype, [argtypes]), in relp.h's order
PROTOTYPES = {
    'relp_load_default_params': (relp_load_params, []),
    'relp_model_init_from_dir': (c_enum, [P(model_p), c_char_p, P(relp_load_params)]),
    'relp_model_init_from_memory': (c_enum, [P(model_p), P(relp_file), c_int32, P(relp_load_params)]),
    'relp_model_init_random': (c_enum, [P(model_p), P(relp_config), c_uint64, P(relp_load_params)]),
    'relp_config_from_shape_name': (c_int32, [c_char_p, P(relp_config)]),
    'relp_model_attach_tokenizer': (c_enum, [model_p, P(relp_file), P(relp_file)]),
    'relp_model_attach_tokenizer_json': (c_enum, [model_p, P(relp_file), P(relp_file)]),
    'relp_model_free': (None, [model_p]),
    'relp_model_config': (P(relp_config), [model_p]),
    'relp_model_n_params': (c_int64, [model_p]),
    'relp_model_weight_bytes': (c_size_t, [model_p]),
    'relp_model_weight_dtype': (c_enum, [model_p]),
    'relp_model_file_dtype': (c_enum, [model_p]),
    'relp_last_error': (c_char_p, [model_p]),
    'relp_status_str': (c_char_p, [c_enum]),
    'relp_tokenize': (c_enum, [model_p, c_char_p, c_int64, c_int32, i32_p, c_int64, P(c_int64)]),
    'relp_token_bytes': (c_void_p, [model_p, c_int32, P(c_int32)]),
    'relp_has_tokenizer': (c_int32, [model_p]),
    'relp_ctx_default_params': (relp_ctx_params, []),
    'relp_ctx_mem_required': (c_size_t, [model_p, P(relp_ctx_params)]),
    'relp_ctx_init': (c_enum, [P(ctx_p), model_p, P(relp_ctx_params)]),
    'relp_ctx_free': (None, [ctx_p]),
    'relp_ctx_threads': (c_int32, [ctx_p]),
    'relp_ctx_last_error': (c_char_p, [ctx_p]),
    'relp_ctx_set_cancel': (None, [ctx_p, CANCEL_FN, c_void_p]),
    'relp_forward': (c_enum, [ctx_p, i32_p, c_int32, c_int32]),
    'relp_ctx_set_logit_positions': (c_enum, [ctx_p, i32_p, c_int32]),
    'relp_ctx_set_logit_tokens': (c_enum, [ctx_p, i32_p, c_int32]),
    'relp_forward_patched': (c_enum, [ctx_p, P(relp_patch), c_int32]),
    'relp_ctx_node': (f32_p, [ctx_p, c_enum, c_int32]),
    'relp_ctx_logits': (f32_p, [ctx_p, i32_p]),
    'relp_ctx_attn_pattern': (f32_p, [ctx_p, c_int32]),
    'relp_ctx_ln_rstd': (f32_p, [ctx_p, c_int32, c_int32]),
    'relp_ctx_head_result': (c_enum, [ctx_p, c_int32, c_int32, f32_p]),
    'relp_ctx_batch': (c_int32, [ctx_p]),
    'relp_ctx_tokens': (c_int32, [ctx_p]),
    'relp_node_width': (c_int32, [model_p, c_enum]),
    'relp_rules_presets': (P(relp_preset), [i32_p]),
    'relp_rules_preset': (P(relp_rules), [c_char_p]),
    'relp_metric_value': (c_enum, [ctx_p, P(relp_metric), P(c_double)]),
    'relp_backward': (c_enum, [ctx_p, P(relp_metric), P(relp_rules), P(c_double)]),
    'relp_ctx_node_grad': (f32_p, [ctx_p, c_enum, c_int32]),
    'relp_attr_default_params': (relp_attr_params, []),
    'relp_attr_count': (c_int64, [model_p, P(relp_attr_params), c_int32]),
    'relp_attribute': (c_enum, [ctx_p, i32_p, i32_p, c_int32, c_int32, P(relp_metric), P(relp_attr_params), f32_p,
                                P(c_double), P(c_double)]),
    'relp_attribute_nodes': (c_enum, [ctx_p, i32_p, i32_p, c_int32, c_int32, P(relp_metric), P(relp_attr_params),
                                      P(c_enum), c_int32, P(f32_p), P(c_double), P(c_double)]),
    'relp_token_relevance': (c_enum, [ctx_p, i32_p, c_int32, c_int32, P(relp_metric), P(relp_rules), f32_p,
                                      P(c_double), P(c_double)]),
    'relp_ctx_warnings': (c_uint32, [ctx_p]),
    'relp_ctx_warning': (c_char_p, [ctx_p, c_int32, P(c_uint32)]),
    'relp_model_warnings': (c_uint32, [model_p]),
    'relp_model_warning': (c_char_p, [model_p, c_int32, P(c_uint32)]),
    'relp_predict': (c_enum, [ctx_p, i32_p, c_int32, c_int32, P(relp_prediction)]),
    'relp_run_warnings': (c_uint32, [ctx_p, P(relp_run_facts)]),
    'relp_ioi_demo': (c_int32, [P(relp_ioi_prompt), c_int32]),
    'relp_ioi_wang': (c_int32, [P(relp_ioi_prompt), c_int32, c_uint64, c_uint32]),
    'relp_ioi_template': (c_int32, [c_int32, c_int32, c_char_p, c_int32]),
    'relp_ioi_n_templates': (c_int32, []),
    'relp_ioi_n_names': (c_int32, []),
    'relp_ioi_name': (c_char_p, [c_int32]),
    'relp_pearson': (c_double, [f32_p, f32_p, c_int64]),
    'relp_saes_init_from_dir': (c_enum, [P(c_void_p), model_p, c_char_p]),
    'relp_saes_free': (None, [c_void_p]),
    'relp_saes_last_error': (c_char_p, [c_void_p]),
    'relp_saes_count': (c_int32, [c_void_p]),
    'relp_saes_info': (c_enum, [c_void_p, c_int32, P(relp_sae_info)]),
    'relp_sae_encode': (c_enum, [c_void_p, c_int32, f32_p, c_int64, f32_p]),
    'relp_sae_decode': (c_enum, [c_void_p, c_int32, f32_p, c_int64, f32_p]),
    'relp_circuit_hooks': (c_int32, [model_p, c_void_p, c_enum, P(relp_circuit_hook), c_int32]),
    'relp_attribute_circuit': (c_enum, [ctx_p, i32_p, i32_p, c_int32, c_int32, P(relp_metric), c_void_p, c_enum,
                                        P(relp_attr_params), P(f32_p), P(f32_p), P(c_double), P(c_double)]),
    'relp_patch_circuit_nodes': (c_enum, [ctx_p, i32_p, i32_p, c_int32, c_int32, P(relp_metric), c_void_p, c_enum,
                                          c_int32, P(relp_circuit_node), c_int32, f32_p, PROGRESS_FN, c_void_p]),
    'relp_faithfulness_init': (c_enum, [P(c_void_p), ctx_p, i32_p, i32_p, c_int32, c_int32, P(relp_metric), c_void_p,
                                        c_enum, c_int32]),
    'relp_faithfulness_free': (None, [c_void_p]),
    'relp_faithfulness_ends': (None, [c_void_p, P(c_double), P(c_double)]),
    'relp_faithfulness_curve': (c_enum, [c_void_p, P(f32_p), P(f32_p), P(c_int64), f32_p, c_int32, P(c_int64),
                                         P(c_double), P(c_double), PROGRESS_FN, c_void_p]),
    'relp_faithfulness_n_nodes': (c_int64, [c_void_p]),
    'relp_graph_size': (None, [model_p, i32_p, i32_p]),
    'relp_graph_up_name': (c_char_p, [model_p, c_int32, c_char_p, c_size_t]),
    'relp_graph_down_name': (c_char_p, [model_p, c_int32, c_char_p, c_size_t]),
    'relp_graph_edge': (c_int32, [model_p, c_int32, c_int32]),
    'relp_attribute_edges': (c_enum, [ctx_p, i32_p, i32_p, c_int32, c_int32, P(relp_metric), P(relp_attr_params),
                                      f32_p, P(c_double), P(c_double)]),
    'relp_patch_edges': (c_enum, [ctx_p, i32_p, i32_p, c_int32, c_int32, P(relp_metric), c_int32, i32_p, c_int32,
                                  f32_p, PROGRESS_FN, c_void_p]),
    'relp_edge_eval_init': (c_enum, [P(c_void_p), ctx_p, i32_p, i32_p, c_int32, c_int32, P(relp_metric)]),
    'relp_edge_eval_free': (None, [c_void_p]),
    'relp_edge_eval_ends': (None, [c_void_p, P(c_double), P(c_double)]),
    'relp_edge_eval_run': (c_enum, [c_void_p, P(ctypes.c_uint8), P(c_double)]),
    'relp_metric_name': (P(relp_metric_name), [c_int32]),
    'relp_metric_find': (P(relp_metric_name), [c_char_p]),
    'relp_warning_name': (P(relp_warning_name), [c_int32]),
    # FIGURES: the views, drawn from relp.h's JSON form of a request (relp/_views.py)
    'relp_figure_init': (c_void_p, []),
    'relp_figure_free': (None, [c_void_p]),
    'relp_figure_last_error': (c_char_p, [c_void_p]),
    'relp_figure_draw_json': (c_enum, [c_void_p, c_char_p, c_size_t, f32_p, c_size_t]),
    'relp_figure_svg': (c_void_p, [c_void_p, P(c_size_t)]),
    'relp_figure_png': (c_enum, [c_void_p, c_int32, P(P(c_char)), P(c_size_t)]),
}

# the structures, by their C name (for the header check)
STRUCTS = {cls.__name__: cls for cls in (relp_config, relp_load_params, relp_file, relp_ctx_params, relp_patch,
                                          relp_rules, relp_preset, relp_metric, relp_attr_params, relp_ioi_prompt,
                                          relp_sae_info, relp_circuit_hook, relp_circuit_node, relp_prediction,
                                          relp_run_facts, relp_metric_name, relp_warning_name)}

_lib = None


class LibraryNotFound(OSError):
    pass


def lib():
    """The loaded library, with every prototype declared (loaded once)."""
    global _lib
    if _lib is not None:
        return _lib
    tried = []
    for path in library_candidates():
        if not os.path.isfile(path):
            tried.append(f'{path} (not there)')
            continue
        try:
            L = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f'{path} ({e})')
            continue
        for name, (res, args) in PROTOTYPES.items():
            f = getattr(L, name)
            f.restype = res
            f.argtypes = args
        L.relp_path = path
        _lib = L
        return L
    raise LibraryNotFound('relp: librelp.so not found; build it with `make python` (or `cmake --build --preset '
                          'native-release`), or point $RELP_LIBRARY at it. Tried: ' + '; '.join(tried))
