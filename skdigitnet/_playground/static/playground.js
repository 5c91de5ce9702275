// skdigitnet playground: draw (or drop a photo), send the pixels to the server, draw what
// comes back. The server does all the work (normalize_images, predict_proba,
// layer_activations, training, fooling); the page only draws. For tests,
// `window.skdigitnetPlayground` holds the last request body and reply.
"use strict";

import {$, state, shared, hooks, api, showError} from "./common.js";
import {buildNetwork, breakSpec, render, setUpNetwork, showNetwork} from "./network.js";
import {setUpTools} from "./tools.js";
import {setUpTraining} from "./train.js";

const PEN = 22;                       // pen width on the 280x280 pad
const SENT = 112;                     // the drawing is sent as a SENT x SENT grey image

const pad = $("pad");
const ink = pad.getContext("2d");
const small = Object.assign(document.createElement("canvas"), {width: SENT, height: SENT});
const smallInk = small.getContext("2d", {willReadFrequently: true});

// ---- the drawing pad ------------------------------------------------------------------
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
  if (state.photo) ink.drawImage(state.photo.bitmap, ...state.photo.placed);
  for (const s of state.strokes) paintStroke(s);
  $("undo").disabled = $("clear").disabled = state.strokes.length === 0 && !state.photo;
}

function setUpPad() {
  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    if (state.photo) {  // drawing replaces the photo
      state.photo = null;
      repaint();
    }
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
  pad.addEventListener("contextmenu", (event) => event.preventDefault());  // long press
  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clear);
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("input, select")) return;
    if (event.key === "Escape") clear();
    if (event.key === "z" && (event.ctrlKey || event.metaKey)) undo();
  });
  repaint();
}

function undo() {
  if (state.strokes.length) state.strokes.pop();
  else state.photo = null;
  repaint();
  changed(performance.now());
}

function clear() {
  state.strokes = [];
  state.photo = null;
  repaint();
  changed(performance.now());
}

// A photo (see tools.js) becomes what the network reads until the next stroke.
function usePhoto(photo) {
  state.photo = photo;
  state.strokes = [];
  repaint();
  changed(performance.now());
}

// ---- requests: at most one in flight; the newest drawing goes next -------------------
function changed(time = performance.now()) {
  if (state.dirtySince === null) state.dirtySince = time;
  pump();
}

function pump() {
  if (state.inFlight || state.dirtySince === null || !state.model) return;
  if (state.strokes.length === 0 && !state.photo) {
    state.dirtySince = null;
    render(null, null);
    for (const hook of hooks.reply) hook(null);
    return;
  }
  send(state.dirtySince);
  state.dirtySince = null;
}

// The image the network reads: the photo as sent, or the pad anti-aliased down to
// SENT x SENT, grey (mode "L").
function imageBody() {
  if (state.photo) return {...state.photo.body};
  smallInk.imageSmoothingEnabled = true;
  smallInk.imageSmoothingQuality = "high";
  smallInk.drawImage(pad, 0, 0, SENT, SENT);
  const data = smallInk.getImageData(0, 0, SENT, SENT).data;
  const grey = new Array(SENT * SENT);
  for (let i = 0; i < grey.length; i++) grey[i] = data[4 * i];
  return {width: SENT, height: SENT, pixels: grey};
}

// The image, and "break it" when the network is broken.
function requestBody() {
  const body = imageBody();
  const broken = breakSpec();
  if (broken) body.break = broken;
  return body;
}

async function send(since) {
  state.inFlight = true;
  const t0 = performance.now();
  const body = requestBody();
  if (state.selected) body.neuron = state.selected;
  if (state.explain) body.explain = true;
  shared.lastRequest = body;
  try {
    const t1 = performance.now();
    const reply = await api("/api/predict", body);
    const t2 = performance.now();
    shared.lastReply = reply;
    render(reply, since);
    for (const hook of hooks.reply) hook(reply);
    // milliseconds: waiting for the previous reply, reading the pad, the request, drawing
    shared.timings.push([t0 - since, t1 - t0, t2 - t1, performance.now() - t2]);
    showError(null);
  } catch (error) {
    showError(error);
  } finally {
    state.inFlight = false;
    pump();
  }
}

// ---- the network the page shows -------------------------------------------------------
function describe(model) {
  const about = model.about ? ` · trained on ${model.about.data}, ` +
    `${(100 * model.about.test_accuracy).toFixed(2)}% test accuracy` : "";
  $("model-info").textContent = `${model.layers.join(" → ")} · ` +
    `${model.activations.join(", ")} · ${model.n_parameters.toLocaleString("en")} ` +
    `weights and biases${about}`;
  $("model-info").dataset.weightsVersion = model.weights_version;
}

// Fetch the network again (after training published new weights) and show it.
let refreshing = null;
async function refreshNetwork() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const model = await api("/api/model");
      state.model = model;
      describe(model);
      showNetwork(model);
      for (const hook of hooks.network) hook(model);
      changed();
    } catch (error) {
      showError(error);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function start() {
  setUpPad();
  setUpNetwork(changed);
  setUpTools({usePhoto, imageBody, requestBody, changed});
  setUpTraining({refreshNetwork});
  try {
    const model = await api("/api/model");
    state.model = model;
    describe(model);
    $("api-version").textContent = model.api_version;
    $("version").textContent = model.skdigitnet_version;
    buildNetwork(model);
    for (const hook of hooks.network) hook(model);
    document.body.dataset.ready = "1";
    pump();
  } catch (error) {
    $("model-info").textContent = `cannot reach the server: ${error.message}`;
  }
}

start();
