// What every part of the page shares: the API, the page's state, and drawing images.
"use strict";

export const $ = (id) => document.getElementById(id);
export const POS = "#4b9bea", NEG = "#ef5b5b";  // positive and negative weights
const RDBU = ["#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7",
              "#d1e5f0", "#92c5de", "#4393c3", "#2166ac", "#053061"];

// The page's state; `model` is GET /api/model's reply for the weights shown.
export const state = {
  model: null, strokes: [], stroke: null, photo: null, inFlight: false, dirtySince: null,
  reply: null, selected: null, disabled: new Set(), biases: true, scale: 1, explain: false,
};

// For tests: the last request body and reply, timings; the DOM carries the numbers in
// data attributes.
export const shared = window.skdigitnetPlayground = {
  lastRequest: null, lastReply: null, latencies: [], timings: [], updates: 0,
  idle: () => !state.inFlight && state.dirtySince === null,
};

// Hooks the parts of the page register: called with each new prediction reply, and
// when the network the page shows changes (new weights or a new architecture).
export const hooks = {reply: [], network: []};

export async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body)};
  const response = await fetch(path, init);
  const reply = await response.json();
  if (!response.ok) throw new Error(`${response.status}: ${reply.error}`);
  return reply;
}

export function showError(error) {
  $("error").textContent = error ? error.message : "";
}

export function percent(p) {
  return p > 0.999 ? ">99.9%" : p < 0.001 && p > 0 ? "<0.1%" : `${(100 * p).toFixed(1)}%`;
}

// An image of values into a canvas: grey levels from [0, 1], or through `colour`.
export function drawImage(canvas, values, shape = [28, 28], colour = null) {
  [canvas.height, canvas.width] = shape;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < canvas.width * canvas.height; i++) {
    const rgb = colour ? colour(values[i])
      : Array(3).fill(values ? Math.round(255 * values[i]) : 0);
    image.data.set([...rgb, 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}

// Grey levels 0-255 (as /api/normalize sends the steps) into a canvas.
export function drawLevels(canvas, levels, shape) {
  drawImage(canvas, levels.map((v) => v / 255), shape);
}

export function rdbu(limit) {   // matplotlib's RdBu: red negative, white 0, blue positive
  const rgb = RDBU.map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
  return (v) => {
    const t = Math.max(0, Math.min(1, (v / limit + 1) / 2)) * (rgb.length - 1);
    const i = Math.min(rgb.length - 2, Math.floor(t)), f = t - i;
    return rgb[i].map((c, j) => Math.round(c + f * (rgb[i + 1][j] - c)));
  };
}

// Signed values into a canvas, blue positive and red negative, full colour at the
// largest magnitude; returns that magnitude.
export function drawSigned(canvas, values, shape = [28, 28]) {
  const limit = Math.max(1e-12, ...values.map(Math.abs));
  drawImage(canvas, values, shape, rdbu(limit));
  return limit;
}

// Buttons 0..9 (the network's classes) into `box`, each calling `onClick(label)`.
export function classButtons(box, classes, onClick) {
  box.replaceChildren();
  for (const label of classes) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.dataset.label = label;
    b.addEventListener("click", () => onClick(label));
    box.appendChild(b);
  }
}
