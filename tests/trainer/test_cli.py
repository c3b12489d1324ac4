"""The real `python -m trainer` CLI, through the session store it trained."""

from __future__ import annotations

import io
import json
import re
import subprocess

import pytest
import torch
from PIL import Image

from model_store import LocalStore, load_model
from tests.conftest import ROOT
from trainer.evaluation import conditional_accuracy, sample_readability


def _manifest(store, name):
    return json.loads((store / name / "1" / "manifest.json").read_text())


def test_every_family_publishes_metrics_and_report_images(trained_store):
    vae = _manifest(trained_store, "mnist-vae")
    assert vae["family"] == "vae" and vae["latent_size"] == 20
    assert vae["metrics"]["test_negative_elbo_nats"] > 0
    # The IWAE estimate of -log p(x) (k=1000 by default) on the images it names.
    m = vae["metrics"]
    assert (m["iwae_k"], m["iwae_images"]) == (1000, 20)
    assert 0 < m["test_iwae_nll_nats"] < m["test_iwae_images_negative_elbo_nats"]
    assert 0 < vae["metrics"]["test_reconstruction_mse"] < 0.2
    # The share of its samples the classifier reads is the one these weights and this fitted
    # mixture give; the mixture is fitted to posterior draws (40 components).
    store = LocalStore(trained_store)
    loaded, reader = load_model(store, "mnist-vae"), load_model(store, "mnist-classifier")
    assert loaded.latents["mixture_means"].shape == (40, 20)
    drawn = sample_readability(loaded.module, reader.module, loaded.latents)
    assert 0 <= drawn["samples.readable"] <= 1
    for key, value in drawn.items():
        assert m[key] == pytest.approx(value, abs=1e-6), key
    # Its images are drawn at the sharpness published with it (as grey as its training
    # images), which the loaded module applies: not the Bernoulli means.
    sharpness = vae["config"]["sharpness"]
    assert loaded.config.sharpness == sharpness and 1 < sharpness <= 8
    z = loaded.latents["mixture_means"][:4]
    logits = loaded.module.decode_logits(z)
    assert torch.equal(loaded.module.decode(z), torch.sigmoid(logits * sharpness))
    assert vae["dataset"]["name"].startswith("mnist-sample")
    assert vae["training"]["seed"] == 0 and len(vae["training"]["history"]) == 2
    # Traceable to the code that trained it: this checkout's commit (tests run from one).
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    assert re.fullmatch(rf"0\.1\.0\+g{head}(\.dirty)?", vae["code_version"]), vae["code_version"]
    for name in ("samples.png", "reconstructions.png", "loss_curves.png"):
        data = (trained_store / "mnist-vae" / "1" / "report" / name).read_bytes()
        assert Image.open(io.BytesIO(data)).size[0] > 50, name

    cvae = _manifest(trained_store, "mnist-cvae")
    assert cvae["class_names"] == [str(d) for d in range(10)]
    assert cvae["evaluated_with"] == {"classifier": "mnist-classifier@1"}
    # The published figure is the one these very weights give (not merely a share in [0, 1]).
    store = LocalStore(trained_store)
    judged = conditional_accuracy(load_model(store, "mnist-cvae").module,
                                  load_model(store, "mnist-classifier").module, 10)  # fmt: skip
    assert cvae["metrics"]["conditional_accuracy"] == pytest.approx(judged, abs=1e-6)

    clf = _manifest(trained_store, "mnist-classifier")
    assert clf["metrics"]["test_accuracy"] > 0.5  # 2 epochs on 1,000 digits, still far above chance

    ae = _manifest(trained_store, "mnist-ae-linear")
    assert ae["config"]["hidden"] == [128] and "latents.safetensors" in ae["files"]
    # Both fitted priors are kept; held-out codes are likelier under the mixture.
    assert ae["metrics"]["prior.mixture_test_nll"] < ae["metrics"]["prior.gaussian_test_nll"]
    latents = load_model(LocalStore(trained_store), "mnist-ae-linear").latents
    assert latents["mixture_means"].shape == (8, 16) and latents["prior_mean"].shape == (16,)


