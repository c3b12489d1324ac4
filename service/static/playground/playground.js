// The playground: plain browser JavaScript, no library, no network beyond this service.
// It calls only the public API, so everything it shows, any client can do.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "ae-playground-key";
const timings = (window.playgroundTimings = { opened: performance.now() });

// -- talking to the API

class ApiError extends Error {}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = $("api-key").value.trim();
  if (key) headers["X-API-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(`the service did not answer (${err.message})`);
  }
  const type = response.headers.get("content-type") || "";
  if (!response.ok) {
    // Errors are application/problem+json: show their detail, never swallow them.
    let detail = `${response.status} ${response.statusText}`;
    if (type.includes("json")) {
      const problem = await response.json();
      detail = `${response.status}: ${problem.detail || problem.title || detail}`;
    }
    throw new ApiError(detail);
  }
  return type.includes("json") ? response.json() : response.blob();
}

const post = (path, body) => api("POST", path, body);
const get = (path) => api("GET", path);
const png = (b64) => `data:image/png;base64,${b64}`;

function reporter(id) {
  // Runs `work`, shows its error (the API's detail) under the section, clears it on success;
  // with `tookId`, shows there how long the call took (as this browser saw it).
  return async (work, tookId) => {
    const started = performance.now();
    try {
      const result = await work();
      $(id).textContent = "";
      if (tookId && result !== undefined) {
        $(tookId).textContent = `${Math.round(performance.now() - started)} ms`;
      }
      return result;
    } catch (err) {
      $(id).textContent = err instanceof ApiError ? err.message : `error: ${err.message}`;
      return undefined;
    }
  };
}

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function latest(fn) {
  // Only the answer to the newest call is shown: answers may arrive out of order.
  let counter = 0;
  return async (...args) => {
    const mine = ++counter;
    const result = await fn(...args);
    return mine === counter ? result : undefined;
  };
}

function slider({ label, min, max, step, value, onInput }) {
  const wrap = document.createElement("label");
  const name = document.createElement("span");
  name.textContent = label;
  const input = Object.assign(document.createElement("input"), { type: "range", min, max, step });
  input.value = value;
  input.setAttribute("aria-label", label);
  const out = document.createElement("output");
  out.textContent = Number(value).toFixed(2);
  input.addEventListener("input", () => { out.textContent = Number(input.value).toFixed(2); onInput(); });
  wrap.append(name, input, out);
  return { wrap, input, set(v) { input.value = v; out.textContent = Number(v).toFixed(2); } };
}

// -- draw a digit

const digitsError = reporter("digits-error");
const pad = $("pad");
const ink = pad.getContext("2d");
const small = Object.assign(document.createElement("canvas"), { width: 28, height: 28 });
let latentSliders = [];

function clearPad() {
  ink.fillStyle = "#000";
  ink.fillRect(0, 0, pad.width, pad.height);
}

function padPng() {
  // The drawing at the model's 28x28 (white on black, as MNIST), as a PNG data URL.
  const ctx = small.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(pad, 0, 0, 28, 28);
  return small.toDataURL("image/png");
}

const reconstructLatest = latest(async (image) =>
  Promise.all([post("/reconstruct", { images: [image] }), post("/encode", { images: [image] }),
    post("/score", { images: [image], heatmap: true })]));

function showVerdict(s) {
  // The calibrated answer of /score: verdict, percentile, score and the threshold it is held to.
  const verdict = s.outlier
    ? "Not like the digits this model learned"
    : "Looks like the digits this model learned";
  const share = (100 * s.percentile).toFixed(1);
  $("verdict").textContent = `${verdict}: more unusual than ${share}% of held-out digits ` +
    `(score ${s.score.toFixed(2)}, outlier above ${s.threshold === null ? "n/a" : s.threshold.toFixed(2)} ` +
    `at a ${(100 * s.fpr).toFixed(0)}% false-positive rate).`;
  $("verdict").classList.toggle("outlier", Boolean(s.outlier));
  $("heatmap").src = png(s.heatmap);
}

async function reconstruct() {
  const answer = await digitsError(() => reconstructLatest(padPng()), "digits-took");
  if (!answer) return;
  const [rec, enc, scored] = answer;
  $("reconstruction").src = png(rec.images[0]);
  showVerdict(scored.scores[0]);
  $("served-digits").textContent = `${rec.model} v${rec.version}`;
  $("mse").textContent = `MSE ${rec.errors[0].toFixed(4)}`;
  const code = enc.codes[0];
  $("code").textContent = `[${code.map((v) => v.toFixed(2)).join(", ")}]`;
  await buildLatentSliders(code.length, rec.model, rec.version);
  code.forEach((v, i) => latentSliders[i].set(Math.max(-4, Math.min(4, v))));
  if (timings.firstReconstruction === undefined) {
    timings.firstReconstruction = performance.now() - timings.opened;
  }
  decode();
}

