"""What each model family is and can do, written once: everything else asks this table.

A new family is one row here and its module. `ModelConfig.family` names a row; code that
needs to know whether a model samples, takes a class or trains on the ELBO asks
`family_of(config)` rather than comparing names.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from autoencoders.ae import Autoencoder
from autoencoders.classifier import Classifier
from autoencoders.vae import CVAE, VAE


@dataclass(frozen=True)
class Family:
    name: str
    module: type[nn.Module]
    objective: str  # what training minimises: "negative-elbo", "mse" or "cross-entropy"
    autoencoder: bool = True  # encodes, decodes, reconstructs, scores (a classifier does not)
    variational: bool = False  # a posterior (mean, log-variance) and a prior of its own
    conditional: bool = False  # encoder and decoder take a class label
    # /sample draws from a mixture fitted to its training codes (a VAE's: ex-post, to the
    # codes its posterior draws, read better than its own prior's; versions published
    # without one draw from the model's prior)
    fitted_prior: bool = False
    backbone: str | None = None  # the body it implies; None: ModelConfig.backbone chooses

    @property
    def needs_classes(self) -> bool:
        """Trained on labelled data: the class count comes from the dataset."""
        return self.conditional or self.objective == "cross-entropy"

    @property
    def samples(self) -> bool:
        """/sample draws from it (a conditional model is sampled per class instead)."""
        return self.autoencoder and not self.conditional

    def operations(self, has_directions: bool) -> list[str]:
        """The service operations a model of this family supports."""
        if not self.autoencoder:
            return []
        ops = ["encode", "decode", "reconstruct", "score"]
        ops += ["cvae-sample"] if self.conditional else ["sample", "interpolate"]
        if has_directions and not self.conditional:
            ops.append("edit-attribute")
        return ops


FAMILY_TABLE: dict[str, Family] = {
    f.name: f
    for f in (
        Family("linear-ae", Autoencoder, "mse", fitted_prior=True, backbone="linear"),
        Family("conv-ae", Autoencoder, "mse", fitted_prior=True, backbone="conv"),
        Family("vae", VAE, "negative-elbo", variational=True, fitted_prior=True),
        Family("cvae", CVAE, "negative-elbo", variational=True, conditional=True),
        Family("classifier", Classifier, "cross-entropy", autoencoder=False, backbone="conv"),
    )
}


def family_of(config_or_name) -> Family:
    """The row of a ModelConfig's (or a family name's) family."""
    name = config_or_name if isinstance(config_or_name, str) else config_or_name.family
    return FAMILY_TABLE[name]
