"""relp from Python: GPT-2 in portable C, explained with Relevance Patching, as numpy arrays.

    import relp
    m = relp.load()                                  # the bundled default model (models-small/models.json)
    r = m.attribute("When John and Mary went to the shops, John gave the bag to",
                    "When John and Mary went to the shops, Mary gave the bag to",
                    " Mary", " John", method="relp", node="resid")
    r.scores            # numpy (L, T): layer x position, in units of the normalised metric
    r.to_json()         # the text `relp attribute --json -` prints for the same inputs
    allr = m.attribute_all(clean, corrupt, " Mary", " John", method="relp", ap=True)
    relp.show(allr, view="scatter")                  # the page's views, inline in Jupyter
    allr.save_svg("maps.svg"); allr.save_png("maps.png", scale=2)

    logits, cache = m.run_with_cache(prompt)       # TransformerLens's hook names: cache["blocks.0.hook_resid_pre"]
    m.attribute(clean, corrupt, " Mary", method="atp", metric="logprob")   # or "logit", "logit_diff"

A thin layer over librelp.so (include/relp.h) with ctypes: no compiled extension. Errors raise
relp.Error with the library's own message; a run's warnings (the core's: the model does not predict the answer,
a small or negative clean - corrupted gap, an answer without its leading space, noising) are in .warnings and
raised as relp.RelpWarning. A Model frees its weights and context when it is closed, leaves a `with` block or is
garbage-collected; the arrays it returns own their data (numpy; torch tensors are taken as token ids, and
.torch() gives tensors where torch is installed).

Modules: _model (load, Model), _results (Result, Results, Explanation, IOITable, Cache), _datasets (the IOI
table), _views (the figures), _circuits (SAE features, neurons, components, faithfulness, edges), _common
(errors, names, the CLI's number formats), _capi (relp.h in ctypes).
"""
from . import _capi  # noqa: F401
from ._common import (IOI_ESTIMATORS, IOI_MAX, MAP_NODES, METHODS, METRICS, NODES, RULES, Error, RelpWarning,  # noqa: F401
                      RunWarning, library_path)
from ._results import Cache, Explanation, IOITable, Result, Results  # noqa: F401
from ._model import Model, Tokens, default_model, load  # noqa: F401
from . import _datasets

Model.ioi = _datasets.ioi

__all__ = ['load', 'Model', 'Result', 'Results', 'Explanation', 'IOITable', 'Cache', 'Error', 'RelpWarning',
           'RunWarning', 'show', 'METHODS', 'NODES', 'METRICS', 'default_model', 'library_path', 'load_saes', 'Saes',
           'FeatureScores', 'Faithfulness', 'EdgeScores']


def show(result, view=None, node=None, ap=None, focus=None):
    """A page view of a result, drawn by relp's renderer in librelp.so (relp.h FIGURES, as the page and the CLI
    draw it): a View, which Jupyter shows inline (self-contained HTML + SVG) and which saves as .svg or .png
    (save_svg, save_png).

    view: "maps" (layer x position, AP beside when there is AP; node picks resid/attn/mlp), "heads",
        "positions", "tokens", "scatter" or "attention" (every head's attention pattern on the clean and the
        corrupted prompt, one head drawn large: focus=(layer, head), default (0, 0); the model runs them again);
        None: every view the result has.
    ap: an AP Result to draw beside a Result (as Result.compare)."""
    from . import _views
    return _views.show(result, view, node, ap, focus)


# circuits (python/relp/_circuits.py): SAE features, neurons, components, faithfulness, edges
from . import _circuits  # noqa: E402
from ._circuits import EdgeScores, Faithfulness, FeatureScores, Saes, load_saes  # noqa: E402,F401

Model.features = _circuits.features
Model.faithfulness = _circuits.faithfulness
Model.edges = _circuits.edges
