// The network drawn as in the video, a neuron up close, and "break it".
// Two layouts: wide (inputs, hidden layers and outputs side by side in a 960-unit
// view) and narrow (a 400-unit view for phones, neurons at least 16 px across).
"use strict";

import {$, POS, NEG, state, shared, api, showError, percent, drawImage, drawSigned}
  from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const NARROW = 560;  // below this width (CSS px) the diagram takes the narrow layout
const view = {inputs: null, hidden: [], outputs: [], edges: [], positions: [], narrow: null,
              key: null};
let onChange = () => {};  // the page's "something changed: predict again"

const LAYOUTS = {
  wide: {viewBox: [0, 20, 960, 520], centre: 300, grid: {x: 20, side: 280}, span: 420,
         maxStep: 30, maxR: 11, first: 430, width: 300, captions: [52, 72], digit: 8,
         bar: [28, 110], pct: 8, inputCaption: (u, h, w) => [`${u} inputs (${h}×${w})`]},
  narrow: {viewBox: [0, 0, 400, 470], centre: 250, grid: {x: 4, side: 98}, span: 400,
           maxStep: 24, maxR: 10, first: 140, width: 140, captions: [20, 38], digit: 5,
           bar: [17, 40], pct: 4, inputCaption: (u, h, w) => [`${u} inputs`, `(${h}×${w})`]},
};

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function column(n, x, L) {
  const step = Math.min(L.maxStep, L.span / n);
  const r = Math.max(1.5, Math.min(L.maxR, step * 0.42));
  return Array.from({length: n}, (_, i) => ({x, y: L.centre + (i - (n - 1) / 2) * step, r}));
}

function caption(svg, x, y, text) {
  el("text", {class: "caption", x, y}, svg).textContent = text;
}

export function buildNetwork(model) {
  const svg = $("net");
  view.narrow = svg.parentElement.clientWidth < NARROW;
  view.key = `${model.layers}|${model.activations}|${view.narrow}`;
  const L = LAYOUTS[view.narrow ? "narrow" : "wide"];
  svg.setAttribute("viewBox", L.viewBox.join(" "));
  svg.classList.toggle("narrow", view.narrow);
  svg.replaceChildren();
  const units = model.layers, nHidden = units.length - 2;
  const xs = Array.from({length: nHidden + 1},
                        (_, k) => L.first + k * (L.width / Math.max(1, nHidden)));
  const [h, w] = model.image_shape;
  const cell = L.grid.side / Math.max(h, w);
  const grid = {x: L.grid.x, y: L.centre - (h * cell) / 2};
  el("g", {id: "edges"}, svg);
  view.inputPos = (i) => ({x: grid.x + (i % w + 0.5) * cell,
                           y: grid.y + (Math.floor(i / w) + 0.5) * cell, r: 0});
  view.inputs = el("image", {x: grid.x, y: grid.y, width: w * cell, height: h * cell,
                             preserveAspectRatio: "none", class: "pixels"}, svg);
  const cells = el("pattern", {id: "cells", width: cell, height: cell, x: grid.x, y: grid.y,
                               patternUnits: "userSpaceOnUse"}, el("defs", {}, svg));
  el("path", {d: `M ${cell} 0 L 0 0 0 ${cell}`, class: "cell"}, cells);
  el("rect", {class: "frame", x: grid.x, y: grid.y, width: w * cell, height: h * cell,
              fill: "url(#cells)"}, svg);
  L.inputCaption(units[0], h, w).forEach((text, i) =>
    caption(svg, grid.x + (w * cell) / 2, grid.y + h * cell + 22 + 17 * i, text));
  view.positions = [null];
  view.hidden = [];
  const short = view.narrow && xs[1] - xs[0] < 64;  // captions that fit between columns
  for (let k = 0; k < nHidden; k++) {
    const col = column(units[k + 1], xs[k], L);
    view.positions.push(col);
    caption(svg, xs[k], L.captions[0], short ? `h${k + 1}` : `hidden ${k + 1}`);
    caption(svg, xs[k], L.captions[1], short ? `${units[k + 1]}`
      : `${units[k + 1]} · ${model.activations[k]}`);
    view.hidden.push(col.map((p, i) => neuron(svg, p, k, i)));
  }
  const out = column(units.at(-1), xs[nHidden], L);
  view.positions.push(out);
  caption(svg, xs[nHidden], L.captions[0], short ? "out" : "output");
  caption(svg, xs[nHidden], L.captions[1], view.narrow ? model.activations.at(-1)
    : `${units.at(-1)} · ${model.activations.at(-1)}`);
  view.outputs = out.map((p, i) => outputNeuron(svg, p, model.classes[i], i, L));
  updateEdges(model);
}