const decodeLatest = latest((codes) => post("/decode", { codes }));
const decode = debounce(async () => {
  if (!latentSliders.length) return;
  const started = performance.now();
  const codes = [latentSliders.map((s) => Number(s.input.value))];
  const answer = await digitsError(() => decodeLatest(codes), "decoded-took");
  if (!answer) return;
  $("decoded").src = png(answer.images[0]);
  timings.lastDecode = performance.now() - started;
}, 30);

async function latentActivity(model, version) {
  // Per code dimension, how much the model uses it (recorded when it was published).
  const detail = await get(`/models/${encodeURIComponent(model)}`).catch(() => null);
  const found = detail && detail.details.find((d) => d.version === version);
  return (found && found.latent_activity) || null;
}

let slidersFor = "";
async function buildLatentSliders(size, model, version) {
  // One slider per dimension, the ones the model uses most first; the dimensions it does
  // not use (activity under a tenth of the largest) folded away: moving one changes little.
  const key = `${model}@${version}`;
  if (latentSliders.length === size && slidersFor === key) return;
  slidersFor = key;
  const activity = await latentActivity(model, version);
  const box = $("latent-sliders");
  box.replaceChildren();
  latentSliders = Array.from({ length: size }, (_, i) => {
    const used = activity ? ` (activity ${activity[i].toFixed(2)})` : "";
    return slider({ label: `dimension ${i + 1}${used}`, min: -4, max: 4, step: 0.05, value: 0, onInput: decode });
  });
  const order = [...latentSliders.keys()];
  if (activity && activity.length === size) order.sort((a, b) => activity[b] - activity[a]);
  const top = activity ? Math.max(...activity) : 0;
  const unused = order.filter((i) => activity && activity[i] < 0.1 * top);
  for (const i of order) if (!unused.includes(i)) box.append(latentSliders[i].wrap);
  if (unused.length) {
    const fold = Object.assign(document.createElement("details"), { id: "unused-dimensions" });
    const summary = document.createElement("summary");
    summary.textContent = `${unused.length} dimension${unused.length > 1 ? "s" : ""} the model does not use`;
    fold.append(summary, ...unused.map((i) => latentSliders[i].wrap));
    box.append(fold);
  }
}

let drawing = false;
let last = null;
const throttledReconstruct = (() => {
  let waiting = false;
  return () => {
    if (waiting) return;
    waiting = true;
    setTimeout(() => { waiting = false; reconstruct(); }, 150);
  };
})();

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  last = padPoint(event);
  pad.setPointerCapture(event.pointerId);
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const point = padPoint(event);
  ink.strokeStyle = "#fff";
  ink.lineWidth = 22;
  ink.lineCap = "round";
  ink.beginPath();
  ink.moveTo(...last);
  ink.lineTo(...point);
  ink.stroke();
  last = point;
  throttledReconstruct();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => { if (drawing) { drawing = false; reconstruct(); } });
}
$("clear").addEventListener("click", () => { clearPad(); invite(); });
$("digit-upload").addEventListener("change", async () => {
  // An uploaded image is drawn onto the pad (scaled to fit), then sent like a drawing.
  const file = $("digit-upload").files[0];
  if (!file) return;
  const bitmap = await createImageBitmap(file);
  clearPad();
  ink.drawImage(bitmap, 0, 0, pad.width, pad.height);
  reconstruct();
});

// -- one handwriting, ten digits

const cvaeError = reporter("cvae-error");
async function newStyle() {
  const seed = Math.floor(Math.random() * 2 ** 31);
  const answer = await cvaeError(() => post("/cvae-sample", { count_per_label: 1, shared_noise: true, seed }), "cvae-took");
  if (!answer) return;
  $("cvae-grid").replaceChildren(...answer.groups.map((group) => {
    const figure = document.createElement("figure");
    const img = Object.assign(document.createElement("img"), { src: png(group.images[0]), alt: `digit ${group.label}` });
    const caption = document.createElement("figcaption");
    caption.textContent = group.label;
    figure.append(img, caption);
    return figure;
  }));
}
$("new-style").addEventListener("click", newStyle);

// -- faces

