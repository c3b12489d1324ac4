"""Request examples shown on /docs. Each one succeeds against the default models as shipped
(a test runs every one of them against a real server)."""

from __future__ import annotations

from typing import Any

# A real test digit (a 7) from the embedded MNIST sample, 28x28 grey PNG.
DIGIT_7 = (
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAAcUlEQVR42uWRQQ6AMAgER+PD8GXiy8CX4cGmalUSE2/ujQzdBQr/"
    "UAcghi+AO4C6o1o7LKpUt2KHcZZqgQPAKBPz1ldeTMkkdrC9KAKA/o5JCbmDYs+eEklihCWTxvemkps+Mn0R2J1YUzfn8+Qzmi1W"
    "pzBPT4Sc1B0AAAAASUVORK5CYII="
)
LATENT_SIZE = 20  # of the default mnist-vae and mnist-cvae (trainer/bootstrap.py)

Examples = dict[str, dict[str, Any]]

ENCODE: Examples = {
    "digit": {"summary": "Encode one digit", "value": {"images": [DIGIT_7]}},
    "cvae": {
        "summary": "Encode with the conditional VAE (labels required)",
        "value": {"model": "mnist-cvae", "images": [DIGIT_7], "labels": [7]},
    },
}
RECONSTRUCT: Examples = {
    "digit": {"summary": "Reconstruct one digit", "value": {"images": [DIGIT_7]}},
    "pinned": {
        "summary": "Pin a model and version",
        "value": {"model": "mnist-vae", "version": "production", "images": [DIGIT_7, DIGIT_7]},
    },
}
DECODE: Examples = {
    "origin": {
        "summary": "Decode the origin of the latent space",
        "value": {"codes": [[0.0] * LATENT_SIZE]},
    },
    "cvae": {
        "summary": "One code drawn as a 3 and as an 8",
        "value": {"model": "mnist-cvae", "codes": [[0.5] * LATENT_SIZE] * 2, "labels": [3, 8]},
    },
}
SAMPLE: Examples = {
    "seeded": {"summary": "Eight digits, repeatable", "value": {"count": 8, "seed": 42}},
    "cooler": {
        "summary": "Lower temperature: closer to typical digits",
        "value": {"count": 4, "seed": 1, "temperature": 0.7},
    },
}
CVAE_SAMPLE: Examples = {
    "every-class": {
        "summary": "One random vector drawn as every digit",
        "value": {"count_per_label": 1, "shared_noise": True, "seed": 0},
    },
    "some": {
        "summary": "Three independent 7s and three 1s",
        "value": {"labels": [7, "1"], "count_per_label": 3, "shared_noise": False, "seed": 5},
    },
}
