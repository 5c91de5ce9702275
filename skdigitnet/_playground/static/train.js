// Train it: start a training on the server, poll its state, draw the curves and the
// first layer's weights as they change; Stop and Save. The server trains in a
// background thread and publishes new weights (GET /api/train's "weights_version");
// the whole page (diagram, drawing, neuron, break it) then shows them.
"use strict";

import {$, shared, hooks, api, showError, percent, rdbu, drawImage} from "./common.js";

const POLL = 250;          // ms between two looks at a running training
const NAMES = {digits: "the bundled digits", mnist: "MNIST"};
let page = null;           // {refreshNetwork} from playground.js
let timer = null;
let shownVersion = null;   // the weights the page shows

export function setUpTraining(context) {
  page = context;
  shared.trainUpdates = [];  // for tests: when each new set of weights was drawn
  hooks.network.push((model) => {
    const select = $("train-data");
    if (select.options.length !== model.training_data.length) {
      select.replaceChildren(...model.training_data.map((name) =>
        Object.assign(document.createElement("option"), {value: name, textContent: NAMES[name]})));
    }
    $("train-epochs").max = model.limits.max_epochs;
    shownVersion = model.weights_version;
    loadWeights(model);
  });
  $("train-start").addEventListener("click", start);
  $("train-stop").addEventListener("click", stop);
  $("train-save").addEventListener("click", save);
  poll();  // a training may be running already (started by another tab)
}

function settings() {
  const hidden = $("train-hidden").value.split(/[\s,]+/).filter(Boolean).map(Number);
  return {data: $("train-data").value, hidden, activation: $("train-activation").value,
          learning_rate: Number($("train-rate").value), epochs: Number($("train-epochs").value)};
}

async function start() {
  try {
    show(await api("/api/train", settings()));
    schedule();
  } catch (error) {
    $("train-status").textContent = error.message;
  }
}

async function stop() {
  try {
    await api("/api/train/stop", {});
  } catch (error) {
    showError(error);
  }
  poll();
}

async function save() {
  try {
    const response = await fetch("/api/train/save", {method: "POST"});
    if (!response.ok) throw new Error(`${response.status}: ${(await response.json()).error}`);
    const blob = await response.blob();
    const link = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(blob), download: "model.npz"});
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    $("train-save").dataset.bytes = blob.size;
  } catch (error) {
    showError(error);
  }
}

function schedule() {
  if (timer === null) timer = setTimeout(poll, POLL);
}

async function poll() {
  timer = null;
  let status;
  try {
    status = await api("/api/train");
  } catch (error) {
    showError(error);
    schedule();
    return;
  }
  show(status);
  if (shownVersion !== null && status.weights_version !== shownVersion) {
    await page.refreshNetwork();
    shared.trainUpdates.push([performance.now(), status.weights_version]);
  }
  if (status.state === "running") schedule();
}

function show(status) {
  const running = status.state === "running";
  $("train-start").disabled = running;
  $("train-stop").disabled = !running;
  const box = $("train-status");
  Object.assign(box.dataset, {state: status.state, epoch: status.epoch,
                              accuracy: status.test_accuracy.at(-1) ?? ""});
  const last = status.loss_curve.length - 1;
  if (status.state === "idle") {
    box.textContent = "Not trained yet: the page shows the served network.";
  } else if (status.state === "failed") {
    box.textContent = `Training failed: ${status.error}`;
  } else if (last < 0) {
    box.textContent = status.note || "starting…";
  } else {
    const size = status.n_train ? ` (${status.n_train.toLocaleString("en")} training, ` +
      `${status.n_test.toLocaleString("en")} test images)` : "";
    box.textContent = `${status.state === "running" ? "Training" : "Trained"} on ` +
      `${NAMES[status.data]}${size}: epoch ${status.epoch} of ${status.epochs}, loss ` +
      `${status.loss_curve[last].toFixed(3)}, test accuracy ` +
      `${percent(status.test_accuracy[last])} after ${status.seconds.toFixed(1)} s` +
      `${status.state === "stopped" ? " (stopped)" : ""}.`;
  }
  drawCurves(status);
}

// Loss (blue, left scale) and test accuracy (gold, 0-100 % on the right) per epoch.
function drawCurves(status) {
  const canvas = $("curves");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 480, height = canvas.clientHeight || 180;
  [canvas.width, canvas.height] = [width * ratio, height * ratio];
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const pad = {left: 44, right: 44, top: 10, bottom: 24};
  const w = width - pad.left - pad.right, h = height - pad.top - pad.bottom;
  const xs = status.curve_epochs, epochs = Math.max(1, status.epochs || 1);
  const top = Math.max(1e-9, ...status.loss_curve);
  ctx.strokeStyle = "#262d38";
  ctx.strokeRect(pad.left, pad.top, w, h);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#8a93a3";
  ctx.textAlign = "right";
  ctx.fillText(top.toFixed(2), pad.left - 4, pad.top + 10);
  ctx.fillText("0", pad.left - 4, pad.top + h);
  ctx.textAlign = "left";
  ctx.fillText("100%", pad.left + w + 4, pad.top + 10);
  ctx.fillText("0%", pad.left + w + 4, pad.top + h);
  ctx.textAlign = "center";
  ctx.fillText(`epoch (of ${epochs})`, pad.left + w / 2, height - 6);
  const line = (values, scale, colour) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = pad.left + w * xs[i] / epochs, y = pad.top + h * (1 - v / scale);
      if (i) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
    });
    ctx.stroke();
  };
  line(status.loss_curve, top, "#4b9bea");
  line(status.test_accuracy, 1, "#f7c948");
  canvas.dataset.points = xs.length;
}

// The first layer's weights, one picture per neuron (blue +, red −, one scale for all).
async function loadWeights(model) {
  const box = $("weight-pictures");
  const [h, w] = model.image_shape;
  try {
    const reply = await api("/api/weights");
    const colour = rdbu(reply.limit);
    while (box.children.length > reply.neurons.length) box.lastChild.remove();
    reply.neurons.forEach((weights, i) => {
      let canvas = box.children[i];
      if (!canvas) {
        canvas = box.appendChild(document.createElement("canvas"));
        canvas.title = `hidden 1, neuron ${i}: its incoming weights`;
      }
      drawImage(canvas, weights, [h, w], colour);
    });
    box.dataset.weightsVersion = reply.weights_version;
    $("weights-scale").textContent = `(full colour at |w| = ${reply.limit.toFixed(2)})`;
  } catch (error) {
    showError(error);
  }
}
