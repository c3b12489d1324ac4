"""The playground page in a real browser: Debian's chromium, driven through its chromedriver by
Selenium (nothing downloads a browser or a driver). Screenshots go to the test's directory,
and to $AE_SCREENSHOT_DIR when set. The README's picture is made that way, against the
models `make serve` trains rather than the session's seconds-old ones:

    AE_PLAYGROUND_STORE=models AE_SCREENSHOT_DIR=docs/images \
        .venv/bin/python -m pytest tests/e2e/test_playground.py -k draw -s
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_store import LocalStore
from model_store.training import announce, finished
from service.examples import SERIOUS_FACE
from tests.conftest import Server, need_programs, start_server, stop_server

pytestmark = pytest.mark.slow  # a browser

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = need_programs("chromium", "chromedriver").values()
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1900",
                "--disable-background-networking", "--disable-component-update"):  # fmt: skip
        options.add_argument(arg)
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    b = webdriver.Chrome(service=webdriver.ChromeService(driver), options=options)
    yield b
    b.quit()


def wait(browser, condition, timeout: float = 30):
    return WebDriverWait(browser, timeout, poll_frequency=0.05).until(lambda b: condition(b))


def src(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).get_attribute("src") or ""


def pixels(data_url: str) -> np.ndarray:
    data = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)), dtype=np.int16)


def requests_sent(browser, path: str, *more: str) -> list[dict] | tuple[list[dict], ...]:
    """Bodies of the POSTs to `path` (and to each of `more`) the page sent since the last
    call, from chromium's network log (reading it empties it)."""
    paths = (path, *more)
    bodies: dict[str, list[dict]] = {p: [] for p in paths}
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            request = message["params"]["request"]
            for p in paths:
                if request["url"].endswith(p) and request.get("postData"):
                    bodies[p].append(json.loads(request["postData"]))
    return bodies[path] if not more else tuple(bodies[p] for p in paths)


def screenshot(browser, tmp_path: Path, name: str) -> None:
    browser.save_screenshot(str(tmp_path / name))
    if os.environ.get("AE_SCREENSHOT_DIR"):
        shutil.copy(tmp_path / name, Path(os.environ["AE_SCREENSHOT_DIR"]) / name)


@pytest.fixture
def page_server(request, tmp_path) -> Iterator[Server]:
    """The session's server, or one on $AE_PLAYGROUND_STORE (for the README's picture)."""
    store = os.environ.get("AE_PLAYGROUND_STORE")
    if not store:
        yield request.getfixturevalue("server")
        return
    env = {"AE_WORKERS": "1", "AE_PRELOAD": '["faces-ae-conv"]'}
    srv = start_server(Path(store).resolve(), tmp_path / "log", env)
    yield srv
    stop_server(srv)


