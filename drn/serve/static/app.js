// The page of `drn serve`: pick or upload a video, wait for its features, ground sentences, and
// draw the ranked moments, their thumbnails and the per-level curves. No library, no network
// beyond this server; every text from the server or the user goes in through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const LEVEL_COLORS = ["#1f77b4", "#ff7f0e", "#9467bd"];
const SVG_NS = "http://www.w3.org/2000/svg";
const POLL_MS = 300;
let current = null;   // the chosen video: {id, name, kind, playable, duration}
let stopAt = null;    // seconds where the player pauses after a moment's click
let limits = null;    // the server's limits, from /api/info

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(text, progress) {
  $("status").textContent = text;
  const bar = $("progress");
  bar.hidden = progress === null || progress === undefined;
  if (!bar.hidden) bar.value = progress;
}

async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}

function postJson(path, payload) {
  return api(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload)});
}

async function loadInfo() {
  const info = await api("/api/info");
  limits = info.limits;
  $("model-info").textContent = `checkpoint ${info.checkpoint}; ` +
    (info.can_extract ? `encodes videos with ${info.extraction.backbone}` : "pre-extracted features only") +
    `; uploads up to ${limits.max_upload_mb} MiB and ${limits.max_duration} s; ${limits.max_queries} sentences at most.`;
  if (!info.can_extract) { $("file-input").disabled = true; $("upload-button").disabled = true; }
  $("examples").textContent = info.example_words.length ? `Words the model knows: ${info.example_words.join(", ")}` : "";
  const listing = await api("/api/videos");
  const select = $("video-select");
  for (const video of listing.videos) {
    const option = document.createElement("option");
    option.value = video.id;
    option.textContent = `${video.name} (${video.kind === "features" ? "features" : "video"})`;
    option.dataset.video = JSON.stringify(video);
    select.appendChild(option);
  }
}

async function waitForJob(job) {
  while (job.state === "queued" || job.state === "running") {
    setStatus(job.state === "queued" ? "Waiting for the extractor…" :
      `Extracting features… ${Math.round(job.progress * 100)}%`, job.progress);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await api(`/api/jobs/${encodeURIComponent(job.id)}`);
  }
  if (job.state === "error") throw new Error(job.message);
  return job;
}

function useVideo(video) {
  current = video;
  const player = $("player");
  player.hidden = !video.playable;
  $("no-player").hidden = video.playable;
  if (video.playable) player.src = `/api/videos/${encodeURIComponent(video.id)}/file`;
  else player.removeAttribute("src");
  $("results").replaceChildren();
}

async function prepare(start) {
  showError("");
  $("ground-button").disabled = true;
  try {
    const {video, job} = await start();
    useVideo(video);
    await waitForJob(job);
    setStatus(`Ready: ${video.name}.`, null);
    $("ground-button").disabled = false;
  } catch (error) {
    setStatus("No video ready.", null);
    showError(error.message);
  }
}

function uploadWithProgress(file) {
  // XMLHttpRequest, not fetch: it reports the upload's progress.
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    const form = new FormData();
    form.append("file", file, file.name);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) setStatus(`Uploading… ${Math.round(100 * event.loaded / event.total)}%`, event.loaded / event.total);
    };
    request.onload = () => {
      let body = null;
      try { body = JSON.parse(request.responseText); } catch (e) { body = null; }
      if (request.status >= 200 && request.status < 300) resolve(body);
      else reject(new Error((body && body.error) || `upload failed: ${request.status}`));
    };
    request.onerror = () => reject(new Error("the upload was cut off (is the file over the size limit?)"));
    request.open("POST", "/api/uploads");
    request.send(form);
  });
}

function seconds(value) { return `${value.toFixed(2)} s`; }

function playMoment(start, end, element) {
  const player = $("player");
  document.querySelectorAll(".moment.playing").forEach((el) => el.classList.remove("playing"));
  if (element) element.classList.add("playing");
  if (!current || !current.playable) return;
  stopAt = end;
  player.currentTime = start;
  player.play().catch(() => {});  // autoplay rules may refuse; the position is set either way
}

function momentBar(window, rank, duration) {
  const [start, end, score] = window;
  const bar = document.createElement("button");
  bar.type = "button";
  bar.className = "moment";
  bar.dataset.rank = String(rank);
  bar.dataset.start = String(start);
  bar.dataset.end = String(end);
  bar.dataset.score = String(score);
  bar.title = `#${rank}: ${seconds(start)} to ${seconds(end)}, score ${score}`;
  bar.style.left = `${100 * start / duration}%`;
  bar.style.width = `${Math.max(0.4, 100 * (end - start) / duration)}%`;
  bar.style.opacity = String(Math.max(0.3, 1 - 0.08 * (rank - 1)));
  const label = document.createElement("span");
  label.textContent = `#${rank} (${score.toFixed(2)})`;
  bar.appendChild(label);
  if (start / duration > 0.8) bar.classList.add("label-left");  // keep the label inside the timeline
  bar.addEventListener("click", () => playMoment(start, end, bar));
  return bar;
}

