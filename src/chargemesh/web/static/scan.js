// "Scan to charge": the phone's back camera reads the QR code printed on a charger.
//
// Frames of the camera's video are drawn onto a canvas (at most MAX_SIDE pixels on the long
// side) and decoded by jsQR in scan-worker.js, one frame at a time, so the page never stalls.
// Chromium on Linux has no BarcodeDetector, hence jsQR everywhere: one decoder, one behaviour.

const MAX_SIDE = 800;
const FRAME_GAP_MS = 80; // between one decoded frame and the next

export const stats = {frames: 0, running: false};

export function cameraAvailable() {
  return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}

// Why the camera could not start, in the driver's words.
export function cameraProblem(err) {
  const name = err && err.name;
  if (!cameraAvailable()) return 'This browser cannot use the camera here: type the code printed on the charger instead.';
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return 'The camera is not allowed: allow it for this site in the browser, or type the code printed on the charger.';
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return 'No camera was found: type the code printed on the charger instead.';
  }
  if (name === 'NotReadableError') return 'The camera is in use by another app: close it, or type the code instead.';
  return `The camera did not start (${(err && err.message) || name || 'unknown error'}): type the code instead.`;
}

// Starts the camera into `video` and calls onCode(text) once, for the first QR code it reads.
// Resolves {stop()}; rejects when the camera cannot start (see cameraProblem).
export async function startScanner(video, onCode) {
  if (!cameraAvailable()) throw new Error('no camera API');
  const stream = await navigator.mediaDevices.getUserMedia({
    video: {facingMode: 'environment', width: {ideal: 1280}, height: {ideal: 720}},
    audio: false,
  });
  let stopped = false;
  let timer = null;
  const worker = new Worker('/static/scan-worker.js');
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', {willReadFrequently: true});

  const stop = () => {
    if (stopped) return;
    stopped = true;
    stats.running = false;
    clearTimeout(timer);
    worker.terminate();
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };

  const grab = () => {
    if (stopped) return;
    const w = video.videoWidth, hgt = video.videoHeight;
    if (!w || !hgt || video.readyState < 2) {
      timer = setTimeout(grab, FRAME_GAP_MS);
      return;
    }
    const scale = Math.min(1, MAX_SIDE / Math.max(w, hgt));
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(hgt * scale);
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const frame = ctx.getImageData(0, 0, canvas.width, canvas.height);
    stats.frames += 1;
    worker.postMessage(
      {id: stats.frames, width: frame.width, height: frame.height, pixels: frame.data.buffer},
      [frame.data.buffer],
    );
  };

  worker.onmessage = (ev) => {
    if (stopped) return;
    const code = ev.data && ev.data.code;
    if (code && code.trim()) {
      stop();
      onCode(code.trim());
      return;
    }
    timer = setTimeout(grab, FRAME_GAP_MS);
  };
  worker.onerror = (ev) => {
    console.error('scan worker', ev.message);
    stop();
  };

  video.setAttribute('playsinline', '');
  video.muted = true;
  video.srcObject = stream;
  try {
    await video.play();
  } catch (err) {
    stop();
    throw err;
  }
  stats.running = true;
  grab();
  return {stop};
}