def test_draw_a_digit_edit_a_face_and_read_a_card(page_server: Server, browser, tmp_path):
    server = page_server
    opened = time.monotonic()
    browser.get(server.url + "/playground")
    # A blank pad invites to draw; it shows no reconstruction of nothing.
    wait(browser, lambda b: b.find_element(By.ID, "verdict").text.startswith("Draw a digit"))
    wait(browser, lambda b: src(b, "decoded").startswith("data:image/png"))  # sliders at 0
    first_shown = time.monotonic() - opened
    assert src(browser, "reconstruction") == ""
    assert len(browser.find_elements(By.CSS_SELECTOR, "#latent-sliders input")) == 20

    # A stroke on the canvas: the reconstruction changes, and decodes as an image.
    pad = browser.find_element(By.ID, "pad")
    stroke = ActionChains(browser).move_to_element_with_offset(pad, -10, -90).click_and_hold()
    for dx, dy in [(10, 30), (5, 40), (0, 40), (-5, 40)]:
        stroke = stroke.move_by_offset(dx, dy)
    drawn = time.monotonic()
    stroke.release().perform()
    wait(browser, lambda b: src(b, "reconstruction").startswith("data:image/png"))
    after_stroke = time.monotonic() - drawn
    drawn_image = pixels(src(browser, "reconstruction"))
    assert drawn_image.shape == (28, 28)
    if os.environ.get("AE_PLAYGROUND_STORE"):  # trained models: a stroke is not a blank
        assert drawn_image.max() > 64
    wait(browser, lambda b: "held-out digits" in b.find_element(By.ID, "verdict").text)
    reconstructed, scored = requests_sent(browser, "/reconstruct", "/score")
    sent = reconstructed[-1]["images"][0]
    assert (pixels(sent)[..., 0] > 128).sum() > 20  # the stroke itself went to the API, at 28x28
    assert "[" in browser.find_element(By.ID, "code").text  # the code is shown
    assert browser.find_element(By.ID, "digits-took").text.endswith(" ms")  # the call's time
    # The latent sliders: the dimensions the model uses most first, the unused ones folded.
    served = browser.find_element(By.ID, "served-digits").text.split()  # "mnist-vae v1"
    with server.client() as client:
        detail = client.get(f"/models/{served[0]}").json()["details"]
    activity = next(d for d in detail if d["version"] == int(served[1][1:]))["latent_activity"]
    shown = browser.execute_script(
        "return [...document.querySelectorAll('#latent-sliders > label input')]"
        ".map(i => Number(i.getAttribute('aria-label').split(' ')[1]) - 1)")  # fmt: skip
    folded = browser.execute_script(
        "return [...document.querySelectorAll('#unused-dimensions label input')]"
        ".map(i => Number(i.getAttribute('aria-label').split(' ')[1]) - 1)")  # fmt: skip
    assert sorted(shown + folded) == list(range(len(activity)))
    assert [activity[i] for i in shown] == sorted((activity[i] for i in shown), reverse=True)
    assert all(activity[i] < 0.1 * max(activity) for i in folded)
    assert all(activity[i] >= 0.1 * max(activity) for i in shown)
    assert browser.find_element(By.ID, "decoded-took").text.endswith(" ms")
    # Is this a digit? The calibrated verdict and the error map of the same drawing.
    assert scored[-1]["images"][0] == sent and scored[-1]["heatmap"] is True
    assert pixels(src(browser, "heatmap")).shape == (28, 28)
    # An uploaded face is drawn onto the pad and called not a digit.
    face = tmp_path / "face.png"
    face.write_bytes(base64.b64decode(SERIOUS_FACE))
    browser.find_element(By.ID, "digit-upload").send_keys(str(face))
    wait(browser, lambda b: b.find_element(By.ID, "verdict").text.startswith("Not like"))

    # The conditional VAE's grid: ten digits that loaded.
    wait(browser, lambda b: b.execute_script(
        "return [...document.querySelectorAll('#cvae-grid img')].filter(i => i.naturalWidth > 0).length") == 10)  # fmt: skip

    # Keyboard on the Smiling slider: the face changes, and the request said Smiling.
    wait(browser, lambda b: src(b, "face-edited").startswith("data:image/png"))
    browser.get_log("performance")  # forget what was sent so far
    before = src(browser, "face-edited")
    smiling = browser.find_element(By.CSS_SELECTOR, "input[aria-label='Smiling']")
    moved = time.monotonic()
    smiling.send_keys(*[Keys.ARROW_RIGHT] * 10)  # 0 -> 1.0, by keyboard
    wait(browser, lambda b: src(b, "face-edited") != before)
    slider_to_image = time.monotonic() - moved
    edits = [e for body in requests_sent(browser, "/edit-attribute") for e in body["edits"]]
    assert any(e["attribute"] == "Smiling" and e["strength"] > 0 for e in edits), edits
    assert np.abs(pixels(src(browser, "face-edited")) - pixels(before)).max() > 0

    # The model card shows a report image that loaded.
    wait(browser, lambda b: b.execute_script(
        "return [...document.querySelectorAll('#card .reports img')].some(i => i.naturalWidth > 0)"))  # fmt: skip
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    timings = browser.execute_script("return window.playgroundTimings")
    print(f"\nplayground: ready to draw {first_shown * 1000:.0f} ms after opening "
          f"(first reconstruction on the page's clock {timings['firstReconstruction']:.0f} ms "
          f"after opening); stroke to reconstruction "
          f"reconstruction {after_stroke * 1000:.0f} ms; Smiling slider to new face "
          f"{slider_to_image * 1000:.0f} ms (request {timings['lastEdit']:.0f} ms)")  # fmt: skip
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot(browser, tmp_path, "playground.png")


