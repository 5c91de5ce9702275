// Fool it (make it say N), what it thinks N looks like, why this answer, your photo.
// The server computes everything (POST /api/fool, GET /api/dream, "explain", POST
// /api/normalize); this file only sends the current image and draws the replies.
"use strict";

import {$, state, shared, hooks, api, showError, percent, drawImage, drawLevels, drawSigned,
        classButtons} from "./common.js";

const PHOTO_SIDE = 320;   // a photo is sent with at most this many pixels a side
let page = null;          // {usePhoto, imageBody, requestBody, changed} from playground.js
let classes = "";
let noiseSeed = 0;

export function setUpTools(context) {
  page = context;
  hooks.network.push((model) => {
    if (`${model.classes}` === classes) return;  // keep the buttons under the pointer
    classes = `${model.classes}`;
    classButtons($("fool-targets"), model.classes, fool);
    classButtons($("dream-labels"), model.classes, dream);
  });
  hooks.reply.push(showEvidence);
  $("explain").addEventListener("change", (event) => {
    state.explain = event.target.checked;
    $("evidence-box").hidden = !state.explain;
    page.changed();
  });
  $("photo-file").addEventListener("change", (event) => {
    readPhoto(event.target.files[0]);
    event.target.value = "";  // the same file chosen again is read again
  });
  const pad = $("pad");
  for (const name of ["dragenter", "dragover"]) {
    pad.addEventListener(name, (event) => {
      event.preventDefault();
      pad.classList.add("dropping");
    });
  }
  pad.addEventListener("dragleave", () => pad.classList.remove("dropping"));
  pad.addEventListener("drop", (event) => {
    event.preventDefault();
    pad.classList.remove("dropping");
    readPhoto(event.dataTransfer.files[0]);
  });
}

function pressed(box, label) {
  for (const b of box.querySelectorAll("button")) {
    b.classList.toggle("pressed", b.dataset.label === String(label));
  }
}

// ---- make it say N ----------------------------------------------------------------------
async function fool(label) {
  const result = $("fool-result");
  pressed($("fool-targets"), label);
  result.textContent = `Looking for the smallest change that makes it say ${label}…`;
  result.dataset.label = "";
  try {
    const reply = shared.lastFool = await api("/api/fool", {...page.requestBody(),
                                                           target: label});
    drawImage($("fool-before"), reply.original);
    drawImage($("fool-after"), reply.image);
    const limit = drawSigned($("fool-difference"), reply.difference);
    $("fool-images").hidden = false;
    const p = percent(Math.max(...reply.probabilities));
    result.textContent = reply.success
      ? `Now it says ${reply.label} (${p}). The change: ${reply.change.l2.toFixed(2)} in ` +
        `L2 over the 28×28 image; ${reply.change.pixels_changed} of 784 pixels moved by more ` +
        `than a grey level, the largest by ${limit.toFixed(2)}.`
      : `No change found that makes it say ${label}; it says ${reply.label} (${p}).`;
    Object.assign(result.dataset, {label: reply.label, target: reply.target,
                                   l2: reply.change.l2});
  } catch (error) {
    result.textContent = "";
    showError(error);
  }
}

// ---- what it thinks N looks like ----------------------------------------------------------
async function dream(label) {
  const result = $("dream-result");
  pressed($("dream-labels"), label);
  const start = $("dream-start").value;
  result.textContent = `Looking for the image that makes output ${label} strongest…`;
  result.dataset.label = "";
  try {
    const query = `label=${encodeURIComponent(label)}&start=${start}&seed=${noiseSeed++}`;
    const reply = shared.lastDream = await api(`/api/dream?${query}`);
    const brightest = Math.max(1e-9, ...reply.image);  // shown at full contrast
    drawImage($("dream"), reply.image.map((v) => v / brightest));
    $("dream").dataset.brightest = brightest;
    $("dream-box").hidden = false;
    result.textContent = `From a ${start} start, this is what excites output ${label} most ` +
      `(brightest pixel ${brightest.toFixed(2)}, shown white): the network reads it as ` +
      `${reply.label} ` +
      `(${percent(Math.max(...reply.probabilities))}). Not a neat ${label}: the network ` +
      "never learned what a digit looks like, only what tells them apart.";
    result.dataset.label = reply.label;
  } catch (error) {
    result.textContent = "";
    showError(error);
  }
}

// ---- why this answer ------------------------------------------------------------------------
function showEvidence(reply) {
  const canvas = $("evidence");
  if (!state.explain || !reply || !reply.evidence) {
    drawImage(canvas, null);
    delete canvas.dataset.limit;
    return;
  }
  canvas.dataset.limit = drawSigned(canvas, reply.evidence);
}

// ---- your photo ------------------------------------------------------------------------------
async function readPhoto(file) {
  const answer = $("photo-answer");
  if (!file) return;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, {imageOrientation: "from-image"});  // EXIF
  } catch {
    answer.textContent = `${file.name}: not an image this browser can read (PNG or JPEG).`;
    return;
  }
  const scale = Math.min(1, PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * scale));
  const h = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = Object.assign(document.createElement("canvas"), {width: w, height: h});
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, w, h);
  const data = ctx.getImageData(0, 0, w, h).data;
  let opaque = true;
  for (let i = 3; i < data.length && opaque; i += 4) opaque = data[i] === 255;
  const pixels = opaque ? Array.from(data).filter((_, i) => i % 4 !== 3) : Array.from(data);
  const body = {width: w, height: h, mode: opaque ? "RGB" : "RGBA", pixels};
  const fit = Math.min(280 / w, 280 / h);
  const placed = [(280 - w * fit) / 2, (280 - h * fit) / 2, w * fit, h * fit];
  page.usePhoto({bitmap: canvas, placed, body, name: file.name});
  answer.textContent = `Reading ${file.name}…`;
  answer.dataset.label = "";
  try {
    showSteps(shared.lastNormalize = await api("/api/normalize", body), file.name);
  } catch (error) {
    answer.textContent = "";
    showError(error);
  }
}

function showSteps(reply, name) {
  const {steps, shape} = reply;
  drawLevels($("step-grey"), steps.grey, shape);
  drawLevels($("step-paper"), steps.paper_removed, shape);
  drawLevels($("step-ink"), steps.ink, shape);
  drawImage($("step-image"), steps.image);
  const crop = $("step-box");
  if (steps.box) {
    const [top, left, bottom, right] = steps.box;
    const [x, y] = [Math.floor(left), Math.floor(top)];
    const [w, h] = [Math.max(1, Math.ceil(right) - x), Math.max(1, Math.ceil(bottom) - y)];
    [crop.width, crop.height] = [w, h];
    crop.getContext("2d").drawImage($("step-ink"), x, y, w, h, 0, 0, w, h);
    for (const id of ["step-grey", "step-ink"]) {  // the box, drawn on the steps
      const ctx = $(id).getContext("2d");
      ctx.strokeStyle = "#f7c948";
      ctx.lineWidth = Math.max(1, shape[1] / 80);
      ctx.strokeRect(left, top, right - left, bottom - top);
    }
  } else {
    drawImage(crop, null, [1, 1]);
  }
  $("photo-steps").hidden = false;
  $("photo-steps").dataset.box = steps.box ? steps.box.join(",") : "";
  const answer = $("photo-answer");
  answer.textContent = reply.blank
    ? `${name}: no digit found (blank); try a photo with more contrast.`
    : `${name}: the network reads ${reply.label} ` +
      `(${percent(Math.max(...reply.probabilities))}).`;
  answer.dataset.label = reply.blank ? "blank" : reply.label;
}
