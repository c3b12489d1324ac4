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
# A serious synthetic face (not smiling, mouth closed, no glasses), 45x45 RGB PNG, drawn by
# trainer.datasets.faces with seed 3.
SERIOUS_FACE = (
    "iVBORw0KGgoAAAANSUhEUgAAAC0AAAAtCAIAAAC1eHXNAAAQK0lEQVR42gXB6e9m1X0Y8O92zrn3Pr9lHMfDMDAwENws3hqD"
    "CwRjG8cIatlQq61fJFWTKK2URG3VF1Xlf6D9C6ykVqVuUvqii5UmJTVeUtexazAU24AHMAwzw7DOwAzM73nuveec79LPB7/y"
    "7/6Fh1ByJPIKY5haRMa4Jk00p244EoSqM7VYErC3cYHY693y0Hg3BR1lGc171WLQsujq4wTNXTpqgonTlbpMa0FZasobh3UA"
    "2ek6Eq3hDnus75FxFg6aAxaNwAUkpgod8BBk301oEDZXwfCCXJoSDLaZ3IqSqrAsCLmZVW/kMXWMVlJtCoqyYniCa2t7HzKM"
    "0gZJXRas1sEHZgdIzIQGKDQtLj2hUMMxBk247U1WsbmGW4Fqa1QG7Fjb6mvig8ECu+tREpKaVxyDkI3TVGzoNojLNvbDe/G1"
    "MAOgYLQQSI12iEkjYIi+dqbGGUME5kyjHE2c3VhjKlVbWjsCQXFa8qIhxIWNOrSSJuruCNdUxwnqvP/j//1EE0dmWP2Oz30U"
    "FkmFECHN+5aNsrh1c2olaIlezciFMro7V0JMaNZxTn3TqNFOct8VKRFAsV7texshJwDoo25KXNvKnvQqXpq4SH3z55fffuni"
    "D7/1DGSnGcSZB2PpP/vuE4v43Z+56/jN1930Szf6Sj2tUj0naa0bOBFZzkNbZ28sB1x7Jc8jHM6gOfCIJFHaBQ+ykJZjqppS"
    "WmsUW0VtOVwQUZbcjCp9/Wv/6+1XLoF2SsjdEIW5b60ny4UJ1B7/zk9Hh1+8Zf8jn/vUyZsO3QWRbJ1G0D6Ed9O6EOwlWnXw"
    "7EJHsAVLs/Sp8L1f/vTGVghcGuk+69J6JvA05UB3SHN4ufDya1//13+6W2fd+pBFK2HuEbmjjkTNyhoxIKekAnTl6OqLPz5z"
    "6uZb935hosBx0JXb3OOAvCZBQsRc1rHnNQASh3Ei7Xz3g/cpmxRGG5IiZ0AnjmxWsVBa8JF/+8gTjz2eItG7LRU/ysxg5kmK"
    "O0ZjzNwSodtiOgRoESHFl3/ywsUXz9/6yQ/XHYrlPCK4h2ZXzANubeGFAYAxEYQlIxwWFu7Gq7v1ORqwVNrsck629Ef+wzfe"
    "Pv8Kb1Msve6BJTlcdiXnxFErQTKG6CsJsOXRyJiQa2OGALz85qVv/MmfldyB576acR4GnSY1t0lSTEGOQOq9Q8sEaKpi28i4"
    "6FDafjikYlSbXTr37qsvvL6rkiIsmQu4yEpj1Q7Ie8OSd5AqDhydQXtsEmNAC/EmlDpReev81dcubIOIBuzVdJXVBJt7cya0"
    "oi2oUU9hFDrkFpQgGAWMdpg9LQu/dv7yn3/tEcQoHHPuTok1YLsKY3FzttaKS2rAkUQNIHHUxZs2qFbc20ixSNNv/fF/f+fC"
    "lVg1DWQeuCwaxdGkMqUEGAMeU1ESCJCaSJNUI6FBGzQe/Pm//OGA3cMwYi+kkEaeeICKFVxGDFaD5EmacSTsG5YgbhzDmGS1"
    "rt2bdFEA+PF3fyrggWkms6EEHynkIwa3zjhEXlESJS7ZN8YUtUSAKHTE//ftJy4891Yzcy+cGHS0YHn3KAklJHa9Ekggrpsi"
    "zMEQoTD3ZGQ4L6CyTqkbO4VYxtfPXXzye2eg0ybBGOY0Osamd+mo6+o7lI5SaUcE3QA4Z8NqPrg9/c2n+4i5mhF+9Y++5Dwo"
    "uteOWYg1pdQNo7XOBUzJvBEcSiw0YN0a0FCpDaX29pWv/mfpiCk98+iTH/vUJ1L4XHraeR0lr74KtYLjCjWUckUjogRp8GYa"
    "jo997wmc+wChDp+/51eU0XBhBdoUAkwo6isu5BACFH6QmK3QNQzVbgAqQx/CO3CKf/Tbn60SfQ7xcubbT8IEQ588Z9zBNmVj"
    "Gh2DO4BQS6NAksigQJnGobz33GUVpWgbwYfv/YhT8jw4OXdaqm/NUPdotMykVZWvAur0HgzbLFETJwoABkptH/zDx67PTiqa"
    "B7349tvYpA+hvhs2ZTJI7hwMQWhKEq60Aq2tdujw8s8vvPzqG+DFwR6476MCHoC4ZCHYaTsEP6RE3iIaLXCMITl0GuXQZKLw"
    "DbhzuHbpBLudVmr33/0hTagd3nvu9ddfPx/q3A/maH3oq/bQ3iEwkvStYd5H3yYpbP3KS68Vaw0SJD51w36jhlgY5//xvbP/"
    "8/uPuVoG9I0/dMddD97zIbXERdtSZUO//6/+PWnm9y26xAN/646HPvurdTMMrLddd93UnlsBUNOlZy+dOjilg7mFGpeADtV6"
    "Qc5Sxg5GNgUetZjqG+feqMaFU8z469ed3rXIOWBNX7zngw9+5lbrkDIhddApV1tw2y1T6fVq/tq//K2VsURbIAohNmYAQbnh"
    "9C8YcmFlXa5cuOpfyOuqIxZs89FE5UhGMR2PaHbstJiaHNSOe5effQXZHfzUrceX0QfMXMEY0OGzf/ef/rf/c/FPv/fC3Q//"
    "c3StmesGx9qBskx2x5f/8L/+4KX/9Njbn/ryV7wPihZiO7VC080np0Bbob3+5nle54FR0+ol8CgoQrqIGhUrxoi19HrAYZiE"
    "MFPoh24+KBUUt3VkQaMRahu2mUcvzBn7Ag1ohbbPEjW8pFQ0HKKWtalZ6R7CeaS5b//m8ZvMmBH7FhsMltTcHSVv2Ji20gCY"
    "73nodpQsuKVc3jx75bmfPkfdKuNtJ0586OaTqxVCLhK9lXPPf/tzn7zrzl+7+Wff/3YWqOSWSBYVFdr4haeeeOA37vzEB0+9"
    "+MxfgWEYBwEHeU9nXz1/4b1rFrPnvcZw+vrrFZKHFlwwMUVEyjKMmxbMpLP62RfOwpLR2sAsRDNvMQ3KZdlZYCsOb18401Ma"
    "AqILSoUmAqNNNa0IvV8993zfgM+QEhojVlqHNO0fBafdEUzjoax9A9oiZ5ujU5VJDkBWRWrUoM+4WM+Dgng3UMUhEBhDfK/s"
    "hBZHEEyD+TAiyNKFqU+erOxJ7gmx4oo5Cu0OMSp7GhoiGbqttC5xrQDEmNV08TSsKwE0o7QO65iNjhBS9oVId3l/JteqIw1c"
    "LLlmTGTmg2m1wQC5sxMFTeIABcFq9RYx4DIvsRytkUdd10ayFU+WvEk1xQBKgskH6BsEJFQJXoYEQJVQR8jW9qqrM+qQicvW"
    "9lobW962xu6Lmy8aldIKkVAGsmgNy2Kt9Q6MFDhBQYi1DhNRHvei1zyQQxs7OHcU25M11XSQOig3SiultXNRW6QzMY4UjF40"
    "lmlQqA5rI0DsOxj62EZKPSaEAyTRw59cuCwj+ruWpe1NENhKcjbtNSNAXZX3oUMwqFNjX3Hy4pQqSdG09tSmvsZY8ox2/o23"
    "apTZxuKBTaBVwD57YyTfSgJMDtSQuQ+Aadaa594G6j7OgOfOXYUZhhG6DgS2ctFaFBi5Y4cBR79KgNm0axfFxEAcGWkBM0JO"
    "NlPTfm3Jqz3z4nsifSMa2Ti6MzklFq8INhQD7iKUV4SxV/N9Kh/7e3dnC+AV0RHXs2++s5PuaW0BaVTQpTALGtHQhhaJi1/D"
    "NCI7KJGLaGshzZOZ9LTJ4yAj6SZY5pyb1VVRfv0zHxORwOYpj6QazQhS6oITLRZD6kRsoNVQEuHS9wifu/T6TTe+n9MkMa91"
    "SNk0FF9dLVZJlXq0DjEckW6Y5667TkluPAa9LZzQ50U5R/7mX59JWLZdKAwN3ktls9g4onUHquiH3leoRSJwI8ncelOF+dRH"
    "T7515nwkqsbf+P4zX7zjg3PXUQloNQZE9LNvAu8JrCZsvMjO1mnlHUCiItvdDXvFiwAC7KFizfatJ58NFyBwd8rDwJpKn2MY"
    "G/ScqHnPKD2EOexoHRLU3Ddx7Prbjl8687IRBZhb/Pz15ZdPvH8pOnZeiULCP33aOKhlESxAK3h2oBQVeN3qlBUrW3HwFhiv"
    "vXHFhLIrO2wlbv/NvyGtH5Gw7lYakKDmuo+l845MA4s2x7RLDe0DN52aw+dqNXuivT9//HGFltPkrimCdpBG2aTDTNZ8QSbJ"
    "CFOPJXOd+RjNu8PVjckcgqn8xV+fSVU9JitYKF/3wRNEsM+GWQTDbDoIPILoXigiI+1DxvVAY7XrTp/cq8NIPNZUvD7/ytuP"
    "/OBM317TlCVplC4RgG2RbGlYu6uuUTONCsDeeBhXyhFVqU/f+b9PnX/liksR6ku1yukXr7+5R/SVk4Mlg3WtyVAgaCUS6zFD"
    "p6FnHDCBfOTvfNyQw6NhYD32l0/+7IV33nXqfUupe3VfLNAhQ0smiINLCMQ0CWRg7yZAdXzx7LlHnn6q5V24zl4LlU/cf4sk"
    "XQhHgYbVzMo49FrEg2gkbJ1p09xQh+FIGI4+/pu/UTwPA2K4ySVZ4Y//4zdeeuOKj7rGSJ6FyNxrTF7WaAIKTWvM5H0h0mkb"
    "L1++/G8eeTzWg9R4s9/GTKT94/fcCYsO7lYrgoizs0NBDiMW/uSX7uvSN66Va2QLyO4VGC689GaHURy8AJr86JmXPnzjyRPH"
    "9hvtuGPKKWNo5ugVColCdF3g0FN6/uJbf/JfHk2EiKYIc2exuP3+jx+75ThEoG3qPhbUhFxj3VhSNxPnz3zpXsFenSgVbBQS"
    "gXD8tpNnHv1hzs2QFSGJGubHXngZu/3qyROOsQqmGha1QOrSivGyAer+nR888/Xv/mgdpOqWXLKnCEHET//eA1mNQhw6OQNy"
    "D0pOrYNDbDTzHQ/dx9Eb5kE0dhZDye7hcMOtH3j62VdpgQRL9SGLgdJz77z26GNnm/rA88Gx91HwLHNah59duvyTM69+9c/+"
    "6txr53oQmJVcSK0R0qSf/4cP7h8XEzRI2U1KMTiiFi0PGAgMBNek8GJNBlFsUAtNthoGKd34K790y8mnXnn+HcoFq0cjQ+CG"
    "6Ms3f/Tso0+L9B+iQcupxJHC1Ayl67WUR6fB4prVjaRkcezE9cdu+8DCWbSxoqXspG0+ZFkn8BUIFwneI46hoDNHKDsP0Gcn"
    "jvDtol/4g4evv/UDdkTECgZqtRo1BU9UjD1QhZLC4qN3HB1kKAcOxaVPOPTJA6//5VN/+w8fpiwHzdglNsYSQLskxpyixQhq"
    "0xoI1ENTYkF3wXGdqYze27XiRLAKffGf/P0Tp28ew0WaFExOkXHTImKLSMBivRfq0BqO6J2JaGWJSrDXTtxy6rO/cz+K09Kv"
    "BUfSaHZUqfY9QAPCYGvW00LGTjDM2zk6AfQOgLOlDiAN3TN58ck+/8/uf//p09YQqyEQRFsyuAtGxPougqHmGFgX6lgdgpMG"
    "+qkbbvnCP37YSbw3ExyTUyATTnFtdAayXk05Nd4k9tEz3/WFe/PIHCXqSmMJmwMEBy7gnbo7yDqcvv2W47fd9OpTLzm3oUlC"
    "15G7IpAKF000dE7DGh1iGMLq5/7Bg3c+eLutzSdsCyWzUHEYretSRvHenUYSnCuzQRBK4/seuouiYcVItjUCKPA+hMVL4045"
    "kZIruu+dOvi1T91u7BcvXiwKhgN3JRkIZ0cKjbYI4/rRe+984HcfOH7d3tKljpRVSSgErFBKq1lGQ5M09N6QpZvLGkmU9P8D"
    "PzIW+fTUfIoAAAAASUVORK5CYII="
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
EDIT_ATTRIBUTE: Examples = {
    "smile": {
        "summary": "Make a serious face smile",
        "value": {"images": [SERIOUS_FACE], "edits": [{"attribute": "Smiling", "strength": 1.0}]},
    },
    "several": {
        "summary": "Smile and glasses at once, with the bias-corrected directions",
        "value": {
            "images": [SERIOUS_FACE],
            "edits": [
                {"attribute": "Smiling", "strength": 1.0},
                {"attribute": "Eyeglasses", "strength": 1.0},
            ],
            "direction": "corrected",
        },
    },
    "other-model": {
        "summary": "The convolutional face model",
        "value": {
            "model": "faces-ae-conv",
            "images": [SERIOUS_FACE],
            "edits": [{"attribute": "Smiling"}],
        },
    },
}
INTERPOLATE: Examples = {
    "digits": {
        "summary": "Morph a digit into itself (a still walk)",
        "value": {"start": DIGIT_7, "end": DIGIT_7, "steps": 3},
    },
    "faces": {
        "summary": "Morph a face into a face",
        "value": {"model": "faces-ae-conv", "start": SERIOUS_FACE, "end": SERIOUS_FACE, "steps": 4},
    },
}