// The strongest connections (model.connections) as lines; the neurons stay.
export function updateEdges(model) {
  const group = $("edges");
  group.replaceChildren();
  view.edges = model.connections.map((layer, k) => layer.map(([src, dst, weight]) => {
    const a = k === 0 ? view.inputPos(src) : view.positions[k][src];
    const b = view.positions[k + 1][dst];
    const line = el("line", {x1: a.x + a.r, y1: a.y, x2: b.x - b.r, y2: b.y}, group);
    return {line, src, dst, weight, layer: k};
  }));
  render(state.reply, null);
}

// A new network from the server: rebuilt when its shape changed, else new edges.
export function showNetwork(model) {
  const narrow = $("net").parentElement.clientWidth < NARROW;
  if (`${model.layers}|${model.activations}|${narrow}` !== view.key) {
    state.selected = null;
    $("neuron-hint").hidden = false;
    $("neuron-body").hidden = true;
    $("neuron-title").textContent = "A neuron up close";
    const sizes = model.layers.slice(1, -1);
    for (const key of [...state.disabled]) {
      const [k, i] = key.split(",").map(Number);
      if (!(k < sizes.length && i < sizes[k])) state.disabled.delete(key);
    }
    listDisabled();
    buildNetwork(model);
  } else {
    updateEdges(model);
    if (state.selected) selectNeuron(state.selected, false);
  }
}

function neuron(svg, p, layer, index) {
  const circle = el("circle", {class: "neuron", cx: p.x, cy: p.y, r: p.r,
                               "data-layer": layer, "data-index": index}, svg);
  el("title", {}, circle).textContent = `hidden ${layer + 1}, neuron ${index}`;
  circle.addEventListener("mousedown", (event) => {
    if (event.shiftKey) event.preventDefault();  // no text selection on shift-click
  });
  circle.addEventListener("click", (event) => {
    if (event.shiftKey) toggleNeuron([layer, index]);
    else selectNeuron([layer, index]);
  });
  return circle;
}

function outputNeuron(svg, p, label, index, L) {
  const g = el("g", {class: "output", "data-class": label, "data-index": index}, svg);
  g.circle = el("circle", {cx: p.x, cy: p.y, r: p.r}, g);
  el("text", {class: "digit", x: p.x + p.r + L.digit, y: p.y + 5}, g).textContent = label;
  const [offset, width] = L.bar, x = p.x + p.r + offset, height = Math.max(3, p.r * 0.9);
  el("rect", {class: "bar-bg", x, y: p.y - height / 2, width, height, rx: 2}, g);
  g.bar = el("rect", {class: "bar", x, y: p.y - height / 2, width: 0, height, rx: 2}, g);
  g.barWidth = width;
  g.pct = el("text", {class: "pct", x: x + width + L.pct, y: p.y + 4}, g);
  return g;
}

function grey(level) {
  const v = Math.round(20 + 235 * Math.max(0, Math.min(1, level)));
  return `rgb(${v},${v},${Math.min(255, v + 8)})`;
}