def test_with_an_api_key_errors_show_their_detail_until_the_key_is_given(
    trained_store, browser, tmp_path
):
    server = start_server(
        trained_store, tmp_path / "log", {"AE_API_KEY": "s3cret", "AE_WORKERS": "1"}
    )
    try:
        browser.get(server.url + "/playground")
        wait(browser, lambda b: b.find_element(By.ID, "digits-error").text)
        assert "401" in browser.find_element(By.ID, "digits-error").text
        assert "API key" in browser.find_element(By.ID, "digits-error").text  # the API's detail
        key = browser.find_element(By.ID, "api-key")
        key.send_keys("s3cret", Keys.TAB)  # change event: everything is asked again
        wait(browser, lambda b: src(b, "decoded").startswith("data:image/png"))
        wait(browser, lambda b: b.find_element(By.ID, "digits-error").text == "")
        wait(browser, lambda b: b.execute_script(
            "return [...document.querySelectorAll('#card .reports img')].some(i => i.naturalWidth > 0)"))  # fmt: skip
    finally:
        stop_server(server)


def test_a_phone_has_no_sideways_scroll_and_a_desktop_has_wide_sliders(
    page_server, browser, tmp_path
):
    """At 390 px (a phone) nothing overflows sideways once every panel has loaded; on a
    desktop each slider is at least 160 px wide, so a small drag is a small change."""
    browser.get(page_server.url + "/playground")
    smiling = "input[aria-label='Smiling']"
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, smiling))
    width = browser.execute_script(f"return document.querySelector(\"{smiling}\").getBoundingClientRect().width")
    assert width >= 160, width
    assert browser.execute_script("return document.querySelector('#latent-sliders input')"
                                  ".getBoundingClientRect().width") >= 160  # fmt: skip
    browser.set_window_size(390, 844)
    browser.get(page_server.url + "/playground")
    wait(browser, lambda b: b.execute_script(
        "return [...document.querySelectorAll('#card .reports img')].some(i => i.naturalWidth > 0)"))  # fmt: skip
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, smiling))
    scroll, view = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= view, (scroll, view)
    wait(browser, lambda b: src(b, "face-edited").startswith("data:image/png"))
    browser.execute_script("document.getElementById('faces').scrollIntoView()")
    screenshot(browser, tmp_path, "playground-phone.png")


def test_morph_and_the_models_being_trained(page_server, browser):
    """Morph draws the frames between two faces; a model a trainer is training into the
    store is shown with its progress until it is published."""
    store = LocalStore(page_server.store)
    announce(store, "faces-ae-next", 3, 12)  # a real training record, from a live process
    try:
        browser.get(page_server.url + "/playground")
        wait(browser, lambda b: "faces-ae-next is being trained (epoch 3 of 12"
             in b.find_element(By.ID, "training").text)  # fmt: skip
        wait(browser, lambda b: src(b, "face-end").startswith("data:image/png"))
        wait(browser, lambda b: src(b, "face-edited").startswith("data:image/png"))
        browser.get_log("performance")  # forget what was sent so far
        browser.find_element(By.ID, "morph").click()
        wait(browser, lambda b: b.execute_script(
            "return [...document.querySelectorAll('#morph-frames img')].filter(i => i.naturalWidth > 0).length") == 8)  # fmt: skip
        # It asked for 8 frames from the face on show to the end face on show, and shows
        # the frames it got, in order (what they look like is the model's business: the
        # session's face model is two epochs old, and its faces all look alike).
        sent = requests_sent(browser, "/interpolate")[-1]
        assert sent["steps"] == 8 and sent["end"] == src(browser, "face-end")
        assert sent["start"] == src(browser, "face-original")
        with page_server.client() as client:
            frames = client.post("/interpolate", json=sent).json()["images"]
        shown = [i.get_attribute("src") for i in
                 browser.find_elements(By.CSS_SELECTOR, "#morph-frames img")]  # fmt: skip
        assert shown == [f"data:image/png;base64,{b64}" for b64 in frames]
        assert browser.find_element(By.ID, "morph-took").text.endswith(" ms")
    finally:
        finished(store, "faces-ae-next")
    wait(browser, lambda b: not b.find_element(By.ID, "training").is_displayed(), timeout=15)
