"""The one registry of methods (ours and the baselines) and the one parser of their names.

A name as written in tables and on the command line is a registry name (``ours``, ``odin+pre``),
optionally ``+known`` (a method with an ``attack`` parameter, trained on the evaluated attack) and
``+oe`` (the method on the Outlier-Exposure fine-tuned model): :class:`MethodName` reads it.
Options are constructor parameters (``make_method("lid+known", attack="cw")`` is ``LID(attack="cw")``),
so ``sklearn.base.clone`` keeps them; the suffixes say how the benchmark runs a method, not what it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..baselines import BASELINES
from ..method.api import Method
from .ours import OURS_METHODS

#: registry name -> method class: ours, ours+conf, ours+conf-equal, ours+knn, then the baselines
METHODS: dict[str, type[Method]] = {cls.info.name: cls for cls in (*OURS_METHODS, *BASELINES)}
OURS = tuple(cls.info.name for cls in OURS_METHODS)
KNOWN, OE = "+known", "+oe"
#: the methods trained on an attack (an ``attack`` parameter), which ``+known`` trains on the evaluated one
ATTACK_TRAINED = tuple(name for name, cls in METHODS.items() if "attack" in cls._get_param_names())


@dataclass(frozen=True)
class MethodName:
    """A method as written in tables and on the command line, e.g. ``lid+known+oe``."""

    base: str  # the registry name
    known: bool = False
    oe: bool = False

    @classmethod
    def parse(cls, text: str) -> "MethodName":
        rest, oe = (text[: -len(OE)], True) if text.endswith(OE) else (text, False)
        base, known = (rest[: -len(KNOWN)], True) if rest.endswith(KNOWN) else (rest, False)
        if base not in METHODS or (known and base not in ATTACK_TRAINED):
            raise ValueError(f"unknown method {text!r}; valid methods: {', '.join(METHODS)}, all "
                             f"(suffix {KNOWN} for {', '.join(ATTACK_TRAINED)}; suffix {OE} for any)")
        return cls(base, known, oe)

    @property
    def cls(self) -> type[Method]:
        return METHODS[self.base]

    @property
    def plain(self) -> str:
        """The name without ``+oe``: the method as run on its (possibly fine-tuned) model."""
        return self.base + (KNOWN if self.known else "")

    def __str__(self) -> str:
        return self.plain + (OE if self.oe else "")


def make_method(name: str, **params) -> Method:
    """An unfitted method by name (``NAME+known`` takes the attack to train on: ``attack=``; ``+oe`` names
    the model it runs on, not the method: :func:`detector.evaluation.benchmark.run_benchmark` reads it)."""
    return MethodName.parse(name).cls(**params)


def fit_method(experiment, name: str, **params) -> Method:
    """:func:`make_method`, fitted on ``experiment``."""
    return make_method(name, **params).fit(experiment)


def method_params(name: str, options: dict) -> dict:
    """Those of the command line's detector ``options`` that method ``name`` takes (its ``info.options``)."""
    return {k: v for k, v in options.items() if k in MethodName.parse(name).cls.info.options}


def expand_methods(methods: list[str]) -> list[str]:
    """``all`` -> every registered method; commas split; unknown names raise ValueError."""
    names: list[str] = []
    for item in methods:
        for name in filter(None, (part.strip() for part in item.split(","))):
            names += list(METHODS) if name == "all" else [str(MethodName.parse(name))]
    return list(dict.fromkeys(names))