const facesError = reporter("faces-error");
const faces = { example: null, upload: null, end: null, attributes: [], sliders: [] };

function faceImage() {
  return $("face-source").value === "upload" && faces.upload ? faces.upload : faces.example;
}

async function exampleFace() {
  // The face the API docs use in their /edit-attribute example.
  const spec = await get("/openapi.json");
  const content = spec.paths["/edit-attribute"].post.requestBody.content["application/json"];
  const examples = Object.values(content.examples || {});
  return examples.length ? png(examples[0].value.images[0]) : null;
}

async function faceModels() {
  const list = await get("/models");
  const found = [];
  for (const summary of list.models) {
    const detail = await get(`/models/${encodeURIComponent(summary.name)}`);
    const newest = detail.details[detail.details.length - 1];
    if (newest && newest.capabilities.includes("edit-attribute")) found.push(detail);
  }
  return found;
}

const editLatest = latest((body) => post("/edit-attribute", body));
const edit = debounce(async () => {
  const image = faceImage();
  if (!image || !faces.attributes.length) return;
  $("face-original").src = image;
  let edits = faces.sliders
    .map((s, i) => ({ attribute: faces.attributes[i], strength: Number(s.input.value) }))
    .filter((e) => e.strength !== 0)
    .sort((a, b) => Math.abs(b.strength) - Math.abs(a.strength));
  if (edits.length > 8) edits = edits.slice(0, 8); // the API takes at most 8 edits at once
  if (!edits.length) edits = [{ attribute: faces.attributes[0], strength: 0 }]; // the plain reconstruction
  const body = { model: $("face-model").value, images: [image], edits, direction: $("direction").value };
  const started = performance.now();
  const answer = await facesError(() => editLatest(body), "faces-took");
  if (!answer) return;
  $("face-edited").src = png(answer.images[0]);
  $("served-faces").textContent = `${answer.model} v${answer.version}`;
  timings.lastEdit = performance.now() - started;
}, 30);

function buildAttributeSliders(names) {
  faces.attributes = names;
  const box = $("attribute-sliders");
  box.replaceChildren();
  faces.sliders = names.map((name) => {
    const s = slider({ label: name, min: -2, max: 2, step: 0.1, value: 0, onInput: edit });
    box.append(s.wrap);
    return s;
  });
}

async function randomEnd() {
  const answer = await facesError(() => post("/sample", { model: $("face-model").value, count: 1 }));
  if (!answer) return;
  faces.end = png(answer.images[0]);
  $("face-end").src = faces.end;
}

async function morph() {
  if (!faces.end) await randomEnd();
  const body = { model: $("face-model").value, start: faceImage(), end: faces.end, steps: 8 };
  const answer = await facesError(() => post("/interpolate", body), "morph-took");
  if (!answer) return;
  $("morph-frames").replaceChildren(...answer.images.map((b64, i) =>
    Object.assign(document.createElement("img"), { src: png(b64), alt: `frame ${i + 1}` })));
}

async function setUpFaces() {
  const found = await facesError(async () => {
    const [example, models] = await Promise.all([exampleFace(), faceModels()]);
    faces.example = example;
    return models;
  });
  if (!found) return;
  if (!found.length) {
    $("faces-error").textContent = "no model in the store can edit attributes yet (the face models may still be training)";
    return;
  }
  $("face-model").replaceChildren(...found.map((d) => new Option(d.name, d.name)));
  const pick = () => {
    const detail = found.find((d) => d.name === $("face-model").value);
    buildAttributeSliders(detail.details[detail.details.length - 1].attribute_names);
    faces.end = null;
    randomEnd();
    edit();
  };
  $("face-model").addEventListener("change", pick);
  pick();
}

$("face-source").addEventListener("change", edit);
$("direction").addEventListener("change", edit);
$("face-upload").addEventListener("change", () => {
  const file = $("face-upload").files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => { faces.upload = reader.result; $("face-source").value = "upload"; edit(); };
  reader.readAsDataURL(file);
});
$("random-end").addEventListener("click", randomEnd);
$("morph").addEventListener("click", morph);

// -- model cards

const cardsError = reporter("cards-error");
let cardModels = [];

function table(rows) {
  const t = document.createElement("table");
  for (const [k, v] of rows) {
    const tr = t.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = v;
  }
  return t;
}

async function reportImage(url) {
  // Fetched with the API key (an <img src> could not send it), shown from a blob URL.
  const blob = await api("GET", url);
  return URL.createObjectURL(blob);
}