function momentCard(window, rank) {
  const [start, end, score] = window;
  const card = document.createElement("button");
  card.type = "button";
  card.className = "moment-card";
  if (current.playable) {
    const image = document.createElement("img");
    image.className = "thumb";
    image.alt = `frame at ${seconds(start)}`;
    image.loading = "lazy";
    image.src = `/api/videos/${encodeURIComponent(current.id)}/thumbnail?t=${start}`;
    card.appendChild(image);
  }
  const text = document.createElement("div");
  text.textContent = `#${rank}  ${seconds(start)} – ${seconds(end)}  (${score.toFixed(3)})`;
  card.appendChild(text);
  card.addEventListener("click", () => playMoment(start, end, null));
  return card;
}

function svg(name, attributes) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function curvesChart(dense, duration) {
  const width = 1000, height = 150, top = 8, bottom = 20;
  const chart = svg("svg", {class: "curves", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none"});
  const x = (t) => (width * t / duration).toFixed(1);
  const y = (p) => (top + (height - top - bottom) * (1 - p)).toFixed(1);
  for (const p of [0, 0.5, 1]) {
    chart.appendChild(svg("line", {x1: 0, x2: width, y1: y(p), y2: y(p), stroke: p ? "#eee" : "#bbb"}));
    const tick = svg("text", {x: width - 4, y: Number(y(p)) + (p === 1 ? 10 : -2), "text-anchor": "end"});
    tick.textContent = p.toFixed(1);
    chart.appendChild(tick);
  }
  dense.time.forEach((times, level) => {
    const color = LEVEL_COLORS[level % LEVEL_COLORS.length];
    for (const [name, dash] of [["match", ""], ["iou", "6 4"]]) {
      const points = times.map((t, i) => `${x(t)},${y(dense[name][level][i])}`).join(" ");
      const line = svg("polyline", {points, fill: "none", stroke: color, "stroke-width": 2,
        "vector-effect": "non-scaling-stroke", class: `curve ${name} level-${level + 1}`});
      if (dash) line.setAttribute("stroke-dasharray", dash);
      chart.appendChild(line);
    }
    const legend = svg("text", {x: 8 + 190 * level, y: height - 5, fill: color});
    legend.textContent = `level ${level + 1}: match —, IoU - -`;
    chart.appendChild(legend);
  });
  return chart;
}

function renderRow(row) {
  const duration = row.duration;
  const block = document.createElement("div");
  block.className = "query-result";
  block.dataset.query = row.query;
  const heading = document.createElement("h3");
  heading.textContent = `“${row.query}”: ${row.pred_relevant_windows.length} moments`;
  block.appendChild(heading);
  const timeline = document.createElement("div");
  timeline.className = "timeline";
  row.pred_relevant_windows.forEach((window, i) => {
    const track = document.createElement("div");
    track.className = "track";
    track.appendChild(momentBar(window, i + 1, duration));
    timeline.appendChild(track);
  });
  block.appendChild(timeline);
  const axis = document.createElement("div");
  axis.className = "axis";
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const tick = document.createElement("span");
    tick.textContent = seconds(fraction * duration);
    axis.appendChild(tick);
  }
  block.appendChild(axis);
  const cards = document.createElement("div");
  cards.className = "cards";
  row.pred_relevant_windows.slice(0, 5).forEach((window, i) => cards.appendChild(momentCard(window, i + 1)));
  block.appendChild(cards);
  if (row.dense) block.appendChild(curvesChart(row.dense, duration));
  return block;
}

async function ground() {
  showError("");
  const queries = $("queries").value.split("\n").map((q) => q.trim()).filter((q) => q);
  if (!current) { showError("Choose a video first."); return; }
  if (!queries.length) { showError("Type at least one sentence."); return; }
  $("ground-button").disabled = true;
  setStatus("Grounding…", null);
  try {
    const result = await postJson("/api/predict", {video: current.id, queries, dense: true});
    $("results").replaceChildren(...result.predictions.map(renderRow));
    $("results").dataset.video = current.id;
    setStatus(`Ready: ${current.name}.`, null);
  } catch (error) {
    showError(error.message);
    setStatus(`Ready: ${current.name}.`, null);
  } finally {
    $("ground-button").disabled = false;
  }
}

function init() {
  $("upload-button").addEventListener("click", () => {
    const file = $("file-input").files[0];
    if (!file) { showError("Choose a video file to upload."); return; }
    const mib = file.size / 2 ** 20;
    if (limits && mib > limits.max_upload_mb) {  // the server refuses it too; this says so before the wait
      showError(`${file.name} is ${mib.toPrecision(3)} MiB; this server takes uploads up to ${limits.max_upload_mb} MiB.`);
      return;
    }
    prepare(() => uploadWithProgress(file));
  });
  $("pick-button").addEventListener("click", () => {
    const option = $("video-select").selectedOptions[0];
    if (!option || !option.value) { showError("Pick a video from the list."); return; }
    const video = JSON.parse(option.dataset.video);
    prepare(async () => ({video, job: await postJson("/api/jobs", {video: video.id})}));
  });
  $("ground-button").addEventListener("click", ground);
  $("player").addEventListener("timeupdate", () => {
    const player = $("player");
    if (stopAt !== null && player.currentTime >= stopAt) { player.pause(); stopAt = null; }
  });
  loadInfo().catch((error) => showError(`Could not reach the server: ${error.message}`));
}

document.addEventListener("DOMContentLoaded", init);
