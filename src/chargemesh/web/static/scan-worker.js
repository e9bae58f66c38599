// Decodes the camera's frames for "Scan to charge", off the page's main thread.
//
// A classic worker: jsQR (vendored, a UMD build) defines self.jsQR when loaded. Each message is
// one frame, {id, width, height, pixels: RGBA bytes}; the answer is {id, code} with the text of
// the QR code found in it, or code null.
importScripts('/static/vendor/jsqr.js');

self.onmessage = (ev) => {
  const {id, width, height, pixels} = ev.data;
  let code = null;
  try {
    const found = self.jsQR(new Uint8ClampedArray(pixels), width, height, {inversionAttempts: 'attemptBoth'});
    if (found && found.data) code = found.data;
  } catch (err) {
    code = null;
  }
  self.postMessage({id, code});
};
