// ROI drawing for sonomics serve: no library, nothing fetched from the internet.
// The image is previewed through /api/preview (so TIFF and DICOM show too) in its own
// pixel grid; a box or polygon is kept in image pixel coordinates (x = column, y = row)
// and sent as text; the server rasterises it.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const canvas = $("canvas"), ctx = canvas.getContext("2d");
  const status = $("roi-status"), boxField = $("roi_box"), polyField = $("roi_polygon");
  let picture = null, box = null, poly = [], closed = false, dragStart = null;
  let overlay = null;  // the segmenter's mask, shown for the clinician to accept or redraw

  const mode = () => document.querySelector("input[name=roi_mode]:checked").value;

  function toImage(event) {
    const r = canvas.getBoundingClientRect();
    const x = (event.clientX - r.left) * canvas.width / r.width;
    const y = (event.clientY - r.top) * canvas.height / r.height;
    return [Math.max(0, Math.min(canvas.width, x)), Math.max(0, Math.min(canvas.height, y))];
  }

  function redraw() {
    if (!picture) return;
    ctx.drawImage(picture, 0, 0);
    ctx.lineWidth = Math.max(1, canvas.width / 300);
    ctx.strokeStyle = "#ff3b30"; ctx.fillStyle = "rgba(255, 59, 48, 0.2)";
    if (overlay) { ctx.globalAlpha = 0.45; ctx.drawImage(overlay, 0, 0); ctx.globalAlpha = 1; }
    if ((mode() === "box" || mode() === "auto") && box) {
      ctx.fillRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
      ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    }
    if (mode() === "polygon" && poly.length) {
      ctx.beginPath(); ctx.moveTo(poly[0][0], poly[0][1]);
      poly.slice(1).forEach((p) => ctx.lineTo(p[0], p[1]));
      if (closed) { ctx.closePath(); ctx.fill(); }
      ctx.stroke();
    }
  }

  function publish() {
    boxField.value = box ? box.map((v) => v.toFixed(1)).join(",") : "";
    polyField.value = closed && poly.length >= 3 ?
      JSON.stringify(poly.map((p) => [+p[0].toFixed(1), +p[1].toFixed(1)])) : "";
    const m = mode();
    if (m === "mask") status.textContent = overlay ? "The accepted automatic ROI is the mask." :
      "The uploaded mask file is the ROI.";
    else if (m === "auto") status.textContent = overlay ? "Check the automatic ROI, then accept it (or redraw)." :
      "Optionally drag a box around the lesion, then press Segment.";
    else if (m === "box") status.textContent = box ? "Box: " + boxField.value : "Drag a box around the lesion.";
    else status.textContent = closed ? "Polygon closed (" + poly.length + " points)." :
      "Click along the lesion outline (" + poly.length + " points so far).";
    redraw();
  }

  function orderedBox(a, b) {
    return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
  }

  const boxing = () => mode() === "box" || mode() === "auto";
  canvas.addEventListener("mousedown", (e) => { if (boxing()) dragStart = toImage(e); });
  canvas.addEventListener("mousemove", (e) => {
    if (boxing() && dragStart) { box = orderedBox(dragStart, toImage(e)); redraw(); }
  });
  canvas.addEventListener("mouseup", (e) => {
    if (boxing() && dragStart) {
      box = orderedBox(dragStart, toImage(e)); dragStart = null;
      if (box[2] - box[0] < 2 || box[3] - box[1] < 2) box = null;
      publish();
    }
  });
  canvas.addEventListener("click", (e) => {
    if (mode() !== "polygon" || closed) return;
    poly.push(toImage(e)); publish();
  });
  canvas.addEventListener("dblclick", () => { if (poly.length >= 3) { closed = true; publish(); } });
  $("close-polygon").addEventListener("click", () => { if (poly.length >= 3) { closed = true; publish(); } });
  $("clear-roi").addEventListener("click", () => {
    box = null; poly = []; closed = false; overlay = null; publish();
  });
  if ($("segment-btn")) {
    $("segment-btn").addEventListener("click", async () => {
      const file = $("image").files[0];
      if (!file) { status.textContent = "Choose an image first."; return; }
      status.textContent = "Segmenting...";
      const body = new FormData(); body.append("image", file); body.append("roi_box", boxField.value);
      const reply = await fetch("/api/segment", { method: "POST", body });
      if (!reply.ok) { status.textContent = (await reply.json()).detail; return; }
      const blob = await reply.blob();
      const shown = new Image();
      shown.onload = () => {
        // white lesion pixels tinted red, the rest transparent
        const c = document.createElement("canvas"); c.width = shown.width; c.height = shown.height;
        const g = c.getContext("2d"); g.drawImage(shown, 0, 0);
        const px = g.getImageData(0, 0, c.width, c.height);
        for (let i = 0; i < px.data.length; i += 4) {
          const on = px.data[i] > 127;
          px.data[i] = 255; px.data[i + 1] = 59; px.data[i + 2] = 48; px.data[i + 3] = on ? 255 : 0;
        }
        g.putImageData(px, 0, 0); overlay = c; $("accept-btn").disabled = false;
        $("accept-btn").dataset.blob = "1"; $("accept-btn")._blob = blob; publish();
      };
      shown.src = URL.createObjectURL(blob);
    });
    $("accept-btn").addEventListener("click", () => {
      const blob = $("accept-btn")._blob;
      if (!blob) return;
      const files = new DataTransfer();
      files.items.add(new File([blob], "automatic-roi.png", { type: "image/png" }));
      $("mask").files = files.files;
      document.querySelector("input[name=roi_mode][value=mask]").checked = true;
      $("mask").style.display = "";
      $("roi_source").value = "auto";
      publish();
    });
  }
  document.querySelectorAll("input[name=roi_mode]").forEach((r) => r.addEventListener("change", () => {
    $("mask").style.display = mode() === "mask" ? "" : "none";
    publish();
  }));
  $("mask").style.display = "none";
  $("mask").addEventListener("change", () => { $("roi_source").value = ""; overlay = null; publish(); });

  $("image").addEventListener("change", async () => {
    const file = $("image").files[0];
    box = null; poly = []; closed = false; picture = null; overlay = null;
    if (!file) return;
    status.textContent = "Loading the image...";
    const body = new FormData(); body.append("image", file);
    const reply = await fetch("/api/preview", { method: "POST", body });
    if (!reply.ok) {
      const detail = (await reply.json()).detail;
      status.textContent = "Cannot show this image: " + detail;
      return;
    }
    const url = URL.createObjectURL(await reply.blob());
    const img = new Image();
    img.onload = () => {
      picture = img; canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      canvas.style.display = "block"; canvas.dataset.ready = "1"; publish();
    };
    img.src = url;
  });

  $("case").addEventListener("submit", (e) => {
    const m = mode();
    const missing = (m === "box" && !boxField.value) || (m === "polygon" && !polyField.value) ||
      (m === "mask" && !$("mask").files.length) || m === "auto";
    if (missing) {
      e.preventDefault();
      status.textContent = m === "auto" ? "Segment and accept the automatic ROI first (or draw one)." :
        "Draw or upload the ROI first.";
    }
  });
})();