// Draw a prediction reply (null: nothing drawn yet); `since` is when the drawing changed.
export function render(reply, since) {
  if (!view.inputs) return;  // the network is not drawn yet
  state.reply = reply;
  const blank = !reply || reply.blank;
  const layers = blank ? null : reply.layers;
  view.hidden.forEach((col, k) => {
    const values = layers ? layers[k] : null;
    const scale = values ? Math.max(1, ...values.map(Math.abs)) : 1;
    col.forEach((circle, i) => {
      const a = values ? values[i] : 0;
      circle.setAttribute("fill", grey(Math.abs(a) / scale));
      circle.dataset.activation = values ? String(a) : "";
      circle.classList.toggle("off", state.disabled.has(`${k},${i}`));
      circle.classList.toggle("selected", `${state.selected}` === `${k},${i}`);
    });
  });
  renderOutputs(reply, blank);
  renderEdges(blank ? null : [reply.image, ...reply.layers]);
  drawImage($("seen"), reply ? reply.image : null);
  view.inputs.setAttribute("href", $("seen").toDataURL());
  renderAnswer(reply, blank);
  if (state.selected) renderContributions(blank ? null : reply.neuron);
  if (reply && since !== null) {
    shared.updates += 1;
    $("status").dataset.updates = shared.updates;
    const ms = performance.now() - since;
    shared.latencies.push(ms);
    $("latency").dataset.latencyMs = ms.toFixed(1);
    $("latency").textContent = `updated ${ms.toFixed(0)} ms after the change`;
  }
}

function renderOutputs(reply, blank) {
  const winner = blank ? -1 : reply.probabilities.indexOf(Math.max(...reply.probabilities));
  view.outputs.forEach((g, i) => {
    const p = blank ? 0 : reply.probabilities[i];
    g.circle.setAttribute("fill", grey(p));
    g.bar.setAttribute("width", (g.barWidth * p).toFixed(1));
    g.pct.textContent = blank ? "" : percent(p);
    g.dataset.probability = blank ? "" : String(p);
    g.dataset.activation = blank ? "" : String(reply.layers.at(-1)[i]);
    g.classList.toggle("winner", i === winner);
  });
}

function renderEdges(activations) {
  for (const layer of view.edges) {
    const strength = layer.map((e) => {
      const src = e.layer === 0 || !state.disabled.has(`${e.layer - 1},${e.src}`);
      const a = activations ? activations[e.layer][e.src] : 1;
      return src ? e.weight * a : 0;
    });
    const top = Math.max(1e-9, ...strength.map(Math.abs));
    layer.forEach((e, j) => {
      const s = strength[j] / top;
      const dim = activations ? 1 : 0.35;
      e.line.setAttribute("stroke", s >= 0 ? POS : NEG);
      e.line.setAttribute("stroke-opacity", (dim * (0.04 + 0.9 * Math.abs(s))).toFixed(3));
      e.line.setAttribute("stroke-width", (0.4 + 2.6 * Math.abs(s)).toFixed(2));
    });
  }
}

function renderAnswer(reply, blank) {
  const p = blank ? 0 : Math.max(...reply.probabilities);
  const text = !reply ? "draw a digit or drop a photo"
    : blank ? "no digit found yet: draw a little more" : `${percent(p)} sure`;
  for (const [label, confidence] of [["prediction", "confidence"],
                                     ["mini-prediction", "mini-confidence"]]) {
    $(label).textContent = blank ? "?" : reply.label;
    $(label).dataset.label = blank ? "" : String(reply.label);
    $(confidence).textContent = text;
  }
  const note = $("broken-note");
  note.hidden = blank || !reply.intact;
  if (!note.hidden) {
    const q = Math.max(...reply.intact.probabilities);
    note.textContent = `broken copy; the intact network says ${reply.intact.label} ` +
      `(${percent(q)})`;
  }
}

// ---- a neuron up close ----------------------------------------------------------------
async function selectNeuron(pair, predict = true) {
  state.selected = pair;
  let info;
  try {
    info = await api(`/api/neuron?layer=${pair[0]}&index=${pair[1]}`);
  } catch (error) {
    showError(error);
    return;
  }
  $("neuron-hint").hidden = true;
  $("neuron-body").hidden = false;
  $("neuron-title").textContent = `Hidden ${pair[0] + 1}, neuron ${pair[1]}`;
  const limit = drawSigned($("weights"), info.weights, info.shape);
  $("weights-legend").textContent = `Its ${info.weights.length} incoming weights: blue +, ` +
    `red −, white 0; the strongest, |w| = ${limit.toFixed(2)}, in full colour.`;
  $("weights").dataset.layer = pair[0];
  $("weights").dataset.index = pair[1];
  $("neuron-values").dataset.bias = info.bias;
  updateToggle();
  if (predict) {
    renderContributions(null);
    onChange();
  }
}

