/**
 * A full-resolution still on the inspector's command (docs/LIVE.md, "Still
 * on command"): the phone takes a photo with its camera rather than a frame
 * of the stream — ImageCapture.takePhoto() where the browser has it, else
 * grabFrame(), else a canvas of the video at the track's own resolution.
 * The office's time and the position are drawn onto the picture (visible
 * to anyone who opens it) and sent in the upload's metadata; the photo goes
 * over tus with the publish token as image evidence of the case.
 */
import { wallClock, timeZone } from '../../format.js';
import { t } from '../../i18n.js';
import { TusUpload } from '../../tus.js';
import { livePath } from './parts.js';

/** frameOf returns an image source (and its size) at the camera's full resolution. */
async function frameOf(track, video) {
  if (typeof ImageCapture === 'function') {
    const capture = new ImageCapture(track);
    try {
      const blob = await capture.takePhoto();
      const bitmap = await createImageBitmap(blob);
      return { image: bitmap, width: bitmap.width, height: bitmap.height, how: 'takePhoto' };
    } catch { /* no photo mode on this camera: a frame of the track */ }
    try {
      const bitmap = await capture.grabFrame();
      return { image: bitmap, width: bitmap.width, height: bitmap.height, how: 'grabFrame' };
    } catch { /* fall through to the video element */ }
  }
  const s = track.getSettings?.() || {};
  const width = s.width || video.videoWidth;
  const height = s.height || video.videoHeight;
  return { image: video, width, height, how: 'canvas' };
}

/** stampLines is what is written on the photo: the office time (with its zone) and the place. */
function stampLines(now, pos) {
  const lines = [`${wallClock(now)} (${timeZone()})`];
  if (pos) lines.push(`${pos.lat.toFixed(6)}, ${pos.lon.toFixed(6)}${Number.isFinite(pos.accuracy) ? ` ±${Math.round(pos.accuracy)} m` : ''}`);
  else lines.push(t('still.noPosition'));
  return lines;
}

/**
 * takeStill photographs track (shown in video), stamps it and uploads it.
 * position() is the latest {lat, lon, accuracy} or null. Resolves
 * {uploadId, evidenceId, width, height, how}.
 */
export async function takeStill({ lid, token, track, video, position, request = '' }) {
  if (!track) throw new Error(t('still.noCamera'));
  const frame = await frameOf(track, video);
  if (!frame.width || !frame.height) throw new Error(t('still.noCamera'));
  const canvas = document.createElement('canvas');
  canvas.width = frame.width;
  canvas.height = frame.height;
  const g = canvas.getContext('2d');
  g.drawImage(frame.image, 0, 0, frame.width, frame.height);
  frame.image.close?.();
  const now = new Date();
  const pos = position();
  const lines = stampLines(now, pos);
  // The stamp scales with the picture so it stays legible on a 4K still.
  const size = Math.max(16, Math.round(frame.height / 28));
  g.font = `${size}px sans-serif`;
  const pad = Math.round(size / 2);
  const boxH = lines.length * size * 1.3 + pad;
  g.fillStyle = 'rgba(0, 0, 0, 0.55)';
  g.fillRect(0, frame.height - boxH, frame.width, boxH);
  g.fillStyle = '#fff';
  g.textBaseline = 'bottom';
  lines.forEach((line, i) => g.fillText(line, pad, frame.height - pad / 2 - (lines.length - 1 - i) * size * 1.3));
  const blob = await new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error(t('still.failed')))), 'image/jpeg', 0.92));
  const stamp = wallClock(now).replace(/[: ]/g, '-');
  const file = new File([blob], `still-${stamp}.jpg`, { type: 'image/jpeg' });
  const metadata = { captured_at: now.toISOString(), still_request: request }; // filename and filetype come from the File
  if (pos) metadata.location = `${pos.lat.toFixed(6)},${pos.lon.toFixed(6)}`;
  const up = new TusUpload(file, {
    endpoint: livePath(lid, 'uploads'),
    fingerprint: `still:${lid}:${request || now.getTime()}`,
    headers: () => ({ Authorization: `Bearer ${token}` }),
    metadata,
  });
  const evidenceId = await new Promise((resolve, reject) => {
    up.opts.onSuccess = resolve;
    up.opts.onError = reject;
    up.start();
  });
  const uploadURL = up.legs?.[0]?.url || '';
  return { uploadId: uploadURL.slice(uploadURL.lastIndexOf('/') + 1), evidenceId, width: frame.width, height: frame.height, how: frame.how };
}
