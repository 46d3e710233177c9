"""The model feature: node kinds (consumer, prosumer, plant) stepped on a simulation clock.

The pure models, the price and the balancing rules live in ``nodes``; this
package is their I/O half: settings from the node's config, a timer in the
node actor, readings and offers published in the node's entry, the ``Control``
message, and the CLI options generated from ``nodes.factory.PARAMETERS``.
See docs/models.md.
"""

from .control import apply_control, controls_of
from .feature import ModelFeature, make_model_feature
from .settings import ModelSettings

__all__ = ["ModelFeature", "ModelSettings", "apply_control", "controls_of", "make_model_feature"]
