"""Method names and the course's one table of method variants (used everywhere)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["METHODS", "REPTILE_METHODS", "GA_METHODS", "NORMALIZATIONS", "CORRUPTIONS",
           "ACTIVATIONS", "OUTER_RULES", "Variant", "VARIANTS", "COLORS", "METHOD_LABELS",
           "TASK_STYLES", "OKABE_ITO"]

METHODS = ("maml", "ga", "reptile", "ga-reptile", "joint")  # the outer rules
REPTILE_METHODS = ("reptile", "ga-reptile")
GA_METHODS = ("ga", "ga-reptile")  # weighted by gradient agreement
NORMALIZATIONS = ("paper", "book", "cosine")
CORRUPTIONS = ("flip", "random", "outlier")
ACTIVATIONS = ("relu", "tanh")
OUTER_RULES = ("sgd", "adam")


@dataclass(frozen=True)
class Variant:
    """A method variant: the outer rule it runs and how the course draws and names it."""

    rule: str  # the outer rule (config.method): "maml", "ga", "reptile", "ga-reptile", "joint"
    label: str
    color: str  # Okabe-Ito: distinguishable with the common forms of colour blindness
    first_order: bool = False  # for "maml" and "ga" (Reptile is first order by construction)
    normalization: str = "paper"  # GA weights, for "ga" and "ga-reptile" (notebook 04)

    @property
    def weighted(self) -> bool:
        """True for the gradient-agreement variants, whose task weights are diagnosed."""
        return self.rule in GA_METHODS


# The course's one table of method variants, used by the helper, the widgets, both studies and
# the notebooks. One encoding: a colour is a method, always the same one (FO-GA-MAML shares
# GA-MAML's vermillion and is drawn hollow or dashed; the two cosine variants share orange and
# never appear together). Clean and corrupted tasks are told apart by marker and line style in
# the method's colour, never by a second palette; everything else (support / query, parameter
# sweeps, single tasks) uses black, greys or a sequential colour map.
VARIANTS = {
    "maml": Variant("maml", "MAML", "#0072B2"),  # blue
    "fomaml": Variant("maml", "FO-MAML", "#56B4E9", first_order=True),  # sky blue
    "ga": Variant("ga", "GA-MAML", "#D55E00"),  # vermillion
    "foga": Variant("ga", "FO-GA-MAML", "#D55E00", first_order=True),  # vermillion, hollow
    "ga-book": Variant("ga", "GA book", "#F0E442", normalization="book"),  # yellow
    "ga-cosine": Variant("ga", "GA cosine*", "#E69F00", normalization="cosine"),  # orange
    "reptile": Variant("reptile", "Reptile", "#CC79A7"),  # reddish purple
    "ga-reptile": Variant("ga-reptile", "GA-Reptile", "#000000"),  # black
    "ga-reptile-cosine": Variant("ga-reptile", "GA-Reptile cosine*", "#E69F00",
                                 normalization="cosine"),  # orange, like GA cosine
    "joint": Variant("joint", "joint", "#009E73"),  # bluish green
}
COLORS = {name: v.color for name, v in VARIANTS.items()}
COLORS["random"] = "#999999"  # grey: the random initialisation, a baseline, not a method
METHOD_LABELS = {name: v.label for name, v in VARIANTS.items()}
TASK_STYLES = {"clean": {"marker": "o", "linestyle": "-"},
               "corrupted": {"marker": "x", "linestyle": "--"}}
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#F0E442",
             "#000000"]
