// skdigitnet playground: draw, send the pixels to the server, draw what comes back.
// The server does all the work (normalize_images, predict_proba, layer_activations);
// this page only draws. For tests, `window.skdigitnetPlayground` holds the last request
// body and reply, and the DOM carries the numbers in data attributes.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const PEN = 22;                       // pen width on the 280x280 pad
  const SENT = 112;                     // the drawing is sent as a SENT x SENT grey image
  const POS = "#4b9bea", NEG = "#ef5b5b";  // positive and negative weights
  const RDBU = ["#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7",
                "#d1e5f0", "#92c5de", "#4393c3", "#2166ac", "#053061"];

  const state = {
    model: null, strokes: [], stroke: null, inFlight: false, dirtySince: null,
    reply: null, selected: null, disabled: new Set(), biases: true, scale: 1,
  };
  const shared = window.skdigitnetPlayground = {
    lastRequest: null, lastReply: null, latencies: [], timings: [], updates: 0,
    idle: () => !state.inFlight && state.dirtySince === null,
  };
  const view = { inputs: null, hidden: [], outputs: [], edges: [] };

  // ---- the API --------------------------------------------------------------------
  async function api(path, body) {
    const init = body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body)};
    const response = await fetch(path, init);
    const reply = await response.json();
    if (!response.ok) throw new Error(`${response.status}: ${reply.error}`);
    return reply;
  }

  // ---- the drawing pad -------------------------------------------------------------
  const pad = $("pad");
  const ink = pad.getContext("2d");
  const small = Object.assign(document.createElement("canvas"), {width: SENT, height: SENT});
  const smallInk = small.getContext("2d", {willReadFrequently: true});

  function point(event) {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * pad.width / box.width,
            (event.clientY - box.top) * pad.height / box.height];
  }

  function paintStroke(points) {
    ink.strokeStyle = ink.fillStyle = "#fff";
    ink.lineWidth = PEN;
    ink.lineCap = ink.lineJoin = "round";
    ink.beginPath();
    ink.moveTo(...points[0]);
    if (points.length === 1) ink.lineTo(points[0][0] + 0.01, points[0][1]);
    for (const p of points.slice(1)) ink.lineTo(...p);
    ink.stroke();
  }

  function repaint() {
    ink.fillStyle = "#000";
    ink.fillRect(0, 0, pad.width, pad.height);
    for (const s of state.strokes) paintStroke(s);
    $("undo").disabled = $("clear").disabled = state.strokes.length === 0;
  }

  function setUpPad() {
    pad.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      pad.setPointerCapture(event.pointerId);
      state.stroke = [point(event)];
      state.strokes.push(state.stroke);
      paintStroke(state.stroke);
      $("undo").disabled = $("clear").disabled = false;
      changed(event.timeStamp);
    });
    pad.addEventListener("pointermove", (event) => {
      if (!state.stroke) return;
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      for (const e of events.length ? events : [event]) state.stroke.push(point(e));
      paintStroke(state.stroke.slice(-events.length - 1));
      changed(event.timeStamp);
    });
    const end = () => { state.stroke = null; };
    pad.addEventListener("pointerup", end);
    pad.addEventListener("pointercancel", end);
    $("undo").addEventListener("click", undo);
    $("clear").addEventListener("click", clear);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") clear();
      if (event.key === "z" && (event.ctrlKey || event.metaKey)) undo();
    });
    repaint();
  }

  function undo() { state.strokes.pop(); repaint(); changed(performance.now()); }
  function clear() { state.strokes = []; repaint(); changed(performance.now()); }

  // ---- requests: at most one in flight; the newest drawing goes next ----------------
  function changed(time) {
    if (state.dirtySince === null) state.dirtySince = time;
    pump();
  }

  function pump() {
    if (state.inFlight || state.dirtySince === null || !state.model) return;
    if (state.strokes.length === 0) {
      state.dirtySince = null;
      render(null, null);
      return;
    }
    send(state.dirtySince);
    state.dirtySince = null;
  }

  function requestBody() {   // the pad, anti-aliased down to SENT x SENT, grey (mode "L")
    smallInk.imageSmoothingEnabled = true;
    smallInk.imageSmoothingQuality = "high";
    smallInk.drawImage(pad, 0, 0, SENT, SENT);
    const data = smallInk.getImageData(0, 0, SENT, SENT).data;
    const grey = new Array(SENT * SENT);
    for (let i = 0; i < grey.length; i++) grey[i] = data[4 * i];
    const body = {width: SENT, height: SENT, pixels: grey};
    const broken = breakSpec();
    if (broken) body.break = broken;
    if (state.selected) body.neuron = state.selected;
    return body;
  }

  async function send(since) {
    state.inFlight = true;
    const t0 = performance.now();
    const body = requestBody();
    shared.lastRequest = body;
    try {
      const t1 = performance.now();
      const reply = await api("/api/predict", body);
      const t2 = performance.now();
      shared.lastReply = reply;
      render(reply, since);
      // milliseconds: waiting for the previous reply, reading the pad, the request, drawing
      shared.timings.push([t0 - since, t1 - t0, t2 - t1, performance.now() - t2]);
      $("error").textContent = "";
    } catch (error) {
      $("error").textContent = error.message;
    } finally {
      state.inFlight = false;
      pump();
    }
  }

  // ---- the network, drawn as in the video -------------------------------------------
  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function column(n, x) {
    const step = Math.min(30, 420 / n);
    const r = Math.max(1.5, Math.min(11, step * 0.42));
    return Array.from({length: n}, (_, i) => ({x, y: 300 + (i - (n - 1) / 2) * step, r}));
  }

  function buildNetwork(model) {
    const svg = $("net");
    svg.replaceChildren();
    const units = model.layers;
    const nHidden = units.length - 2;
    const xs = Array.from({length: nHidden + 1}, (_, k) => 430 + k * (300 / Math.max(1, nHidden)));
    const [h, w] = model.image_shape;
    const cell = 280 / Math.max(h, w);
    const grid = {x: 20, y: 300 - (h * cell) / 2, cell, w};
    const edgeGroup = el("g", {id: "edges"}, svg);
    view.inputPos = (i) => ({x: grid.x + (i % w + 0.5) * cell, y: grid.y + (Math.floor(i / w) + 0.5) * cell, r: 0});
    view.inputs = el("image", {x: grid.x, y: grid.y, width: w * cell, height: h * cell,
                               preserveAspectRatio: "none", class: "pixels"}, svg);
    const cells = el("pattern", {id: "cells", width: cell, height: cell, x: grid.x, y: grid.y,
                                 patternUnits: "userSpaceOnUse"}, el("defs", {}, svg));
    el("path", {d: `M ${cell} 0 L 0 0 0 ${cell}`, class: "cell"}, cells);
    el("rect", {class: "frame", x: grid.x, y: grid.y, width: w * cell, height: h * cell,
                fill: "url(#cells)"}, svg);
    caption(svg, grid.x + (w * cell) / 2, grid.y + h * cell + 24, `${units[0]} inputs (${h}×${w})`);
    const positions = [null];
    view.hidden = [];
    for (let k = 0; k < nHidden; k++) {
      const col = column(units[k + 1], xs[k]);
      positions.push(col);
      caption(svg, xs[k], 52, `hidden ${k + 1}`);
      caption(svg, xs[k], 72, `${units[k + 1]} · ${model.activations[k]}`);
      view.hidden.push(col.map((p, i) => neuron(svg, p, k, i)));
    }
    const out = column(units.at(-1), xs[nHidden]);
    positions.push(out);
    caption(svg, xs[nHidden], 52, "output");
    caption(svg, xs[nHidden], 72, `${units.at(-1)} · ${model.activations.at(-1)}`);
    view.outputs = out.map((p, i) => outputNeuron(svg, p, model.classes[i], i));
    view.edges = model.connections.map((layer, k) => layer.map(([src, dst, weight]) => {
      const a = k === 0 ? view.inputPos(src) : positions[k][src];
      const b = positions[k + 1][dst];
      const line = el("line", {x1: a.x + a.r, y1: a.y, x2: b.x - b.r, y2: b.y}, edgeGroup);
      return {line, src, dst, weight, layer: k};
    }));
    render(null, null);
  }

  function caption(svg, x, y, text) {
    el("text", {class: "caption", x, y}, svg).textContent = text;
  }

  function neuron(svg, p, layer, index) {
    const circle = el("circle", {class: "neuron", cx: p.x, cy: p.y, r: p.r,
                                 "data-layer": layer, "data-index": index}, svg);
    el("title", {}, circle).textContent = `hidden ${layer + 1}, neuron ${index}`;
    circle.addEventListener("click", (event) => {
      if (event.shiftKey) toggleNeuron([layer, index]);
      else selectNeuron([layer, index]);
    });
    return circle;
  }

  function outputNeuron(svg, p, label, index) {
    const g = el("g", {class: "output", "data-class": label, "data-index": index}, svg);
    g.circle = el("circle", {cx: p.x, cy: p.y, r: p.r}, g);
    el("text", {class: "digit", x: p.x + p.r + 8, y: p.y + 5}, g).textContent = label;
    const width = 110, x = p.x + p.r + 28, height = Math.max(3, p.r * 0.9);
    el("rect", {class: "bar-bg", x, y: p.y - height / 2, width, height, rx: 2}, g);
    g.bar = el("rect", {class: "bar", x, y: p.y - height / 2, width: 0, height, rx: 2}, g);
    g.barWidth = width;
    g.pct = el("text", {class: "pct", x: x + width + 8, y: p.y + 4}, g);
    return g;
  }

  function percent(p) {
    return p > 0.999 ? ">99.9%" : p < 0.001 && p > 0 ? "<0.1%" : `${(100 * p).toFixed(1)}%`;
  }

  function grey(level) {
    const v = Math.round(20 + 235 * Math.max(0, Math.min(1, level)));
    return `rgb(${v},${v},${Math.min(255, v + 8)})`;
  }

  function render(reply, since) {
    if (!view.inputs) return;  // the network is not drawn yet
    const blank = !reply || reply.blank;
    const layers = blank ? null : reply.layers;
    view.hidden.forEach((col, k) => {
      const values = layers ? layers[k] : null;
      const scale = values ? Math.max(1, ...values.map(Math.abs)) : 1;
      col.forEach((circle, i) => {
        const a = values ? values[i] : 0;
        circle.setAttribute("fill", grey(Math.abs(a) / scale));
        circle.dataset.activation = values ? String(a) : "";
        const off = state.disabled.has(`${k},${i}`);
        circle.classList.toggle("off", off);
        circle.classList.toggle("selected", `${state.selected}` === `${k},${i}`);
      });
    });
    renderOutputs(reply, blank);
    renderEdges(blank ? null : [reply.image, ...reply.layers]);
    drawImage($("seen"), reply ? reply.image : null);
    view.inputs.setAttribute("href", $("seen").toDataURL());
    renderAnswer(reply, blank);
    if (state.selected) renderContributions(blank ? null : reply.neuron);
    if (reply) {
      shared.updates += 1;
      $("status").dataset.updates = shared.updates;
      const ms = performance.now() - since;
      shared.latencies.push(ms);
      $("latency").dataset.latencyMs = ms.toFixed(1);
      $("latency").textContent = `updated ${ms.toFixed(0)} ms after the stroke`;
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
    $("prediction").textContent = blank ? "?" : reply.label;
    $("prediction").dataset.label = blank ? "" : String(reply.label);
    const p = blank ? 0 : Math.max(...reply.probabilities);
    $("confidence").textContent = !reply ? "draw a digit on the left"
      : blank ? "no digit found yet: draw a little more" : `${percent(p)} sure`;
    const note = $("broken-note");
    note.hidden = blank || !reply.intact;
    if (!note.hidden) {
      const q = Math.max(...reply.intact.probabilities);
      note.textContent = `broken copy; the intact network says ${reply.intact.label} (${percent(q)})`;
    }
  }

  // ---- images: the normalised digit and a neuron's weights ---------------------------
  function drawImage(canvas, values, shape = [28, 28], colour = null) {
    [canvas.height, canvas.width] = shape;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(canvas.width, canvas.height);
    for (let i = 0; i < canvas.width * canvas.height; i++) {
      const rgb = colour ? colour(values[i]) : Array(3).fill(values ? Math.round(255 * values[i]) : 0);
      image.data.set([...rgb, 255], 4 * i);
    }
    ctx.putImageData(image, 0, 0);
  }

  function rdbu(limit) {   // matplotlib's RdBu: red negative, white 0, blue positive
    const rgb = RDBU.map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
    return (v) => {
      const t = Math.max(0, Math.min(1, (v / limit + 1) / 2)) * (rgb.length - 1);
      const i = Math.min(rgb.length - 2, Math.floor(t)), f = t - i;
      return rgb[i].map((c, j) => Math.round(c + f * (rgb[i + 1][j] - c)));
    };
  }

  // ---- a neuron up close --------------------------------------------------------------
  async function selectNeuron(pair) {
    state.selected = pair;
    let info;
    try {
      info = await api(`/api/neuron?layer=${pair[0]}&index=${pair[1]}`);
    } catch (error) {
      $("error").textContent = error.message;
      return;
    }
    $("neuron-hint").hidden = true;
    $("neuron-body").hidden = false;
    $("neuron-title").textContent = `Hidden ${pair[0] + 1}, neuron ${pair[1]}`;
    const limit = Math.max(1e-12, ...info.weights.map(Math.abs));
    drawImage($("weights"), info.weights, info.shape, rdbu(limit));
    $("weights-legend").textContent = `Its ${info.weights.length} incoming weights: blue +, ` +
      `red −, white 0; the strongest, |w| = ${limit.toFixed(2)}, in full colour.`;
    $("weights").dataset.layer = pair[0];
    $("weights").dataset.index = pair[1];
    $("neuron-values").dataset.bias = info.bias;
    updateToggle();
    renderContributions(null);
    changed(performance.now());
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
  function breakSpec() {
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

  function brokenChanged() {
    const list = $("disabled-list");
    list.replaceChildren();
    if (state.disabled.size === 0) list.textContent = "No neuron switched off: shift-click one, or click it and press “Switch it off”.";
    else list.append("Switched off (click to switch back on): ");
    for (const key of state.disabled) {
      const [k, i] = key.split(",").map(Number);
      const b = document.createElement("button");
      b.textContent = `h${k + 1}·${i} ✕`;
      b.title = "switch it back on";
      b.addEventListener("click", () => toggleNeuron([k, i]));
      list.appendChild(b);
    }
    updateToggle();
    changed(performance.now());
    if (state.strokes.length === 0) render(null, null);
  }

  function setUpBreak() {
    $("biases").addEventListener("change", (e) => { state.biases = e.target.checked; brokenChanged(); });
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
  }

  // ---- start --------------------------------------------------------------------------
  async function start() {
    setUpPad();
    setUpBreak();
    try {
      const model = await api("/api/model");
      state.model = model;
      const about = model.about ? ` · trained on ${model.about.data}, ` +
        `${(100 * model.about.test_accuracy).toFixed(2)}% test accuracy` : "";
      $("model-info").textContent = `${model.layers.join(" → ")} · ` +
        `${model.activations.join(", ")} · ${model.n_parameters.toLocaleString("en")} ` +
        `weights and biases${about}`;
      $("api-version").textContent = model.api_version;
      $("version").textContent = model.skdigitnet_version;
      buildNetwork(model);
      document.body.dataset.ready = "1";
      pump();
    } catch (error) {
      $("model-info").textContent = `cannot reach the server: ${error.message}`;
    }
  }

  start();
})();