async function showCard() {
  const name = $("card-model").value;
  const detail = await cardsError(() => get(`/models/${encodeURIComponent(name)}`), "card-took");
  if (!detail) return;
  const chosen = Number($("card-version").value);
  const version = detail.details.find((d) => d.version === chosen) || detail.details[detail.details.length - 1];
  const card = $("card");
  card.replaceChildren();
  if (!version) { card.textContent = "no readable version"; return; }
  const head = document.createElement("p");
  head.textContent = `${name} v${version.version} (${version.family}${version.aliases.length ? ", " + version.aliases.join(", ") : ""}), created ${version.created_at}`;
  const facts = [["latent size", version.latent_size ?? "-"], ["can", version.capabilities.join(", ")]];
  if (version.class_names.length) facts.push(["classes", version.class_names.join(", ")]);
  if (version.attribute_names.length) facts.push(["attributes", version.attribute_names.join(", ")]);
  for (const [k, v] of Object.entries(version.evaluated_with)) facts.push([`evaluated with (${k})`, v]);
  if (detail.damaged.length) facts.push(["damaged versions", detail.damaged.join(", ")]);
  const metrics = Object.entries(version.metrics).map(([k, v]) => [k, Number.isInteger(v) ? v : v.toPrecision(4)]);
  const heading = (text) => Object.assign(document.createElement("h3"), { textContent: text });
  const reports = document.createElement("div");
  reports.className = "reports";
  card.append(head, table(facts), heading("Metrics"), table(metrics), heading("Report"), reports);
  for (const url of version.report_urls) {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.alt = url.split("/").pop();
    const caption = Object.assign(document.createElement("figcaption"), { textContent: img.alt });
    figure.append(img, caption);
    reports.append(figure);
    cardsError(async () => { img.src = await reportImage(url); });
  }
}

async function pickCardModel() {
  const summary = cardModels.find((m) => m.name === $("card-model").value);
  if (!summary) return;
  const versions = [...summary.versions].reverse();
  $("card-version").replaceChildren(...versions.map((v) => {
    const aliases = Object.entries(summary.aliases).filter(([, n]) => n === v).map(([a]) => a);
    return new Option(aliases.length ? `${v} (${aliases.join(", ")})` : String(v), String(v));
  }));
  const production = summary.aliases.production;
  if (production) $("card-version").value = String(production);
  await showCard();
}

async function setUpCards() {
  const list = await cardsError(() => get("/models"));
  if (!list) return;
  cardModels = list.models;
  $("card-model").replaceChildren(...cardModels.map((m) => new Option(m.name, m.name)));
  await pickCardModel();
}
$("card-model").addEventListener("change", pickCardModel);
$("card-version").addEventListener("change", showCard);

// -- start

function invite() {
  // A blank pad: an invitation to draw, not the reconstruction of nothing (a ghostly 8).
  for (const id of ["reconstruction", "heatmap"]) $(id).removeAttribute("src");
  for (const id of ["mse", "code", "served-digits"]) $(id).textContent = "";
  $("verdict").classList.remove("outlier");
  $("verdict").textContent =
    "Draw a digit on the black square, or upload one: it is encoded, reconstructed and scored.";
}

async function startSliders() {
  // The latent sliders start at the origin; their count is the model's code size.
  const enc = await digitsError(() => post("/encode", { images: [padPng()] }));
  if (!enc) return;
  await buildLatentSliders(enc.codes[0].length, enc.model, enc.version);
  latentSliders.forEach((s) => s.set(0));
  decode();
}

// -- models being trained

let trainingPoll = null;
async function showTraining() {
  // What a trainer is still training into the store (GET /models' `training`): shown until
  // published, then the sections that wait for those models are set up again.
  const list = await get("/models").catch(() => null);
  const training = (list && list.training) || [];
  const banner = $("training");
  banner.hidden = !training.length;
  banner.replaceChildren(...training.map((t) => Object.assign(document.createElement("p"), { textContent: t.detail })));
  if (training.length && !trainingPoll) {
    trainingPoll = setInterval(showTraining, 5000);
  } else if (!training.length && trainingPoll) {
    clearInterval(trainingPoll);
    trainingPoll = null;
    setUpFaces();
    setUpCards();
  }
}

function start() {
  clearPad();
  showTraining();
  invite();
  startSliders();
  newStyle();
  setUpFaces();
  setUpCards();
}

$("api-key").value = sessionStorage.getItem(KEY_STORE) || "";
$("api-key").addEventListener("change", () => {
  sessionStorage.setItem(KEY_STORE, $("api-key").value.trim());
  start();
});
start();