def test_training_is_repeatable_with_a_seed(trained_store, tmp_path):
    from tests.conftest import train_tiny

    train_tiny(tmp_path, "vae", "again", "--prior-components", "8")  # as the fixture's
    again = load_model(LocalStore(tmp_path), "again").module.state_dict()
    first = load_model(LocalStore(trained_store), "mnist-vae").module.state_dict()
    assert all(first[k].equal(again[k]) for k in first)


def test_face_models_publish_directions_edit_metrics_and_a_smile_grid(trained_store):
    ae = _manifest(trained_store, "faces-ae-conv")
    assert ae["attribute_names"] == ["Male", "Smiling", "Mouth Open", "Eyeglasses"]
    assert ae["evaluated_with"] == {"classifier": "faces-attributes@1"}
    body = {k: ae["config"][k] for k in ("norm", "upsample", "decoder_channels", "hidden")}
    assert body == {"norm": "batch", "upsample": "nearest", "decoder_channels": [32, 16, 8, 8],
                    "hidden": []}  # fmt: skip
    for key in (
        "edit.Smiling.plain.success",
        "edit.Smiling.corrected.others_kept",
        "edit.Eyeglasses.plain.success",
    ):
        assert 0 <= ae["metrics"][key] <= 1
    assert "report/edit_smiling.png" in ae["files"]
    latents = load_model(LocalStore(trained_store), "faces-ae-conv").latents
    assert latents["directions_plain"].shape == latents["directions_corrected"].shape == (4, 32)
    judge = _manifest(trained_store, "faces-attributes")
    assert (
        judge["config"]["multilabel"] is True and judge["attribute_names"] == ae["attribute_names"]
    )
    assert "test_accuracy.Smiling" in judge["metrics"]


def test_the_readmes_recipes_train_what_bootstrap_trains():
    """Every README command marked "the default <name>'s recipe" describes, through the
    real argument parser, the very spec `bootstrap` trains as <name> (shape and class count
    aside: both are fitted to the data at run time)."""
    import shlex
    from dataclasses import replace

    from trainer.__main__ import _parser, spec_from_args
    from trainer.bootstrap import GROUPS

    defaults = {s.name: s for _, specs in GROUPS.values() for s in specs}
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    recipes = re.findall(r"^\.venv/bin/python -m trainer (train .*)# the default ([\w-]+)'s",
                         text, re.M)  # fmt: skip
    assert {name for _, name in recipes} >= {"mnist-vae", "mnist-cvae", "faces-ae-conv"}
    fitted = ("channels", "height", "width", "num_classes")
    for command, name in recipes:
        cli, _ = spec_from_args(_parser().parse_args(shlex.split(command)))
        want = defaults[name]
        assert replace(cli, config=None) == replace(want, config=None), name
        got_config = {k: v for k, v in cli.config.to_dict().items() if k not in fitted}
        want_config = {k: v for k, v in want.config.to_dict().items() if k not in fitted}
        assert got_config == want_config, name


def test_a_full_disk_at_publish_is_one_error_line_and_exit_1(tmp_path, monkeypatch, capsys):
    """The end of a training run on a full disk: the CLI says which store refused and why
    (not a traceback), exits 1, and the store holds no version."""
    import model_store.local
    from tests.conftest import TINY, TINY_TRAIN
    from trainer.__main__ import main

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_store.local, "write_durably", full)
    store = tmp_path / "store"
    argv = ["--store", str(store), *TINY, "train", "--family", "vae", "--name", "digits",
            *TINY_TRAIN, "--epochs", "1"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"error: cannot write 'digits' into {store}: No space left on device" in err
    assert "Traceback" not in err
    assert LocalStore(store).versions("digits") == []