function renderContributions(info) {
  const box = $("contributions");
  box.replaceChildren();
  const bias = Number($("neuron-values").dataset.bias);
  $("neuron-values").textContent = info
    ? `activation a = ${info.activation.toFixed(3)} · bias b = ${bias.toFixed(3)}`
    : `bias b = ${bias.toFixed(3)}; draw a digit to see it fire`;
  if (!info) return;
  const add = (cls, text) => {
    const node = document.createElement("span");
    node.className = cls;
    node.textContent = text;
    return box.appendChild(node);
  };
  const top = Math.max(0.05, ...info.output_change.map(Math.abs));
  const signed = (v, digits) => `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(digits)}`;
  info.output_change.forEach((dz, i) => {
    const dp = info.probability_change[i];
    add("digit", state.model.classes[i]);
    const fill = document.createElement("span");
    const half = 50 * Math.abs(dz) / top;
    fill.className = "fill";
    fill.style.left = dz >= 0 ? "50%" : `${50 - half}%`;
    fill.style.width = `${half}%`;
    fill.style.background = dz >= 0 ? POS : NEG;
    add("track", "").appendChild(fill);
    add("value", signed(dz, 2)).dataset.change = dz;
    add("value", Math.abs(dp) < 0.0005 ? "" : `${signed(100 * dp, 1)} pp`).dataset.change = dp;
  });
}

// ---- break it -----------------------------------------------------------------------
export function breakSpec() {
  if (state.disabled.size === 0 && state.biases && state.scale === 1) return null;
  return {disabled: [...state.disabled].map((s) => s.split(",").map(Number)),
          biases: state.biases, weight_scale: state.scale};
}

function toggleNeuron(pair) {
  const key = `${pair[0]},${pair[1]}`;
  if (!state.disabled.delete(key)) state.disabled.add(key);
  brokenChanged();
}

function updateToggle() {
  if (!state.selected) return;
  const off = state.disabled.has(`${state.selected}`);
  $("toggle-neuron").textContent = off ? "Switch it back on" : "Switch it off";
}

function listDisabled() {
  const list = $("disabled-list");
  list.replaceChildren();
  if (state.disabled.size === 0) {
    list.textContent = "No neuron switched off: shift-click one, or click it and press " +
      "“Switch it off”.";
  } else list.append("Switched off (click to switch back on): ");
  for (const key of state.disabled) {
    const [k, i] = key.split(",").map(Number);
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `h${k + 1}·${i} ✕`;
    b.title = "switch it back on";
    b.addEventListener("click", () => toggleNeuron([k, i]));
    list.appendChild(b);
  }
  updateToggle();
}

function brokenChanged() {
  listDisabled();
  onChange();
  if (!state.reply) render(null, null);
}

export function setUpNetwork(changed) {
  onChange = changed;
  $("biases").addEventListener("change", (e) => {
    state.biases = e.target.checked;
    brokenChanged();
  });
  $("scale").addEventListener("input", (e) => {
    state.scale = Number(e.target.value);
    $("scale-value").textContent = state.scale.toFixed(2);
    brokenChanged();
  });
  $("toggle-neuron").addEventListener("click", () => toggleNeuron(state.selected));
  $("repair").addEventListener("click", () => {
    state.disabled.clear();
    state.biases = $("biases").checked = true;
    state.scale = 1;
    $("scale").value = 1;
    $("scale-value").textContent = "1.00";
    brokenChanged();
  });
  let width = $("net").parentElement.clientWidth;
  window.addEventListener("resize", () => {   // crossing NARROW: the other layout
    const now = $("net").parentElement.clientWidth;
    if (state.model && (now < NARROW) !== (width < NARROW)) showNetwork(state.model);
    width = now;
  });
}
